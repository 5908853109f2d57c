//! `sys/mounts` and `sys/mounts/:path[/tune]`: listing, reading, enabling,
//! tuning and disabling secrets engines, in Vault's shapes. The mount table
//! is persisted at `core/mounts` before the router that serves it is
//! swapped in; a removal runs on its own task (see `Core::run_detached`).
//! The option and TTL rules here are shared with `sys/auth`.

use crate::engine::field::{opt_bool, opt_string_list};
use crate::engine::{Operation, Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::mount::{MOUNT_TABLE_PATH, MountEntry, MountPath, MountTable};
use crate::node::Core;
use crate::storage::view::View;
use crate::sys::SYSTEM_MAX_LEASE_TTL;
use crate::ttl::Ttl;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

const RESERVED_PREFIXES: [&str; 3] = ["auth/", "identity/", "sys/"];

#[derive(Debug, Deserialize, Default)]
struct MountConfigInput {
    #[serde(default)]
    default_lease_ttl: Option<Ttl>,
    #[serde(default)]
    max_lease_ttl: Option<Ttl>,
    #[serde(default, deserialize_with = "opt_bool")]
    force_no_cache: Option<bool>,
    #[serde(default, deserialize_with = "opt_string_list")]
    allowed_managed_keys: Option<Vec<String>>,
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
    #[serde(default, deserialize_with = "opt_string_list")]
    allowed_managed_keys: Option<Vec<String>>,
}

impl Core {
    /// `sys/mounts/:path` and `sys/mounts/:path/tune`.
    pub(crate) async fn mount_request(
        self: &Arc<Self>,
        req: &Request,
        path_param: &str,
    ) -> CoreResult<Option<Response>> {
        if let Some(mount) = path_param
            .strip_suffix("/tune")
            .or(path_param.strip_suffix("/tune/"))
        {
            return self.tune(req, &MountPath::parse(mount)?).await;
        }
        let path = MountPath::parse(path_param)?;
        match req.operation {
            Operation::Read => self.read_mount(&path),
            Operation::Update => self.enable_mount(req, &path).await.map(|()| None),
            _ => self
                .run_detached("disabling a secrets engine", move |core| async move {
                    core.disable_mount(&path).await
                })
                .await
                .map(|()| None),
        }
    }

    pub(crate) fn mounts_json(&self) -> Value {
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
            entry.config.allowed_managed_keys = c.allowed_managed_keys.unwrap_or_default();
            check_ttls(entry.config.default_lease_ttl, entry.config.max_lease_ttl)?;
        }
        let mut mounts = current.mounts.clone();
        mounts.entries.push(entry);
        self.commit_mounts(mounts).await?;
        tracing::info!(path = %path, engine_type = %engine_type, "secrets engine enabled");
        Ok(())
    }

    async fn disable_mount(self: &Arc<Self>, path: &MountPath) -> CoreResult<()> {
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
        tracing::info!(path = %path, "secrets engine disabled; its data is deleted in the background");
        self.start_removal(entry.storage_prefix(), false);
        Ok(())
    }

    /// Deletes a disabled secrets engine's (or, with `auth`, auth method's)
    /// data in the background, then drops its prefix from the table's
    /// `removing` list; an interrupted run starts again at the next unseal.
    pub(crate) fn start_removal(self: &Arc<Self>, prefix: String, auth: bool) {
        let what = if auth {
            "auth method"
        } else {
            "secrets engine"
        };
        self.start_job(
            format!("deletion of disabled {what} data {prefix}"),
            move |core| async move {
                let deleted = View::new(core.barrier.clone(), prefix.as_str())
                    .clear()
                    .await?;
                // The table edit runs as a request would: never across a
                // seal or step-down (which abort the job outside this guard).
                let _unsealed = core.unsealed().await?;
                let _one_at_a_time = core.mount_changes.lock().await;
                let table = core.router_table();
                let mut edited = if auth {
                    table.auth.clone()
                } else {
                    table.mounts.clone()
                };
                edited.removing.retain(|p| *p != prefix);
                if auth {
                    core.commit_auth(edited).await?;
                } else {
                    core.commit_mounts(edited).await?;
                }
                Ok(format!(
                    "deleted the {deleted} stored values of a disabled {what}"
                ))
            },
        );
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
            if !m.config.allowed_managed_keys.is_empty() {
                body["allowed_managed_keys"] = json!(m.config.allowed_managed_keys);
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
        if let Some(keys) = input.allowed_managed_keys {
            entry.config.allowed_managed_keys = keys;
        }
        check_ttls(entry.config.default_lease_ttl, entry.config.max_lease_ttl)?;
        self.commit_mounts(mounts).await?;
        Ok(None)
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
pub(crate) fn mount_json(m: &MountEntry) -> Value {
    let mut v = json!({
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
    });
    if !m.config.allowed_managed_keys.is_empty() {
        v["config"]["allowed_managed_keys"] = json!(m.config.allowed_managed_keys);
    }
    v
}
