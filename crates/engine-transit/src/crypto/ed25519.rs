//! Ed25519 (RFC 8032, pure, no pre-hash). Keys are stored as their 32-byte
//! seed; Vault's export form is Go's 64-byte `seed || public key`, which is
//! also the input keying material for derived (per-context) keys.

use super::aead::hkdf_sha256;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use coffer_core::{CoreError, CoreResult};
use coffer_crypto::Entropy;
use zeroize::Zeroizing;

/// Seed length.
pub(crate) const SEED_LEN: usize = 32;

/// An Ed25519 signing key. No `Debug`, no `Clone`.
pub(crate) struct Ed25519Key(Ed25519KeyPair);

impl Ed25519Key {
    /// Draws a seed (the stored form) from `entropy`.
    pub(crate) fn generate(entropy: &dyn Entropy) -> CoreResult<Zeroizing<Vec<u8>>> {
        let mut seed = Zeroizing::new(vec![0u8; SEED_LEN]);
        entropy.fill(seed.as_mut_slice())?;
        Ok(seed)
    }

    /// The key of a stored seed.
    pub(crate) fn from_seed(seed: &[u8]) -> CoreResult<Self> {
        Ed25519KeyPair::from_seed_unchecked(seed)
            .map(Self)
            .map_err(|e| CoreError::Internal(format!("stored ed25519 seed rejected: {e}")))
    }

    /// The key for `context` of a derived key: as Vault, the seed is
    /// HKDF-SHA256 (empty salt) of the 64-byte private key, with the
    /// context as `info`.
    pub(crate) fn derive(seed: &[u8], context: &[u8]) -> CoreResult<Self> {
        let base = Self::from_seed(seed)?;
        let ikm = base.go_private_key(seed);
        let derived = hkdf_sha256(&[], &ikm, context, SEED_LEN)?;
        Self::from_seed(&derived)
    }

    /// Go's private key form: `seed || public key`.
    pub(crate) fn go_private_key(&self, seed: &[u8]) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(2 * SEED_LEN));
        out.extend_from_slice(seed);
        out.extend_from_slice(&self.public_key());
        out
    }

    /// The 32-byte public key.
    pub(crate) fn public_key(&self) -> Vec<u8> {
        self.0.public_key().as_ref().to_vec()
    }

    /// Signs `message` (the whole message: Ed25519 hashes internally).
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message).as_ref().to_vec()
    }
}

/// Whether `sig` is `public`'s signature of `message`.
pub(crate) fn verify(public: &[u8], message: &[u8], sig: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public)
        .verify(message, sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).expect("hex")
    }

    /// RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte).
    #[test]
    fn signatures_match_rfc_8032_test_vectors() {
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
                 5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
                 085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
        ];
        for (seed, public, msg, sig) in cases {
            let key = Ed25519Key::from_seed(&unhex(seed)).expect("key");
            assert_eq!(hex::encode(key.public_key()), public);
            let got = key.sign(&unhex(msg));
            assert_eq!(hex::encode(&got), sig.replace([' ', '\n'], ""));
            assert!(verify(&unhex(public), &unhex(msg), &got));
            assert!(!verify(&unhex(public), b"other", &got));
        }
    }

    #[test]
    fn derived_keys_differ_per_context_and_are_stable() {
        let seed = [9u8; 32];
        let a1 = Ed25519Key::derive(&seed, b"a").expect("derive");
        let a2 = Ed25519Key::derive(&seed, b"a").expect("derive");
        let b = Ed25519Key::derive(&seed, b"b").expect("derive");
        assert_eq!(a1.public_key(), a2.public_key());
        assert_ne!(a1.public_key(), b.public_key());
        let sig = a1.sign(b"m");
        assert!(verify(&a2.public_key(), b"m", &sig));
        assert!(!verify(&b.public_key(), b"m", &sig));
    }

    #[test]
    fn go_private_key_is_seed_then_public_key() {
        let seed = unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let key = Ed25519Key::from_seed(&seed).expect("key");
        let go = key.go_private_key(&seed);
        assert_eq!(&go[..32], seed.as_slice());
        assert_eq!(&go[32..], key.public_key().as_slice());
    }
}
