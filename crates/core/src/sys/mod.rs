//! The built-in `sys/` backend for logical requests: mounts and tuning,
//! keyring rotation and status, ACL policies, capabilities, audit devices,
//! response wrapping, leases (`leases`), locked users
//! (`locked_users`), and the UI mount lookup the
//! `vault kv` command uses. The unauthenticated endpoints (init, unseal,
//! seal-status, health, leader, generate-root) are raw handlers in the
//! server; `sys/wrapping/lookup` is served without a token (see `login`).
//!
//! The ACL check has already happened when a handler runs, except for the
//! UI mount lookups, which answer every token with the mounts it has some
//! access to (as Vault's do).

mod audit;
pub(crate) mod auth;
mod capabilities;
mod leases;
mod locked_users;
mod policies;

use crate::engine::field::opt_bool;
use crate::engine::{Operation, Request, Response, Route, dispatch};
use crate::error::{CoreError, CoreResult};
use crate::mount::{MOUNT_TABLE_PATH, MountEntry, MountPath, MountTable};
use crate::node::Core;
use crate::request::authorize::Caller;
use crate::storage::view::View;
use crate::ttl::Ttl;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Vault's system-wide default and maximum lease TTL (32 days).
pub const SYSTEM_MAX_LEASE_TTL: Ttl = Ttl::from_secs(32 * 24 * 3600);
const RESERVED_PREFIXES: [&str; 3] = ["auth/", "identity/", "sys/"];

