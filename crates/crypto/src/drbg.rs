//! A small deterministic expander used as the `rand_core` RNG that libraries
//! ask for (the Shamir crate, RSA key generation in the transit engine, and,
//! through rand 0.8's traits, OpenPGP encryption). It is
//! seeded with 32 bytes from an [`Entropy`] source and produces
//! HMAC-SHA256(seed, counter) blocks, so everything the library draws derives
//! from that one draw and entropy failures surface before the library starts,
//! instead of inside an infallible RNG call.

use crate::hash::HmacKey;
use crate::{CryptoError, Entropy};
use rand_core::{TryCryptoRng, TryRng};
use std::convert::Infallible;
use zeroize::Zeroizing;

/// An infallible `rand_core` RNG expanding one 256-bit draw from an
/// [`Entropy`] source; see the module docs. The seed never leaves it.
pub struct SeededExpander {
    key: HmacKey,
    counter: u64,
    block: Zeroizing<[u8; 32]>,
    used: usize,
}

impl SeededExpander {
    /// Draws the 32-byte seed from `entropy`; fails (and so fails closed)
    /// when `entropy` does.
    pub fn from_entropy(entropy: &dyn Entropy) -> Result<Self, CryptoError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        entropy.fill(seed.as_mut_slice())?;
        Ok(Self {
            key: HmacKey::new(seed.as_slice()),
            counter: 0,
            block: Zeroizing::new([0u8; 32]),
            used: 32,
        })
    }

    fn next_byte(&mut self) -> u8 {
        if self.used == self.block.len() {
            let tag = Zeroizing::new(self.key.sign(&[&self.counter.to_be_bytes()]));
            self.block.copy_from_slice(tag.as_slice());
            self.counter += 1;
            self.used = 0;
        }
        let b = self.block[self.used];
        self.used += 1;
        b
    }
}

impl TryRng for SeededExpander {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for d in dst {
            *d = self.next_byte();
        }
        Ok(())
    }
}

impl TryCryptoRng for SeededExpander {}

/// rand 0.8's traits (rand_core 0.6), which the OpenPGP crate asks for.
impl rand::RngCore for SeededExpander {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for d in dst {
            *d = self.next_byte();
        }
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), rand::Error> {
        rand::RngCore::fill_bytes(self, dst);
        Ok(())
    }
}

impl rand::CryptoRng for SeededExpander {}

impl std::fmt::Debug for SeededExpander {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeededExpander([redacted])")
    }
}
