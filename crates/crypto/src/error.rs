/// Failures of the primitives in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Ciphertext failed authentication: tampered, truncated, or wrong key/AAD.
    #[error("message authentication failed: the data was tampered with or the key is wrong")]
    Authentication,
    /// The blob is not in a format this crate writes.
    #[error("malformed ciphertext: {0}")]
    Malformed(String),
    /// No key is known for the key term recorded in the ciphertext.
    #[error("no key for term {0}")]
    UnknownTerm(u32),
    /// The randomness source could not deliver.
    #[error("entropy source failed: {0}")]
    Entropy(String),
    /// Shamir parameters or shares are unusable.
    #[error("{0}")]
    Shamir(String),
}
