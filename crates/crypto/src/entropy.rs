//! The single source of randomness for keys, tokens and nonces.
//!
//! Code that needs random bytes takes a `&dyn Entropy` (or an `Arc`), never
//! calls the OS directly, so tests can control it and entropy augmentation
//! (HSM randomness mixed in) can be plugged in without touching callers.

use crate::CryptoError;

/// A source of cryptographically secure random bytes that may fail.
///
/// Implementations must fail closed: if they cannot deliver full-strength
/// randomness they return an error, never weaker bytes.
pub trait Entropy: Send + Sync {
    /// Fills `buf` entirely with random bytes, or returns an error.
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError>;

    /// A short name for logs and errors (`os`, `seal`).
    fn source(&self) -> &'static str;

    /// Health and counters of an augmented source; `None` for the OS CSPRNG.
    fn report(&self) -> Option<crate::augmented::EntropyReport> {
        None
    }
}

/// The operating system's CSPRNG (getrandom(2) via `ring`).
#[derive(Debug)]
pub struct OsEntropy {
    rng: ring::rand::SystemRandom,
}

impl OsEntropy {
    /// A handle to the OS CSPRNG.
    pub fn new() -> Self {
        Self {
            rng: ring::rand::SystemRandom::new(),
        }
    }
}

impl Default for OsEntropy {
    fn default() -> Self {
        Self::new()
    }
}

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        use ring::rand::SecureRandom;
        self.rng
            .fill(buf)
            .map_err(|_| CryptoError::Entropy("the operating system RNG failed".to_owned()))
    }

    fn source(&self) -> &'static str {
        "os"
    }
}

/// Draws `n` random bytes.
pub fn random_bytes(entropy: &dyn Entropy, n: usize) -> Result<Vec<u8>, CryptoError> {
    let mut v = vec![0u8; n];
    entropy.fill(&mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_entropy_fills_distinct_buffers() {
        let e = OsEntropy::new();
        let a = random_bytes(&e, 32).expect("os rng");
        let b = random_bytes(&e, 32).expect("os rng");
        assert_ne!(a, b);
        assert_ne!(a, vec![0u8; 32]);
    }
}
