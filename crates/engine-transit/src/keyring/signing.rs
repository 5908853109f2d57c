//! Signatures and HMACs with a key ring: ECDSA, Ed25519 and RSA signatures
//! in Vault's `vault:vN:` form (base64, or base64url for `jws`), and HMACs
//! with the version's HMAC key.

use super::{ERR_TOO_OLD, KeyRing, Material, b64};
use crate::ciphertext::{self, Kind};
use crate::crypto::ed25519::{self, Ed25519Key};
use crate::crypto::hash::HashAlgorithm;
use crate::crypto::rsa::{self, Input, Padding};
use crate::crypto::{der, ecdsa};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use coffer_core::{CoreError, CoreResult};
use subtle::ConstantTimeEq;

/// How to sign or verify.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignParams {
    /// Hash of RSA and ECDSA signatures (ignored by Ed25519).
    pub(crate) hash: HashAlgorithm,
    /// The input already is the hash.
    pub(crate) prehashed: bool,
    /// RSA padding.
    pub(crate) padding: Padding,
    /// `marshaling_algorithm=jws`: ECDSA as `r || s`, base64url encoding.
    pub(crate) jws: bool,
}

/// A signature and what made it.
#[derive(Debug)]
pub(crate) struct Signed {
    /// `vault:vN:<signature>`.
    pub(crate) signature: String,
    /// N.
    pub(crate) version: u64,
    /// For derived Ed25519 keys: the per-context public key (base64).
    pub(crate) public_key: Option<String>,
}

impl KeyRing {
    /// Signs `input` with version `version` (0: latest).
    pub(crate) fn sign(
        &self,
        version: u64,
        context: &[u8],
        input: &[u8],
        p: SignParams,
    ) -> CoreResult<Signed> {
        let kt = self.config.key_type;
        if !kt.supports_signing() {
            return Err(CoreError::invalid(format!(
                "key type {kt} does not support signing"
            )));
        }
        let (n, v) = self.version_for_use(version, "signing")?;
        let mut public_key = None;
        let raw = match &v.material {
            Material::Ecdsa(curve, key) => {
                let hash = signature_hash(p, input);
                let sig = key.sign_hash(&hash)?;
                if p.jws {
                    der::ecdsa_asn1_to_fixed(&sig, curve.scalar_len()).ok_or_else(|| {
                        CoreError::Internal("malformed ECDSA signature".to_owned())
                    })?
                } else {
                    sig
                }
            }
            Material::Ed25519(prepared) => {
                if p.prehashed {
                    return Err(CoreError::NotSupported(
                        "prehashed input for ed25519 keys (Ed25519ph)".to_owned(),
                    ));
                }
                match (prepared, self.derivation_context(context)?) {
                    (Some(key), _) => key.sign(input),
                    (None, Some(ctx)) => {
                        let key = Ed25519Key::derive(v.stored.key.expose(), ctx)?;
                        public_key = Some(b64(&key.public_key()));
                        key.sign(input)
                    }
                    (None, None) => {
                        return Err(CoreError::Internal(
                            "derived key without context".to_owned(),
                        ));
                    }
                }
            }
            Material::Rsa(key) => key.sign(p.padding, p.hash, rsa_input(p, input))?,
            _ => {
                return Err(CoreError::invalid(format!(
                    "key type {kt} does not support signing"
                )));
            }
        };
        let encoded = if p.jws {
            URL_SAFE_NO_PAD.encode(raw)
        } else {
            STANDARD.encode(raw)
        };
        Ok(Signed {
            signature: ciphertext::format(n, &encoded),
            version: n,
            public_key,
        })
    }

