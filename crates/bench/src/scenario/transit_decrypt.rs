//! `transit-decrypt`: 100 ciphertexts of 100-byte plaintexts are made during setup; each op
//! decrypts one of them.

use anyhow::Context as _;
use async_trait::async_trait;
use reqwest::Url;
use serde_json::json;

use super::Scenario;
use super::transit::{TransitMount, plaintext_b64};
use crate::http::VaultHttp;

/// Distinct ciphertexts the ops cycle through.
const CIPHERTEXTS: usize = 100;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct TransitDecrypt {
    state: Option<(TransitMount, Url, Vec<Vec<u8>>)>,
}

#[async_trait]
impl Scenario for TransitDecrypt {
    fn name(&self) -> &'static str {
        "transit-decrypt"
    }

    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()> {
        let mount = TransitMount::create(client).await?;
        let items: Vec<_> = (0..CIPHERTEXTS)
            .map(|_| json!({ "plaintext": plaintext_b64() }))
            .collect();
        let data = client
            .post_for_data(&mount.path("encrypt"), &json!({ "batch_input": items }))
            .await
            .context("encrypting the benchmark's ciphertexts")?;
        let bodies = data["batch_results"]
            .as_array()
            .context("no batch_results in the encrypt answer")?
            .iter()
            .map(|r| {
                let ct = r["ciphertext"]
                    .as_str()
                    .context("a batch item has no ciphertext")?;
                Ok(serde_json::to_vec(&json!({ "ciphertext": ct }))?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let url = mount.url(client, "decrypt")?;
        self.state = Some((mount, url, bodies));
        Ok(())
    }

    async fn one_op(&self, client: &VaultHttp, i: u64) -> anyhow::Result<()> {
        let (_, url, bodies) = self.state.as_ref().context("setup did not run")?;
        let body = bodies
            .get(usize::try_from(i)? % bodies.len().max(1))
            .context("no ciphertexts")?;
        TransitMount::post(client, url, body).await
    }

    async fn teardown(&self, client: &VaultHttp) -> anyhow::Result<()> {
        match &self.state {
            Some((mount, _, _)) => mount.remove(client).await,
            None => Ok(()),
        }
    }
}
