//! `transit-encrypt`: each op encrypts a 100-byte plaintext with one AES-256-GCM key.

use anyhow::Context as _;
use async_trait::async_trait;
use reqwest::Url;
use serde_json::json;

use super::Scenario;
use super::transit::{TransitMount, plaintext_b64};
use crate::http::VaultHttp;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct TransitEncrypt {
    state: Option<(TransitMount, Url, Vec<u8>)>,
}

#[async_trait]
impl Scenario for TransitEncrypt {
    fn name(&self) -> &'static str {
        "transit-encrypt"
    }

    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()> {
        let mount = TransitMount::create(client).await?;
        let url = mount.url(client, "encrypt")?;
        let body = serde_json::to_vec(&json!({ "plaintext": plaintext_b64() }))?;
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
