//! The built-in token auth backend (`auth/token/`): create, look up, renew
//! and revoke tokens (by token, by accessor, or the caller itself), token
//! roles, the accessor listing and tidy. Creation rules live in
//! `create`, lifetimes in `ttl`, revocation in `revoke`, tidy in `tidy`.
//!
//! The ACL check has already happened when a handler runs (root-protected
//! paths such as `revoke-orphan` and `accessors` needed `sudo`).

use crate::engine::{Operation, Request, Response, Route, dispatch};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::request::authorize::Caller;
use crate::token::create::{CreateKind, auth_block};
use crate::token::ttl::{TtlRequest, calculate};
use crate::token::{ResolvedToken, TokenEntry};
use crate::ttl::Ttl;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use zeroize::Zeroizing;

/// Mount point of the token backend.
pub(crate) const TOKEN_MOUNT: &str = "auth/token/";

#[derive(Debug, Clone, Copy)]
enum TokenPath {
    Create,
    CreateOrphan,
    CreateRole,
    Lookup,
    LookupSelf,
    LookupAccessor,
    Renew,
    RenewSelf,
    RenewAccessor,
    Revoke,
    RevokeSelf,
    RevokeAccessor,
    RevokeOrphan,
    Roles,
    Role,
    Accessors,
    Tidy,
    TidyStatus,
}

const UPDATE: &[Operation] = &[Operation::Update];

fn routes() -> Vec<Route<TokenPath>> {
    use Operation::{Delete, List, Read, Update};
    vec![
        Route::new("create", UPDATE, TokenPath::Create),
        Route::new("create-orphan", UPDATE, TokenPath::CreateOrphan),
        Route::new("create/:role", UPDATE, TokenPath::CreateRole),
        Route::new("lookup", UPDATE, TokenPath::Lookup),
        Route::new("lookup-self", &[Read, Update], TokenPath::LookupSelf),
        Route::new("lookup-accessor", UPDATE, TokenPath::LookupAccessor),
        Route::new("renew", UPDATE, TokenPath::Renew),
        Route::new("renew-self", UPDATE, TokenPath::RenewSelf),
        Route::new("renew-accessor", UPDATE, TokenPath::RenewAccessor),
        Route::new("revoke", UPDATE, TokenPath::Revoke),
        Route::new("revoke-self", UPDATE, TokenPath::RevokeSelf),
        Route::new("revoke-accessor", UPDATE, TokenPath::RevokeAccessor),
        Route::new("revoke-orphan", UPDATE, TokenPath::RevokeOrphan),
        Route::new("roles", &[List], TokenPath::Roles),
        Route::new("roles/:name", &[Read, Update, Delete], TokenPath::Role),
        Route::new("accessors", &[List], TokenPath::Accessors),
        Route::new("tidy", UPDATE, TokenPath::Tidy),
        Route::new("tidy-status", &[Read], TokenPath::TidyStatus),
    ]
}

/// Every route of the token backend as (full path pattern, operations), for
/// introspection: tests walk it to check that each one is guarded.
pub fn route_patterns() -> Vec<(String, &'static [Operation])> {
    routes()
        .into_iter()
        .map(|r| (format!("{TOKEN_MOUNT}{}", r.pattern.as_str()), r.operations))
        .collect()
}

/// The body naming a token, an accessor and/or an increment.
#[derive(Deserialize)]
struct Target {
    #[serde(default)]
    token: Option<Zeroizing<String>>,
    #[serde(default)]
    accessor: Option<String>,
    #[serde(default)]
    increment: Option<Ttl>,
}

impl Core {
    /// Whether the target of a write to the token backend exists, for the
    /// create/update distinction: only roles have one (Vault's existence
    /// check); every other write needs `update`.
    pub(crate) async fn token_target_exists(&self, req: &Request) -> CoreResult<bool> {
        let rest = req.path.strip_prefix(TOKEN_MOUNT).unwrap_or_default();
        match (rest.strip_prefix("roles/"), req.operation) {
            (Some(name), Operation::Update) if !name.trim_matches('/').is_empty() => Ok(self
                .tokens
                .role(name.trim_end_matches('/'))
                .await?
                .is_some()),
            _ => Ok(true),
        }
    }

