//! `sys/policies/acl` and the legacy `sys/policy`: list, read, write and
//! delete ACL policies, in Vault's shapes (`{keys}`, `{name, policy}`; the
//! legacy paths answer `{policies, keys}` and `{name, rules}`).

use crate::engine::{Operation, Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use serde::Deserialize;
use serde_json::json;

/// The body of a policy write; the legacy path also takes `rules`.
#[derive(Deserialize)]
struct PolicyInput {
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    rules: Option<String>,
}

impl Core {
    /// `LIST sys/policies/acl`, or `GET|LIST sys/policy` when `legacy`.
    pub(crate) async fn list_policies(&self, legacy: bool) -> CoreResult<Option<Response>> {
        let names = self.policies.list().await?;
        if legacy {
            return Ok(Some(Response::data(
                json!({ "policies": names, "keys": names }),
            )));
        }
        Ok(Response::list(names))
    }

    /// Read, write or delete the policy `name`.
    pub(crate) async fn policy_request(
        &self,
        req: &Request,
        name: &str,
        legacy: bool,
    ) -> CoreResult<Option<Response>> {
        match req.operation {
            Operation::Read => {
                let Some(policy) = self.policies.get(name).await? else {
                    return Ok(None);
                };
                let text_key = if legacy { "rules" } else { "policy" };
                Ok(Some(Response::data(json!({
                    "name": policy.name(),
                    text_key: policy.text(),
                }))))
            }
            Operation::Delete => self.policies.delete(name).await.map(|()| None),
            Operation::Update => {
                let input: PolicyInput = req.parse()?;
                let text = input
                    .policy
                    .filter(|p| !p.is_empty())
                    .or(if legacy { input.rules } else { None })
                    .ok_or_else(|| {
                        CoreError::invalid("'policy' parameter not supplied or empty")
                    })?;
                self.policies.put(name, &text).await.map(|()| None)
            }
            Operation::Patch | Operation::List => Err(CoreError::UnsupportedOperation),
        }
    }
}
