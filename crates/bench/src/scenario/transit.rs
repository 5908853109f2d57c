//! A throwaway transit mount with one AES-256-GCM key, shared by the transit-* scenarios.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};

use anyhow::Context as _;
use reqwest::{Method, Url};
use serde_json::json;

use crate::http::VaultHttp;

/// Plaintext size of every encrypted item, in bytes (as kv2's value size).
pub(crate) const PLAINTEXT_BYTES: usize = 100;
/// The key's name inside the mount.
const KEY: &str = "bench";

/// A mounted `bench-transit-<random>` engine with key `bench`.
#[derive(Debug)]
pub(crate) struct TransitMount {
    mount: String,
}

impl TransitMount {
    /// Enables transit at a unique path and creates an AES-256-GCM key.
    pub(crate) async fn create(client: &VaultHttp) -> anyhow::Result<Self> {
        Self::create_with(client, &json!({"type": "aes256-gcm96"}), None).await
    }

    /// Enables transit at a unique path (allowing `managed_key`, if given)
    /// and creates the key with `key_body`.
    pub(crate) async fn create_with(
        client: &VaultHttp,
        key_body: &serde_json::Value,
        managed_key: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mount = format!(
            "bench-transit-{:016x}",
            RandomState::new().build_hasher().finish()
        );
        let mut enable = json!({"type": "transit"});
        if let Some(name) = managed_key {
            enable["config"] = json!({"allowed_managed_keys": [name]});
        }
        client
            .post(&format!("sys/mounts/{mount}"), &enable)
            .await
            .context("enabling a transit mount for the benchmark")?;
        client
            .post(&format!("{mount}/keys/{KEY}"), key_body)
            .await
            .with_context(|| match managed_key {
                Some(name) => format!(
                    "creating the benchmark key on managed key {name:?} (the server needs a \
                     kms_library and that managed key; scripts/bench-hsm sets both up)"
                ),
                None => "creating the benchmark key".to_owned(),
            })?;
        Ok(Self { mount })
    }

    /// `<base>/v1/<mount>/<op>/bench`.
    pub(crate) fn url(&self, client: &VaultHttp, op: &str) -> anyhow::Result<Url> {
        client.url(&format!("{}/{op}/{KEY}", self.mount))
    }

    /// `<mount>/<op>/bench`, for [`VaultHttp::post_for_data`].
    pub(crate) fn path(&self, op: &str) -> String {
        format!("{}/{op}/{KEY}", self.mount)
    }

    /// POSTs a prepared JSON body.
    pub(crate) async fn post(client: &VaultHttp, url: &Url, body: &[u8]) -> anyhow::Result<()> {
        client
            .send(Method::POST, url.clone(), Some(body.to_vec()))
            .await?;
        Ok(())
    }

    /// Disables the mount, deleting the key.
    pub(crate) async fn remove(&self, client: &VaultHttp) -> anyhow::Result<()> {
        client.delete(&format!("sys/mounts/{}", self.mount)).await?;
        Ok(())
    }
}

/// The base64 of a `PLAINTEXT_BYTES`-byte plaintext (standard alphabet, padded).
pub(crate) fn plaintext_b64() -> String {
    // 100 bytes of 'p' (0x70) in base64: "cHBw" repeats for each 3 bytes, then the tail.
    let full = "cHBw".repeat(PLAINTEXT_BYTES / 3);
    match PLAINTEXT_BYTES % 3 {
        1 => full + "cA==",
        2 => full + "cHA=",
        _ => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_is_the_base64_of_100_bytes() {
        let b = plaintext_b64();
        assert_eq!(b.len(), 136);
        assert!(b.ends_with("cA=="));
    }
}
