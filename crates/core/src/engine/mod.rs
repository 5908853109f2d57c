//! The interface between the router and secrets engines.
//!
//! An engine sees only its mount's [`View`], a [`Clock`] and an [`Entropy`]
//! handle (in [`EngineContext`]); never the backend, the barrier or the core.
//! Authentication and authorisation happen before an engine is called.

pub mod envelope;
pub mod field;

use crate::clock::Clock;
use crate::error::{CoreError, CoreResult};
use crate::mount::MountEntry;
use crate::storage::view::View;
use crate::ttl::Ttl;
use async_trait::async_trait;
use coffer_crypto::Entropy;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// The logical operation of a request (HTTP verbs map onto these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// GET.
    Read,
    /// POST/PUT. Vault distinguishes create from update only for ACLs.
    Update,
    /// PATCH (JSON merge patch).
    Patch,
    /// DELETE.
    Delete,
    /// LIST, or GET with `?list=true`.
    List,
}

impl Operation {
    /// Vault's lowercase name of the operation.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Update => "update",
            Self::Patch => "patch",
            Self::Delete => "delete",
            Self::List => "list",
        }
    }
}

/// A request as an engine sees it. `Debug` shows the operation and path,
/// never the body (it carries secret values).
#[derive(Clone)]
pub struct Request {
    /// What to do.
    pub operation: Operation,
    /// The path relative to the mount point (no leading `/`).
    pub path: String,
    /// The JSON body (for reads: the query parameters, as strings). Always an
    /// object or `Null`.
    pub data: Value,
    /// A stable, non-secret identifier of the calling token (its salted hash),
    /// used by per-token storage such as cubbyhole.
    pub token_id: String,
    /// The request id (a UUID): the envelope's `request_id` and the `id` of
    /// both audit entries. The core draws one when it is empty.
    pub id: String,
    /// The client's address, when the request came over the network
    /// (`remote_address` and `remote_port` in the audit log).
    pub remote_addr: Option<SocketAddr>,
    /// `X-Vault-Wrap-TTL` in seconds: the client asks for the response to be
    /// wrapped in a single-use token living this long. The core does the
    /// wrapping; engines never see a wrapped request differently.
    pub wrap_ttl: Option<Ttl>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("operation", &self.operation)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// Builds a request with an empty body.
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Self {
            operation,
            path: path.into(),
            data: Value::Null,
            token_id: String::new(),
            id: String::new(),
            remote_addr: None,
            wrap_ttl: None,
        }
    }

    /// Sets the body.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// Asks for the response to be wrapped for `ttl` seconds.
    #[must_use]
    pub fn with_wrap_ttl(mut self, ttl: Option<Ttl>) -> Self {
        self.wrap_ttl = ttl;
        self
    }

    /// Sets the client's address.
    #[must_use]
    pub fn with_remote_addr(mut self, addr: Option<SocketAddr>) -> Self {
        self.remote_addr = addr;
        self
    }

    /// Parses the body into a typed struct; `Null` is treated as `{}`.
    pub fn parse<T: DeserializeOwned>(&self) -> CoreResult<T> {
        // Deserialised from a borrow: no copy of the whole body first.
        let parsed = if self.data.is_null() {
            T::deserialize(&Value::Object(serde_json::Map::new()))
        } else {
            T::deserialize(&self.data)
        };
        parsed.map_err(|e| CoreError::invalid(format!("invalid request body: {e}")))
    }
}

/// Whether an engine's answer means "found" or "not found with a body"
/// (KV v2 answers a deleted version with 404 and its metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseStatus {
    /// 200 (or 204 without data).
    #[default]
    Ok,
    /// 404 that still carries `data`.
    NotFound,
    /// An explicit HTTP status that still carries the whole envelope, as
    /// Vault's `RespondWithStatusCode` (transit answers a batch with failed
    /// items this way: 400, or the caller's `partial_failure_response_code`).
    Code(u16),
}

/// An engine's answer. `None` from a handler means "no content" for writes
/// and "not found" for reads.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// The `data` field of Vault's envelope.
    pub data: Option<Value>,
    /// The `warnings` field.
    pub warnings: Vec<String>,
    /// Advisory lease duration in seconds (KV v1 `ttl`).
    pub lease_duration: Ttl,
    /// Found or not-found-with-body.
    pub status: ResponseStatus,
    /// Engine type of the mount that answered (`mount_type` in the
    /// envelope); set by the core, engines leave it empty.
    pub mount_type: String,
    /// The `auth` field: a token that was created or renewed.
    pub auth: Option<Auth>,
    /// The `wrap_info` field: set by the core when it wrapped the response,
    /// which then carries nothing else.
    pub wrap_info: Option<WrapInfo>,
}

