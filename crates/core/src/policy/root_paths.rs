//! Root-protected ("sudo") paths: besides the operation's own capability, a
//! non-root token needs `sudo` on them.
//!
//! In Vault each backend declares its root paths relative to its mount; this
//! list holds those of the backends Coffer serves at fixed places (`sys/`,
//! `auth/token/`). Sources:
//! - <https://developer.hashicorp.com/vault/docs/concepts/policies#root-protected-api-endpoints>
//!   (the documented table);
//! - hashicorp/vault `vault/logical_system.go`, `PathsSpecial.Root` of the
//!   system backend, and `vault/token_store.go`, that of the token store.
//!
//! A trailing `*` is a prefix match, anything else exact, as Vault's router
//! matches root paths. Not listed, because they depend on the request rather
//! than the path: `auth/token/create` needs sudo only to create orphan
//! (`no_parent`) or periodic (`period`) tokens — its handler must check.
//! Engine-specific root paths (e.g. PKI's `root`, `root/sign-self-issued`) are
//! for those engines to declare once they exist.

/// Root-protected paths of `sys/` and `auth/token/`.
pub const ROOT_PROTECTED_PATHS: &[&str] = &[
    // Audit devices: list, enable, disable.
    "sys/audit",
    "sys/audit/*",
    // Auth methods: enable, read, disable, tune (not the `sys/auth` listing).
    "sys/auth/*",
    // Audited request headers, CORS, UI headers, the sanitized configuration.
    "sys/config/auditing/*",
    "sys/config/state/sanitized",
    "sys/config/cors",
    "sys/config/ui/headers/*",
    // Router internals.
    "sys/internal/inspect/*",
    // Leases: irrevocable listing, lookup by prefix, forced and prefix revocation.
    "sys/leases",
    "sys/leases/lookup/*",
    "sys/leases/revoke-force/*",
    "sys/leases/revoke-prefix/*",
    "sys/revoke-force/*",
    "sys/revoke-prefix/*",
    // Plugin catalogs.
    "sys/plugins/catalog/*",
    "sys/plugins/runtimes/catalog/*",
    // Raw storage access.
    "sys/raw",
    "sys/raw/*",
    // Managed keys (keys that live in an HSM): list, write, read, delete, test.
    "sys/managed-keys/*",
    // Moving mounts.
    "sys/remount",
    // Replication tokens and reindexing (Enterprise endpoints; listed for completeness).
    "sys/replication/dr/primary/secondary-token",
    "sys/replication/dr/reindex",
    "sys/replication/performance/primary/secondary-token",
    "sys/replication/performance/reindex",
    "sys/replication/primary/secondary-token",
    "sys/replication/reindex",
    // Barrier key rotation.
    "sys/rotate",
    // Seal re-wrap (Vault Enterprise's seal wrap): re-encrypting every
    // seal-wrapped record is an operator action.
    "sys/sealwrap/rewrap",
    // Sealing and stepping down (Vault enforces these in the raw handlers).
    "sys/seal",
    "sys/step-down",
    // Raft snapshot automation configs.
    "sys/storage/raft/snapshot-auto/config/*",
    // Token store: list accessors, revoke without revoking children. The
    // documented `revoke-orphan` endpoint itself is checked by Vault's handler;
    // listing it here keeps the check in one place.
    "auth/token/accessors*",
    "auth/token/revoke-orphan",
    "auth/token/revoke-orphan/*",
];

/// Whether `path` (full request path, leading `/` ignored) is root-protected.
pub fn is_root_protected(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    ROOT_PROTECTED_PATHS
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == *pattern,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_root_protected_endpoints_need_sudo() {
        for path in [
            "sys/audit",
            "sys/audit/file",
            "sys/auth/userpass",
            "sys/auth/userpass/tune",
            "sys/config/auditing/request-headers",
            "sys/config/auditing/request-headers/x-forwarded-for",
            "sys/config/cors",
            "sys/config/ui/headers/x-custom",
            "sys/internal/inspect/router/root",
            "sys/leases/lookup/aws/creds/",
            "sys/leases/revoke-force/aws/",
            "sys/leases/revoke-prefix/aws/",
            "sys/plugins/catalog/secret/my-plugin",
            "sys/raw/core/keyring",
            "sys/remount",
            "sys/rotate",
            "sys/sealwrap/rewrap",
            "sys/seal",
            "sys/step-down",
            "sys/storage/raft/snapshot-auto/config/daily",
            "auth/token/accessors/",
            "auth/token/revoke-orphan",
            "/sys/rotate",
        ] {
            assert!(is_root_protected(path), "{path} should be root-protected");
        }
    }

    #[test]
    fn ordinary_paths_do_not_need_sudo() {
        for path in [
            "sys/auth",
            "sys/mounts",
            "sys/mounts/secret",
            "sys/policies/acl/dev",
            "sys/rotate/config",
            "sys/seal-status",
            "sys/audit-hash/file",
            "sys/leases/renew",
            "sys/leases/lookup",
            "auth/token/create",
            "auth/token/lookup-self",
            "secret/data/audit",
        ] {
            assert!(
                !is_root_protected(path),
                "{path} should not be root-protected"
            );
        }
    }
}