    pub(crate) async fn handle_auth_token(
        self: &Arc<Self>,
        req: &Request,
        caller: &Caller<'_>,
    ) -> CoreResult<Option<Response>> {
        let rest = req.path.strip_prefix(TOKEN_MOUNT).unwrap_or_default();
        let local = Request {
            path: rest.to_owned(),
            ..req.clone()
        };
        let (handler, params) = dispatch(&routes(), &local)?;
        let name = params
            .get("role")
            .or(params.get("name"))
            .map(String::as_str);
        match handler {
            TokenPath::Create => {
                self.create_token(req, caller, CreateKind::Child, None)
                    .await
            }
            TokenPath::CreateOrphan => {
                self.create_token(req, caller, CreateKind::Orphan, None)
                    .await
            }
            TokenPath::CreateRole => self.create_token(req, caller, CreateKind::Role, name).await,
            TokenPath::LookupSelf => Ok(Some(self.lookup_response(caller.token, caller.raw_token))),
            TokenPath::Lookup => {
                let (token, raw) = self.target_by_token(req).await?;
                Ok(Some(self.lookup_response(&token, &raw)))
            }
            TokenPath::LookupAccessor => {
                let token = self.target_by_accessor(req).await?;
                Ok(Some(self.lookup_response(&token, "")))
            }
            TokenPath::RenewSelf => {
                let increment = req.parse::<Target>()?.increment.unwrap_or_default();
                let raw = Zeroizing::new(caller.raw_token.to_owned());
                self.renew(&caller.token.id, increment, raw).await
            }
            TokenPath::Renew => {
                let increment = req.parse::<Target>()?.increment.unwrap_or_default();
                let (token, raw) = self.target_by_token(req).await?;
                self.renew(&token.id, increment, raw).await
            }
            TokenPath::RenewAccessor => {
                let increment = req.parse::<Target>()?.increment.unwrap_or_default();
                let token = self.target_by_accessor(req).await?;
                self.renew(&token.id, increment, Zeroizing::default()).await
            }
            TokenPath::RevokeSelf => self.revoke_tree(&caller.token.id).await.map(|()| None),
            TokenPath::Revoke => {
                if let Some(id) = self.target_id(req).await? {
                    self.revoke_tree(&id).await?;
                }
                Ok(None)
            }
            TokenPath::RevokeAccessor => {
                let token = self.target_by_accessor(req).await?;
                self.revoke_tree(&token.id).await.map(|()| None)
            }
            TokenPath::RevokeOrphan => {
                if let Some(id) = self.target_id(req).await? {
                    self.revoke_orphan(&id).await?;
                }
                Ok(None)
            }
            TokenPath::Roles => self.tokens.list_roles().await,
            TokenPath::Role => {
                let name = name.unwrap_or_default();
                match req.operation {
                    Operation::Read => self.tokens.read_role(name).await,
                    Operation::Delete => self.tokens.delete_role(name).await.map(|()| None),
                    _ => self.tokens.write_role(name, req).await.map(|()| None),
                }
            }
            TokenPath::Accessors => Ok(Response::list(self.tokens.accessors().await?)),
            TokenPath::Tidy => self.token_tidy_request(),
            TokenPath::TidyStatus => self.token_tidy_status(),
        }
    }

    /// The token named by `token` in the body, usable, with its text.
    async fn target_by_token(
        &self,
        req: &Request,
    ) -> CoreResult<(ResolvedToken, Zeroizing<String>)> {
        let raw = req
            .parse::<Target>()?
            .token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CoreError::invalid("missing token"))?;
        let token = self
            .resolve_raw_token(&raw)
            .await?
            .ok_or(CoreError::PermissionDenied)?;
        Ok((token, raw))
    }

    /// The token named by `accessor` in the body, usable.
    async fn target_by_accessor(&self, req: &Request) -> CoreResult<ResolvedToken> {
        let accessor = req
            .parse::<Target>()?
            .accessor
            .filter(|a| !a.is_empty())
            .ok_or_else(|| CoreError::invalid("missing accessor"))?;
        let invalid = || CoreError::invalid("invalid accessor");
        let id = self
            .tokens
            .id_for_accessor(&accessor)
            .await?
            .ok_or_else(invalid)?;
        self.resolve_token_id(&id).await?.ok_or_else(invalid)
    }

    /// The salted hash of the `token` in the body, if it names a stored
    /// token (revoking an unknown token succeeds, as in Vault).
    async fn target_id(&self, req: &Request) -> CoreResult<Option<String>> {
        let raw = req
            .parse::<Target>()?
            .token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CoreError::invalid("missing token"))?;
        Ok(self.resolve_raw_token(&raw).await?.map(|t| t.id))
    }

    /// Extends a token's life by `increment` (0: the default), within its
    /// limits; `raw` goes back as `client_token` (empty by accessor).
    async fn renew(
        &self,
        id: &str,
        increment: Ttl,
        raw: Zeroizing<String>,
    ) -> CoreResult<Option<Response>> {
        let now = self.tokens.now();
        let mut warnings = Vec::new();
        let entry = self
            .tokens
            .modify(id, |e| {
                if !e.can_renew() {
                    return Err(CoreError::invalid("lease is not renewable"));
                }
                let granted = calculate(TtlRequest {
                    requested: increment,
                    period: e.period,
                    explicit_max: e.explicit_max_ttl,
                    start: e.creation_time,
                    now,
                })?;
                warnings = granted.warnings;
                e.expire_time = Some(now.saturating_add(granted.ttl.as_secs()));
                e.last_renewal_time = Some(now);
                Ok(())
            })
            .await?;
        let mut resp = Response::auth(auth_block(raw, &entry, now));
        resp.warnings = warnings;
        Ok(Some(resp))
    }

    /// Vault's lookup `data`; `raw` is the token as presented (`""` when
    /// looked up by accessor).
    fn lookup_response(&self, token: &ResolvedToken, raw: &str) -> Response {
        Response::data(lookup_data(&token.entry, raw, self.tokens.now()))
    }
}

fn lookup_data(e: &TokenEntry, raw: &str, now: u64) -> Value {
    let time = |secs: u64| crate::clock::rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
    let mut data = json!({
        "accessor": e.accessor,
        "creation_time": e.creation_time,
        "creation_ttl": e.ttl,
        "display_name": e.display_name,
        "entity_id": "",
        "expire_time": e.expire_time.map(time),
        "explicit_max_ttl": e.explicit_max_ttl,
        "id": raw,
        "issue_time": time(e.creation_time),
        "meta": if e.meta.is_empty() { Value::Null } else { json!(e.meta) },
        "num_uses": e.num_uses,
        "orphan": e.is_orphan(),
        "path": e.path,
        "policies": e.policies,
        "renewable": e.can_renew(),
        "ttl": e.ttl_left(now),
        "type": "service",
    });
    if !e.period.is_zero() {
        data["period"] = json!(e.period);
    }
    if !e.bound_cidrs.is_empty() {
        data["bound_cidrs"] = json!(e.bound_cidrs);
    }
    if !e.role.is_empty() {
        data["role"] = json!(e.role);
    }
    if let Some(t) = e.last_renewal_time {
        data["last_renewal_time"] = json!(t);
        data["last_renewal"] = json!(time(t));
    }
    data
}
