//! The PKCS#11 seal: Coffer's root key wrapped by a key that never leaves
//! the HSM, plus the HSM's random number generator for entropy augmentation.
//!
//! This is the only crate that knows PKCS#11 (through `cryptoki`). It
//! implements [`coffer_core::seal::Seal`] and depends on `coffer-core` and
//! `coffer-crypto` only; it must never depend on the server, on HTTP, or on
//! a storage backend. The server fills a [`Pkcs11Options`] from its
//! `seal "pkcs11"` stanza and calls [`Pkcs11Seal::open`].
//!
//! Every PKCS#11 call runs on a blocking thread (`spawn_blocking`) with a
//! session from a small pool (`max_parallel`); errors keep the PKCS#11
//! return-code name (`pkcs11: 0xE0: CKR_TOKEN_NOT_PRESENT`), and a token that
//! disappears and comes back is picked up again on the next call.

mod banner;
mod blob;
#[cfg(test)]
mod blob_props;
pub mod doctor;
mod error;
mod keys;
mod managed;
mod mechanism;
mod module;
mod options;
mod random;
mod seal;
mod session_pool;
mod telemetry;

pub use banner::{HsmInfo, SealKey};
pub use blob::reencode_blob;
pub use error::{HsmError, ReturnCode, code_and_name};
pub use managed::Pkcs11KeyProvider;
pub use mechanism::{CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_GCM, CKM_RSA_PKCS_OAEP};
pub use options::{CKM_SHA256_HMAC, DEFAULT_OPERATION_TIMEOUT, OaepHash, Pkcs11Options};
pub use random::{HsmRandom, RandomStats};
pub use seal::Pkcs11Seal;
/// Re-exported so callers can build the PIN without naming `secrecy`.
pub use secrecy::SecretString;
pub use session_pool::PoolStats;
