//! Vault's `approle` auth method: roles with a role id and secret ids,
//! `login` served without a token.
//!
//! | route | operations |
//! |---|---|
//! | `role` | LIST |
//! | `role/:name` | read, create/update, delete |
//! | `role/:name/role-id` | read, update (`role_id`) |
//! | `role/:name/secret-id` | update (generate), LIST (accessors) |
//! | `role/:name/secret-id/lookup`, `.../destroy` | update (`secret_id`) |
//! | `role/:name/secret-id-accessor/lookup`, `.../destroy` | update (`secret_id_accessor`) |
//! | `login` | update (`role_id`, `secret_id`), unauthenticated |
//!
//! Role ids and secret ids are UUIDs drawn from the mount's `Entropy` (so
//! `external_entropy_access` mounts mix in HSM randomness). Secret ids and
//! the role-id index are stored as HMAC-SHA256 under a per-mount salt
//! (`salt`, 32 bytes from the same `Entropy`, seal-wrapped with an HSM
//! seal). Wrong secret ids of a known role count towards the core's user
//! lockout under the role id. `secret_id_bound_cidrs` (role) and `cidr_list` (secret id) are
//! checked against the client's address at login. `token_bound_cidrs` (role,
//! or a narrower list on a secret id) binds the issued token: the core
//! refuses a login from outside them and every later use of the token from
//! outside them.
//!
//! Like every auth method, it sees only its mount's `View`, the `Clock` and
//! the `Entropy` from `EngineContext`; this crate must never depend on the
//! server, a storage backend, the barrier or another engine or auth method.

mod role;
mod secret_id;

use async_trait::async_trait;
use coffer_core::Ttl;
use coffer_core::engine::field::{opt_bool, opt_string_list, opt_string_map, opt_u64};
use coffer_core::engine::{
    Engine, EngineContext, EngineFactory, EngineKind, Operation, Request, Response, Route, dispatch,
};
use coffer_core::login::normalize_lockout_options;
use coffer_core::mount::MountEntry;
use coffer_core::token::TokenParamsInput;
use coffer_core::token::cidr;
use coffer_core::token::unix_secs;
use coffer_core::{CoreError, CoreResult};
use coffer_crypto::hash::hmac_sha256;
use role::Role;
use secret_id::SecretIdEntry;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Vault's answer to a failed login.
const INVALID: &str = "invalid role or secret ID";

/// A secret id the known role does not have (or no longer): the same answer
/// as an unknown role, but it counts towards the role id's lockout.
fn wrong_secret_id() -> CoreError {
    CoreError::InvalidCredentials(INVALID.to_owned())
}
const SALT_KEY: &str = "salt";

/// Makes `approle` auth methods.
#[derive(Debug, Default, Clone, Copy)]
pub struct AppRoleFactory;

impl AppRoleFactory {
    /// A factory for the `approle` type.
    pub fn new() -> Self {
        Self
    }
}

impl EngineFactory for AppRoleFactory {
    fn engine_type(&self) -> &'static str {
        "approle"
    }

    fn kind(&self) -> EngineKind {
        EngineKind::Auth
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["login"]
    }

    fn normalize_options(
        &self,
        options: BTreeMap<String, String>,
    ) -> CoreResult<BTreeMap<String, String>> {
        normalize_lockout_options("approle", options)
    }

    fn create(&self, _mount: &MountEntry) -> CoreResult<Arc<dyn Engine>> {
        Ok(Arc::new(AppRole {
            salt: tokio::sync::Mutex::new(None),
            uses: tokio::sync::Mutex::new(()),
        }))
    }

    fn seal_wrap_storage(&self, _mount: &MountEntry) -> &'static [&'static str] {
        &[SALT_KEY]
    }
}

#[derive(Debug, Clone, Copy)]
enum H {
    List,
    Role,
    RoleId,
    SecretId,
    SecretIdLookup,
    SecretIdDestroy,
    AccessorLookup,
    AccessorDestroy,
    Login,
}

const W: &[Operation] = &[Operation::Update];