/// Vault's `wrap_info` block: the single-use token that holds a wrapped
/// response. `Debug` never shows the token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WrapInfo {
    /// The wrapping token (a signed JWT).
    pub token: zeroize::Zeroizing<String>,
    /// The token the JWT carries, which audit devices hash (as Vault's do),
    /// so `sys/audit-hash` of it finds the entry. Never sent to the client.
    pub inner_token: zeroize::Zeroizing<String>,
    /// Its accessor.
    pub accessor: String,
    /// Its lifetime in seconds.
    pub ttl: Ttl,
    /// When it was made, unix seconds.
    pub creation_time: u64,
    /// The request path whose response it holds.
    pub creation_path: String,
    /// The accessor of the token inside, when the wrapped response created
    /// one (a login or `auth/token/create`).
    pub wrapped_accessor: String,
}

impl std::fmt::Debug for WrapInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrapInfo")
            .field("token", &"[redacted]")
            .field("accessor", &self.accessor)
            .field("ttl", &self.ttl)
            .field("creation_path", &self.creation_path)
            .finish_non_exhaustive()
    }
}

/// Vault's `auth` block: the token a request created or renewed, with its
/// properties. `Debug` never shows the token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Auth {
    /// The token itself (empty when renewed by accessor).
    pub client_token: zeroize::Zeroizing<String>,
    /// Its accessor.
    pub accessor: String,
    /// Its policies (`policies` and `token_policies`: there are no identity
    /// policies).
    pub policies: Vec<String>,
    /// `metadata`.
    pub metadata: BTreeMap<String, String>,
    /// Seconds until it expires; 0 for never.
    pub lease_duration: Ttl,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// Whether it has no parent.
    pub orphan: bool,
    /// Uses left; 0 for unlimited.
    pub num_uses: u64,
    /// Set by an auth engine's login: who logged in (the core prefixes the
    /// mount, giving `userpass-alice`). Unused in answers.
    pub display_name: String,
    /// Set by an auth engine's login: the token's maximum lifetime in seconds
    /// (the lower of `token_max_ttl` and `token_explicit_max_ttl`, or only
    /// the latter for a periodic token); 0 for the mount's. Unused in answers.
    pub explicit_max_ttl: Ttl,
    /// Set by an auth engine's login: the token's period (`token_period`);
    /// 0 for a token that is not periodic. Unused in answers.
    pub period: Ttl,
    /// Set by an auth engine's login: leave out the `default` policy
    /// (`token_no_default_policy`). Unused in answers.
    pub no_default_policy: bool,
    /// Set by an auth engine's login: the CIDR blocks the token may be used
    /// from (`token_bound_cidrs`); the login itself must come from one.
    /// Unused in answers.
    pub bound_cidrs: Vec<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("client_token", &"[redacted]")
            .field("accessor", &self.accessor)
            .field("policies", &self.policies)
            .field("lease_duration", &self.lease_duration)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// A 200 response carrying `data`.
    pub fn data(data: Value) -> Self {
        Self {
            data: Some(data),
            ..Self::default()
        }
    }

    /// A list response `{"keys": [...]}`; an empty list is "not found", as in Vault.
    pub fn list(keys: Vec<String>) -> Option<Self> {
        if keys.is_empty() {
            None
        } else {
            Some(Self::data(serde_json::json!({ "keys": keys })))
        }
    }

    /// Adds a warning.
    #[must_use]
    pub fn warn(mut self, w: impl Into<String>) -> Self {
        self.warnings.push(w.into());
        self
    }

    /// A 200 response carrying only an `auth` block.
    pub fn auth(auth: Auth) -> Self {
        Self {
            auth: Some(auth),
            ..Self::default()
        }
    }
}

/// Everything an engine may touch.
#[derive(Clone)]
pub struct EngineContext {
    /// The mount's storage, already scoped and encrypted.
    pub view: View,
    /// Wall-clock time.
    pub clock: Arc<dyn Clock>,
    /// Randomness for keys the engine generates: the augmented handle (OS
    /// CSPRNG mixed with HSM randomness, fail-closed) when the mount has
    /// `external_entropy_access`, else the OS CSPRNG.
    pub entropy: Arc<dyn Entropy>,
    /// Randomness that must keep flowing while the HSM is away: per-message
    /// nonces and other non-key draws. The node's system handle (the OS
    /// CSPRNG), whatever the mount's `external_entropy_access`.
    pub nonces: Arc<dyn Entropy>,
    /// The managed keys (keys that live in an HSM) this mount may use.
    pub managed_keys: crate::managed_keys::MountManagedKeys,
}

