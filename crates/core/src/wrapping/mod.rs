//! Response wrapping: `X-Vault-Wrap-TTL` on any request, and
//! `sys/wrapping/wrap|unwrap|lookup|rewrap`.
//!
//! A wrapped response is stored, as the envelope the client would have
//! received, at `cubbyhole/response` of a fresh single-use token (policy
//! `response-wrapping`, no parent, TTL = the wrap TTL, `path` = the request
//! path that produced it). The client gets only `wrap_info`: that token as a
//! JWT signed with the wrapping key (`key`), its accessor, TTL,
//! creation time and path. Unwrapping takes the token's one use before the
//! response is read, so of two concurrent unwraps exactly one gets it, and
//! revoking the token empties its cubbyhole.

pub(crate) mod key;

use crate::engine::envelope as response_envelope;
use crate::engine::{Request, Response, WrapInfo};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::policy::RESPONSE_WRAPPING_POLICY;
use crate::request::authorize::Caller;
use crate::storage::view::View;
use crate::token::random_base62;
use crate::token::{ACCESSOR_LEN, ResolvedToken, TokenEntry, TokenUse, generate_token};
use crate::ttl::Ttl;
use crate::wrapping::key::WrappingClaims;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};
use zeroize::Zeroizing;

/// The cubbyhole key holding a wrapped response (Vault's).
const RESPONSE_KEY: &str = "response";
/// The one answer for a wrapping token that is unknown, spent, expired,
/// forged or not a wrapping token: the caller learns nothing more.
pub(crate) const INVALID_WRAPPING_TOKEN: &str = "wrapping token is not valid or does not exist";

/// Whether `path` (as requested) is unwrap or rewrap, which answer an
/// invalid wrapping token in `X-Vault-Token` with a 400.
pub(crate) fn is_wrapping_token_path(path: &str) -> bool {
    matches!(
        path.trim_matches('/'),
        "sys/wrapping/unwrap" | "sys/wrapping/rewrap"
    )
}

/// The `token` field of unwrap, lookup and rewrap.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenInput {
    #[serde(default)]
    token: Option<Zeroizing<String>>,
}

impl Core {
    /// The response a client gets for `result`, the outcome of a request
    /// for `path` with `wrap_ttl` (errors pass through): wrapped when asked
    /// and there is something to wrap (a 204 stays a 204, a response already
    /// wrapped by rewrap stays as it is). Answers with a status of their own (a transit batch with
    /// failed items, a KV v2 read of a deleted version) are wrapped too, as
    /// Vault wraps every non-error response: their bodies hold data. The
    /// unwrapped body then comes back with 200.
    pub(crate) async fn wrap_if_asked(
        &self,
        request_id: &str,
        path: &str,
        wrap_ttl: Option<Ttl>,
        result: CoreResult<Option<Response>>,
    ) -> CoreResult<Option<Response>> {
        match (wrap_ttl, result?) {
            (Some(ttl), Some(resp)) if resp.wrap_info.is_none() => {
                let warnings = resp.warnings.clone();
                let envelope = response_envelope::logical(request_id, path, resp.clone());
                let wrapped_accessor = resp.auth.map(|a| a.accessor).unwrap_or_default();
                let mut wrapped = self
                    .wrap_envelope(&envelope, ttl, path, wrapped_accessor)
                    .await?;
                wrapped.warnings = warnings;
                Ok(Some(wrapped))
            }
            (_, resp) => Ok(resp),
        }
    }

