//! The built-in `sys/` backend for logical requests: its routes and their
//! dispatch, the seal re-wrap endpoint and the UI mount lookup the `vault kv`
//! command uses; one file per other path group: secrets engines (`mounts`),
//! auth methods (`auth`), ACL policies (`policies`), capabilities, audit
//! devices (`audit`), leases, locked users, keyring rotation (`rotate`), the
//! stored form of values (`raw`), managed keys, rate-limit quotas (`quotas`). Response wrapping is
//! `wrapping`'s. The unauthenticated endpoints (init, unseal, seal-status,
//! health, leader, generate-root) are plain HTTP handlers in the server;
//! `sys/wrapping/lookup` is served without a token (see `login`).
//!
//! The ACL check has already happened when a handler runs, except for the
//! UI mount lookups, which answer every token with the mounts it has some
//! access to (as Vault's do).

mod audit;
pub(crate) mod auth;
mod capabilities;
mod leases;
mod locked_users;
mod managed_keys;
pub(crate) mod mounts;
mod policies;
mod quotas;
mod raw;
pub(crate) mod rotate;

use crate::engine::{Operation, Request, Response, Route, dispatch};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::request::authorize::Caller;
use crate::sys::mounts::mount_json;
use crate::ttl::Ttl;
use serde_json::{Value, json};
use std::sync::Arc;

/// Vault's system-wide default and maximum lease TTL (32 days).
pub const SYSTEM_MAX_LEASE_TTL: Ttl = Ttl::from_secs(32 * 24 * 3600);

#[derive(Debug, Clone, Copy)]
enum Sys {
    Mounts,
    Mount,
    Rotate,
    RotateConfig,
    KeyStatus,
    UiMounts,
    UiMount,
    SealWrapRewrap,
    License,
    Policies,
    Policy,
    LegacyPolicies,
    LegacyPolicy,
    Capabilities,
    CapabilitiesSelf,
    CapabilitiesAccessor,
    Audits,
    Audit,
    AuditHash,
    AuthMethods,
    AuthMethod,
    WrappingWrap,
    WrappingUnwrap,
    WrappingRewrap,
    LeaseLookup,
    LeaseList,
    LeaseRenew,
    LeaseRevoke,
    LeaseRevokePrefix,
    LeaseRevokeForce,
    LeaseTidy,
    LeaseTidyStatus,
    LockedUsers,
    UnlockUser,
    Raw,
    StepDown,
    ManagedKeys,
    ManagedKey,
    ManagedKeyTest,
    Quotas,
    Quota,
    QuotaConfig,
}

const READ: &[Operation] = &[Operation::Read];
const WRITE: &[Operation] = &[Operation::Update];
const POLICY_OPS: &[Operation] = &[Operation::Read, Operation::Update, Operation::Delete];