/// A mounted secrets engine instance.
#[async_trait]
pub trait Engine: Send + Sync {
    /// Serves one request. `Ok(None)`: 204 for writes, 404 for reads/lists.
    async fn handle(&self, ctx: &EngineContext, req: Request) -> CoreResult<Option<Response>>;

    /// Vault's existence check, run for a write before the ACL check: whether
    /// the write's target exists (the write then needs `update`) or not (it
    /// needs `create`). `None`, the default: the route has no such notion and
    /// every write needs `update`.
    async fn exists(&self, _ctx: &EngineContext, _req: &Request) -> CoreResult<Option<bool>> {
        Ok(None)
    }

    /// For an auth method's login request: the user it is for (userpass's
    /// username, AppRole's role id), which the core's user lockout counts
    /// failures against. `None`, the default: not a login, or no lockout.
    fn login_alias(&self, _req: &Request) -> Option<String> {
        None
    }

    /// An alias as an operator typed it (`sys/locked-users/.../unlock/:alias`)
    /// in the form [`Engine::login_alias`] gives it, so that `Alice` lifts
    /// the lock of userpass's `alice`. The default keeps it as it is.
    fn normalize_login_alias(&self, alias: &str) -> String {
        alias.to_owned()
    }

    /// For a request that deletes a user of this auth method: that user's
    /// login alias, whose lock the core lifts once the delete succeeded, so
    /// that a user created again under the name does not start locked.
    /// `None`, the default: not such a request.
    fn removed_login_alias(&self, _req: &Request) -> Option<String> {
        None
    }
}

/// Whether a factory makes secrets engines (`sys/mounts`) or auth methods
/// (`sys/auth`, mounted under `auth/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineKind {
    /// A secrets engine.
    #[default]
    Secret,
    /// An auth method.
    Auth,
}

/// Makes engine instances of one type (`kv`, `cubbyhole`, ...).
pub trait EngineFactory: Send + Sync {
    /// The `type` this factory serves in `sys/mounts` or `sys/auth`.
    fn engine_type(&self) -> &'static str;
    /// Secrets engine or auth method.
    fn kind(&self) -> EngineKind {
        EngineKind::Secret
    }
    /// Route patterns (relative to the mount, [`Pattern`] syntax) served
    /// without a token: an auth method's login paths (Vault's
    /// `PathsSpecial.Unauthenticated`). Requests to them skip the token and
    /// ACL checks (they are still audited), and an `auth` block in the
    /// answer becomes a new token. Only honoured for auth methods.
    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &[]
    }
    /// Checks mount options (e.g. `version`) and creates the instance.
    fn create(&self, mount: &MountEntry) -> CoreResult<Arc<dyn Engine>>;
    /// Normalises options at mount time (e.g. fills in `version`); the result is stored.
    fn normalize_options(
        &self,
        options: BTreeMap<String, String>,
    ) -> CoreResult<BTreeMap<String, String>> {
        Ok(options)
    }
    /// Path prefixes (relative to the mount) holding critical security
    /// parameters, such as key material. With a seal that can seal-wrap, values
    /// under them are always seal-wrapped, whether or not the mount has
    /// `seal_wrap`; a `seal_wrap` mount wraps every value. `""` means all.
    fn seal_wrap_storage(&self, _mount: &MountEntry) -> &'static [&'static str] {
        &[]
    }
}