    /// Whether `signature` (`vault:vN:...`) is valid for `input`.
    pub(crate) fn verify(
        &self,
        context: &[u8],
        input: &[u8],
        signature: &str,
        p: SignParams,
    ) -> CoreResult<bool> {
        let kt = self.config.key_type;
        if !kt.supports_signing() {
            return Err(CoreError::invalid(format!(
                "key type {kt} does not support verification"
            )));
        }
        let (n, body) = ciphertext::parse(Kind::Signature, signature)?;
        let v = self.version_for_reading(n, "signature")?;
        let decoded = if p.jws {
            URL_SAFE_NO_PAD.decode(body)
        } else {
            STANDARD.decode(body)
        };
        let sig = decoded.map_err(|_| CoreError::invalid("invalid base64 signature value"))?;
        match &v.material {
            Material::Ecdsa(curve, key) => {
                let hash = signature_hash(p, input);
                let asn1 = if p.jws {
                    // r || s of exactly the curve's scalar size each: other
                    // lengths would make signatures malleable.
                    if sig.len() != 2 * curve.scalar_len() {
                        return Ok(false);
                    }
                    match der::ecdsa_fixed_to_asn1(&sig) {
                        Some(d) => d,
                        None => return Ok(false),
                    }
                } else {
                    sig
                };
                Ok(ecdsa::verify_hash(
                    *curve,
                    &key.public_point(),
                    &hash,
                    &asn1,
                ))
            }
            Material::Ed25519(prepared) => {
                if p.prehashed {
                    return Err(CoreError::NotSupported(
                        "prehashed input for ed25519 keys (Ed25519ph)".to_owned(),
                    ));
                }
                let public = match (prepared, self.derivation_context(context)?) {
                    (Some(key), _) => key.public_key(),
                    (None, Some(ctx)) => {
                        Ed25519Key::derive(v.stored.key.expose(), ctx)?.public_key()
                    }
                    (None, None) => {
                        return Err(CoreError::Internal(
                            "derived key without context".to_owned(),
                        ));
                    }
                };
                Ok(ed25519::verify(&public, input, &sig))
            }
            Material::Rsa(key) => rsa::verify(
                &key.public_der(),
                p.padding,
                p.hash,
                rsa_input(p, input),
                &sig,
            ),
            _ => Err(CoreError::invalid(format!(
                "key type {kt} does not support verification"
            ))),
        }
    }

    /// HMAC of `input` with version `version` (0: latest).
    pub(crate) fn hmac(
        &self,
        version: u64,
        alg: HashAlgorithm,
        input: &[u8],
    ) -> CoreResult<(String, u64)> {
        let c = &self.config;
        let n = if version == 0 {
            c.latest_version
        } else {
            version
        };
        if n > c.latest_version {
            return Err(CoreError::invalid(format!(
                "key version does not exist; latest key version is {}",
                c.latest_version
            )));
        }
        if c.min_encryption_version > 0 && n < c.min_encryption_version {
            return Err(CoreError::invalid(
                "cannot generate HMAC: version is too old (disallowed by policy)",
            ));
        }
        let v = self
            .versions
            .get(&n)
            .ok_or_else(|| CoreError::invalid("no such key version"))?;
        let tag = alg.hmac(v.hmac_key(), input);
        Ok((ciphertext::encode(n, &tag), n))
    }

    /// Whether `hmac` (`vault:vN:...`) is the HMAC of `input`; compared in
    /// constant time.
    pub(crate) fn verify_hmac(
        &self,
        alg: HashAlgorithm,
        input: &[u8],
        hmac: &str,
    ) -> CoreResult<bool> {
        let (n, body) = ciphertext::parse(Kind::Hmac, hmac)?;
        let given = STANDARD.decode(body).map_err(|e| {
            CoreError::invalid(format!("unable to decode verification HMAC as base64: {e}"))
        })?;
        if n > self.config.latest_version {
            return Err(CoreError::invalid("invalid HMAC: version is too new"));
        }
        if n < self.config.min_decryption_version {
            return Err(CoreError::invalid(
                "cannot verify HMAC: version is too old (disallowed by policy)",
            ));
        }
        let v = self
            .versions
            .get(&n)
            .ok_or_else(|| CoreError::invalid(ERR_TOO_OLD))?;
        let tag = alg.hmac(v.hmac_key(), input);
        Ok(tag.as_slice().ct_eq(given.as_slice()).into())
    }
}

fn signature_hash(p: SignParams, input: &[u8]) -> Vec<u8> {
    if p.prehashed {
        input.to_vec()
    } else {
        p.hash.digest(input)
    }
}

fn rsa_input(p: SignParams, input: &[u8]) -> Input<'_> {
    if p.prehashed {
        Input::Prehashed(input)
    } else {
        Input::Message(input)
    }
}
