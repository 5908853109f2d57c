//! `kv2-read`: 1000 keys are written during setup; each op reads the latest version of one;
//! `seal-wrapped-kv-read`: the same on a `seal_wrap` mount (needs an HSM seal);
//! `kv2-read-policy`: the same reads with a token whose only policy has 10 path rules, so
//! every read pays the ACL check (compare with `kv2-read`, which uses the root token).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use serde_json::json;

use super::Scenario;
use super::kv2::Kv2Mount;
use crate::http::VaultHttp;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Kv2Read {
    /// `seal-wrapped-kv-read`: the same load on a `seal_wrap` mount (every value wrapped by the HSM).
    seal_wrap: bool,
    /// `kv2-read-policy`: read with a 10-rule policy token instead of the root token.
    policy_token: bool,
    kv: Option<Arc<Kv2Mount>>,
    /// `kv2-read-policy`: the `bench-ten-rules-<random>` policy, once written. Unique per
    /// run, so that two runs against one server (`--compare` with itself) do not overwrite
    /// each other's rules.
    policy: Option<String>,
    /// The client that reads: the root token's, or the policy token's.
    reader: Option<VaultHttp>,
}

impl Kv2Read {
    /// The `kv2-read-policy` variant.
    pub(crate) fn with_policy_token() -> Self {
        Self {
            policy_token: true,
            ..Self::default()
        }
    }

    /// Writes a policy of 10 rules (one grants reads of the mount, nine other paths) and
    /// returns a client holding a fresh token with only that policy.
    async fn policy_reader(
        &mut self,
        client: &VaultHttp,
        mount: &str,
    ) -> anyhow::Result<VaultHttp> {
        let policy = format!(
            "bench-ten-rules-{:016x}",
            RandomState::new().build_hasher().finish()
        );
        let mut rules = format!("path \"{mount}/data/*\" {{ capabilities = [\"read\"] }}\n");
        for n in 1..10 {
            rules.push_str(&format!(
                "path \"team-{n}/+/config\" {{ capabilities = [\"read\", \"list\"] }}\n"
            ));
        }
        client
            .post(
                &format!("sys/policies/acl/{policy}"),
                &json!({ "policy": rules }),
            )
            .await
            .context("writing the benchmark policy (needs ACL policies on the server)")?;
        self.policy = Some(policy.clone());
        let doc = client
            .post_for_document(
                "auth/token/create",
                &json!({"policies": [policy], "no_default_policy": true, "ttl": "1h"}),
            )
            .await
            .context("creating the benchmark token")?;
        let token = doc["auth"]["client_token"]
            .as_str()
            .context("auth/token/create answered without auth.client_token")?;
        Ok(client.with_token(token))
    }

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
        } else if self.policy_token {
            "kv2-read-policy"
        } else {
            "kv2-read"
        }
    }

    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()> {
        let kv = Arc::new(Kv2Mount::create(client, self.seal_wrap).await?);
        self.kv = Some(Arc::clone(&kv));
        kv.prefill(client).await?;
        self.reader = Some(if self.policy_token {
            self.policy_reader(client, kv.path()).await?
        } else {
            client.clone()
        });
        Ok(())
    }

    async fn one_op(&self, _client: &VaultHttp, i: u64) -> anyhow::Result<()> {
        let reader = self.reader.as_ref().context("setup did not run")?;
        self.kv
            .as_ref()
            .context("setup did not run")?
            .read(reader, i)
            .await
    }

    async fn teardown(&self, client: &VaultHttp) -> anyhow::Result<()> {
        if let Some(policy) = &self.policy {
            client.delete(&format!("sys/policies/acl/{policy}")).await?;
        }
        match &self.kv {
            Some(kv) => kv.remove(client).await,
            None => Ok(()),
        }
    }
}
