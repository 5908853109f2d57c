//! Recording requests in the audit devices, as Vault does:
//!
//! 1. a request the token check or the ACL refuses is recorded once, as a
//!    request entry carrying the error (`permission denied`);
//! 2. an authorised request is recorded *before* it is dispatched; when
//!    devices are enabled and none can write, it fails with a 500 and is not
//!    dispatched (fail closed);
//! 3. its outcome (response data, or the error) is recorded after; when that
//!    fails, the client gets the 500 instead of the response (the handler has
//!    run by then, as in Vault).
//!
//! With no device enabled when a request arrives, nothing is built or logged
//! for it. The broker is synchronous (one `write(2)` per device and entry);
//! it runs on tokio's blocking pool, so a device that blocks (a full pipe
//! behind `file_path=stdout`, a hung network filesystem) stalls the requests
//! that are being recorded, as in Vault, but not the runtime's workers, which
//! keep serving `sys/health`, `sys/seal-status` and the rest. Those
//! stalled requests still hold the node's state lock shared, so a seal waits
//! for them.
//!
//! Fail closed has one operator-facing consequence: disabling a broken last
//! device is a request too, and is refused like any other. The fix is to make
//! the device's path writable again; the file device reopens its path on the
//! next write after a failure.
//!
//! The server's raw `sys/` handlers are not logical requests: `sys/init`,
//! `sys/seal-status`, `sys/unseal`, `sys/health`, `sys/leader` and
//! `sys/rekey*` are not audited (nor in Vault), and neither, yet, is
//! `sys/generate-root/*` (which Vault audits). `sys/seal` and `sys/metrics`
//! take a token and get one request entry (`crate::request::authorize`).
//!
//! Raw values (the client token, request and response data) go into the
//! [`LogInput`] as they are; the devices' formatters hash them.

use crate::engine::{Auth, Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::policy::AclOperation;
use crate::token::ResolvedToken;
use crate::ttl::Ttl;
use coffer_audit::{
    AuditAuth, AuditBroker, AuditRequest, AuditResponse, AuditWrapInfo, LogInput, PolicyResults,
    SecretText,
};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// The mount that serves a request, as audit entries name it.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditMount {
    /// `secret/`, `sys/`, `auth/token/`.
    pub(crate) point: String,
    /// `kv`, `system`, `token`.
    pub(crate) kind: String,
    /// The mount's accessor, when it has one.
    pub(crate) accessor: String,
}

