//! OpenPGP encryption to an operator's public key, for secrets the server
//! hands out once and must not show in the clear: a root token generated
//! with `pgp_key` (Vault's option). The operator decrypts with their own
//! tooling (`base64 -d | gpg -d`); the server never sees a private key.
//!
//! Keys arrive as Vault takes them: the binary (not armoured) public key,
//! base64-encoded. Messages go out binary, SEIPD v1 with AES-256, to the
//! newest subkey that the primary key has bound with a valid signature,
//! whose flags allow encryption, and that is neither expired nor revoked.
//! A subkey without a valid binding is ignored: otherwise anyone could
//! attach their own subkey to an operator's key (whose fingerprint the key
//! holders check) and receive the root token.

use crate::drbg::SeededExpander;
use crate::entropy::Entropy;
use crate::error::CryptoError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pgp::composed::{Deserializable, MessageBuilder, SignedPublicKey, SignedPublicSubKey};
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::packet::SignatureType;
use pgp::types::KeyDetails;
use std::time::SystemTime;

/// An operator's OpenPGP public key.
pub struct PgpRecipient {
    key: SignedPublicKey,
}

impl std::fmt::Debug for PgpRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgpRecipient")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl PgpRecipient {
    /// Parses a base64-encoded binary public key and checks it can receive
    /// an encrypted message (a trial encryption, randomised from `entropy`).
    pub fn from_base64(b64: &str, entropy: &dyn Entropy) -> Result<Self, CryptoError> {
        let bad = |why: String| CryptoError::Malformed(format!("pgp_key: {why}"));
        if b64.trim_start().starts_with("keybase:") {
            return Err(bad(
                "keybase: keys are not supported; give the base64-encoded binary public key \
                 (gpg --export KEYID | base64 -w0)"
                    .to_owned(),
            ));
        }
        let bytes = STANDARD.decode(b64.trim()).map_err(|e| {
            bad(format!(
                "not base64 ({e}); give the base64-encoded binary public key \
                 (gpg --export KEYID | base64 -w0)"
            ))
        })?;
        let key = SignedPublicKey::from_bytes(bytes.as_slice())
            .map_err(|e| bad(format!("not an OpenPGP public key: {e}")))?;
        let recipient = Self { key };
        if recipient.encryption_subkey().is_none() {
            return Err(bad(format!(
                "key {} has no usable encryption subkey (one bound by the primary key with a \
                 valid signature, flagged for encryption, not expired or revoked)",
                recipient.fingerprint()
            )));
        }
        // A key the library cannot encrypt to fails now, not after the quorum.
        recipient.encrypt(b"trial", entropy)?;
        Ok(recipient)
    }

    /// The primary key's fingerprint, lowercase hex (Vault's `pgp_fingerprint`).
    pub fn fingerprint(&self) -> String {
        hex::encode(self.key.fingerprint().as_bytes())
    }

    /// The newest subkey the primary key validly binds for encryption, not
    /// expired or revoked.
    fn encryption_subkey(&self) -> Option<&SignedPublicSubKey> {
        let now = SystemTime::now();
        self.key
            .public_subkeys
            .iter()
            .filter(|sk| sk.algorithm().can_encrypt())
            .filter(|sk| sk.verify_bindings(&self.key.primary_key).is_ok())
            .filter(|sk| {
                !sk.signatures
                    .iter()
                    .any(|sig| sig.typ() == Some(SignatureType::SubkeyRevocation))
            })
            .filter(|sk| {
                let Some(binding) = sk
                    .signatures
                    .iter()
                    .filter(|sig| sig.typ() == Some(SignatureType::SubkeyBinding))
                    .max_by_key(|sig| sig.created().map(SystemTime::from))
                else {
                    return false;
                };
                let flags = binding.key_flags();
                let expired = binding.key_expiration_time().is_some_and(|valid_for| {
                    valid_for.as_secs() > 0
                        && SystemTime::from(sk.created_at()) + std::time::Duration::from(valid_for)
                            <= now
                });
                (flags.encrypt_comms() || flags.encrypt_storage()) && !expired
            })
            .max_by_key(|sk| SystemTime::from(sk.created_at()))
    }

    /// `plaintext` as a binary OpenPGP message only this key's holder can
    /// read. The session key and every other random byte of the message
    /// derive from one draw from `entropy` (fails closed when it does).
    pub fn encrypt(&self, plaintext: &[u8], entropy: &dyn Entropy) -> Result<Vec<u8>, CryptoError> {
        let failed = |e: pgp::errors::Error| CryptoError::Malformed(format!("PGP encryption: {e}"));
        let subkey = self.encryption_subkey().ok_or_else(|| {
            CryptoError::Malformed("PGP encryption: the key has no usable encryption subkey".into())
        })?;
        let mut rng = SeededExpander::from_entropy(entropy)?;
        let mut builder = MessageBuilder::from_bytes("", plaintext.to_vec())
            .seipd_v1(&mut rng, SymmetricKeyAlgorithm::AES256);
        builder.encrypt_to_key(&mut rng, subkey).map_err(failed)?;
        builder.to_vec(&mut rng).map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_are_not_base64_openpgp_or_are_keybase_names_are_refused() {
        for (input, expect) in [
            ("keybase:jdoe", "keybase"),
            ("!!!", "not base64"),
            ("aGVsbG8=", "not an OpenPGP public key"),
        ] {
            let err = PgpRecipient::from_base64(input, &crate::OsEntropy::new()).expect_err(input);
            assert!(err.to_string().contains(expect), "{input}: {err}");
        }
    }
}
