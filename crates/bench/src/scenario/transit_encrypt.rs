//! `transit-encrypt`: each op encrypts a 100-byte plaintext with one AES-256-GCM key.
//! `transit-encrypt-managed`: the same with a `managed_key` transit key on the managed key
//! `bench-aes` (AES-GCM inside the HSM; `scripts/bench-hsm` creates it).

use anyhow::Context as _;
use async_trait::async_trait;
use reqwest::Url;
use serde_json::json;

use super::Scenario;
use super::transit::{TransitMount, plaintext_b64};
use crate::http::VaultHttp;

/// The managed key `transit-encrypt-managed` uses.
pub(crate) const MANAGED_AES: &str = "bench-aes";

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct TransitEncrypt {
    managed: bool,
    state: Option<(TransitMount, Url, Vec<u8>)>,
}

impl TransitEncrypt {
    /// `transit-encrypt-managed`.
    pub(crate) fn managed() -> Self {
        Self {
            managed: true,
            state: None,
        }
    }
}

#[async_trait]
impl Scenario for TransitEncrypt {
    fn name(&self) -> &'static str {
        if self.managed {
            "transit-encrypt-managed"
        } else {
            "transit-encrypt"
        }
    }

    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()> {
        let mount = if self.managed {
            let key = json!({"type": "managed_key", "managed_key_name": MANAGED_AES});
            TransitMount::create_with(client, &key, Some(MANAGED_AES)).await?
        } else {
            TransitMount::create(client).await?
        };
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
