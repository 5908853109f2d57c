//! `wrap-unwrap`: each op wraps a small secret with `sys/wrapping/wrap` (a new single-use
//! token, its cubbyhole write and an ES512 signature) and unwraps it with the wrapping token
//! (a signature check, the read and the token's revocation): the full life of a wrapped
//! response, as an AppRole secret-id delivery makes it.

use anyhow::Context as _;
use async_trait::async_trait;
use serde_json::json;

use super::Scenario;
use crate::http::VaultHttp;

/// The wrap TTL every op asks for.
const WRAP_TTL: &str = "60s";

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct WrapUnwrap;

#[async_trait]
impl Scenario for WrapUnwrap {
    fn name(&self) -> &'static str {
        "wrap-unwrap"
    }

    async fn setup(&mut self, _client: &VaultHttp) -> anyhow::Result<()> {
        Ok(())
    }

    async fn one_op(&self, client: &VaultHttp, i: u64) -> anyhow::Result<()> {
        let wrapped = client
            .post_wrapped("sys/wrapping/wrap", &json!({ "secret_id": i }), WRAP_TTL)
            .await?;
        let token = wrapped["wrap_info"]["token"]
            .as_str()
            .context("sys/wrapping/wrap answered without wrap_info.token")?;
        let unwrapped = client
            .with_token(token)
            .post_for_data("sys/wrapping/unwrap", &json!({}))
            .await?;
        anyhow::ensure!(
            unwrapped["secret_id"] == i,
            "unwrapped {unwrapped} instead of the wrapped secret"
        );
        Ok(())
    }
}
