//! Typed helpers for `sys/leases`: look up, renew and revoke a lease by its id (the calls behind
//! `vault lease lookup | renew | revoke`).

use serde_json::json;

use crate::{Client, Result, Secret};

/// What to revoke and how (the Vault API's `RevokeOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokeLease {
    /// The lease id, or the prefix with `prefix` or `force`.
    pub lease_id: String,
    /// Revoke every lease under `lease_id` (`sys/leases/revoke-prefix/<prefix>`).
    pub prefix: bool,
    /// Drop the leases under `lease_id` even when revoking what they cover fails
    /// (`sys/leases/revoke-force/<prefix>`, always synchronous).
    pub force: bool,
    /// Wait for the revocation instead of having the server queue it.
    pub sync: bool,
}

impl Client {
    /// `PUT sys/leases/lookup`: the lease's issue, expiry and renewal times.
    pub async fn lease_lookup(&self, lease_id: &str) -> Result<Option<Secret>> {
        self.write("sys/leases/lookup", &json!({ "lease_id": lease_id }))
            .await
    }

    /// `PUT sys/leases/renew`; `increment` is a duration (`1h`, `3600`), `None` for the default.
    pub async fn lease_renew(
        &self,
        lease_id: &str,
        increment: Option<&str>,
    ) -> Result<Option<Secret>> {
        self.write(
            "sys/leases/renew",
            &json!({ "lease_id": lease_id, "increment": increment }),
        )
        .await
    }

    /// Revokes as `opts` says, on the endpoint the Vault API picks: `revoke-force/<prefix>`,
    /// `revoke-prefix/<prefix>` or `revoke/<lease id>`.
    pub async fn lease_revoke(&self, opts: &RevokeLease) -> Result<()> {
        let endpoint = if opts.force {
            "revoke-force"
        } else if opts.prefix {
            "revoke-prefix"
        } else {
            "revoke"
        };
        let path = format!("sys/leases/{endpoint}/{}", opts.lease_id);
        let body = (!opts.force).then(|| json!({ "sync": opts.sync }));
        self.raw(crate::Method::Put, &path, &[], body.as_ref())
            .await?
            .into_secret()
            .map(|_| ())
    }
}
