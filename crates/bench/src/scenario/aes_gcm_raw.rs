//! `aes-gcm-raw`: the ceiling for `transit-encrypt`. Each op seals a 100-byte plaintext with
//! AES-256-GCM in this process, with the same library (AWS-LC via `aws-lc-rs`) and the same
//! per-message work the transit engine does for the cipher itself (fresh 96-bit nonce, 128-bit
//! tag), and no server, HTTP, JSON or base64. No `--token` needed; the client is unused.

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use super::Scenario;
use super::transit::PLAINTEXT_BYTES;
use crate::http::VaultHttp;

/// See the module docs.
#[derive(Default)]
pub(crate) struct AesGcmRaw {
    key: Option<Arc<LessSafeKey>>,
}

impl std::fmt::Debug for AesGcmRaw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AesGcmRaw").finish_non_exhaustive()
    }
}

#[async_trait]
impl Scenario for AesGcmRaw {
    fn name(&self) -> &'static str {
        "aes-gcm-raw"
    }

    fn needs_server(&self) -> bool {
        false
    }

    async fn setup(&mut self, _client: &VaultHttp) -> anyhow::Result<()> {
        let mut raw = [0u8; 32];
        aws_lc_rs::rand::fill(&mut raw)
            .map_err(|_| anyhow::anyhow!("no randomness for the key"))?;
        let key = UnboundKey::new(&AES_256_GCM, &raw)
            .map_err(|_| anyhow::anyhow!("AES-256-GCM key rejected"))?;
        self.key = Some(Arc::new(LessSafeKey::new(key)));
        Ok(())
    }

    async fn one_op(&self, _client: &VaultHttp, i: u64) -> anyhow::Result<()> {
        let key = self.key.as_ref().context("setup did not run")?;
        // A unique nonce per op: the op number (unique across clients) in the low bytes.
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&i.to_be_bytes());
        let mut buf = Vec::with_capacity(PLAINTEXT_BYTES + 16);
        buf.resize(PLAINTEXT_BYTES, 0x70);
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .map_err(|_| anyhow::anyhow!("AES-256-GCM seal failed"))?;
        std::hint::black_box(&buf);
        // The op never awaits anything; let the runtime's timers and other clients run.
        if i.is_multiple_of(64) {
            tokio::task::yield_now().await;
        }
        Ok(())
    }
}