#[derive(Debug, Clone, Copy)]
enum Sys {
    Mounts,
    Mount,
    Rotate,
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
    LockedUsers,
    UnlockUser,
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
        Route::new("locked-users", READ, Sys::LockedUsers),
        Route::new(
            "locked-users/:mount_accessor/unlock/:alias_identifier",
            WRITE,
            Sys::UnlockUser,
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

#[derive(Debug, Deserialize, Default)]
struct MountConfigInput {
    #[serde(default)]
    default_lease_ttl: Option<Ttl>,
    #[serde(default)]
    max_lease_ttl: Option<Ttl>,
    #[serde(default, deserialize_with = "opt_bool")]
    force_no_cache: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct EnableInput {
    #[serde(rename = "type")]
    engine_type: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    config: Option<MountConfigInput>,
    #[serde(default)]
    options: Option<BTreeMap<String, Value>>,
    #[serde(default, deserialize_with = "opt_bool")]
    local: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    seal_wrap: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    external_entropy_access: Option<bool>,
    #[serde(default)]
    plugin_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TuneInput {
    #[serde(default)]
    default_lease_ttl: Option<Ttl>,
    #[serde(default)]
    max_lease_ttl: Option<Ttl>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    options: Option<BTreeMap<String, Value>>,
    #[serde(default, deserialize_with = "opt_bool")]
    seal_wrap: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    external_entropy_access: Option<bool>,
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
        match handler {
            Sys::Mounts => Ok(Some(Response::data(self.mounts_json()))),
            Sys::Mount => {
                if let Some(mount) = path_param
                    .strip_suffix("/tune")
                    .or(path_param.strip_suffix("/tune/"))
                {
                    return self.tune(&req, &MountPath::parse(mount)?).await;
                }
                let path = MountPath::parse(&path_param)?;
                match req.operation {
                    Operation::Read => self.read_mount(&path),
                    Operation::Update => self.enable_mount(&req, &path).await.map(|()| None),
                    _ => self
                        .run_detached("disabling a secrets engine", move |core| async move {
                            core.disable_mount(&path).await
                        })
                        .await
                        .map(|()| None),
                }
            }
            Sys::Rotate => {
                let term = self.barrier.rotate(self.clock.now()).await?;
                tracing::info!(term, "barrier keyring rotated");
                Ok(None)
            }
            Sys::KeyStatus => {
                let s = self.barrier.key_status()?;
                Ok(Some(Response::data(json!({
                    "term": s.term,
                    "install_time": crate::clock::rfc3339(s.install_time),
                    "encryptions": s.encryptions,
                }))))
            }
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
            Sys::LeaseTidy => self.lease_tidy().await,
            Sys::LockedUsers => self.list_locked_users(&req),
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

    fn mounts_json(&self) -> Value {
        let table = self.router_table();
        let map: serde_json::Map<String, Value> = table
            .mounts
            .entries
            .iter()
            .map(|m| (m.path.clone(), mount_json(m)))
            .collect();
        Value::Object(map)
    }

    fn read_mount(&self, path: &MountPath) -> CoreResult<Option<Response>> {
        let path = path.as_str();
        let table = self.router_table();
        let mount = table
            .mounts
            .get(path)
            .ok_or_else(|| CoreError::invalid(format!("No secret engine mount at {path}")))?;
        Ok(Some(Response::data(mount_json(mount))))
    }

    async fn enable_mount(&self, req: &Request, path: &MountPath) -> CoreResult<()> {
        let path = path.as_str();
        let input: EnableInput = req.parse()?;
        let mut engine_type = input
            .engine_type
            .filter(|t| !t.is_empty())
            .or(input.plugin_name.filter(|t| !t.is_empty()))
            .ok_or_else(|| CoreError::invalid("missing required field \"type\""))?;
        let mut options = string_options(input.options.unwrap_or_default())?;
        if engine_type == "kv-v2" {
            engine_type = "kv".to_owned();
            options.insert("version".to_owned(), "2".to_owned());
        }
        if self
            .factories
            .get(engine_type.as_str())
            .is_some_and(|f| f.kind() == crate::engine::EngineKind::Auth)
        {
            return Err(CoreError::invalid(format!(
                "{engine_type} is an auth method: enable it with sys/auth"
            )));
        }
        if engine_type == "system" || engine_type == "cubbyhole" {
            return Err(CoreError::invalid(format!(
                "the {engine_type} engine is built in and cannot be mounted again"
            )));
        }
        let factory = self
            .factories
            .get(engine_type.as_str())
            .ok_or_else(|| {
                CoreError::invalid(format!("plugin not found in the catalog: {engine_type}"))
            })?
            .clone();
        let seal_wrap = input.seal_wrap.unwrap_or(false);
        if seal_wrap && !self.barrier.seal_wraps() {
            return Err(CoreError::invalid(format!(
                "seal_wrap needs a seal whose key lives in an HSM (seal \"pkcs11\"); this \
                 server uses the {} seal, whose key comes from the unseal keys themselves, so \
                 seal wrapping would add no protection. Enable the mount without -seal-wrap, \
                 or migrate to the pkcs11 seal first",
                self.seal.kind()
            )));
        }
        let external_entropy_access = input.external_entropy_access.unwrap_or(false);
        if external_entropy_access && !self.augmented {
            return Err(CoreError::invalid(
                "external_entropy_access needs entropy augmentation: add an \
                 `entropy \"seal\" { mode = \"augmentation\" }` stanza (with the pkcs11 seal) \
                 to the server configuration",
            ));
        }
        if let Some(reserved) = RESERVED_PREFIXES.iter().find(|r| path.starts_with(**r)) {
            return Err(CoreError::invalid(format!(
                "cannot mount under the reserved path {reserved:?}"
            )));
        }
        let options = factory.normalize_options(options)?;
        let _one_at_a_time = self.mount_changes.lock().await;
        let current = self.router_table();
        if let Some(existing) = current.mounts.conflicts(path) {
            return Err(CoreError::invalid(format!(
                "path is already in use at {}",
                existing.path
            )));
        }
        let description = input.description.unwrap_or_default();
        let mut entry = self.new_mount_entry(path, &engine_type, &description, options)?;
        entry.local = input.local.unwrap_or(false);
        entry.external_entropy_access = external_entropy_access;
        entry.seal_wrap = seal_wrap;
        if let Some(c) = input.config {
            entry.config.default_lease_ttl = c.default_lease_ttl.unwrap_or_default();
            entry.config.max_lease_ttl = c.max_lease_ttl.unwrap_or_default();
            entry.config.force_no_cache = c.force_no_cache.unwrap_or(false);
            check_ttls(entry.config.default_lease_ttl, entry.config.max_lease_ttl)?;
        }
        let mut mounts = current.mounts.clone();
        mounts.entries.push(entry);
        self.commit_mounts(mounts).await?;
        tracing::info!(path = %path, engine_type = %engine_type, "secrets engine enabled");
        Ok(())
    }

    async fn disable_mount(&self, path: &MountPath) -> CoreResult<()> {
        let path = path.as_str();
        if path == "sys/" || path == "cubbyhole/" {
            return Err(CoreError::invalid(format!(
                "cannot unmount {path:?}: it is built in"
            )));
        }
        let _one_at_a_time = self.mount_changes.lock().await;
        let current = self.router_table();
        let Some(entry) = current.mounts.get(path).cloned() else {
            return Ok(());
        };
        let mut mounts = current.mounts.clone();
        mounts.entries.retain(|m| m.path != path);
        mounts.removing.push(entry.storage_prefix());
        self.commit_mounts(mounts).await?;
        self.finish_removal(&entry.storage_prefix()).await?;
        tracing::info!(path = %path, "secrets engine disabled");
        Ok(())
    }

    /// Deletes a disabled mount's data, then drops its prefix from the
    /// table's `removing` list (the caller holds `mount_changes`, or the
    /// state lock exclusively during unseal).
    pub(crate) async fn finish_removal(&self, prefix: &str) -> CoreResult<()> {
        View::new(self.barrier.clone(), prefix).clear().await?;
        let mut mounts = self.router_table().mounts.clone();
        mounts.removing.retain(|p| p != prefix);
        self.commit_mounts(mounts).await
    }

    async fn tune(&self, req: &Request, path: &MountPath) -> CoreResult<Option<Response>> {
        let path = path.as_str();
        if req.operation == Operation::Read {
            let table = self.router_table();
            let m = table
                .mounts
                .get(path)
                .ok_or_else(|| CoreError::invalid(format!("no mount at {path}")))?;
            let effective = |v: Ttl| v.or(SYSTEM_MAX_LEASE_TTL);
            let mut body = json!({
                "default_lease_ttl": effective(m.config.default_lease_ttl),
                "max_lease_ttl": effective(m.config.max_lease_ttl),
                "force_no_cache": m.config.force_no_cache,
                "description": m.description,
                "options": options_json(&m.options),
            });
            if m.external_entropy_access {
                body["external_entropy_access"] = json!(true);
            }
            return Ok(Some(Response::data(body)));
        }
        if req.operation != Operation::Update {
            return Err(CoreError::UnsupportedOperation);
        }
        let input: TuneInput = req.parse()?;
        let _one_at_a_time = self.mount_changes.lock().await;
        let current = self.router_table();
        let mut mounts = current.mounts.clone();
        let entry = mounts
            .entries
            .iter_mut()
            .find(|m| m.path == path)
            .ok_or_else(|| CoreError::invalid(format!("no mount at {path}")))?;
        entry.check_fixed_at_mount(input.seal_wrap, input.external_entropy_access)?;
        if let Some(opts) = input.options {
            let opts = string_options(opts)?;
            if let Some(v) = opts.get("version") {
                let current_version = entry.options.get("version").map_or("1", String::as_str);
                if v != current_version {
                    return Err(CoreError::NotSupported(format!(
                        "changing the kv version of {path} from {current_version} to {v}"
                    )));
                }
            }
        }
        if let Some(d) = input.description {
            entry.description = d;
        }
        if let Some(t) = input.default_lease_ttl {
            entry.config.default_lease_ttl = t;
        }
        if let Some(t) = input.max_lease_ttl {
            entry.config.max_lease_ttl = t;
        }
        check_ttls(entry.config.default_lease_ttl, entry.config.max_lease_ttl)?;
        self.commit_mounts(mounts).await?;
        Ok(None)
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

    /// Persists the table, then swaps in a router built from it.
    async fn commit_mounts(&self, mounts: MountTable) -> CoreResult<()> {
        let table = self.build_router(mounts, self.router_table().auth.clone())?;
        View::new(self.barrier.clone(), "")
            .put_json(MOUNT_TABLE_PATH, &table.mounts)
            .await?;
        self.set_router_table(table);
        Ok(())
    }
}

pub(crate) fn check_ttls(default: Ttl, max: Ttl) -> CoreResult<()> {
    let max_eff = max.or(SYSTEM_MAX_LEASE_TTL);
    if default > max_eff {
        return Err(CoreError::invalid(format!(
            "default_lease_ttl ({}s) cannot be greater than max_lease_ttl ({}s)",
            default.as_secs(),
            max_eff.as_secs()
        )));
    }
    Ok(())
}

pub(crate) fn string_options(
    options: BTreeMap<String, Value>,
) -> CoreResult<BTreeMap<String, String>> {
    options
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Number(n) => Ok((k, n.to_string())),
            Value::Bool(b) => Ok((k, b.to_string())),
            other => Err(CoreError::invalid(format!(
                "option {k:?} must be a string, got {other}"
            ))),
        })
        .collect()
}

pub(crate) fn options_json(options: &BTreeMap<String, String>) -> Value {
    if options.is_empty() {
        Value::Null
    } else {
        json!(options)
    }
}

/// Vault's JSON shape of one mount entry.
pub fn mount_json(m: &MountEntry) -> Value {
    json!({
        "accessor": m.accessor,
        "config": {
            "default_lease_ttl": m.config.default_lease_ttl,
            "max_lease_ttl": m.config.max_lease_ttl,
            "force_no_cache": m.config.force_no_cache,
        },
        "description": m.description,
        "external_entropy_access": m.external_entropy_access,
        "local": m.local,
        "options": options_json(&m.options),
        "seal_wrap": m.seal_wrap,
        "type": m.engine_type,
        "uuid": m.uuid,
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": "",
    })
}
