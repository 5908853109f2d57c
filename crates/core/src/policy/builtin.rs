//! The built-in policies: `root`, `default`, and the internal
//! `response-wrapping` policy, plus which names may be written, deleted or
//! assigned.
//!
//! Sources: <https://developer.hashicorp.com/vault/docs/concepts/policies#built-in-policies>
//! (root cannot be modified or removed; default cannot be removed but may be
//! edited, and Vault never overwrites an operator's edits), and the rules
//! `vault read sys/policy/default` prints on a current Vault server, which
//! [`DEFAULT_POLICY_TEXT`] restates with our own comments.

use super::error::PolicyError;
use super::rules::{Policy, normalize_name};

/// Name of the root policy.
pub const ROOT_POLICY: &str = "root";

/// Name of the default policy.
pub const DEFAULT_POLICY: &str = "default";

/// Name of the fixed policy carried by response-wrapping tokens.
pub const RESPONSE_WRAPPING_POLICY: &str = "response-wrapping";

/// The initial text of the `default` policy, stored at first unseal. It lets a
/// token inspect, renew and revoke itself, use its cubbyhole, wrap and unwrap
/// responses and hash data; it grants nothing on secrets engines.
pub const DEFAULT_POLICY_TEXT: &str = r#"# A token may read its own properties.
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# A token may extend its own lifetime.
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# A token may revoke itself.
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# A token may ask what it can do on a path.
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# A token may read its own identity entity (templated: applies once the token
# has an entity).
path "identity/entity/id/{{identity.entity.id}}" {
    capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
    capabilities = ["read"]
}

# The UI reads the merged ACL of the token it runs as.
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Renewing a lease by its ID (old and new path).
path "sys/renew" {
    capabilities = ["update"]
}
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Looking up a lease whose ID the token already knows.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Each token owns a private cubbyhole.
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Response wrapping: wrap a value, inspect a wrapping token, unwrap one.
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Hashing helpers.
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Checking on a control group request whose accessor the token holds.
path "sys/control-group/request" {
    capabilities = ["update"]
}

# The authorization endpoint of identity OIDC providers.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
"#;

/// The fixed rules of response-wrapping tokens: write and read the wrapped
/// response in their cubbyhole, and unwrap.
const RESPONSE_WRAPPING_POLICY_TEXT: &str = r#"path "cubbyhole/response" {
    capabilities = ["create", "read"]
}

path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}
"#;

/// The `default` policy as shipped ([`DEFAULT_POLICY_TEXT`], parsed).
pub fn default_policy() -> Result<Policy, PolicyError> {
    Policy::parse(DEFAULT_POLICY, DEFAULT_POLICY_TEXT)
}

/// The `response-wrapping` policy.
pub fn response_wrapping_policy() -> Result<Policy, PolicyError> {
    Policy::parse(RESPONSE_WRAPPING_POLICY, RESPONSE_WRAPPING_POLICY_TEXT)
}

/// Whether a policy by this name may be written (`root` and
/// `response-wrapping` are fixed).
pub fn is_writable(name: &str) -> bool {
    let name = normalize_name(name);
    name != ROOT_POLICY && name != RESPONSE_WRAPPING_POLICY
}

/// Whether a policy by this name may be deleted (not `root`, `default` or
/// `response-wrapping`).
pub fn is_deletable(name: &str) -> bool {
    is_writable(name) && normalize_name(name) != DEFAULT_POLICY
}

/// Whether tokens may be given this policy by name (`response-wrapping` is
/// reserved for wrapping tokens; it is also left out of policy listings).
pub fn is_assignable(name: &str) -> bool {
    normalize_name(name) != RESPONSE_WRAPPING_POLICY
}
