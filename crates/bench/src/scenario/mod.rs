//! Benchmark scenarios: one file each, registered in [`NAMES`] and [`build`].
//!
//! Adding a scenario = a new file with a type implementing [`Scenario`], plus one line in
//! each of the two lists below.

mod aes_gcm_raw;
mod approle_login;
mod kv2;
mod kv2_read;
mod kv2_write;
mod mixed;
mod token_create;
mod transit;
mod transit_batch_encrypt;
mod transit_decrypt;
mod transit_keygen;
mod transit_op;
mod wrap_unwrap;

use async_trait::async_trait;

use crate::http::VaultHttp;

/// Scenario names accepted by `--scenario`.
pub(crate) const NAMES: &[&str] = &[
    "kv2-write",
    "kv2-read",
    "kv2-read-policy",
    "seal-wrapped-kv-write",
    "seal-wrapped-kv-read",
    "transit-encrypt",
    "transit-encrypt-managed",
    "transit-sign",
    "transit-sign-managed",
    "transit-decrypt",
    "transit-batch-encrypt",
    "aes-gcm-raw",
    "transit-keygen",
    "entropy-transit-keygen",
    "approle-login",
    "wrap-unwrap",
    "mixed",
    "token-create",
];

/// A fresh, not yet set-up scenario by name; `None` for a name not in [`NAMES`].
pub(crate) fn build(name: &str) -> Option<Box<dyn Scenario>> {
    match name {
        "kv2-write" => Some(Box::new(kv2_write::Kv2Write::default())),
        "kv2-read" => Some(Box::new(kv2_read::Kv2Read::default())),
        "kv2-read-policy" => Some(Box::new(kv2_read::Kv2Read::with_policy_token())),
        "seal-wrapped-kv-write" => Some(Box::new(kv2_write::Kv2Write::seal_wrapped())),
        "seal-wrapped-kv-read" => Some(Box::new(kv2_read::Kv2Read::seal_wrapped())),
        "transit-encrypt" => Some(Box::new(transit_op::TransitOp::encrypt())),
        "transit-encrypt-managed" => Some(Box::new(transit_op::TransitOp::encrypt_managed())),
        "transit-sign" => Some(Box::new(transit_op::TransitOp::sign())),
        "transit-sign-managed" => Some(Box::new(transit_op::TransitOp::sign_managed())),
        "transit-decrypt" => Some(Box::new(transit_decrypt::TransitDecrypt::default())),
        "transit-batch-encrypt" => Some(Box::new(
            transit_batch_encrypt::TransitBatchEncrypt::default(),
        )),
        "aes-gcm-raw" => Some(Box::new(aes_gcm_raw::AesGcmRaw::default())),
        "transit-keygen" => Some(Box::new(transit_keygen::TransitKeygen::default())),
        "entropy-transit-keygen" => {
            Some(Box::new(transit_keygen::TransitKeygen::external_entropy()))
        }
        "approle-login" => Some(Box::new(approle_login::ApproleLogin::default())),
        "wrap-unwrap" => Some(Box::new(wrap_unwrap::WrapUnwrap)),
        "mixed" => Some(Box::new(mixed::Mixed::default())),
        "token-create" => Some(Box::new(token_create::TokenCreate::default())),
        _ => None,
    }
}

/// One kind of load. `setup` runs once before all client counts, `one_op` many times from
/// many tasks at once, `teardown` once at the end (also after a failed run).
#[async_trait]
pub(crate) trait Scenario: Send + Sync {
    /// The name given to `--scenario`.
    fn name(&self) -> &'static str;

    /// Whether the scenario talks to a server (false: it measures in-process code, and
    /// the client it is handed is never used).
    fn needs_server(&self) -> bool {
        true
    }

    /// Creates what the operations need (mounts, keys, pre-written data).
    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()>;

    /// One measured operation; `i` is a per-run sequence number, unique across clients.
    async fn one_op(&self, client: &VaultHttp, i: u64) -> anyhow::Result<()>;

    /// Removes what `setup` created, so repeated runs leave the server as they found it.
    async fn teardown(&self, _client: &VaultHttp) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_builds_a_scenario_of_that_name() {
        for name in NAMES {
            let scenario = build(name).map(|s| s.name());
            assert_eq!(scenario, Some(*name));
        }
        assert!(build("nope").is_none());
    }
}