fn routes() -> Vec<Route<H>> {
    vec![
        Route::new("role", &[Operation::List], H::List),
        Route::new(
            "role/:name",
            &[Operation::Read, Operation::Update, Operation::Delete],
            H::Role,
        ),
        Route::new(
            "role/:name/role-id",
            &[Operation::Read, Operation::Update],
            H::RoleId,
        ),
        Route::new(
            "role/:name/secret-id",
            &[Operation::Update, Operation::List],
            H::SecretId,
        ),
        Route::new("role/:name/secret-id/lookup", W, H::SecretIdLookup),
        Route::new("role/:name/secret-id/destroy", W, H::SecretIdDestroy),
        Route::new("role/:name/secret-id-accessor/lookup", W, H::AccessorLookup),
        Route::new(
            "role/:name/secret-id-accessor/destroy",
            W,
            H::AccessorDestroy,
        ),
        Route::new("login", W, H::Login),
    ]
}

/// Every route as (pattern, operations), for the route-guard test.
pub fn route_patterns() -> Vec<(&'static str, &'static [Operation])> {
    routes()
        .into_iter()
        .map(|r| (r.pattern.as_str(), r.operations))
        .collect()
}

/// One mounted approle method.
struct AppRole {
    /// The HMAC key, loaded (or made) on first use.
    salt: tokio::sync::Mutex<Option<Zeroizing<Vec<u8>>>>,
    /// Serialises secret-id use counting.
    uses: tokio::sync::Mutex<()>,
}

#[derive(Deserialize)]
struct RoleInput {
    #[serde(default, deserialize_with = "opt_bool")]
    bind_secret_id: Option<bool>,
    #[serde(default, deserialize_with = "opt_string_list")]
    secret_id_bound_cidrs: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_u64")]
    secret_id_num_uses: Option<u64>,
    #[serde(default)]
    secret_id_ttl: Option<Ttl>,
    #[serde(default)]
    role_id: Option<String>,
}

#[derive(Deserialize)]
struct SecretIdInput {
    #[serde(default)]
    secret_id: Option<Zeroizing<String>>,
    #[serde(default, deserialize_with = "opt_string_list")]
    cidr_list: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_string_list")]
    token_bound_cidrs: Option<Vec<String>>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    secret_id_accessor: Option<String>,
}

#[derive(Deserialize)]
struct LoginInput {
    #[serde(default)]
    role_id: Option<String>,
    #[serde(default)]
    secret_id: Option<Zeroizing<String>>,
}

#[derive(Deserialize)]
struct MetadataMap {
    #[serde(default, deserialize_with = "opt_string_map")]
    metadata: Option<BTreeMap<String, String>>,
}

/// A random UUID from the mount's entropy.
fn new_uuid(ctx: &EngineContext) -> CoreResult<String> {
    let mut b = [0u8; 16];
    ctx.entropy
        .fill(&mut b)
        .map_err(|e| CoreError::Internal(format!("entropy: {e}")))?;
    Ok(uuid::Builder::from_random_bytes(b).into_uuid().to_string())
}

async fn load_role(ctx: &EngineContext, name: &str) -> CoreResult<Option<Role>> {
    ctx.view.get_json(&role::key(name)).await
}

async fn must_role(ctx: &EngineContext, name: &str) -> CoreResult<Role> {
    load_role(ctx, name)
        .await?
        .ok_or_else(|| CoreError::invalid(format!("role {name:?} does not exist")))
}

