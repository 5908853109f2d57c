//! `kv2-read`: 1000 keys are written during setup; each op reads the latest version of one;
//! `seal-wrapped-kv-read`: the same on a `seal_wrap` mount (needs an HSM seal).

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use tokio::task::JoinSet;

use super::Scenario;
use super::kv2::{KEYS, Kv2Mount};
use crate::http::VaultHttp;

/// Parallel writers used to pre-fill the keys.
const PREFILL_WRITERS: u64 = 16;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Kv2Read {
    /// `seal-wrapped-kv-read`: the same load on a `seal_wrap` mount (every value wrapped by the HSM).
    seal_wrap: bool,
    kv: Option<Arc<Kv2Mount>>,
}

impl Kv2Read {
    /// The `seal-wrapped-kv-read` variant.
    pub(crate) fn seal_wrapped() -> Self {
        Self {
            seal_wrap: true,
            ..Self::default()
        }
    }
}

#[async_trait]
impl Scenario for Kv2Read {
    fn name(&self) -> &'static str {
        if self.seal_wrap {
            "seal-wrapped-kv-read"
        } else {
            "kv2-read"
        }
    }

    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()> {
        let kv = Arc::new(Kv2Mount::create(client, self.seal_wrap).await?);
        self.kv = Some(Arc::clone(&kv));
        let mut writers = JoinSet::new();
        for w in 0..PREFILL_WRITERS {
            let kv = Arc::clone(&kv);
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

    async fn one_op(&self, client: &VaultHttp, i: u64) -> anyhow::Result<()> {
        self.kv
            .as_ref()
            .context("setup did not run")?
            .read(client, i)
            .await
    }

    async fn teardown(&self, client: &VaultHttp) -> anyhow::Result<()> {
        match &self.kv {
            Some(kv) => kv.remove(client).await,
            None => Ok(()),
        }
    }
}
