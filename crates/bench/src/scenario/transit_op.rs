//! One-request transit scenarios: each op POSTs the same body to `<op>/bench` of a throwaway
//! mount whose key is made in Coffer or lives in the HSM (a `managed_key` transit key).
//!
//! - `transit-encrypt`: encrypts a 100-byte plaintext with an AES-256-GCM key;
//! - `transit-encrypt-managed`: the same with the managed key `bench-aes` (AES-GCM in the HSM);
//! - `transit-sign`: signs a 100-byte input (SHA-256) with an ECDSA P-256 key;
//! - `transit-sign-managed`: the same with the managed key `bench-ec` (ECDSA P-256 in the HSM).
//!
//! The managed keys must exist on the server (`scripts/bench-hsm` creates both).

use anyhow::Context as _;
use async_trait::async_trait;
use reqwest::Url;
use serde_json::{Value, json};

use super::Scenario;
use super::transit::{TransitMount, plaintext_b64};
use crate::http::VaultHttp;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct TransitOp {
    name: &'static str,
    /// `encrypt` or `sign`.
    op: &'static str,
    /// The body field the plaintext goes in.
    field: &'static str,
    /// The key's `type` when made in Coffer.
    key_type: &'static str,
    /// The managed key to use instead, if any.
    managed_key: Option<&'static str>,
    state: Option<(TransitMount, Url, Vec<u8>)>,
}

impl TransitOp {
    fn new(
        name: &'static str,
        op: &'static str,
        field: &'static str,
        key_type: &'static str,
        managed_key: Option<&'static str>,
    ) -> Self {
        Self {
            name,
            op,
            field,
            key_type,
            managed_key,
            state: None,
        }
    }

    /// `transit-encrypt`.
    pub(crate) fn encrypt() -> Self {
        Self::new(
            "transit-encrypt",
            "encrypt",
            "plaintext",
            "aes256-gcm96",
            None,
        )
    }

    /// `transit-encrypt-managed`.
    pub(crate) fn encrypt_managed() -> Self {
        Self::new(
            "transit-encrypt-managed",
            "encrypt",
            "plaintext",
            "aes256-gcm96",
            Some("bench-aes"),
        )
    }

    /// `transit-sign`.
    pub(crate) fn sign() -> Self {
        Self::new("transit-sign", "sign", "input", "ecdsa-p256", None)
    }

    /// `transit-sign-managed`.
    pub(crate) fn sign_managed() -> Self {
        Self::new(
            "transit-sign-managed",
            "sign",
            "input",
            "ecdsa-p256",
            Some("bench-ec"),
        )
    }
}

#[async_trait]
impl Scenario for TransitOp {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()> {
        let key: Value = match self.managed_key {
            Some(name) => json!({"type": "managed_key", "managed_key_name": name}),
            None => json!({"type": self.key_type}),
        };
        let mount = TransitMount::create_with(client, &key, self.managed_key).await?;
        let url = mount.url(client, self.op)?;
        let body = serde_json::to_vec(&json!({ self.field: plaintext_b64() }))?;
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