/// One segment of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(&'static str),
    Param(&'static str),
    Rest(&'static str),
}

/// A route pattern: `/`-separated literals, `:name` for one segment and a
/// trailing `*name` for the rest of the path (which may be empty).
#[derive(Debug, Clone)]
pub struct Pattern {
    text: &'static str,
    segments: Vec<Segment>,
}

impl Pattern {
    /// Parses a pattern like `data/*path` or `keys/:name/rotate`.
    pub fn new(pattern: &'static str) -> Self {
        let segs = if pattern.is_empty() {
            Vec::new()
        } else {
            pattern
                .split('/')
                .map(|s| {
                    if let Some(n) = s.strip_prefix(':') {
                        Segment::Param(n)
                    } else if let Some(n) = s.strip_prefix('*') {
                        Segment::Rest(n)
                    } else {
                        Segment::Literal(s)
                    }
                })
                .collect()
        };
        Self {
            text: pattern,
            segments: segs,
        }
    }

    /// The pattern as written (`keys/:name/rotate`).
    pub fn as_str(&self) -> &'static str {
        self.text
    }

    /// Matches `path`, returning the captured parameters. A trailing `/` on
    /// the path is tolerated (`config/` matches `config`).
    pub fn matches(&self, path: &str) -> Option<BTreeMap<&'static str, String>> {
        // Engines try their routes in turn: a route that does not match
        // costs no allocation; the parameters are copied once it does.
        if !self.walk(path, |_, _| {}) {
            return None;
        }
        let mut params = BTreeMap::new();
        self.walk(path, |name, value| {
            params.insert(name, value.to_owned());
        });
        Some(params)
    }

    /// Whether `path` matches, handing each captured parameter to `capture`.
    fn walk<'p>(&self, path: &'p str, mut capture: impl FnMut(&'static str, &'p str)) -> bool {
        let mut rest = path;
        for seg in &self.segments {
            let name = match seg {
                Segment::Rest(name) => {
                    capture(name, rest);
                    return true;
                }
                Segment::Literal(_) | Segment::Param(_) if rest.is_empty() => return false,
                Segment::Literal(_) => None,
                Segment::Param(name) => Some(*name),
            };
            let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
            match (seg, name) {
                (Segment::Literal(l), _) if *l != head => return false,
                (_, Some(_)) if head.is_empty() => return false,
                (_, Some(n)) => capture(n, head),
                _ => {}
            }
            rest = tail;
        }
        rest.is_empty()
    }
}

/// A route: a pattern, the operations it serves, and a handler tag the
/// engine dispatches on.
#[derive(Debug, Clone)]
pub struct Route<H> {
    /// Path pattern relative to the mount.
    pub pattern: Pattern,
    /// Operations served; others get "unsupported operation".
    pub operations: &'static [Operation],
    /// The engine's handler tag.
    pub handler: H,
}

impl<H: Copy> Route<H> {
    /// Builds a route.
    pub fn new(pattern: &'static str, operations: &'static [Operation], handler: H) -> Self {
        Self {
            pattern: Pattern::new(pattern),
            operations,
            handler,
        }
    }
}

/// Finds the first route matching `req`'s path; errors for a matching path
/// with a wrong operation, or for no match.
pub fn dispatch<H: Copy>(
    routes: &[Route<H>],
    req: &Request,
) -> CoreResult<(H, BTreeMap<&'static str, String>)> {
    let mut path_matched = false;
    for r in routes {
        if let Some(params) = r.pattern.matches(&req.path) {
            if r.operations.contains(&req.operation) {
                return Ok((r.handler, params));
            }
            path_matched = true;
        }
    }
    if path_matched {
        Err(CoreError::UnsupportedOperation)
    } else {
        Err(CoreError::UnsupportedPath(req.path.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_param_and_rest_segments_capture_as_expected() {
        let p = Pattern::new("keys/:name/rotate");
        assert_eq!(p.matches("keys/k1/rotate").expect("match")["name"], "k1");
        assert!(p.matches("keys//rotate").is_none());
        assert!(p.matches("keys/k1").is_none());
        assert!(p.matches("keys/k1/rotate/x").is_none());
        let r = Pattern::new("data/*path");
        assert_eq!(r.matches("data/a/b").expect("match")["path"], "a/b");
        assert_eq!(r.matches("data").expect("match")["path"], "");
        assert!(r.matches("metadata/a").is_none());
        assert!(Pattern::new("config").matches("config/").is_some());
        assert_eq!(
            Pattern::new("*path").matches("").expect("match")["path"],
            ""
        );
    }

    #[test]
    fn dispatch_tells_wrong_operation_from_unknown_path() {
        let routes = [Route::new("config", &[Operation::Read], 1u8)];
        let read = Request::new(Operation::Read, "config");
        assert_eq!(dispatch(&routes, &read).expect("route").0, 1);
        let del = Request::new(Operation::Delete, "config");
        assert!(matches!(
            dispatch(&routes, &del),
            Err(CoreError::UnsupportedOperation)
        ));
        let other = Request::new(Operation::Read, "nope");
        assert!(matches!(
            dispatch(&routes, &other),
            Err(CoreError::UnsupportedPath(_))
        ));
    }
}
