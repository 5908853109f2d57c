//! `approle-login`: setup enables AppRole at a fresh path with one role and one unlimited
//! secret id; each op logs in with them (a new token per login).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};

use anyhow::Context as _;
use async_trait::async_trait;
use reqwest::{Method, Url};
use serde_json::json;

use super::Scenario;
use crate::http::VaultHttp;

/// The role every login uses.
const ROLE: &str = "bench";

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct ApproleLogin {
    /// Mount path, login URL and the prepared login body.
    state: Option<(String, Url, Vec<u8>)>,
}

#[async_trait]
impl Scenario for ApproleLogin {
    fn name(&self) -> &'static str {
        "approle-login"
    }

    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()> {
        let mount = format!(
            "bench-approle-{:016x}",
            RandomState::new().build_hasher().finish()
        );
        client
            .post(&format!("sys/auth/{mount}"), &json!({"type": "approle"}))
            .await
            .context("enabling an approle auth method for the benchmark")?;
        client
            .post(
                &format!("auth/{mount}/role/{ROLE}"),
                &json!({"token_policies": ["default"], "token_ttl": "10m", "secret_id_num_uses": 0}),
            )
            .await
            .context("creating the benchmark role")?;
        let role_id = client
            .get_data(&format!("auth/{mount}/role/{ROLE}/role-id"))
            .await?["role_id"]
            .as_str()
            .context("role-id answered without role_id")?
            .to_owned();
        let secret_id = client
            .post_for_data(&format!("auth/{mount}/role/{ROLE}/secret-id"), &json!({}))
            .await?["secret_id"]
            .as_str()
            .context("secret-id answered without secret_id")?
            .to_owned();
        let url = client.url(&format!("auth/{mount}/login"))?;
        let body = serde_json::to_vec(&json!({"role_id": role_id, "secret_id": secret_id}))?;
        self.state = Some((mount, url, body));
        Ok(())
    }

    async fn one_op(&self, client: &VaultHttp, _i: u64) -> anyhow::Result<()> {
        let (_, url, body) = self.state.as_ref().context("setup did not run")?;
        client
            .send(Method::POST, url.clone(), Some(body.clone()))
            .await?;
        Ok(())
    }

    async fn teardown(&self, client: &VaultHttp) -> anyhow::Result<()> {
        match &self.state {
            Some((mount, _, _)) => {
                client.delete(&format!("sys/auth/{mount}")).await?;
                Ok(())
            }
            None => Ok(()),
        }
    }
}