    /// Stores `envelope` behind a new wrapping token living `ttl`.
    async fn wrap_envelope(
        &self,
        envelope: &Value,
        ttl: Ttl,
        creation_path: &str,
        wrapped_accessor: String,
    ) -> CoreResult<Response> {
        if ttl.is_zero() {
            return Err(CoreError::invalid(
                "the wrap TTL must be at least one second",
            ));
        }
        let signer = self.wrapping_key.signer()?;
        let now = self.tokens.now();
        let entry = TokenEntry {
            accessor: random_base62(self.entropy.as_ref(), ACCESSOR_LEN)?.to_string(),
            policies: vec![RESPONSE_WRAPPING_POLICY.to_owned()],
            creation_time: now,
            path: creation_path.to_owned(),
            ttl,
            explicit_max_ttl: ttl,
            num_uses: 1,
            expire_time: Some(now.saturating_add(ttl.as_secs())),
            ..TokenEntry::default()
        };
        let token = generate_token(self.entropy.as_ref())?;
        let stored = self.tokens.insert(&token, entry).await?;
        let body = Zeroizing::new(
            serde_json::to_string(envelope)
                .map_err(|e| CoreError::Internal(format!("encoding the response to wrap: {e}")))?,
        );
        let saved = async {
            self.cubbyhole_of(&stored.id)?
                .put_json(RESPONSE_KEY, &json!({ RESPONSE_KEY: body.as_str() }))
                .await
        }
        .await;
        if let Err(e) = saved {
            if let Err(revoke) = self.revoke_tree(&stored.id).await {
                tracing::error!(error = %revoke, "revoking a wrapping token whose response could not be stored failed");
            }
            return Err(e);
        }
        let claims = WrappingClaims::new(token.clone(), &wrapped_accessor, now, ttl);
        let jwt = signer.sign(&claims)?;
        tracing::debug!(accessor = %stored.entry.accessor, ttl = ttl.as_secs(), "response wrapped");
        Ok(Response {
            wrap_info: Some(WrapInfo {
                token: jwt,
                inner_token: token,
                accessor: stored.entry.accessor.clone(),
                ttl,
                creation_time: now,
                creation_path: creation_path.to_owned(),
                wrapped_accessor,
            }),
            ..Response::default()
        })
    }

    /// The `cubbyhole/` storage of one token.
    fn cubbyhole_of(&self, token_id: &str) -> CoreResult<View> {
        let cubbyhole = self
            .cubbyhole_views()
            .into_iter()
            .next()
            .ok_or_else(|| CoreError::Internal("no cubbyhole mount to wrap into".to_owned()))?;
        Ok(cubbyhole.sub(&format!("{token_id}/")))
    }

    /// In the body of a `sys/wrapping/*` request (canonical `path`), a
    /// verified wrapping JWT in `token` is replaced by the token inside, so
    /// the audit log hashes the same value the wrap's entry did (Vault does
    /// the same). Handlers take either form.
    pub(crate) fn plain_wrapping_token_field(&self, path: &str, req: &mut Request) {
        if !path.starts_with("sys/wrapping/") {
            return;
        }
        let plain = match req.data.get("token") {
            Some(Value::String(t)) => self.audited_form(t),
            _ => return,
        };
        if let Value::Object(body) = &mut req.data {
            body.insert("token".to_owned(), Value::String(plain.to_string()));
        }
    }

    /// `sys/wrapping/wrap`: the body is the response, wrapped by the common
    /// step once this returns.
    pub(crate) fn wrapping_wrap(&self, req: &Request) -> CoreResult<Option<Response>> {
        if req.wrap_ttl.is_none() {
            return Err(CoreError::invalid(
                "sys/wrapping/wrap needs a wrap TTL: send the X-Vault-Wrap-TTL header \
                 (the CLI's -wrap-ttl flag)",
            ));
        }
        match &req.data {
            Value::Object(m) if !m.is_empty() => Ok(Some(Response::data(req.data.clone()))),
            _ => Err(CoreError::invalid(
                "no data to wrap: the request body is empty",
            )),
        }
    }

    /// `sys/wrapping/unwrap`: the wrapped response, once. The wrapping token
    /// is the `token` field, or else the caller's own token.
    pub(crate) async fn wrapping_unwrap(
        &self,
        req: &Request,
        caller: &Caller<'_>,
    ) -> CoreResult<Option<Response>> {
        let (target, revoke_now) = self.spend_wrapping_token(req, caller).await?;
        let envelope = self.take_wrapped(&target, revoke_now).await?;
        response_envelope::from_logical(&envelope).map(Some)
    }

    /// `sys/wrapping/rewrap`: the same response behind a new wrapping token
    /// with the old one's TTL and creation path; the old token is spent.
    pub(crate) async fn wrapping_rewrap(
        &self,
        req: &Request,
        caller: &Caller<'_>,
    ) -> CoreResult<Option<Response>> {
        let (target, revoke_now) = self.spend_wrapping_token(req, caller).await?;
        let envelope = self.take_wrapped(&target, revoke_now).await?;
        let wrapped_accessor = envelope
            .pointer("/auth/accessor")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.wrap_envelope(
            &envelope,
            target.entry.ttl,
            &target.entry.path,
            wrapped_accessor,
        )
        .await
        .map(Some)
    }

