//! What the caller hands the broker: one audited exchange, in plain Rust
//! types that know nothing of HTTP or of the core.
//!
//! These hold raw values (the client token, request data). Formatting an
//! entry copies them and hashes the copy; the input itself is never written.
//! The caller builds one [`LogInput`] before dispatch, logs it as a request,
//! then fills in [`LogInput::response`] (and `error`, `time`) and logs it as
//! a response.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};
use zeroize::Zeroizing;

/// A raw token or other secret string: zeroized on drop, `[redacted]` in
/// `Debug`, not `Clone`, not `Serialize`.
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// Takes ownership of `value`; it is wiped when this drops.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret. Keep the borrow short.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText([redacted])")
    }
}

/// One audited exchange: the request, who made it, and (for the response
/// entry) what came back.
#[derive(Debug)]
pub struct LogInput {
    /// When the entry is logged; the caller reads its `Clock` (no global time).
    pub time: SystemTime,
    /// The token the request carried, as looked up; `None` when unauthenticated
    /// (a login, say). Logged as `auth` in both entries.
    pub auth: Option<AuditAuth>,
    /// The request.
    pub request: AuditRequest,
    /// The response; ignored by request entries.
    pub response: Option<AuditResponse>,
    /// The error returned to the client, if any (logged verbatim, never hashed,
    /// so it must hold no secret).
    pub error: Option<String>,
    /// Keys of request `data` whose string values stay clear (the mount's
    /// `audit_non_hmac_request_keys`).
    pub non_hmac_request_keys: Vec<String>,
    /// Keys of response `data` whose string values stay clear (the mount's
    /// `audit_non_hmac_response_keys`).
    pub non_hmac_response_keys: Vec<String>,
}

impl LogInput {
    /// An input for `request`, with no auth, response or error.
    pub fn new(time: SystemTime, request: AuditRequest) -> Self {
        Self {
            time,
            auth: None,
            request,
            response: None,
            error: None,
            non_hmac_request_keys: Vec::new(),
            non_hmac_response_keys: Vec::new(),
        }
    }
}

/// The request side of an exchange (Vault's `request` object). `Debug`
/// shows the id, operation and mount, never the data, path or headers.
#[derive(Default)]
pub struct AuditRequest {
    /// The request id (a UUID), shared by the request and response entries.
    pub id: String,
    /// Vault's operation name: `read`, `create`, `update`, `patch`, `delete`, `list`.
    pub operation: String,
    /// The API path without `/v1/` (`secret/data/app`).
    pub path: String,
    /// The mount the path routed to (`secret/`), if any.
    pub mount_point: String,
    /// That mount's type (`kv`, `system`, `token`).
    pub mount_type: String,
    /// That mount's accessor (`kv_1a2b3c4d`). Not hashed: it names a mount.
    pub mount_accessor: String,
    /// The raw client token; always hashed unless `log_raw`.
    pub client_token: Option<SecretText>,
    /// The client token's accessor; hashed when `hmac_accessor` (the default).
    pub client_token_accessor: String,
    /// The namespace; Coffer has only the root one.
    pub namespace: AuditNamespace,
    /// The request body or query data. Every string inside is hashed.
    pub data: Option<Value>,
    /// The client's IP address.
    pub remote_address: String,
    /// The client's source port.
    pub remote_port: Option<u16>,
    /// The request headers configured for auditing (`sys/config/auditing`).
    pub headers: Vec<AuditedHeader>,
    /// `X-Vault-Wrap-TTL`, when the client asked for a wrapped response.
    pub wrap_ttl: Option<Duration>,
    /// Whether the client asked to override soft-mandatory policies.
    pub policy_override: bool,
    /// The raw request URI, when it differs from `path` (`?list=true`).
    pub request_uri: Option<String>,
}

impl std::fmt::Debug for AuditRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditRequest")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("mount_point", &self.mount_point)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AuditResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditResponse")
            .field("mount_point", &self.mount_point)
            .finish_non_exhaustive()
    }
}

