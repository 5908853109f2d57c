//! The response-wrapping signing key: an ECDSA P-521 key that signs every
//! wrapping token as a JWT (ES512, as Vault's are), so a wrapping token can
//! be told from a forged or garbled one before any storage lookup.
//! (`sys/wrapping/pubkey`, which would publish the public half, is not built.)
//!
//! The key is drawn from the core's CSP `Entropy` handle — augmented with
//! the HSM's randomness under `entropy "seal"` — on the first unseal, and
//! stored in the barrier at `core/wrapping/jwtkey`, seal-wrapped with an HSM
//! seal. It is loaded at unseal and forgotten at seal.
//!
//! A wrapping JWT carries the wrapping token itself in `jti`; the signature
//! proves origin, the token store still decides validity (TTL, single use).

use crate::error::{CoreError, CoreResult};
use crate::storage::view::View;
use crate::ttl::Ttl;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    ECDSA_P521_SHA512_FIXED, ECDSA_P521_SHA512_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_crypto::{Entropy, ec_key};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};
use zeroize::Zeroizing;

/// Where the key lives in the barrier.
pub(crate) const WRAPPING_KEY_PREFIX: &str = "core/wrapping/";
const KEY_NAME: &str = "jwtkey";
/// Records under [`WRAPPING_KEY_PREFIX`] that are seal-wrapped with an HSM
/// seal: the signing key.
pub(crate) const WRAPPING_SEAL_WRAPPED: &[&str] = &[KEY_NAME];

/// The P-521 group order `n`, big-endian (SEC 2 §2.6.1).
const P521_ORDER: [u8; 66] = [
    0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xfa, 0x51, 0x86, 0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b, 0x7f, 0xcc, 0x01, 0x48, 0xf7, 0x09,
    0xa5, 0xd0, 0x3b, 0xb5, 0xc9, 0xb8, 0x89, 0x9c, 0x47, 0xae, 0xbb, 0x6f, 0xb7, 0x1e, 0x91, 0x38,
    0x64, 0x09,
];
/// OID 1.3.132.0.35 (secp521r1), contents only.
const P521_OID: [u8; 5] = [0x2b, 0x81, 0x04, 0x00, 0x23];
/// The JOSE header of every wrapping JWT, base64url-encoded once.
const JOSE_HEADER: &str = r#"{"alg":"ES512","typ":"JWT"}"#;
/// The `type` claim of a wrapping JWT.
const WRAPPING_TYPE: &str = "wrapping";

/// The claims of a wrapping JWT. `Debug` never shows the token.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct WrappingClaims {
    /// The accessor of the token inside the wrapped response, when it holds
    /// one (a login or token creation); empty otherwise (Vault's claim).
    pub accessor: String,
    /// The server's API address, when configured (empty otherwise).
    pub addr: String,
    /// Expiry, unix seconds.
    pub exp: u64,
    /// Issue time, unix seconds.
    pub iat: u64,
    /// The wrapping token itself.
    pub jti: Zeroizing<String>,
    /// Not valid before, unix seconds: five seconds before issue, for
    /// clients whose clocks lag (as Vault sets it).
    pub nbf: u64,
    /// Always `wrapping`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl std::fmt::Debug for WrappingClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappingClaims")
            .field("accessor", &self.accessor)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

impl WrappingClaims {
    /// Claims for a wrapping token issued at `now` for `ttl`;
    /// `wrapped_accessor` is the accessor of a token inside, if any.
    pub(crate) fn new(
        token: Zeroizing<String>,
        wrapped_accessor: &str,
        now: u64,
        ttl: Ttl,
    ) -> Self {
        Self {
            accessor: wrapped_accessor.to_owned(),
            addr: String::new(),
            exp: now.saturating_add(ttl.as_secs()),
            iat: now,
            jti: token,
            nbf: now.saturating_sub(5),
            kind: WRAPPING_TYPE.to_owned(),
        }
    }
}

/// The signing key while unsealed.
pub(crate) struct WrappingKey {
    view: View,
    signer: RwLock<Option<Arc<Signer>>>,
}

impl WrappingKey {
    /// A key store over `view` (the barrier at [`WRAPPING_KEY_PREFIX`]).
    pub(crate) fn new(view: View) -> Self {
        Self {
            view,
            signer: RwLock::new(None),
        }
    }

    /// Loads the key, generating and storing it from `entropy` on first use.
    /// Called after unseal.
    pub(crate) async fn load(&self, entropy: &dyn Entropy) -> CoreResult<()> {
        let der = match self.view.get(KEY_NAME).await? {
            Some(der) => der,
            None => {
                let fresh = generate(entropy)?;
                self.view.put(KEY_NAME, &fresh).await?;
                fresh
            }
        };
        let signer = Signer::from_der(&der)?;
        *self
            .signer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(signer));
        Ok(())
    }

    /// Forgets the key (on seal).
    pub(crate) fn clear(&self) {
        *self
            .signer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The loaded key; `Sealed` when there is none.
    pub(crate) fn signer(&self) -> CoreResult<Arc<Signer>> {
        self.signer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or(CoreError::Sealed)
    }
}

/// A loaded P-521 key. No `Debug`, no `Clone`.
pub(crate) struct Signer {
    pair: EcdsaKeyPair,
}

