//! `token-create`: setup writes a policy `bench-token-create-<random>` that allows only
//! `auth/token/create`, and makes a parent token with it (1 h); each op creates a child token
//! of that parent (`POST /v1/auth/token/create`, the same policy, 10 min). Teardown revokes
//! the parent, which revokes every child with it, and deletes the policy.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use async_trait::async_trait;
use serde_json::{Value, json};

use super::Scenario;
use crate::http::VaultHttp;

/// The path every op posts to.
const CREATE: &str = "auth/token/create";
/// How long teardown waits for the revocation of the parent and everything it created.
const REVOKE_TIMEOUT: Duration = Duration::from_secs(600);

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct TokenCreate {
    /// The policy's name, once written.
    policy: Option<String>,
    /// The parent token, once created.
    parent: Option<Parent>,
}

/// The parent token and what each op sends with it.
#[derive(Debug)]
struct Parent {
    token: String,
    /// The setup client holding the parent token instead of the caller's.
    creator: VaultHttp,
    /// The child's request body.
    body: Value,
}

/// The policy's rules: creating child tokens, nothing else (besides `default`).
fn policy_rules() -> &'static str {
    "path \"auth/token/create\" { capabilities = [\"create\", \"update\"] }\n"
}

/// The `client_token` of a token-create answer.
fn client_token(doc: &Value) -> anyhow::Result<&str> {
    let token = doc["auth"]["client_token"]
        .as_str()
        .context("auth/token/create answered without auth.client_token")?;
    ensure!(
        !token.is_empty(),
        "auth/token/create answered an empty client_token"
    );
    Ok(token)
}

#[async_trait]
impl Scenario for TokenCreate {
    fn name(&self) -> &'static str {
        "token-create"
    }

    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()> {
        let policy = format!(
            "bench-token-create-{:016x}",
            RandomState::new().build_hasher().finish()
        );
        client
            .post(
                &format!("sys/policies/acl/{policy}"),
                &json!({ "policy": policy_rules() }),
            )
            .await
            .context("writing the benchmark policy (needs ACL policies on the server)")?;
        self.policy = Some(policy.clone());
        let doc = client
            .post_for_document(
                CREATE,
                &json!({
                    "policies": [policy],
                    "ttl": "1h",
                    "display_name": "bench-token-create",
                }),
            )
            .await
            .context("creating the parent token")?;
        let token = client_token(&doc)?.to_owned();
        self.parent = Some(Parent {
            creator: client.with_token(&token),
            token,
            body: json!({"policies": [policy], "ttl": "10m"}),
        });
        Ok(())
    }

    async fn one_op(&self, _client: &VaultHttp, _i: u64) -> anyhow::Result<()> {
        let parent = self.parent.as_ref().context("setup did not run")?;
        let doc = parent
            .creator
            .post_for_document(CREATE, &parent.body)
            .await?;
        client_token(&doc)?;
        Ok(())
    }

    async fn teardown(&self, client: &VaultHttp) -> anyhow::Result<()> {
        // Revoking the parent revokes its whole tree: every token the ops created, which
        // after a long run is hundreds of thousands; the server needs far longer for that
        // than for one op, and a client that gave up would leave the tree half revoked.
        let revoked = match &self.parent {
            Some(parent) => client
                .with_timeout(REVOKE_TIMEOUT)
                .post("auth/token/revoke", &json!({ "token": parent.token }))
                .await
                .context("revoking the parent token and its children")
                .map(drop),
            None => Ok(()),
        };
        let deleted = match &self.policy {
            Some(policy) => client
                .delete(&format!("sys/policies/acl/{policy}"))
                .await
                .map(drop),
            None => Ok(()),
        };
        revoked.and(deleted)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn policy_grants_token_creation_only() {
        let rules = policy_rules();
        assert!(rules.starts_with("path \"auth/token/create\""), "{rules}");
        assert!(rules.contains("\"create\", \"update\""), "{rules}");
        assert_eq!(rules.matches("path ").count(), 1, "{rules}");
    }

    #[test]
    fn a_created_token_is_read_from_auth_client_token() {
        let doc = json!({"auth": {"client_token": "hvs.child", "policies": ["default"]}});
        assert_eq!(client_token(&doc).unwrap(), "hvs.child");
    }

    #[test]
    fn an_answer_without_a_token_is_an_error() {
        assert!(client_token(&json!({"data": {}})).is_err());
        assert!(client_token(&json!({"auth": {"client_token": ""}})).is_err());
    }
}