    /// `sys/wrapping/lookup`: what a wrapping token holds, without spending
    /// it. Served without a token, as Vault serves it: the wrapping token is
    /// `token`, or else the request's own token.
    pub(crate) async fn wrapping_lookup(
        &self,
        req: &Request,
        request_token: Option<&str>,
    ) -> CoreResult<Option<Response>> {
        let input: TokenInput = req.parse()?;
        let presented = input
            .token
            .filter(|t| !t.is_empty())
            .or_else(|| {
                request_token
                    .filter(|t| !t.is_empty())
                    .map(|t| Zeroizing::new(t.to_owned()))
            })
            .ok_or_else(|| {
                CoreError::invalid(
                    "missing the wrapping token: set `token` or send it as the token",
                )
            })?;
        let target = self.resolve_wrapping_token(&presented).await?;
        let e = &target.entry;
        let created = humantime::format_rfc3339(UNIX_EPOCH + Duration::from_secs(e.creation_time));
        Ok(Some(Response::data(json!({
            "creation_path": e.path,
            "creation_time": created.to_string(),
            "creation_ttl": e.ttl,
        }))))
    }

    /// Resolves the wrapping token of an unwrap or rewrap and takes its one
    /// use. Returns it and whether this handler must revoke it (a token from
    /// the body) or the request's own last use will (the caller's token).
    async fn spend_wrapping_token(
        &self,
        req: &Request,
        caller: &Caller<'_>,
    ) -> CoreResult<(ResolvedToken, bool)> {
        let input: TokenInput = req.parse()?;
        match input.token.filter(|t| !t.is_empty()) {
            Some(presented) => {
                let target = self.resolve_wrapping_token(&presented).await?;
                let (used, target) = self
                    .tokens
                    .use_once(&target)
                    .await
                    .map_err(|_| CoreError::invalid(INVALID_WRAPPING_TOKEN))?;
                if used != TokenUse::Last {
                    return Err(CoreError::invalid(INVALID_WRAPPING_TOKEN));
                }
                Ok((target, true))
            }
            None => {
                if !is_wrapping(&caller.token.entry) {
                    return Err(CoreError::invalid(
                        "the request's token is not a wrapping token: pass the wrapping token \
                         in `token` or as the request's token",
                    ));
                }
                Ok((caller.token.clone(), false))
            }
        }
    }

    /// A usable wrapping token, by its presented form (JWT or plain).
    async fn resolve_wrapping_token(&self, presented: &str) -> CoreResult<ResolvedToken> {
        match self.resolve_raw_token(presented).await? {
            Some(t) if is_wrapping(&t.entry) => Ok(t),
            _ => Err(CoreError::invalid(INVALID_WRAPPING_TOKEN)),
        }
    }

    /// Reads the wrapped response of a spent wrapping token; revokes the
    /// token (and with it the stored response) when `revoke_now`.
    async fn take_wrapped(&self, target: &ResolvedToken, revoke_now: bool) -> CoreResult<Value> {
        let stored = self
            .cubbyhole_of(&target.id)?
            .get_json::<serde_json::Map<String, Value>>(RESPONSE_KEY)
            .await;
        if revoke_now {
            self.revoke_spent(&target.id).await;
        }
        let text = stored?
            .and_then(|m| {
                m.get(RESPONSE_KEY)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .map(Zeroizing::new)
            .ok_or_else(|| CoreError::invalid("the wrapping token holds no wrapped response"))?;
        serde_json::from_str(&text).map_err(|e| {
            CoreError::Internal(format!("the wrapped response is not valid JSON: {e}"))
        })
    }
}

/// Whether a token is a wrapping token (exactly the `response-wrapping`
/// policy, which no other token can be given).
fn is_wrapping(e: &TokenEntry) -> bool {
    e.policies.len() == 1 && e.policies[0] == RESPONSE_WRAPPING_POLICY
}
