//! The one gate every request passes before dispatch: may this token do this
//! operation on this path?
//!
//! [`permit`] is that decision: the ACL of the token's policies, the
//! operation (create vs update settled by the caller's existence check), the
//! request data for parameter constraints, and `sudo` on root-protected
//! paths. Denials are `permission denied` (403); an ACL that cannot be built
//! (storage error, a stored policy that stopped parsing) denies too, since
//! the request then never reaches a handler.

use crate::engine::Request;
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::policy::{Acl, AclOperation, AclRequest, Decision, is_root_protected};
use crate::token::{ResolvedToken, TokenEntry, TokenUse};
use crate::ttl::Ttl;
use serde_json::Value;
use std::sync::Arc;

/// Who is asking, as the handlers of the built-in backends see it.
pub(crate) struct Caller<'a> {
    /// The resolved token.
    pub(crate) token: &'a ResolvedToken,
    /// The token as presented (for `lookup-self`'s `id`).
    pub(crate) raw_token: &'a str,
    /// The token's ACL.
    pub(crate) acl: Arc<Acl>,
    /// Whether the rule that allowed the request grants `sudo` (always for
    /// root): some handlers need it for part of their input (orphan or
    /// periodic tokens, chosen token ids).
    pub(crate) sudo: bool,
}

impl Core {
    /// The merged ACL of a token's policies, cached per policy set.
    pub(crate) async fn acl_for(&self, token: &TokenEntry) -> CoreResult<Arc<Acl>> {
        self.policies.acl(&token.policies).await.map_err(|e| {
            tracing::error!(error = %e, "building a token's ACL failed; denying");
            CoreError::PermissionDenied
        })
    }

    /// For the raw HTTP handlers that need a token (`sys/seal`,
    /// `sys/metrics`): resolves `token`, takes one of its uses, and checks
    /// `req.operation` on `req.path` (full path, e.g. `sys/seal`). The
    /// request is audited as Vault audits `sys/seal`: one request entry, with
    /// the error when refused; when allowed and no enabled device can record
    /// it, it is refused (fail closed). A token whose last use this was is
    /// revoked at once: raw handlers dispatch nothing that could still need it.
    pub async fn authorize(&self, token: Option<&str>, req: &Request) -> CoreResult<ResolvedToken> {
        let auth = self.authenticate_request(req, token).await?;
        let resolved = auth.resolved;
        let _unsealed = self.unsealed().await?;
        let mut req = req.clone();
        if req.id.is_empty() {
            req.id = self.new_uuid()?;
        }
        let mut trail = self.audit_trail(&req, Some(&resolved), Some(auth.presented.as_str()));
        let (used, resolved) = match self.tokens.use_once(&resolved).await {
            Ok(u) => u,
            Err(e) => return Err(self.audit_refused(trail, e).await),
        };
        let operation = AclOperation::from(req.operation);
        let checked = async {
            let acl = self.acl_for(&resolved.entry).await?;
            permit(&acl, operation, &req.path, &Value::Null, None)
        }
        .await;
        let outcome = match checked {
            Ok(decision) => {
                trail.authorised(operation, &self.sys_mount(), &decision.granting_policies);
                self.audit_request(&mut trail).await
            }
            Err(e) => Err(self.audit_refused(trail, e).await),
        };
        if used == TokenUse::Last {
            self.revoke_spent(&resolved.id).await;
        }
        outcome.map(|()| resolved)
    }
}

/// Decides one request against `acl`: `operation` on the full request
/// `path` with `data` and the requested response-wrapping TTL (checked
/// against `min/max_wrapping_ttl`), plus `sudo` when the path is
/// root-protected. LIST
/// paths are checked with their trailing `/`, as Vault does. Returns the
/// decision when allowed, `PermissionDenied` otherwise.
pub(crate) fn permit(
    acl: &Acl,
    operation: AclOperation,
    path: &str,
    data: &Value,
    wrap_ttl: Option<Ttl>,
) -> CoreResult<Decision> {
    let path = path.trim_start_matches('/');
    let listed;
    let path = if operation == AclOperation::List && !path.ends_with('/') {
        listed = format!("{path}/");
        listed.as_str()
    } else {
        path
    };
    let mut request = AclRequest::new(operation, path, data);
    if let Some(ttl) = wrap_ttl {
        request = request.wrapped(ttl.as_duration());
    }
    let decision = acl.check(&request).require_sudo_if(is_root_protected(path));
    if decision.allowed {
        Ok(decision)
    } else {
        // The request path is not logged: a client may put a secret in it.
        tracing::debug!(
            operation = ?operation,
            rule = decision.matched.as_deref().unwrap_or("-"),
            reason = %decision.reason,
            "permission denied"
        );
        Err(CoreError::PermissionDenied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use serde_json::json;

    fn acl(text: &str) -> Acl {
        let p = Policy::parse("p", text).expect("policy");
        Acl::new([&p]).expect("acl")
    }

    #[test]
    fn root_protected_paths_need_sudo_on_top_of_the_capability() {
        let plain = acl(r#"path "sys/rotate" { capabilities = ["update"] }"#);
        assert!(
            permit(
                &plain,
                AclOperation::Update,
                "sys/rotate",
                &Value::Null,
                None
            )
            .is_err()
        );
        let sudo = acl(r#"path "sys/rotate" { capabilities = ["update", "sudo"] }"#);
        let d = permit(
            &sudo,
            AclOperation::Update,
            "sys/rotate",
            &Value::Null,
            None,
        )
        .expect("allowed");
        assert!(d.sudo);
    }

    #[test]
    fn list_requests_are_checked_with_a_trailing_slash() {
        let a = acl(r#"path "secret/metadata/*" { capabilities = ["list"] }"#);
        assert!(
            permit(
                &a,
                AclOperation::List,
                "secret/metadata",
                &Value::Null,
                None
            )
            .is_ok()
        );
        assert!(
            permit(
                &a,
                AclOperation::Read,
                "secret/metadata",
                &Value::Null,
                None
            )
            .is_err()
        );
    }

    #[test]
    fn parameter_constraints_see_the_request_body() {
        let a = acl(r#"path "secret/*" {
  capabilities = ["update"]
  allowed_parameters = { "color" = ["blue"] }
}"#);
        let ok = json!({"color": "blue"});
        let bad = json!({"color": "red"});
        assert!(permit(&a, AclOperation::Update, "secret/x", &ok, None).is_ok());
        assert!(permit(&a, AclOperation::Update, "secret/x", &bad, None).is_err());
    }
}
