//! Typed helpers for ACL policies (`sys/policies/acl`): list, read, write, delete.

use serde_json::{Value, json};

use crate::{Client, Result};

impl Client {
    /// `LIST sys/policies/acl`: the policy names (empty when the server has none to list).
    pub async fn list_policies(&self) -> Result<Vec<String>> {
        let secret = self.list("sys/policies/acl").await?;
        Ok(secret
            .as_ref()
            .and_then(|s| s.data_field("keys"))
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `GET sys/policies/acl/:name`: the policy text, `None` when there is no such policy.
    pub async fn read_policy(&self, name: &str) -> Result<Option<String>> {
        let secret = self.read(&policy_path(name)).await?;
        Ok(secret
            .as_ref()
            .and_then(|s| s.data_field("policy"))
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// `PUT sys/policies/acl/:name` with the policy text (HCL or JSON); the server checks it.
    pub async fn write_policy(&self, name: &str, policy: &str) -> Result<()> {
        self.write(&policy_path(name), &json!({ "policy": policy }))
            .await
            .map(|_| ())
    }

    /// `DELETE sys/policies/acl/:name` (succeeds when there was no such policy).
    pub async fn delete_policy(&self, name: &str) -> Result<()> {
        self.delete(&policy_path(name)).await.map(|_| ())
    }
}

fn policy_path(name: &str) -> String {
    format!("sys/policies/acl/{}", name.trim_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_lose_surrounding_slashes() {
        assert_eq!(policy_path("/ops/"), "sys/policies/acl/ops");
    }
}