#[async_trait]
impl Engine for AppRole {
    async fn handle(&self, ctx: &EngineContext, req: Request) -> CoreResult<Option<Response>> {
        let (h, params) = dispatch(&routes(), &req)?;
        let name = params
            .get("name")
            .map(|n| n.to_lowercase())
            .unwrap_or_default();
        match h {
            H::List => Ok(Response::list(ctx.view.list("role/").await?)),
            H::Role => match req.operation {
                Operation::Read => Ok(load_role(ctx, &name).await?.map(|r| {
                    let mut body = r.token.to_json();
                    body["bind_secret_id"] = json!(r.bind_secret_id);
                    body["secret_id_bound_cidrs"] = json!(r.secret_id_bound_cidrs);
                    body["secret_id_num_uses"] = json!(r.secret_id_num_uses);
                    body["secret_id_ttl"] = json!(r.secret_id_ttl);
                    body["local_secret_ids"] = json!(false);
                    Response::data(body)
                })),
                Operation::Delete => self.delete_role(ctx, &name).await.map(|()| None),
                _ => self.write_role(ctx, &req, &name).await.map(|()| None),
            },
            H::RoleId => {
                let mut r = must_role(ctx, &name).await?;
                if req.operation == Operation::Read {
                    return Ok(Some(Response::data(json!({ "role_id": r.role_id }))));
                }
                let input: RoleInput = req.parse()?;
                let new_id = input
                    .role_id
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| CoreError::invalid("missing role_id"))?;
                self.set_role_id(ctx, &name, &mut r, new_id).await?;
                ctx.view.put_json(&role::key(&name), &r).await?;
                Ok(None)
            }
            H::SecretId if req.operation == Operation::List => {
                must_role(ctx, &name).await?;
                Ok(Response::list(
                    ctx.view.list(&format!("accessor/{name}/")).await?,
                ))
            }
            H::SecretId => self.generate_secret_id(ctx, &req, &name).await,
            H::SecretIdLookup | H::SecretIdDestroy => {
                must_role(ctx, &name).await?;
                let input: SecretIdInput = req.parse()?;
                let sid = input
                    .secret_id
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| CoreError::invalid("missing secret_id"))?;
                let hmac = self.hmac(ctx, &sid).await?;
                self.secret_id_op(ctx, &name, &hmac, matches!(h, H::SecretIdDestroy))
                    .await
            }
            H::AccessorLookup | H::AccessorDestroy => {
                must_role(ctx, &name).await?;
                let input: SecretIdInput = req.parse()?;
                let acc = input
                    .secret_id_accessor
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| CoreError::invalid("missing secret_id_accessor"))?;
                let hmac: Option<String> = ctx
                    .view
                    .get_json(&secret_id::accessor_key(&name, &acc))
                    .await?;
                let hmac = hmac.ok_or_else(|| {
                    CoreError::invalid(format!(
                        "failed to find accessor entry for secret_id_accessor: {acc:?}"
                    ))
                })?;
                self.secret_id_op(ctx, &name, &hmac, matches!(h, H::AccessorDestroy))
                    .await
            }
            H::Login => self.login(ctx, &req).await,
        }
    }

    /// A login is for its role id, as Vault's lockout counts AppRole logins.
    fn login_alias(&self, req: &Request) -> Option<String> {
        match dispatch(&routes(), req) {
            Ok((H::Login, _)) => req.data.get("role_id")?.as_str().map(str::to_owned),
            _ => None,
        }
    }

    async fn exists(&self, ctx: &EngineContext, req: &Request) -> CoreResult<Option<bool>> {
        match dispatch(&routes(), req) {
            Ok((H::Role, params)) => {
                let name = params
                    .get("name")
                    .map(|n| n.to_lowercase())
                    .unwrap_or_default();
                Ok(Some(ctx.view.get(&role::key(&name)).await?.is_some()))
            }
            _ => Ok(None),
        }
    }
}

impl AppRole {
    /// HMAC-SHA256 of `value` under the mount's salt, hex.
    async fn hmac(&self, ctx: &EngineContext, value: &str) -> CoreResult<String> {
        let mut salt = self.salt.lock().await;
        if salt.is_none() {
            let stored = ctx.view.get(SALT_KEY).await?;
            let key = match stored {
                Some(k) => Zeroizing::new(k.to_vec()),
                None => {
                    let mut k = Zeroizing::new(vec![0u8; 32]);
                    ctx.entropy
                        .fill(&mut k)
                        .map_err(|e| CoreError::Internal(format!("entropy: {e}")))?;
                    ctx.view.put(SALT_KEY, &k).await?;
                    k
                }
            };
            *salt = Some(key);
        }
        let key = salt
            .as_ref()
            .ok_or_else(|| CoreError::Internal("approle salt missing".to_owned()))?;
        Ok(hex::encode(hmac_sha256(key, value.as_bytes())))
    }

    async fn set_role_id(
        &self,
        ctx: &EngineContext,
        name: &str,
        r: &mut Role,
        new_id: String,
    ) -> CoreResult<()> {
        let new_hmac = self.hmac(ctx, &new_id).await?;
        let owner: Option<String> = ctx.view.get_json(&role::index_key(&new_hmac)).await?;
        if owner.as_deref().is_some_and(|o| o != name) {
            return Err(CoreError::invalid("role_id already in use"));
        }
        if !r.role_id.is_empty() && r.role_id != new_id {
            let old = self.hmac(ctx, &r.role_id).await?;
            ctx.view.delete(&role::index_key(&old)).await?;
        }
        ctx.view
            .put_json(&role::index_key(&new_hmac), &name.to_owned())
            .await?;
        r.role_id = new_id;
        Ok(())
    }