/// A namespace (`{"id": "root"}` for the only one Coffer has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditNamespace {
    /// `root` for the root namespace.
    pub id: String,
    /// Empty for the root namespace.
    pub path: String,
}

impl Default for AuditNamespace {
    fn default() -> Self {
        Self {
            id: "root".to_owned(),
            path: String::new(),
        }
    }
}

/// One audited request header.
#[derive(Debug, Clone)]
pub struct AuditedHeader {
    /// Header name; logged lower-cased as Vault does.
    pub name: String,
    /// Its values.
    pub values: Vec<String>,
    /// Whether to hash the values (`hmac` in `sys/config/auditing/request-headers`).
    pub hmac: bool,
}

/// The token behind a request, or the token a login issued (Vault's `auth`).
#[derive(Debug, Default)]
pub struct AuditAuth {
    /// The raw token; always hashed unless `log_raw`.
    pub client_token: Option<SecretText>,
    /// The token's accessor; hashed when `hmac_accessor`.
    pub accessor: String,
    /// `display_name` (`token`, `userpass-alice`, `root`).
    pub display_name: String,
    /// All policies (token and identity).
    pub policies: Vec<String>,
    /// Policies attached to the token itself.
    pub token_policies: Vec<String>,
    /// Policies inherited from the identity entity and groups.
    pub identity_policies: Vec<String>,
    /// Token metadata. Logged clear, as Vault does: it must hold no secret.
    pub metadata: BTreeMap<String, String>,
    /// The identity entity id.
    pub entity_id: String,
    /// Whether the login created the entity (response auth).
    pub entity_created: bool,
    /// `service`, `batch`; empty is logged as Vault's `default`.
    pub token_type: String,
    /// The token's TTL.
    pub token_ttl: Duration,
    /// When the token was issued.
    pub token_issue_time: Option<SystemTime>,
    /// Uses the new token allows (response auth of a login; 0 = unlimited).
    pub num_uses: u64,
    /// Uses left on the request's token (request auth).
    pub remaining_uses: u64,
    /// Whether the `default` policy was left out.
    pub no_default_policy: bool,
    /// The ACL decision and the policies that granted it.
    pub policy_results: Option<PolicyResults>,
}

/// The ACL decision for a request.
#[derive(Debug, Clone, Default)]
pub struct PolicyResults {
    /// Whether the request was allowed.
    pub allowed: bool,
    /// Names of the policies that granted it.
    pub granting_policies: Vec<String>,
}

/// The response side of an exchange (Vault's `response` object). `Debug`
/// shows the mount only, never the data.
#[derive(Default)]
pub struct AuditResponse {
    /// The response data. Every string inside is hashed.
    pub data: Option<Value>,
    /// Warnings returned to the client (logged clear).
    pub warnings: Vec<String>,
    /// The token a login issued.
    pub auth: Option<AuditAuth>,
    /// Set when the response was wrapped.
    pub wrap_info: Option<AuditWrapInfo>,
    /// The lease of a dynamic secret (logged clear, as Vault does).
    pub lease_id: Option<String>,
    /// The mount that answered (`secret/`).
    pub mount_point: String,
    /// Its type.
    pub mount_type: String,
    /// Its accessor.
    pub mount_accessor: String,
    /// A redirect location, if the response is one.
    pub redirect: String,
}

/// A wrapped response's wrapping token.
#[derive(Debug)]
pub struct AuditWrapInfo {
    /// The wrapping token (the value Vault hashes: for JWT wrapping tokens,
    /// the token id inside, so `sys/audit-hash` of that id finds it).
    pub token: SecretText,
    /// The wrapping token's accessor; hashed when `hmac_accessor`.
    pub accessor: String,
    /// Lifetime of the wrapping token.
    pub ttl: Duration,
    /// When it was created.
    pub creation_time: SystemTime,
    /// The path that created it.
    pub creation_path: String,
    /// Accessor of the token inside, when a token was wrapped; hashed when
    /// `hmac_accessor`.
    pub wrapped_accessor: String,
}
