//! A token as a client presented it (the `X-Vault-Token` header, or a
//! `token` field of a body), read once where it enters: a response-wrapping
//! JWT is verified here and replaced by the token it carries, so resolving,
//! auditing and the wrapping endpoints all work on the same plain token and
//! no later step asks "is this a JWT?" again.

use crate::error::CoreResult;
use crate::node::Core;
use crate::token::ResolvedToken;
use crate::wrapping::key::looks_like_jwt;
use zeroize::Zeroizing;

/// The plain token a client presented; for a wrapping JWT, the token inside
/// it. A secret: no `Clone`, `Debug` prints `[redacted]`.
pub struct PresentedToken {
    token: Zeroizing<String>,
    wrapping_jwt: bool,
}

impl std::fmt::Debug for PresentedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedToken")
            .field("token", &"[redacted]")
            .field("wrapping_jwt", &self.wrapping_jwt)
            .finish()
    }
}

impl PresentedToken {
    /// The plain token (the one inside a wrapping JWT).
    pub(crate) fn as_str(&self) -> &str {
        &self.token
    }

    /// Whether the client presented a wrapping JWT.
    pub(crate) fn was_wrapping_jwt(&self) -> bool {
        self.wrapping_jwt
    }
}

/// A request's token after the token check: what the client presented and
/// the stored token it resolved to. Handed from
/// [`Core::authenticate_request`] to [`Core::handle_as`], so the token is
/// read once even when the body is read in between.
#[derive(Debug)]
pub struct Authenticated {
    pub(crate) presented: PresentedToken,
    /// The stored token.
    pub resolved: ResolvedToken,
}

impl Core {
    /// Reads a presented token. `Ok(None)` for an empty one and for a JWT
    /// this node did not sign (forged, altered, another cluster's), which
    /// is then unknown like any other unknown token; `Sealed` when a JWT
    /// comes in while no signing key is loaded.
    pub(crate) fn present(&self, raw: &str) -> CoreResult<Option<PresentedToken>> {
        if raw.is_empty() {
            return Ok(None);
        }
        if !looks_like_jwt(raw) {
            return Ok(Some(PresentedToken {
                token: Zeroizing::new(raw.to_owned()),
                wrapping_jwt: false,
            }));
        }
        Ok(self
            .wrapping_key
            .signer()?
            .verify(raw)
            .map(|claims| PresentedToken {
                token: claims.jti,
                wrapping_jwt: true,
            }))
    }

    /// The token to audit for what a client presented: the token inside a
    /// verified wrapping JWT (as Vault audits it, so `sys/audit-hash` of
    /// the wrap's token finds its use), else what was presented.
    pub(crate) fn audited_form(&self, raw: &str) -> Zeroizing<String> {
        match self.present(raw) {
            Ok(Some(p)) if p.was_wrapping_jwt() => p.token,
            _ => Zeroizing::new(raw.to_owned()),
        }
    }
}
