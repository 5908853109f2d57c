//! `transit-batch-encrypt`: each op encrypts a `batch_input` of 100 plaintexts of 100 bytes
//! (ops/s counts requests; multiply by 100 for items/s).

use anyhow::Context as _;
use async_trait::async_trait;
use reqwest::Url;
use serde_json::json;

use super::Scenario;
use super::transit::{TransitMount, plaintext_b64};
use crate::http::VaultHttp;

/// Items per request.
pub(crate) const BATCH: usize = 100;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct TransitBatchEncrypt {
    state: Option<(TransitMount, Url, Vec<u8>)>,
}

#[async_trait]
impl Scenario for TransitBatchEncrypt {
    fn name(&self) -> &'static str {
        "transit-batch-encrypt"
    }

    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()> {
        let mount = TransitMount::create(client).await?;
        let url = mount.url(client, "encrypt")?;
        let items: Vec<_> = (0..BATCH)
            .map(|i| json!({ "plaintext": plaintext_b64(), "reference": i.to_string() }))
            .collect();
        let body = serde_json::to_vec(&json!({ "batch_input": items }))?;
        self.state = Some((mount, url, body));
        Ok(())
    }

    async fn one_op(&self, client: &VaultHttp, _i: u64) -> anyhow::Result<()> {
        let (_, url, body) = self.state.as_ref().context("setup did not run")?;
        TransitMount::post(client, url, body).await
    }

    async fn teardown(&self, client: &VaultHttp) -> anyhow::Result<()> {
        match &self.state {
            Some((mount, _, _)) => mount.remove(client).await,
            None => Ok(()),
        }
    }
}