    async fn write_role(&self, ctx: &EngineContext, req: &Request, name: &str) -> CoreResult<()> {
        let existing = load_role(ctx, name).await?;
        let input: RoleInput = req.parse()?;
        let token_input: TokenParamsInput = req.parse()?;
        let mut r = existing.clone().unwrap_or(Role {
            bind_secret_id: true,
            ..Role::default()
        });
        if let Some(b) = input.bind_secret_id {
            r.bind_secret_id = b;
        }
        if let Some(c) = input.secret_id_bound_cidrs {
            r.secret_id_bound_cidrs = cidr::checked_list(c)?;
        }
        if let Some(n) = input.secret_id_num_uses {
            r.secret_id_num_uses = n;
        }
        if let Some(t) = input.secret_id_ttl {
            r.secret_id_ttl = t;
        }
        token_input.apply(&mut r.token)?;
        if !r.bind_secret_id && r.secret_id_bound_cidrs.is_empty() && r.token.bound_cidrs.is_empty()
        {
            return Err(CoreError::invalid(
                "at least one constraint should be enabled on the role",
            ));
        }
        let new_id = match input.role_id.filter(|id| !id.is_empty()) {
            Some(id) => Some(id),
            None if r.role_id.is_empty() => Some(new_uuid(ctx)?),
            None => None,
        };
        if let Some(id) = new_id {
            self.set_role_id(ctx, name, &mut r, id).await?;
        }
        ctx.view.put_json(&role::key(name), &r).await
    }

    async fn delete_role(&self, ctx: &EngineContext, name: &str) -> CoreResult<()> {
        let Some(r) = load_role(ctx, name).await? else {
            return Ok(());
        };
        let idx = self.hmac(ctx, &r.role_id).await?;
        ctx.view.sub(&format!("secret_id/{name}/")).clear().await?;
        ctx.view.sub(&format!("accessor/{name}/")).clear().await?;
        ctx.view.delete(&role::index_key(&idx)).await?;
        ctx.view.delete(&role::key(name)).await
    }

    async fn generate_secret_id(
        &self,
        ctx: &EngineContext,
        req: &Request,
        name: &str,
    ) -> CoreResult<Option<Response>> {
        let r = must_role(ctx, name).await?;
        let input: SecretIdInput = req.parse()?;
        let cidr_list = cidr::checked_list(input.cidr_list.unwrap_or_default())?;
        if !cidr::within(&cidr_list, &r.secret_id_bound_cidrs)? {
            return Err(CoreError::invalid(
                "cidr_list must lie within the role's secret_id_bound_cidrs",
            ));
        }
        let token_bound_cidrs = cidr::checked_list(input.token_bound_cidrs.unwrap_or_default())?;
        if !cidr::within(&token_bound_cidrs, &r.token.bound_cidrs)? {
            return Err(CoreError::invalid(
                "token_bound_cidrs must lie within the role's token_bound_cidrs",
            ));
        }
        let metadata = match input.metadata {
            None | Some(serde_json::Value::Null) => BTreeMap::new(),
            Some(serde_json::Value::String(s)) if s.is_empty() => BTreeMap::new(),
            Some(serde_json::Value::String(s)) => serde_json::from_str::<MetadataMap>(
                &json!({ "metadata": serde_json::from_str::<serde_json::Value>(&s)
                    .map_err(|_| CoreError::invalid("metadata must be a JSON object of strings"))? })
                .to_string(),
            )
            .map_err(|_| CoreError::invalid("metadata must be a JSON object of strings"))?
            .metadata
            .unwrap_or_default(),
            Some(v) => serde_json::from_value::<MetadataMap>(json!({ "metadata": v }))
                .map_err(|_| CoreError::invalid("metadata must be a JSON object of strings"))?
                .metadata
                .unwrap_or_default(),
        };
        let sid = Zeroizing::new(new_uuid(ctx)?);
        let accessor = new_uuid(ctx)?;
        let now = unix_secs(ctx.clock.now());
        let entry = SecretIdEntry {
            accessor: accessor.clone(),
            creation_time: now,
            expiration_time: if !r.secret_id_ttl.is_zero() {
                now.saturating_add(r.secret_id_ttl.as_secs())
            } else {
                0
            },
            ttl: r.secret_id_ttl,
            num_uses: r.secret_id_num_uses,
            cidr_list,
            metadata,
            token_bound_cidrs,
        };
        let hmac = self.hmac(ctx, &sid).await?;
        ctx.view
            .put_json(&secret_id::key(name, &hmac), &entry)
            .await?;
        ctx.view
            .put_json(&secret_id::accessor_key(name, &accessor), &hmac)
            .await?;
        Ok(Some(Response::data(json!({
            "secret_id": sid.as_str(),
            "secret_id_accessor": accessor,
            "secret_id_ttl": r.secret_id_ttl,
            "secret_id_num_uses": r.secret_id_num_uses,
        }))))
    }