fn routes() -> Vec<Route<Sys>> {
    vec![
        Route::new("mounts", READ, Sys::Mounts),
        Route::new(
            "mounts/*path",
            &[Operation::Read, Operation::Update, Operation::Delete],
            Sys::Mount,
        ),
        Route::new("rotate", WRITE, Sys::Rotate),
        Route::new(
            "rotate/config",
            &[Operation::Read, Operation::Update],
            Sys::RotateConfig,
        ),
        Route::new("key-status", READ, Sys::KeyStatus),
        Route::new("internal/ui/mounts", READ, Sys::UiMounts),
        Route::new("internal/ui/mounts/*path", READ, Sys::UiMount),
        Route::new(
            "license",
            &[Operation::Read, Operation::Update, Operation::Delete],
            Sys::License,
        ),
        Route::new("license/*rest", READ, Sys::License),
        Route::new(
            "sealwrap/rewrap",
            &[Operation::Read, Operation::Update],
            Sys::SealWrapRewrap,
        ),
        Route::new("policies/acl", &[Operation::List], Sys::Policies),
        Route::new("policies/acl/:name", POLICY_OPS, Sys::Policy),
        Route::new(
            "policy",
            &[Operation::Read, Operation::List],
            Sys::LegacyPolicies,
        ),
        Route::new("policy/:name", POLICY_OPS, Sys::LegacyPolicy),
        Route::new("capabilities", WRITE, Sys::Capabilities),
        Route::new("capabilities-self", WRITE, Sys::CapabilitiesSelf),
        Route::new("capabilities-accessor", WRITE, Sys::CapabilitiesAccessor),
        Route::new("audit", READ, Sys::Audits),
        Route::new(
            "audit/*path",
            &[Operation::Update, Operation::Delete],
            Sys::Audit,
        ),
        Route::new("audit-hash/*path", WRITE, Sys::AuditHash),
        Route::new("auth", READ, Sys::AuthMethods),
        Route::new(
            "auth/*path",
            &[Operation::Read, Operation::Update, Operation::Delete],
            Sys::AuthMethod,
        ),
        Route::new("wrapping/wrap", WRITE, Sys::WrappingWrap),
        Route::new("wrapping/unwrap", WRITE, Sys::WrappingUnwrap),
        Route::new("wrapping/rewrap", WRITE, Sys::WrappingRewrap),
        Route::new("leases/lookup", WRITE, Sys::LeaseLookup),
        Route::new("leases/lookup/*prefix", &[Operation::List], Sys::LeaseList),
        Route::new("leases/renew", WRITE, Sys::LeaseRenew),
        Route::new("leases/renew/*lease_id", WRITE, Sys::LeaseRenew),
        Route::new("renew", WRITE, Sys::LeaseRenew),
        Route::new("renew/*lease_id", WRITE, Sys::LeaseRenew),
        Route::new("leases/revoke", WRITE, Sys::LeaseRevoke),
        Route::new("leases/revoke/*lease_id", WRITE, Sys::LeaseRevoke),
        Route::new("revoke", WRITE, Sys::LeaseRevoke),
        Route::new("revoke/*lease_id", WRITE, Sys::LeaseRevoke),
        Route::new(
            "leases/revoke-prefix/*prefix",
            WRITE,
            Sys::LeaseRevokePrefix,
        ),
        Route::new("revoke-prefix/*prefix", WRITE, Sys::LeaseRevokePrefix),
        Route::new("leases/revoke-force/*prefix", WRITE, Sys::LeaseRevokeForce),
        Route::new("revoke-force/*prefix", WRITE, Sys::LeaseRevokeForce),
        Route::new("leases/tidy", WRITE, Sys::LeaseTidy),
        Route::new("leases/tidy-status", READ, Sys::LeaseTidyStatus),
        Route::new("locked-users", READ, Sys::LockedUsers),
        Route::new("step-down", WRITE, Sys::StepDown),
        Route::new("raw", &[Operation::List], Sys::Raw),
        Route::new(
            "raw/*path",
            &[
                Operation::Read,
                Operation::List,
                Operation::Update,
                Operation::Delete,
            ],
            Sys::Raw,
        ),
        Route::new(
            "locked-users/:mount_accessor/unlock/:alias_identifier",
            WRITE,
            Sys::UnlockUser,
        ),
        Route::new("managed-keys/:type", &[Operation::List], Sys::ManagedKeys),
        Route::new(
            "managed-keys/:type/:name",
            &[Operation::Read, Operation::Update, Operation::Delete],
            Sys::ManagedKey,
        ),
        Route::new(
            "managed-keys/:type/:name/test/sign",
            WRITE,
            Sys::ManagedKeyTest,
        ),
        Route::new("quotas/rate-limit", &[Operation::List], Sys::Quotas),
        Route::new("quotas/rate-limit/:name", POLICY_OPS, Sys::Quota),
        Route::new(
            "quotas/config",
            &[Operation::Read, Operation::Update],
            Sys::QuotaConfig,
        ),
    ]
}

/// Every route of the `sys/` backend as (full path pattern, operations), for
/// introspection: tests walk it to check that each one is guarded.
pub fn route_patterns() -> Vec<(String, &'static [Operation])> {
    routes()
        .into_iter()
        .map(|r| (format!("sys/{}", r.pattern.as_str()), r.operations))
        .collect()
}

/// Whether `path` (relative to `sys/`) is one of the UI mount lookups, which
/// filter by the caller's ACL themselves instead of being checked up front.
pub(crate) fn is_ui_mounts(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    path == "internal/ui/mounts" || path.starts_with("internal/ui/mounts/")
}

