//! Typed helpers for the token auth backend (`auth/token/*`) and token capabilities
//! (`sys/capabilities*`): create, look up, renew, revoke, capabilities on a path.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Client, Error, Method, Result, Secret};

/// Which token an operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTarget<'a> {
    /// The token this client sends (the `*-self` endpoints).
    Current,
    /// A token given by value (sent in the body, never in the URL).
    Token(&'a str),
    /// A token named by its accessor.
    Accessor(&'a str),
}

/// `auth/token/create` body; unset fields take the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TokenCreateRequest {
    /// Policies (default: the parent's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Metadata, written to the audit log when the token is used.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    /// Initial TTL in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// Hard lifetime limit in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explicit_max_ttl: Option<u64>,
    /// Renewal period in seconds (a periodic token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    /// Whether the token may be renewed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewable: Option<bool>,
    /// Create the token without a parent (an orphan).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_parent: bool,
    /// Do not attach the `default` policy.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_default_policy: bool,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Number of uses (0: unlimited).
    #[serde(skip_serializing_if = "is_zero")]
    pub num_uses: u64,
}

/// serde's `skip_serializing_if` hands over a reference.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Client {
    /// Creates a token: `auth/token/create/:role` with a role, else `create-orphan` when
    /// `no_parent` is set, else `create` (the endpoints vault's CLI picks).
    pub async fn create_token(
        &self,
        request: &TokenCreateRequest,
        role: Option<&str>,
    ) -> Result<Secret> {
        let path = match role {
            Some(role) => format!("auth/token/create/{}", role.trim_matches('/')),
            None if request.no_parent => "auth/token/create-orphan".to_owned(),
            None => "auth/token/create".to_owned(),
        };
        let body = serde_json::to_value(request).map_err(|e| Error::Request {
            method: Method::Put.as_str().to_owned(),
            url: self.url(&path),
            detail: e.to_string(),
        })?;
        let secret = self.write(&path, &body).await?;
        self.expect_body(Method::Put, &path, secret)
    }

    /// Looks a token up: `lookup-self`, `lookup` or `lookup-accessor`.
    pub async fn lookup_token(&self, target: TokenTarget<'_>) -> Result<Secret> {
        let path = target_path(target, Verb::Lookup);
        // vault's client reads lookup-self with GET and posts the others.
        let (method, secret) = match target {
            TokenTarget::Current => (Method::Get, self.read(path).await?),
            TokenTarget::Token(_) | TokenTarget::Accessor(_) => {
                (Method::Put, self.write(path, &target_body(target)).await?)
            }
        };
        self.expect_body(method, path, secret)
    }

    /// Renews a token (`renew-self`, `renew`, `renew-accessor`); `increment` in seconds, the
    /// server's default when `None`.
    pub async fn renew_token(
        &self,
        target: TokenTarget<'_>,
        increment: Option<u64>,
    ) -> Result<Secret> {
        let path = target_path(target, Verb::Renew);
        let mut body = target_body(target);
        if let (Some(increment), Value::Object(map)) = (increment, &mut body) {
            map.insert("increment".to_owned(), Value::from(increment));
        }
        let secret = self.write(path, &body).await?;
        self.expect_body(Method::Put, path, secret)
    }

    /// Revokes a token and its children (`revoke-self`, `revoke`, `revoke-accessor`).
    pub async fn revoke_token(&self, target: TokenTarget<'_>) -> Result<()> {
        self.write(target_path(target, Verb::Revoke), &target_body(target))
            .await
            .map(|_| ())
    }

    /// Revokes a token but not its children, which become orphans (`revoke-orphan`).
    pub async fn revoke_token_orphan(&self, token: &str) -> Result<()> {
        let target = TokenTarget::Token(token);
        self.write("auth/token/revoke-orphan", &target_body(target))
            .await
            .map(|_| ())
    }

    /// A token's capabilities on `path` (`sys/capabilities-self`, `sys/capabilities`,
    /// `sys/capabilities-accessor`), as the server lists them (`["deny"]` for none); empty
    /// when the answer lists nothing for the path.
    pub async fn token_capabilities(
        &self,
        target: TokenTarget<'_>,
        path: &str,
    ) -> Result<Vec<String>> {
        let api_path = match target {
            TokenTarget::Current => "sys/capabilities-self",
            TokenTarget::Token(_) => "sys/capabilities",
            TokenTarget::Accessor(_) => "sys/capabilities-accessor",
        };
        let mut body = target_body(target);
        if let Value::Object(map) = &mut body {
            map.insert("paths".to_owned(), Value::from(vec![path]));
        }
        let secret = self.write(api_path, &body).await?;
        let secret = self.expect_body(Method::Put, api_path, secret)?;
        Ok(secret
            .data_field(path)
            .or_else(|| secret.data_field("capabilities"))
            .and_then(Value::as_array)
            .map(|caps| {
                caps.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The response of a call that always answers with a body.
    fn expect_body(&self, method: Method, path: &str, secret: Option<Secret>) -> Result<Secret> {
        secret.ok_or_else(|| Error::Decode {
            method: method.as_str().to_owned(),
            url: self.url(path),
            reason: "empty response body".to_owned(),
        })
    }
}

/// What is done to a token; each has a `-self`, a plain and an `-accessor` endpoint.
#[derive(Debug, Clone, Copy)]
enum Verb {
    Lookup,
    Renew,
    Revoke,
}

/// `auth/token/<verb>-self`, `<verb>` or `<verb>-accessor`.
fn target_path(target: TokenTarget<'_>, verb: Verb) -> &'static str {
    match (verb, target) {
        (Verb::Lookup, TokenTarget::Current) => "auth/token/lookup-self",
        (Verb::Lookup, TokenTarget::Token(_)) => "auth/token/lookup",
        (Verb::Lookup, TokenTarget::Accessor(_)) => "auth/token/lookup-accessor",
        (Verb::Renew, TokenTarget::Current) => "auth/token/renew-self",
        (Verb::Renew, TokenTarget::Token(_)) => "auth/token/renew",
        (Verb::Renew, TokenTarget::Accessor(_)) => "auth/token/renew-accessor",
        (Verb::Revoke, TokenTarget::Current) => "auth/token/revoke-self",
        (Verb::Revoke, TokenTarget::Token(_)) => "auth/token/revoke",
        (Verb::Revoke, TokenTarget::Accessor(_)) => "auth/token/revoke-accessor",
    }
}

/// `{"token": ...}`, `{"accessor": ...}`, or `{}` for the current token.
fn target_body(target: TokenTarget<'_>) -> Value {
    let mut body = Map::new();
    match target {
        TokenTarget::Current => {}
        TokenTarget::Token(token) => {
            body.insert("token".to_owned(), Value::from(token));
        }
        TokenTarget::Accessor(accessor) => {
            body.insert("accessor".to_owned(), Value::from(accessor));
        }
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn create_request_sends_only_what_was_set() {
        let request = TokenCreateRequest {
            policies: vec!["ops".into()],
            ttl: Some(3600),
            renewable: Some(true),
            ..TokenCreateRequest::default()
        };
        assert_eq!(
            serde_json::to_value(&request).expect("serialize"),
            json!({"policies": ["ops"], "ttl": 3600, "renewable": true})
        );
    }

    #[test]
    fn targets_pick_the_self_plain_or_accessor_endpoint() {
        assert_eq!(
            target_path(TokenTarget::Current, Verb::Renew),
            "auth/token/renew-self"
        );
        assert_eq!(
            target_path(TokenTarget::Token("t"), Verb::Lookup),
            "auth/token/lookup"
        );
        assert_eq!(
            target_path(TokenTarget::Accessor("a"), Verb::Revoke),
            "auth/token/revoke-accessor"
        );
        assert_eq!(target_body(TokenTarget::Current), json!({}));
        assert_eq!(
            target_body(TokenTarget::Accessor("a")),
            json!({"accessor": "a"})
        );
    }
}
