//! `kv2-write`: each op writes a 100-byte value to one of 1000 keys of a fresh KV v2 mount;
//! `seal-wrapped-kv-write`: the same on a `seal_wrap` mount (needs an HSM seal).

use anyhow::Context as _;
use async_trait::async_trait;

use super::Scenario;
use super::kv2::Kv2Mount;
use crate::http::VaultHttp;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Kv2Write {
    /// `seal-wrapped-kv-write`: the same load on a `seal_wrap` mount (every value wrapped by the HSM).
    seal_wrap: bool,
    kv: Option<Kv2Mount>,
}

impl Kv2Write {
    /// The `seal-wrapped-kv-write` variant.
    pub(crate) fn seal_wrapped() -> Self {
        Self {
            seal_wrap: true,
            ..Self::default()
        }
    }
}

#[async_trait]
impl Scenario for Kv2Write {
    fn name(&self) -> &'static str {
        if self.seal_wrap {
            "seal-wrapped-kv-write"
        } else {
            "kv2-write"
        }
    }

    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()> {
        self.kv = Some(Kv2Mount::create(client, self.seal_wrap).await?);
        Ok(())
    }

    async fn one_op(&self, client: &VaultHttp, i: u64) -> anyhow::Result<()> {
        self.kv
            .as_ref()
            .context("setup did not run")?
            .write(client, i)
            .await
    }

    async fn teardown(&self, client: &VaultHttp) -> anyhow::Result<()> {
        match &self.kv {
            Some(kv) => kv.remove(client).await,
            None => Ok(()),
        }
    }
}
