//! Keyed hashes: HMAC-SHA256 for identifiers that must not be reversible
//! (token ids), synthetic IVs (the path cipher) and the seeded expander.
//!
//! [`HmacKey`] holds the key only as the two SHA-256 states HMAC derives
//! from it, and those are wiped when it is dropped (RustCrypto's `sha2`
//! with its `zeroize` feature zeroes a state on drop), as is every copy
//! made while signing. ring's `hmac::Key`, used before, left them in freed
//! memory.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// An HMAC-SHA256 key, wiped from memory on drop.
#[derive(Clone)]
pub struct HmacKey(Hmac<Sha256>);

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey([redacted])")
    }
}

impl HmacKey {
    /// A key of any length (longer than a block is hashed first, as HMAC
    /// says).
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts every key length; the error type exists for MACs
        // that do not.
        match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
            Ok(mac) => Self(mac),
            Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
        }
    }

    /// The tag of the concatenation of `parts`.
    pub fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// Lower-case hex of `bytes`, for the per-request hashes (token and audit
/// HMACs). `hex::encode` collects an iterator of `char`s, several times
/// slower, which showed in profiles of every authenticated request.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    HmacKey::new(key).sign(&[data])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2.
    #[test]
    fn hmac_sha256_matches_rfc4231() {
        let got = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(got),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// RFC 4231 test case 6: a key longer than the block is hashed first.
    #[test]
    fn a_long_key_and_split_input_give_the_rfc_4231_tag() {
        let key = HmacKey::new(&[0xaa; 131]);
        let got = key.sign(&[
            b"Test Using Larger Than Block-Siz",
            b"e Key - Hash Key First",
        ]);
        assert_eq!(
            hex::encode(got),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(format!("{key:?}"), "HmacKey([redacted])");
    }

    #[test]
    fn to_hex_writes_every_byte_as_two_lower_case_digits() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(to_hex(&all), hex::encode(&all));
        assert_eq!(to_hex(&[]), "");
        assert_eq!(to_hex(&[0x0a, 0xf0]), "0af0");
    }
}
