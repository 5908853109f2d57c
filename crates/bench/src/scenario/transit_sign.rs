//! `transit-sign`: each op signs a 100-byte input (SHA-256) with one ECDSA P-256 key.
//! `transit-sign-managed`: the same with a `managed_key` transit key on the managed key
//! `bench-ec` (ECDSA P-256 inside the HSM; `scripts/bench-hsm` creates it).

use anyhow::Context as _;
use async_trait::async_trait;
use reqwest::Url;
use serde_json::json;

use super::Scenario;
use super::transit::{TransitMount, plaintext_b64};
use crate::http::VaultHttp;

/// The managed key `transit-sign-managed` uses.
pub(crate) const MANAGED_EC: &str = "bench-ec";

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct TransitSign {
    managed: bool,
    state: Option<(TransitMount, Url, Vec<u8>)>,
}

impl TransitSign {
    /// `transit-sign-managed`.
    pub(crate) fn managed() -> Self {
        Self {
            managed: true,
            state: None,
        }
    }
}

#[async_trait]
impl Scenario for TransitSign {
    fn name(&self) -> &'static str {
        if self.managed {
            "transit-sign-managed"
        } else {
            "transit-sign"
        }
    }

    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()> {
        let mount = if self.managed {
            let key = json!({"type": "managed_key", "managed_key_name": MANAGED_EC});
            TransitMount::create_with(client, &key, Some(MANAGED_EC)).await?
        } else {
            TransitMount::create_with(client, &json!({"type": "ecdsa-p256"}), None).await?
        };
        let url = mount.url(client, "sign")?;
        let body = serde_json::to_vec(&json!({ "input": plaintext_b64() }))?;
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
