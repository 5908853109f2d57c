//! AES-256-GCM envelope with a key-term header.
//!
//! Layout: `version (1 byte) = 1 | term (u32 big-endian) | nonce (12 bytes) |
//! ciphertext | tag (16 bytes)`. The whole header and the caller's associated
//! data (the barrier passes the storage path) are authenticated, so a value
//! cannot be moved to another key or relabelled with another term unnoticed.
//! Nonces are 96 random bits per message; with one term key that stays within
//! GCM's safe bound for well over 2^30 messages, and `sys/rotate` starts a new
//! term long before that matters.

use crate::{CryptoError, Entropy, Key256};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use zeroize::Zeroizing;

/// Format version written in the first byte.
pub const VERSION: u8 = 1;
/// Bytes of the AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Bytes before the ciphertext.
pub const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// Bytes an envelope adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// Encrypts `plaintext` under `key`, labelling it with `term`.
pub fn seal(
    key: &Key256,
    term: u32,
    entropy: &dyn Entropy,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    entropy.fill(&mut nonce)?;
    encrypt(key, term, &nonce, aad, plaintext)
}

/// [`seal`] with a nonce the caller drew from a source of its own (the
/// pkcs11 seal draws it from the HSM, as its other IVs). A nonce must never
/// repeat under one key, so the key is taken by value: it seals this one
/// message and is wiped when the call returns.
pub fn seal_with_nonce(
    key: Key256,
    term: u32,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    encrypt(&key, term, nonce, aad, plaintext)
}

fn encrypt(
    key: &Key256,
    term: u32,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.push(VERSION);
    out.extend_from_slice(&term.to_be_bytes());
    out.extend_from_slice(nonce);
    let full_aad = [&out[..HEADER_LEN], aad].concat();
    let body = cipher(key)
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad: &full_aad,
            },
        )
        .map_err(|_| CryptoError::Malformed("plaintext too long for AES-GCM".to_owned()))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads the key term recorded in an envelope without decrypting it.
pub fn term_of(blob: &[u8]) -> Result<u32, CryptoError> {
    if blob.len() < OVERHEAD {
        return Err(CryptoError::Malformed(format!(
            "{} bytes is shorter than the {OVERHEAD}-byte envelope overhead",
            blob.len()
        )));
    }
    if blob[0] != VERSION {
        return Err(CryptoError::Malformed(format!(
            "unknown envelope version {}",
            blob[0]
        )));
    }
    let mut term = [0u8; 4];
    term.copy_from_slice(&blob[1..5]);
    Ok(u32::from_be_bytes(term))
}

/// Decrypts an envelope made by [`seal`] with the same key and `aad`.
pub fn open(key: &Key256, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    term_of(blob)?;
    let full_aad = [&blob[..HEADER_LEN], aad].concat();
    cipher(key)
        .decrypt(
            Nonce::from_slice(&blob[5..HEADER_LEN]),
            Payload {
                msg: &blob[HEADER_LEN..],
                aad: &full_aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Authentication)
}

/// An AES-256-GCM instance whose key schedule is wiped when dropped.
fn cipher(key: &Key256) -> Aes256Gcm {
    Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(key.expose()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsEntropy;

    fn key(b: u8) -> Key256 {
        Key256::from_slice(&[b; 32]).expect("32 bytes")
    }

    #[test]
    fn round_trip_preserves_plaintext_and_term() {
        let e = OsEntropy::new();
        let blob = seal(&key(1), 7, &e, b"path/a", b"hello").expect("seal");
        assert_eq!(term_of(&blob).expect("term"), 7);
        assert_eq!(blob.len(), 5 + OVERHEAD);
        assert_eq!(
            open(&key(1), b"path/a", &blob).expect("open").as_slice(),
            b"hello"
        );
    }

    #[test]
    fn moved_value_fails_authentication() {
        let e = OsEntropy::new();
        let blob = seal(&key(1), 1, &e, b"path/a", b"hello").expect("seal");
        assert!(matches!(
            open(&key(1), b"path/b", &blob),
            Err(CryptoError::Authentication)
        ));
    }

    #[test]
    fn relabelled_term_or_flipped_bit_fails_authentication() {
        let e = OsEntropy::new();
        let blob = seal(&key(1), 1, &e, b"", b"hello").expect("seal");
        let mut relabelled = blob.clone();
        relabelled[4] = 2;
        assert!(open(&key(1), b"", &relabelled).is_err());
        let mut flipped = blob;
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(open(&key(1), b"", &flipped).is_err());
    }

    #[test]
    fn wrong_key_and_truncation_are_errors_not_panics() {
        let e = OsEntropy::new();
        let blob = seal(&key(1), 1, &e, b"", b"hello").expect("seal");
        assert!(open(&key(2), b"", &blob).is_err());
        assert!(open(&key(1), b"", &blob[..10]).is_err());
        assert!(term_of(&[9; 40]).is_err());
    }

    /// NIST SP 800-38D / McGrew–Viega test case 16 (AES-256, 96-bit IV, AAD):
    /// checks the primitive underneath the envelope against published vectors.
    #[test]
    fn aes_256_gcm_matches_published_vector() {
        let k = hex::decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
            .expect("hex");
        let iv = hex::decode("cafebabefacedbaddecaf888").expect("hex");
        let pt = hex::decode(concat!(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72",
            "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
        ))
        .expect("hex");
        let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").expect("hex");
        let want = hex::decode(concat!(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa",
            "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b"
        ))
        .expect("hex");
        let key = Key256::from_slice(&k).expect("32 bytes");
        let body = cipher(&key)
            .encrypt(
                Nonce::from_slice(&iv),
                Payload {
                    msg: &pt,
                    aad: &aad,
                },
            )
            .expect("seal");
        assert_eq!(body, want);
    }
}
