//! The built-in token auth backend (`auth/token/`). For now it serves
//! `lookup-self`, which `vault login` and `coffer login` call to verify a
//! token; creating, renewing and revoking tokens come with token auth.

use crate::engine::{Operation, Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::token::ResolvedToken;
use serde_json::json;
use std::time::{Duration, UNIX_EPOCH};

/// Mount point of the token backend.
pub const TOKEN_MOUNT: &str = "auth/token/";

impl Core {
    pub(crate) fn handle_auth_token(
        &self,
        req: &Request,
        token: &ResolvedToken,
        raw_token: &str,
    ) -> CoreResult<Option<Response>> {
        let rest = req.path.strip_prefix(TOKEN_MOUNT).unwrap_or_default();
        match (rest.trim_end_matches('/'), req.operation) {
            ("lookup-self", Operation::Read) => Ok(Some(lookup_response(token, raw_token))),
            ("lookup-self", _) => Err(CoreError::UnsupportedOperation),
            _ => Err(CoreError::UnsupportedPath(req.path.clone())),
        }
    }
}

fn lookup_response(token: &ResolvedToken, raw_token: &str) -> Response {
    let e = &token.entry;
    let issued = UNIX_EPOCH + Duration::from_secs(e.creation_time);
    Response::data(json!({
        "accessor": e.accessor,
        "creation_time": e.creation_time,
        "creation_ttl": 0,
        "display_name": e.display_name,
        "entity_id": "",
        "expire_time": null,
        "explicit_max_ttl": 0,
        "id": raw_token,
        "issue_time": crate::clock::rfc3339(issued),
        "meta": if e.meta.is_empty() { serde_json::Value::Null } else { json!(e.meta) },
        "num_uses": 0,
        "orphan": e.orphan,
        "path": e.path,
        "policies": e.policies,
        "renewable": false,
        "ttl": 0,
        "type": "service",
    }))
}