/// One request's audit input, from arrival to response. Empty when no audit
/// device was enabled as the request arrived. `Debug` never shows the input:
/// it holds the raw token and request data.
pub(crate) struct AuditTrail {
    /// Boxed: the trail is moved along the request path, and the input is
    /// over a kilobyte.
    input: Option<Box<LogInput>>,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail")
            .field("active", &self.input.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
enum EntryKind {
    Request,
    Response,
}

impl AuditTrail {
    /// Whether an audit device was enabled as the request arrived: without
    /// one, there is nothing to record before or after the handler.
    pub(crate) fn is_recording(&self) -> bool {
        self.input.is_some()
    }

    /// Sets the request path as the router sees it (after canonicalisation).
    pub(crate) fn set_path(&mut self, path: &str) {
        if let Some(input) = &mut self.input {
            path.clone_into(&mut input.request.path);
        }
    }

    /// Records the authorisation: the operation as the ACL saw it (`create`
    /// or `update` for writes), the mount, and the granting policies.
    pub(crate) fn authorised(
        &mut self,
        operation: AclOperation,
        mount: &AuditMount,
        granting_policies: &[String],
    ) {
        let Some(input) = &mut self.input else {
            return;
        };
        input.request.operation = operation.capability().to_string();
        mount.point.clone_into(&mut input.request.mount_point);
        mount.kind.clone_into(&mut input.request.mount_type);
        mount.accessor.clone_into(&mut input.request.mount_accessor);
        if let Some(auth) = &mut input.auth {
            auth.policy_results = Some(PolicyResults {
                allowed: true,
                granting_policies: granting_policies.to_vec(),
            });
        }
    }
}

impl Core {
    /// Starts the trail of `req`, presented with `raw_token` and resolved to
    /// `token` (`None` when the token was refused).
    pub(crate) fn audit_trail(
        &self,
        req: &Request,
        token: Option<&ResolvedToken>,
        raw_token: Option<&str>,
    ) -> AuditTrail {
        if self.audit.broker.is_empty() {
            return AuditTrail { input: None };
        }
        let raw_token = raw_token.filter(|t| !t.is_empty());
        let request = AuditRequest {
            id: req.id.clone(),
            operation: req.operation.as_str().to_owned(),
            path: req.path.clone(),
            client_token: raw_token.map(SecretText::new),
            client_token_accessor: token.map(|t| t.entry.accessor.clone()).unwrap_or_default(),
            data: (!req.data.is_null()).then(|| req.data.clone()),
            remote_address: req
                .remote_addr
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            remote_port: req.remote_addr.map(|a| a.port()),
            wrap_ttl: req.wrap_ttl.map(Ttl::as_duration),
            ..AuditRequest::default()
        };
        let mut input = LogInput::new(self.clock.now(), request);
        input.auth = token.map(|t| token_auth(t, raw_token));
        AuditTrail {
            input: Some(Box::new(input)),
        }
    }

    /// Records a request refused before dispatch (token, path or ACL) with
    /// its error, and hands the error back. A failure to record is logged:
    /// the request fails anyway.
    pub(crate) async fn audit_refused(&self, trail: AuditTrail, error: CoreError) -> CoreError {
        let Some(mut input) = trail.input else {
            return error;
        };
        input.error = Some(error.to_string());
        if matches!(error, CoreError::PermissionDenied)
            && let Some(auth) = &mut input.auth
        {
            auth.policy_results = Some(PolicyResults::default());
        }
        if let Err(e) = record(self.audit.broker.clone(), input, EntryKind::Request).await {
            tracing::error!(error = %e, "failed to audit a refused request");
        }
        error
    }

    /// Records an authorised request before dispatch. Fails closed: with
    /// devices enabled and none able to write, the request must not run.
    pub(crate) async fn audit_request(&self, trail: &mut AuditTrail) -> CoreResult<()> {
        let Some(input) = trail.input.take() else {
            return Ok(());
        };
        match record(self.audit.broker.clone(), input, EntryKind::Request).await {
            Ok(input) => {
                trail.input = Some(input);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "failed to audit a request; refusing it");
                Err(CoreError::Audit(
                    "no enabled audit device could record the request".to_owned(),
                ))
            }
        }
    }

    /// Records the outcome of a dispatched request and passes it on, or, when
    /// no device could record it, replaces it by a 500.
    pub(crate) async fn audit_response(
        &self,
        trail: AuditTrail,
        result: CoreResult<Option<Response>>,
    ) -> CoreResult<Option<Response>> {
        let Some(mut input) = trail.input else {
            return result;
        };
        match &result {
            Ok(Some(resp)) => input.response = Some(audit_response(resp, &input.request)),
            Ok(None) => {}
            Err(e) => input.error = Some(e.to_string()),
        }
        input.time = self.clock.now();
        match record(self.audit.broker.clone(), input, EntryKind::Response).await {
            Ok(_) => result,
            Err(e) => {
                tracing::error!(error = %e, "failed to audit a response; answering with an error");
                Err(CoreError::Audit(
                    "no enabled audit device could record the response".to_owned(),
                ))
            }
        }
    }
}

/// Runs the synchronous broker on the blocking pool; hands the input back
/// for the response entry.
async fn record(
    broker: Arc<AuditBroker>,
    input: Box<LogInput>,
    kind: EntryKind,
) -> Result<Box<LogInput>, String> {
    let joined = tokio::task::spawn_blocking(move || {
        let logged = match kind {
            EntryKind::Request => broker.log_request(&input),
            EntryKind::Response => broker.log_response(&input),
        };
        (input, logged)
    })
    .await;
    match joined {
        Ok((input, Ok(()))) => Ok(input),
        Ok((_, Err(e))) => Err(e.to_string()),
        Err(e) => Err(format!("the audit logging task failed: {e}")),
    }
}

/// The `auth` of a request: the token that made it.
fn token_auth(t: &ResolvedToken, raw_token: Option<&str>) -> AuditAuth {
    let e = &t.entry;
    AuditAuth {
        client_token: raw_token.map(SecretText::new),
        accessor: e.accessor.clone(),
        display_name: e.display_name.clone(),
        policies: e.policies.clone(),
        token_policies: e.policies.clone(),
        metadata: e.meta.clone(),
        token_type: "service".to_owned(),
        token_ttl: e.ttl.as_duration(),
        token_issue_time: Some(UNIX_EPOCH + Duration::from_secs(e.creation_time)),
        remaining_uses: e.num_uses,
        ..AuditAuth::default()
    }
}

/// The `auth` of a response: a token that was created or renewed.
fn issued_auth(a: &Auth) -> AuditAuth {
    AuditAuth {
        client_token: (!a.client_token.is_empty())
            .then(|| SecretText::new(a.client_token.as_str())),
        accessor: a.accessor.clone(),
        policies: a.policies.clone(),
        token_policies: a.policies.clone(),
        metadata: a.metadata.clone(),
        token_type: "service".to_owned(),
        token_ttl: a.lease_duration.as_duration(),
        num_uses: a.num_uses,
        ..AuditAuth::default()
    }
}

fn audit_response(resp: &Response, req: &AuditRequest) -> AuditResponse {
    AuditResponse {
        data: resp.data.as_ref().filter(|d| !d.is_null()).cloned(),
        warnings: resp.warnings.clone(),
        auth: resp.auth.as_ref().map(issued_auth),
        wrap_info: resp.wrap_info.as_ref().map(|w| AuditWrapInfo {
            token: SecretText::new(w.inner_token.as_str()),
            accessor: w.accessor.clone(),
            ttl: w.ttl.as_duration(),
            creation_time: UNIX_EPOCH + Duration::from_secs(w.creation_time),
            creation_path: w.creation_path.clone(),
            wrapped_accessor: w.wrapped_accessor.clone(),
        }),
        mount_point: req.mount_point.clone(),
        mount_type: req.mount_type.clone(),
        mount_accessor: req.mount_accessor.clone(),
        ..AuditResponse::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debug_never_shows_the_token_or_the_data() {
        let request = AuditRequest {
            client_token: Some(SecretText::new("hvs.secret-token")),
            data: Some(json!({"password": "hunter2"})),
            ..AuditRequest::default()
        };
        let trail = AuditTrail {
            input: Some(Box::new(LogInput::new(
                std::time::SystemTime::UNIX_EPOCH,
                request,
            ))),
        };
        let shown = format!("{trail:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("secret-token"),
            "{shown}"
        );
        assert!(shown.contains("active: true"));
    }
}