impl Signer {
    /// Loads a stored RFC 5915 key.
    fn from_der(der: &[u8]) -> CoreResult<Self> {
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P521_SHA512_FIXED_SIGNING, der)
            .map_err(|e| {
                CoreError::Internal(format!(
                    "the stored response-wrapping signing key is unusable: {e}"
                ))
            })?;
        Ok(Self { pair })
    }

    /// Signs `claims` as a compact JWS (ES512). The result is secret: it
    /// carries the wrapping token.
    pub(crate) fn sign(&self, claims: &WrappingClaims) -> CoreResult<Zeroizing<String>> {
        let payload = Zeroizing::new(
            serde_json::to_vec(claims)
                .map_err(|e| CoreError::Internal(format!("encoding wrapping claims: {e}")))?,
        );
        let mut jwt = Zeroizing::new(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(JOSE_HEADER),
            URL_SAFE_NO_PAD.encode(payload.as_slice())
        ));
        // aws-lc-rs ignores this rng: AWS-LC draws the nonce from its own
        // DRBG, not from our `Entropy` (ADR 0009).
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = self.pair.sign(&rng, jwt.as_bytes()).map_err(|_| {
            CoreError::Internal("signing a response-wrapping token failed".to_owned())
        })?;
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(sig.as_ref()));
        Ok(jwt)
    }

    /// The claims of a wrapping JWT signed by this key; `None` for anything
    /// else (another key, a changed byte, another header, not a wrapping
    /// token), without saying which.
    pub(crate) fn verify(&self, jwt: &str) -> Option<WrappingClaims> {
        let (signed, sig) = jwt.rsplit_once('.')?;
        let (header, payload) = signed.split_once('.')?;
        if header != URL_SAFE_NO_PAD.encode(JOSE_HEADER) {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        UnparsedPublicKey::new(&ECDSA_P521_SHA512_FIXED, self.pair.public_key().as_ref())
            .verify(signed.as_bytes(), &sig)
            .ok()?;
        let payload = Zeroizing::new(URL_SAFE_NO_PAD.decode(payload).ok()?);
        let claims: WrappingClaims = serde_json::from_slice(&payload).ok()?;
        (claims.kind == WRAPPING_TYPE).then_some(claims)
    }
}

/// Whether a presented token has the shape of a JWT (three dot-separated
/// parts); service tokens never contain a dot.
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// A new P-521 private key from `entropy`, as RFC 5915 DER with its public
/// key (the stored form).
fn generate(entropy: &dyn Entropy) -> CoreResult<Zeroizing<Vec<u8>>> {
    let scalar = ec_key::random_scalar(entropy, &P521_ORDER)?;
    let minimal = ec_key::ec_private_key_der(&scalar, &P521_OID);
    let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P521_SHA512_FIXED_SIGNING, &minimal)
        .map_err(|e| CoreError::Internal(format!("building the wrapping key: {e}")))?;
    let der = pair
        .private_key()
        .as_der()
        .map_err(|_| CoreError::Internal("encoding the wrapping key".to_owned()))?;
    Ok(Zeroizing::new(der.as_ref().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_crypto::OsEntropy;

    fn signer() -> Signer {
        Signer::from_der(&generate(&OsEntropy::new()).expect("generate")).expect("load")
    }

    fn claims() -> WrappingClaims {
        WrappingClaims::new(
            Zeroizing::new("hvs.inner".to_owned()),
            "acc",
            100,
            Ttl::from_secs(60),
        )
    }

    #[test]
    fn signed_tokens_verify_and_carry_their_claims() {
        let key = signer();
        let jwt = key.sign(&claims()).expect("sign");
        assert!(looks_like_jwt(&jwt));
        let back = key.verify(&jwt).expect("verifies");
        assert_eq!(back.jti.as_str(), "hvs.inner");
        assert_eq!((back.iat, back.exp, back.nbf), (100, 160, 95));
        assert_eq!(back.kind, "wrapping");
        assert!(!format!("{back:?}").contains("hvs.inner"));
    }

    #[test]
    fn a_changed_byte_or_another_key_fails_verification() {
        let key = signer();
        let jwt = key.sign(&claims()).expect("sign");
        let (signed, sig) = jwt.rsplit_once('.').expect("three parts");
        let (header, _) = signed.split_once('.').expect("parts");
        let forged_claims = URL_SAFE_NO_PAD.encode(
            br#"{"accessor":"acc","addr":"","exp":9999999999,"iat":1,"jti":"hvs.other","nbf":1,"type":"wrapping"}"#,
        );
        assert!(
            key.verify(&format!("{header}.{forged_claims}.{sig}"))
                .is_none()
        );
        let mut flipped = jwt.as_bytes().to_vec();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert!(
            key.verify(&String::from_utf8(flipped).expect("ascii"))
                .is_none()
        );
        assert!(signer().verify(&jwt).is_none());
        assert!(key.verify("hvs.plain").is_none());
        assert!(key.verify("a.b.c").is_none());
    }

    #[test]
    fn a_stored_key_loads_back_to_the_same_public_key() {
        let der = generate(&OsEntropy::new()).expect("generate");
        let a = Signer::from_der(&der).expect("load");
        let b = Signer::from_der(&der).expect("load");
        assert_eq!(a.pair.public_key().as_ref(), b.pair.public_key().as_ref());
        let jwt = a.sign(&claims()).expect("sign");
        assert!(b.verify(&jwt).is_some());
        assert!(Signer::from_der(b"not a key").is_err());
    }
}
