//! A throwaway KV version 2 mount shared by the kv2-*, seal-wrapped-kv-* and mixed scenarios.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::{Method, Url};
use serde_json::json;
use tokio::task::JoinSet;

use crate::http::VaultHttp;

/// Number of distinct keys the kv2 scenarios cycle through.
pub(crate) const KEYS: u64 = 1000;
/// Size of the secret value written, in bytes.
pub(crate) const VALUE_BYTES: usize = 100;
/// How long a fresh KV v2 mount may take to accept writes (Vault upgrades it in the background).
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Parallel writers used to pre-fill the keys.
const PREFILL_WRITERS: u64 = 16;

/// A mounted `bench-kv2-<random>` engine with its per-key URLs and body prepared once.
#[derive(Debug)]
pub(crate) struct Kv2Mount {
    mount: String,
    data_urls: Vec<Url>,
    body: Vec<u8>,
}

impl Kv2Mount {
    /// Enables `kv` version 2 at a unique path (with `seal_wrap` as given: a seal-wrapped
    /// mount needs an HSM seal on the server) and waits until it accepts writes.
    pub(crate) async fn create(client: &VaultHttp, seal_wrap: bool) -> anyhow::Result<Self> {
        let mount = format!(
            "bench-kv2-{:016x}",
            RandomState::new().build_hasher().finish()
        );
        client
            .post(
                &format!("sys/mounts/{mount}"),
                &json!({"type": "kv", "options": {"version": "2"}, "seal_wrap": seal_wrap}),
            )
            .await
            .with_context(|| {
                format!("enabling a kv v2 mount (seal_wrap = {seal_wrap}) for the benchmark")
            })?;
        let data_urls = (0..KEYS)
            .map(|i| client.url(&format!("{mount}/data/key-{i}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let value = "v".repeat(VALUE_BYTES);
        let body = serde_json::to_vec(&json!({"data": {"value": value}}))?;
        let kv = Self {
            mount,
            data_urls,
            body,
        };
        kv.wait_writable(client).await?;
        Ok(kv)
    }

    /// Writes key `i % KEYS`.
    pub(crate) async fn write(&self, client: &VaultHttp, i: u64) -> anyhow::Result<()> {
        client
            .send(Method::POST, self.url_for(i)?, Some(self.body.clone()))
            .await?;
        Ok(())
    }

    /// Reads the latest version of key `i % KEYS`.
    pub(crate) async fn read(&self, client: &VaultHttp, i: u64) -> anyhow::Result<()> {
        client.send(Method::GET, self.url_for(i)?, None).await?;
        Ok(())
    }

    /// Writes all `KEYS` keys once, from a few parallel writers, so that every read finds a
    /// value.
    pub(crate) async fn prefill(self: &Arc<Self>, client: &VaultHttp) -> anyhow::Result<()> {
        let mut writers = JoinSet::new();
        for w in 0..PREFILL_WRITERS {
            let kv = Arc::clone(self);
            let client = client.clone();
            writers.spawn(async move {
                let mut i = w;
                while i < KEYS {
                    kv.write(&client, i)
                        .await
                        .with_context(|| format!("pre-writing key-{i}"))?;
                    i += PREFILL_WRITERS;
                }
                anyhow::Ok(())
            });
        }
        while let Some(joined) = writers.join_next().await {
            joined.context("pre-write task panicked")??;
        }
        Ok(())
    }

    /// The mount's path (`bench-kv2-<random>`).
    pub(crate) fn path(&self) -> &str {
        &self.mount
    }

    /// Disables the mount, deleting everything written to it.
    pub(crate) async fn remove(&self, client: &VaultHttp) -> anyhow::Result<()> {
        client.delete(&format!("sys/mounts/{}", self.mount)).await?;
        Ok(())
    }

    fn url_for(&self, i: u64) -> anyhow::Result<Url> {
        let idx = usize::try_from(i % KEYS)?;
        self.data_urls
            .get(idx)
            .cloned()
            .context("key index out of range")
    }

    async fn wait_writable(&self, client: &VaultHttp) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.write(client, 0).await {
                Ok(()) => return Ok(()),
                // Vault answers 400 "upgrading" for a moment after a v2 mount is created.
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => bail!(
                    "mount {} did not accept writes within {READY_TIMEOUT:?}: {e:#}",
                    self.mount
                ),
            }
        }
    }
}