impl Core {
    pub(crate) async fn handle_sys(
        self: &Arc<Self>,
        req: Request,
        caller: &Caller<'_>,
    ) -> CoreResult<Option<Response>> {
        let routes = routes();
        let (handler, params) = dispatch(&routes, &req)?;
        let path_param = params.get("path").cloned().unwrap_or_default();
        let name = params.get("name").map(String::as_str).unwrap_or_default();
        let lease_id = params.get("lease_id").map(String::as_str);
        let prefix = params.get("prefix").map(String::as_str).unwrap_or_default();
        let key_type = params.get("type").map(String::as_str).unwrap_or_default();
        match handler {
            Sys::Mounts => Ok(Some(Response::data(self.mounts_json()))),
            Sys::Mount => self.mount_request(&req, &path_param).await,
            Sys::Rotate => self.rotate_keyring().await,
            Sys::RotateConfig => self.rotate_config_request(&req).await,
            Sys::KeyStatus => self.key_status(),
            Sys::UiMounts => {
                let table = self.router_table();
                let secret: serde_json::Map<String, Value> = table
                    .mounts
                    .entries
                    .iter()
                    .filter(|m| caller.acl.has_access_under(&m.path))
                    .map(|m| (m.path.clone(), mount_json(m)))
                    .collect();
                Ok(Some(Response::data(
                    json!({ "secret": secret, "auth": {} }),
                )))
            }
            Sys::License => Err(CoreError::invalid(
                "coffer has no license: seal wrap, entropy augmentation and the pkcs11 seal are \
                 always available, so a `sys/license` step (Vault Enterprise) can be skipped",
            )),
            Sys::SealWrapRewrap => self.sealwrap_rewrap(req.operation),
            Sys::Policies => self.list_policies(false).await,
            Sys::LegacyPolicies => self.list_policies(true).await,
            Sys::Policy => self.policy_request(&req, name, false).await,
            Sys::LegacyPolicy => self.policy_request(&req, name, true).await,
            Sys::Capabilities => self.capabilities(&req, None).await,
            Sys::CapabilitiesSelf => self.capabilities(&req, Some(caller)).await,
            Sys::CapabilitiesAccessor => self.capabilities_by_accessor(&req).await,
            Sys::Audits => self.list_audit_devices(),
            Sys::Audit => self.audit_device_request(&req, &path_param).await,
            Sys::AuditHash => self.audit_hash_request(&req, &path_param),
            Sys::AuthMethods => self.auth_request(&req, None).await,
            Sys::AuthMethod => self.auth_request(&req, Some(&path_param)).await,
            Sys::WrappingWrap => self.wrapping_wrap(&req),
            Sys::WrappingUnwrap => self.wrapping_unwrap(&req, caller).await,
            Sys::WrappingRewrap => self.wrapping_rewrap(&req, caller).await,
            Sys::LeaseLookup => self.lease_lookup(&req).await,
            Sys::LeaseList => self.lease_list(prefix).await,
            Sys::LeaseRenew => self.lease_renew(&req, lease_id).await,
            Sys::LeaseRevoke => self.lease_revoke(&req, lease_id).await,
            Sys::LeaseRevokePrefix => self.lease_revoke_prefix(&req, prefix, false).await,
            Sys::LeaseRevokeForce => self.lease_revoke_prefix(&req, prefix, true).await,
            Sys::LeaseTidy => self.lease_tidy(),
            Sys::LeaseTidyStatus => self.lease_tidy_status(),
            Sys::LockedUsers => self.list_locked_users(&req),
            Sys::Raw => self.raw_request(&req, &path_param).await,
            Sys::StepDown => self.request_step_down().map(|()| None),
            Sys::ManagedKeys => self.list_managed_keys(key_type).await,
            Sys::ManagedKey => self.managed_key_request(&req, key_type, name).await,
            Sys::ManagedKeyTest => self.test_managed_key(&req, key_type, name).await,
            Sys::Quotas => self.list_quotas(),
            Sys::Quota => self.quota_request(&req, name).await,
            Sys::QuotaConfig => self.quota_config_request(&req).await,
            Sys::UnlockUser => self
                .unlock_user(
                    params
                        .get("mount_accessor")
                        .map(String::as_str)
                        .unwrap_or_default(),
                    params
                        .get("alias_identifier")
                        .map(String::as_str)
                        .unwrap_or_default(),
                )
                .await
                .map(|()| None),
            Sys::UiMount => {
                let table = self.router_table();
                let m = table.mounts.longest_match(&path_param).ok_or_else(|| {
                    CoreError::UnsupportedPath(format!("sys/internal/ui/mounts/{path_param}"))
                })?;
                if !caller.acl.has_access_under(&m.path) {
                    return Err(CoreError::PermissionDenied);
                }
                let mut body = mount_json(m);
                body["path"] = json!(m.path);
                Ok(Some(Response::data(body)))
            }
        }
    }

    /// `GET sys/sealwrap/rewrap` (progress) and `POST` (start a pass: 204
    /// when started, 200 with the progress when one is already running).
    fn sealwrap_rewrap(self: &Arc<Self>, op: Operation) -> CoreResult<Option<Response>> {
        let progress = |s: crate::seal::rewrap::RewrapStatus| {
            Response::data(json!({
                "is_running": s.is_running,
                "entries": {
                    "processed": s.processed,
                    "succeeded": s.succeeded,
                    "failed": s.failed,
                    "rewritten": s.rewritten,
                },
            }))
        };
        if op == Operation::Update {
            if self.start_rewrap() {
                tracing::info!("seal re-wrap started by request");
                return Ok(None);
            }
            return Ok(Some(
                progress(self.rewrap_status()).warn("a seal re-wrap is already running"),
            ));
        }
        Ok(Some(progress(self.rewrap_status())))
    }
}
