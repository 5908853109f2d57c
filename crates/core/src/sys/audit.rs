//! `sys/audit` (list), `sys/audit/:path` (enable, disable) and
//! `sys/audit-hash/:path`, in Vault's shapes. Listing, enabling and disabling
//! need `sudo` (root-protected paths); the work is in `crate::audit::devices`.

use crate::engine::{Operation, Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use coffer_audit::EnableRequest;
use serde::Deserialize;
use serde_json::json;

/// The body of `sys/audit-hash/:path`. Not `Debug`: `input` is the secret
/// whose hash the operator looks for.
#[derive(Deserialize)]
struct HashInput {
    #[serde(default)]
    input: Option<String>,
}

impl Core {
    /// `GET sys/audit`: `{"<path>/": {type, description, options, local,
    /// path}}`; an empty object when none is enabled.
    pub(crate) fn list_audit_devices(&self) -> CoreResult<Option<Response>> {
        Ok(Some(Response::data(self.audit_table_json()?)))
    }

    /// `PUT|POST sys/audit/:path` (204) and `DELETE sys/audit/:path` (204).
    pub(crate) async fn audit_device_request(
        &self,
        req: &Request,
        path: &str,
    ) -> CoreResult<Option<Response>> {
        match req.operation {
            Operation::Update => {
                let body: EnableRequest = req.parse()?;
                self.enable_audit(path, body).await.map(|()| None)
            }
            Operation::Delete => self.disable_audit(path).await.map(|()| None),
            _ => Err(CoreError::UnsupportedOperation),
        }
    }

    /// `POST sys/audit-hash/:path {input}` → `{hash}`.
    pub(crate) fn audit_hash_request(
        &self,
        req: &Request,
        path: &str,
    ) -> CoreResult<Option<Response>> {
        let body: HashInput = req.parse()?;
        let input = body
            .input
            .filter(|i| !i.is_empty())
            .ok_or_else(|| CoreError::invalid("the \"input\" parameter is empty"))?;
        let hash = self.audit_hash(path, &input)?;
        Ok(Some(Response::data(json!({ "hash": hash }))))
    }
}
