//! `sys/auth`: enabling, listing, tuning and disabling auth methods.
//!
//! Auth methods live in their own table (`core/auth`, a [`MountTable`] whose
//! entries are mounted at `auth/<path>/`), their data under `auth/<uuid>/`
//! in the barrier. `token/` is built in: listed, never stored, and cannot be
//! disabled. Seal wrap and `external_entropy_access` work exactly as for
//! secrets engines (the router gives the engine the same `WrapRule` and
//! entropy handle). Disabling a method revokes every token it issued (those
//! whose `path` starts with its mount) before its data is deleted.

use crate::engine::field::opt_bool;
use crate::engine::{EngineKind, Operation, Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::mount::{AUTH_PREFIX, AUTH_TABLE_PATH, MountEntry, MountPath, MountTable};
use crate::node::Core;
use crate::storage::view::View;
use crate::sys::SYSTEM_MAX_LEASE_TTL;
use crate::sys::mounts::{check_ttls, options_json, string_options};
use crate::ttl::Ttl;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Deserialize, Default)]
struct AuthConfigInput {
    #[serde(default)]
    default_lease_ttl: Option<Ttl>,
    #[serde(default)]
    max_lease_ttl: Option<Ttl>,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct EnableAuthInput {
    #[serde(rename = "type")]
    method_type: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    config: Option<AuthConfigInput>,
    #[serde(default)]
    options: Option<BTreeMap<String, Value>>,
    #[serde(default, deserialize_with = "opt_bool")]
    local: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    seal_wrap: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    external_entropy_access: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct TuneAuthInput {
    #[serde(default)]
    default_lease_ttl: Option<Ttl>,
    #[serde(default)]
    max_lease_ttl: Option<Ttl>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    seal_wrap: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    external_entropy_access: Option<bool>,
    /// Vault's `user_lockout_config`; stored as the method's `lockout_*`
    /// options (only methods that know them accept them).
    #[serde(default)]
    user_lockout_config: Option<BTreeMap<String, Value>>,
}

impl Core {
    /// `sys/auth` (list) and `sys/auth/*path` (enable, disable, tune).
    pub(crate) async fn auth_request(
        self: &Arc<Self>,
        req: &Request,
        path: Option<&str>,
    ) -> CoreResult<Option<Response>> {
        let Some(path) = path else {
            return Ok(Some(Response::data(self.auth_methods_json())));
        };
        if let Some(mount) = path.strip_suffix("/tune").or(path.strip_suffix("/tune/")) {
            return match req.operation {
                Operation::Read => self.read_auth_tune(&MountPath::parse(mount)?).map(Some),
                Operation::Update => self
                    .tune_auth(req, &MountPath::parse(mount)?)
                    .await
                    .map(|()| None),
                _ => Err(CoreError::UnsupportedOperation),
            };
        }
        let path = MountPath::parse(path)?;
        match req.operation {
            Operation::Read => {
                let key = path.as_str();
                let table = self.router_table();
                let entry = table
                    .auth
                    .get(&format!("{AUTH_PREFIX}{key}"))
                    .ok_or_else(|| CoreError::invalid(format!("no auth mount at {key}")))?;
                Ok(Some(Response::data(auth_json(entry))))
            }
            Operation::Update => self.enable_auth(req, &path).await.map(|()| None),
            Operation::Delete => self
                .run_detached("disabling an auth method", move |core| async move {
                    core.disable_auth(&path).await
                })
                .await
                .map(|()| None),
            _ => Err(CoreError::UnsupportedOperation),
        }
    }

    fn auth_methods_json(&self) -> Value {
        let table = self.router_table();
        let mut map = serde_json::Map::new();
        map.insert("token/".to_owned(), token_method_json());
        for m in &table.auth.entries {
            map.insert(auth_key(m), auth_json(m));
        }
        Value::Object(map)
    }

    async fn enable_auth(&self, req: &Request, path: &MountPath) -> CoreResult<()> {
        let key = path.as_str();
        if key == "token/" {
            return Err(CoreError::invalid(
                "token credential backend cannot be instantiated",
            ));
        }
        let input: EnableAuthInput = req.parse()?;
        let method = input
            .method_type
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CoreError::invalid("missing required field \"type\""))?;
        let factory = self
            .factories
            .get(method.as_str())
            .filter(|f| f.kind() == EngineKind::Auth)
            .ok_or_else(|| {
                CoreError::invalid(format!("plugin not found in the catalog: {method}"))
            })?
            .clone();
        let seal_wrap = input.seal_wrap.unwrap_or(false);
        if seal_wrap && !self.barrier.seal_wraps() {
            return Err(CoreError::invalid(format!(
                "seal_wrap needs a seal whose key lives in an HSM (seal \"pkcs11\"); this \
                 server uses the {} seal",
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
        let options =
            factory.normalize_options(string_options(input.options.unwrap_or_default())?)?;
        let full = format!("{AUTH_PREFIX}{key}");
        let _one_at_a_time = self.mount_changes.lock().await;
        let current = self.router_table();
        if let Some(existing) = current.auth.conflicts(&full) {
            return Err(CoreError::invalid(format!(
                "path is already in use at {}",
                auth_key(existing)
            )));
        }
        let description = input.description.unwrap_or_default();
        let mut entry = self.new_mount_entry(&full, &method, &description, options)?;
        entry.accessor = entry
            .accessor
            .replacen(&method, &format!("auth_{method}"), 1);
        entry.local = input.local.unwrap_or(false);
        entry.seal_wrap = seal_wrap;
        entry.external_entropy_access = external_entropy_access;
        if let Some(c) = input.config {
            check_token_type(c.token_type.as_deref())?;
            entry.config.default_lease_ttl = c.default_lease_ttl.unwrap_or_default();
            entry.config.max_lease_ttl = c.max_lease_ttl.unwrap_or_default();
            check_ttls(entry.config.default_lease_ttl, entry.config.max_lease_ttl)?;
        }
        let mut auth = current.auth.clone();
        auth.entries.push(entry);
        self.commit_auth(auth).await?;
        tracing::info!(path = %key, method = %method, "auth method enabled");
        Ok(())
    }

    async fn disable_auth(self: &Arc<Self>, path: &MountPath) -> CoreResult<()> {
        let key = path.as_str();
        if key == "token/" {
            return Err(CoreError::invalid(
                "token credential backend cannot be disabled",
            ));
        }
        let full = format!("{AUTH_PREFIX}{key}");
        let _one_at_a_time = self.mount_changes.lock().await;
        let current = self.router_table();
        let Some(entry) = current.auth.get(&full).cloned() else {
            return Ok(());
        };
        self.revoke_tokens_under(&full).await?;
        let mut auth = current.auth.clone();
        auth.entries.retain(|m| m.path != full);
        auth.removing.push(entry.storage_prefix());
        self.commit_auth(auth).await?;
        self.start_removal(entry.storage_prefix(), true);
        // After the table change, so a crash before it keeps the locks of a
        // method that is still enabled (one after it leaves records no
        // listing shows).
        self.lockouts.forget_mount(&entry.accessor).await?;
        tracing::info!(path = %key, "auth method disabled, its tokens revoked; its data is deleted in the background");
        Ok(())
    }

    /// Revokes (with their children) every token whose creation path is
    /// under `prefix` (`auth/userpass/`).
    async fn revoke_tokens_under(&self, prefix: &str) -> CoreResult<()> {
        for accessor in self.tokens.accessors().await? {
            let Some(id) = self.tokens.id_for_accessor(&accessor).await? else {
                continue;
            };
            let Some(entry) = self.tokens.entry(&id).await? else {
                continue;
            };
            if entry.path.starts_with(prefix) {
                self.revoke_tree(&id).await?;
            }
        }
        Ok(())
    }

    fn read_auth_tune(&self, path: &MountPath) -> CoreResult<Response> {
        let key = path.as_str();
        let effective = |v: Ttl| v.or(SYSTEM_MAX_LEASE_TTL);
        if key == "token/" {
            return Ok(Response::data(json!({
                "default_lease_ttl": SYSTEM_MAX_LEASE_TTL,
                "max_lease_ttl": SYSTEM_MAX_LEASE_TTL,
                "force_no_cache": false,
                "description": "token based credentials",
                "token_type": "default-service",
            })));
        }
        let table = self.router_table();
        let m = table
            .auth
            .get(&format!("{AUTH_PREFIX}{key}"))
            .ok_or_else(|| CoreError::invalid(format!("no auth mount at {key}")))?;
        let mut body = json!({
            "default_lease_ttl": effective(m.config.default_lease_ttl),
            "max_lease_ttl": effective(m.config.max_lease_ttl),
            "force_no_cache": false,
            "description": m.description,
            "token_type": "default-service",
            "options": options_json(&m.options),
        });
        if m.external_entropy_access {
            body["external_entropy_access"] = json!(true);
        }
        Ok(Response::data(body))
    }

    async fn tune_auth(&self, req: &Request, path: &MountPath) -> CoreResult<()> {
        let key = path.as_str();
        if key == "token/" {
            return Err(CoreError::NotSupported(
                "tuning the token auth method".to_owned(),
            ));
        }
        let input: TuneAuthInput = req.parse()?;
        check_token_type(input.token_type.as_deref())?;
        let full = format!("{AUTH_PREFIX}{key}");
        let _one_at_a_time = self.mount_changes.lock().await;
        let mut auth = self.router_table().auth.clone();
        let entry = auth
            .entries
            .iter_mut()
            .find(|m| m.path == full)
            .ok_or_else(|| CoreError::invalid(format!("no auth mount at {key}")))?;
        entry.check_fixed_at_mount(input.seal_wrap, input.external_entropy_access)?;
        if let Some(lockout) = input.user_lockout_config {
            let factory = self
                .factories
                .get(entry.engine_type.as_str())
                .ok_or_else(|| {
                    CoreError::Internal(format!("no factory for {}", entry.engine_type))
                })?;
            let mut options = entry.options.clone();
            for (k, v) in string_options(lockout)? {
                let key = if k.starts_with("lockout_") {
                    k
                } else {
                    format!("lockout_{k}")
                };
                options.insert(key, v);
            }
            entry.options = factory.normalize_options(options)?;
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
        self.commit_auth(auth).await
    }

    /// Persists the auth table, then swaps in a router built from it.
    pub(crate) async fn commit_auth(&self, auth: MountTable) -> CoreResult<()> {
        let table = self.build_router(self.router_table().mounts.clone(), auth)?;
        View::new(self.barrier.clone(), "")
            .put_json(AUTH_TABLE_PATH, &table.auth)
            .await?;
        self.set_router_table(table);
        Ok(())
    }
}

/// Only service tokens exist in Coffer.
fn check_token_type(t: Option<&str>) -> CoreResult<()> {
    match t {
        None | Some("" | "default" | "default-service" | "service") => Ok(()),
        Some(other) => Err(CoreError::NotSupported(format!(
            "token_type {other:?}: coffer issues service tokens only"
        ))),
    }
}

/// The key of an auth method in `sys/auth` (`userpass/`, no `auth/`).
fn auth_key(m: &MountEntry) -> String {
    m.path
        .strip_prefix(AUTH_PREFIX)
        .unwrap_or(&m.path)
        .to_owned()
}

/// Vault's JSON shape of one auth method.
fn auth_json(m: &MountEntry) -> Value {
    json!({
        "type": m.engine_type,
        "description": m.description,
        "accessor": m.accessor,
        "uuid": m.uuid,
        "config": {
            "default_lease_ttl": m.config.default_lease_ttl,
            "max_lease_ttl": m.config.max_lease_ttl,
            "force_no_cache": false,
            "token_type": "default-service",
        },
        "local": m.local,
        "seal_wrap": m.seal_wrap,
        "external_entropy_access": m.external_entropy_access,
        "options": options_json(&m.options),
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": "",
    })
}

/// The built-in token method as `sys/auth` lists it.
fn token_method_json() -> Value {
    json!({
        "type": "token",
        "description": "token based credentials",
        "accessor": "auth_token",
        "uuid": "",
        "config": {
            "default_lease_ttl": 0,
            "max_lease_ttl": 0,
            "force_no_cache": false,
            "token_type": "default-service",
        },
        "local": false,
        "seal_wrap": false,
        "external_entropy_access": false,
        "options": null,
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": "",
    })
}
