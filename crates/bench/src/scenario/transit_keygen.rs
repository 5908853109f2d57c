//! `transit-keygen`: each op creates a new AES-256-GCM key on a fresh transit mount;
//! `entropy-transit-keygen`: the same on a mount enabled with `external_entropy_access`, so
//! every key draws HSM-augmented randomness (needs `entropy "seal"` on the server).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use async_trait::async_trait;
use serde_json::json;

use super::Scenario;
use crate::http::VaultHttp;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct TransitKeygen {
    external_entropy: bool,
    mount: Option<String>,
    /// Key names are never reused, across client counts too: creating an existing key is a
    /// no-op in transit and would not measure key generation.
    next: AtomicU64,
}

impl TransitKeygen {
    /// The `entropy-transit-keygen` variant.
    pub(crate) fn external_entropy() -> Self {
        Self {
            external_entropy: true,
            ..Self::default()
        }
    }
}

#[async_trait]
impl Scenario for TransitKeygen {
    fn name(&self) -> &'static str {
        if self.external_entropy {
            "entropy-transit-keygen"
        } else {
            "transit-keygen"
        }
    }

    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()> {
        let mount = format!(
            "bench-keygen-{:016x}",
            RandomState::new().build_hasher().finish()
        );
        client
            .post(
                &format!("sys/mounts/{mount}"),
                &json!({"type": "transit", "external_entropy_access": self.external_entropy}),
            )
            .await
            .with_context(|| {
                format!(
                    "enabling a transit mount (external_entropy_access = {}) for the benchmark",
                    self.external_entropy
                )
            })?;
        self.mount = Some(mount);
        Ok(())
    }

    async fn one_op(&self, client: &VaultHttp, _i: u64) -> anyhow::Result<()> {
        let mount = self.mount.as_ref().context("setup did not run")?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        client
            .post(
                &format!("{mount}/keys/k-{n}"),
                &json!({"type": "aes256-gcm96"}),
            )
            .await?;
        Ok(())
    }

    async fn teardown(&self, client: &VaultHttp) -> anyhow::Result<()> {
        match &self.mount {
            Some(m) => {
                client.delete(&format!("sys/mounts/{m}")).await?;
                Ok(())
            }
            None => Ok(()),
        }
    }
}
