//! The primitives transit uses, as small synchronous functions over bytes:
//! AEAD with HKDF derivation, digests and HMACs, ECDSA, Ed25519 and RSA, key
//! generation from an [`Entropy`](coffer_crypto::Entropy), and the DER/PEM
//! encodings Vault's wire formats need. Each file carries known-answer tests
//! against published vectors.
//!
//! AWS-LC (via `aws-lc-rs`) does every operation with a secret key. SHA-3 and
//! HMAC-SHA3 come from RustCrypto's `sha3`/`hmac`; the `rsa` crate only
//! generates RSA keys (its private-key operations are not constant time,
//! RUSTSEC-2023-0071).

pub(crate) mod aead;
pub(crate) mod der;
pub(crate) mod ecdsa;
pub(crate) mod ed25519;
pub(crate) mod hash;
pub(crate) mod rsa;
