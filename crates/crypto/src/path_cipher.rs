//! Deterministic encryption of storage path segments, so that the names of
//! secrets never reach the storage backend in the clear while prefix listing
//! still works.
//!
//! Each segment is encrypted on its own, bound to its full parent path, with a
//! synthetic IV (the SIV construction): `iv = HMAC-SHA256(k_iv, parent ‖ 0 ‖
//! name)[..12]`, `ct = AES-256-GCM(k_enc, iv, aad = parent, name)`, and the
//! stored form is `base64url(iv ‖ ct ‖ tag)`. Equal names under equal parents
//! map to equal stored names (which is what makes lookups possible); equal
//! names under different parents do not. Decryption re-derives the IV and
//! rejects any mismatch. The two sub-keys are derived from one path key that
//! is generated at init and never rotated, since rotating it would move every
//! entry.

use crate::hash::HmacKey;
use crate::{CryptoError, Key256};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

/// Longest segment accepted, in bytes. Keeps every encrypted name under the
/// 255-byte file-name limit of common filesystems (plus the `_` leaf prefix).
pub const MAX_SEGMENT_LEN: usize = 150;

/// Encrypts and decrypts path segments with keys derived from one path key.
pub struct PathCipher {
    iv_key: HmacKey,
    enc_key: Aes256Gcm,
}

impl std::fmt::Debug for PathCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PathCipher([redacted])")
    }
}

impl PathCipher {
    /// Derives the IV and encryption sub-keys from `path_key`.
    pub fn new(path_key: &Key256) -> Self {
        let master = HmacKey::new(path_key.expose());
        let iv_bytes = Zeroizing::new(master.sign(&[b"coffer path cipher: iv"]));
        let enc_bytes = Zeroizing::new(master.sign(&[b"coffer path cipher: enc"]));
        Self {
            iv_key: HmacKey::new(iv_bytes.as_slice()),
            enc_key: Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(enc_bytes.as_slice())),
        }
    }

    /// Encrypts one segment `name` that lives under the logical `parent` path.
    pub fn encrypt_segment(&self, parent: &str, name: &str) -> Result<String, CryptoError> {
        if name.len() > MAX_SEGMENT_LEN {
            return Err(CryptoError::Malformed(format!(
                "path segment is {} bytes; the limit is {MAX_SEGMENT_LEN}",
                name.len()
            )));
        }
        let iv = self.synthetic_iv(parent, name);
        let body = self
            .enc_key
            .encrypt(
                Nonce::from_slice(&iv),
                Payload {
                    msg: name.as_bytes(),
                    aad: parent.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Malformed("path segment too long".to_owned()))?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&body);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Decrypts a stored segment found under the logical `parent` path.
    pub fn decrypt_segment(&self, parent: &str, stored: &str) -> Result<String, CryptoError> {
        let raw = URL_SAFE_NO_PAD.decode(stored).map_err(|_| {
            CryptoError::Malformed(format!("stored path segment {stored:?} is not base64url"))
        })?;
        if raw.len() < 12 + 16 {
            return Err(CryptoError::Malformed(format!(
                "stored path segment {stored:?} is too short"
            )));
        }
        let (iv, body) = raw.split_at(12);
        let plain = self
            .enc_key
            .decrypt(
                Nonce::from_slice(iv),
                Payload {
                    msg: body,
                    aad: parent.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Authentication)?;
        let name = String::from_utf8(plain).map_err(|_| {
            CryptoError::Malformed("decrypted path segment is not UTF-8".to_owned())
        })?;
        let expected = self.synthetic_iv(parent, &name);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], iv)) {
            return Err(CryptoError::Authentication);
        }
        Ok(name)
    }

    fn synthetic_iv(&self, parent: &str, name: &str) -> [u8; 12] {
        let tag = self
            .iv_key
            .sign(&[parent.as_bytes(), &[0], name.as_bytes()]);
        let mut iv = [0u8; 12];
        iv.copy_from_slice(&tag[..12]);
        iv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> PathCipher {
        PathCipher::new(&Key256::from_slice(&[5; 32]).expect("32 bytes"))
    }

    #[test]
    fn segment_round_trips_and_is_deterministic() {
        let c = cipher();
        let a = c.encrypt_segment("logical/x", "my-secret").expect("enc");
        assert_eq!(a, c.encrypt_segment("logical/x", "my-secret").expect("enc"));
        assert!(!a.contains("my-secret"));
        assert_eq!(
            c.decrypt_segment("logical/x", &a).expect("dec"),
            "my-secret"
        );
    }

    #[test]
    fn same_name_under_another_parent_looks_different_and_does_not_decrypt_there() {
        let c = cipher();
        let a = c.encrypt_segment("p1", "n").expect("enc");
        let b = c.encrypt_segment("p2", "n").expect("enc");
        assert_ne!(a, b);
        assert!(c.decrypt_segment("p2", &a).is_err());
    }

    #[test]
    fn oversized_segment_is_rejected_and_limit_fits_file_names() {
        let c = cipher();
        assert!(
            c.encrypt_segment("", &"x".repeat(MAX_SEGMENT_LEN + 1))
                .is_err()
        );
        let longest = c
            .encrypt_segment("", &"x".repeat(MAX_SEGMENT_LEN))
            .expect("enc");
        assert!(longest.len() < 255, "{} bytes", longest.len());
    }

    #[test]
    fn garbage_segment_is_an_error_not_a_panic() {
        let c = cipher();
        assert!(c.decrypt_segment("", "!!!").is_err());
        assert!(c.decrypt_segment("", "AAAA").is_err());
        assert!(c.decrypt_segment("", &"A".repeat(60)).is_err());
    }
}