    async fn secret_id_op(
        &self,
        ctx: &EngineContext,
        name: &str,
        hmac: &str,
        destroy: bool,
    ) -> CoreResult<Option<Response>> {
        let key = secret_id::key(name, hmac);
        let Some(e) = ctx.view.get_json::<SecretIdEntry>(&key).await? else {
            return Ok(None);
        };
        if destroy {
            ctx.view
                .delete(&secret_id::accessor_key(name, &e.accessor))
                .await?;
            ctx.view.delete(&key).await?;
            return Ok(None);
        }
        let time = |t: u64| {
            coffer_core::clock::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t))
        };
        Ok(Some(Response::data(json!({
            "secret_id_accessor": e.accessor,
            "creation_time": time(e.creation_time),
            "last_updated_time": time(e.creation_time),
            "expiration_time": if e.expiration_time > 0 { json!(time(e.expiration_time)) } else { json!("0001-01-01T00:00:00Z") },
            "secret_id_ttl": e.ttl,
            "secret_id_num_uses": e.num_uses,
            "cidr_list": e.cidr_list,
            "token_bound_cidrs": e.token_bound_cidrs,
            "metadata": e.metadata,
        }))))
    }

    async fn login(&self, ctx: &EngineContext, req: &Request) -> CoreResult<Option<Response>> {
        let input: LoginInput = req.parse()?;
        let role_id = input
            .role_id
            .filter(|r| !r.is_empty())
            .ok_or_else(|| CoreError::invalid("missing role_id"))?;
        let idx = self.hmac(ctx, &role_id).await?;
        let name: Option<String> = ctx.view.get_json(&role::index_key(&idx)).await?;
        let Some(name) = name else {
            return Err(CoreError::invalid(INVALID));
        };
        let r = load_role(ctx, &name)
            .await?
            .ok_or_else(|| CoreError::invalid(INVALID))?;
        let ip = req.remote_addr.map(|a| a.ip());
        if !cidr::allows(&r.secret_id_bound_cidrs, ip)? {
            return Err(CoreError::invalid(
                "source address unauthorized through CIDR restrictions on the role",
            ));
        }
        let mut metadata = BTreeMap::new();
        let mut token_bound_cidrs = Vec::new();
        if r.bind_secret_id {
            let sid = input
                .secret_id
                .filter(|s| !s.is_empty())
                .ok_or_else(|| CoreError::invalid("missing secret_id"))?;
            let hmac = self.hmac(ctx, &sid).await?;
            let key = secret_id::key(&name, &hmac);
            let _one_use_at_a_time = self.uses.lock().await;
            let Some(mut e) = ctx.view.get_json::<SecretIdEntry>(&key).await? else {
                return Err(wrong_secret_id());
            };
            let now = unix_secs(ctx.clock.now());
            if e.expired(now) {
                ctx.view
                    .delete(&secret_id::accessor_key(&name, &e.accessor))
                    .await?;
                ctx.view.delete(&key).await?;
                return Err(wrong_secret_id());
            }
            if !cidr::allows(&e.cidr_list, ip)? {
                return Err(CoreError::invalid(
                    "source address unauthorized through CIDR restrictions on the secret ID",
                ));
            }
            match e.num_uses {
                0 => {}
                1 => {
                    ctx.view
                        .delete(&secret_id::accessor_key(&name, &e.accessor))
                        .await?;
                    ctx.view.delete(&key).await?;
                }
                _ => {
                    e.num_uses -= 1;
                    ctx.view.put_json(&key, &e).await?;
                }
            }
            metadata = e.metadata;
            token_bound_cidrs = e.token_bound_cidrs;
        }
        let mut auth = r.token.to_auth("");
        if !token_bound_cidrs.is_empty() {
            auth.bound_cidrs = token_bound_cidrs;
        }
        auth.metadata = metadata;
        auth.metadata.insert("role_name".to_owned(), name);
        Ok(Some(Response::auth(auth)))
    }
}
