//! Coffer's cryptographic building blocks: secret newtypes that zeroize and
//! never print, the [`Entropy`] source every key and token is drawn from, the
//! AES-256-GCM envelope with a key-term header used by the barrier, and Shamir
//! secret sharing over GF(256) for unseal and recovery keys.
//!
//! Synchronous and I/O free. It must never depend on `coffer-core`, on any
//! async runtime, on HTTP or on PKCS#11: the HSM reaches this crate only
//! through the [`ExternalRandom`] trait, implemented elsewhere, which
//! [`AugmentedEntropy`] mixes into the OS CSPRNG.

pub mod augmented;
pub mod cluster_cert;
pub mod drbg;
pub mod ec_key;
pub mod entropy;
pub mod envelope;
mod error;
pub mod hash;
pub mod health;
pub mod path_cipher;
pub mod pgp_key;
pub mod secret;
pub mod shamir;
pub mod tls;

pub use augmented::{AugmentedEntropy, EntropyHealth, EntropyReport, ExternalRandom};
pub use entropy::{Entropy, OsEntropy};
pub use error::CryptoError;
pub use health::{HealthTest, HealthTests};
pub use secret::{Key256, SecretBytes};
