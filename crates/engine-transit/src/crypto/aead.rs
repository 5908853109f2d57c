//! AES-GCM and ChaCha20-Poly1305 as Vault's transit lays them out
//! (`nonce || ciphertext || tag`, 96-bit nonces, 128-bit tags), HKDF-SHA256
//! for derived keys and the HMAC-SHA256 nonce of convergent encryption.

use crate::key_type::KeyType;
use aws_lc_rs::aead::{
    AES_128_GCM, AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey,
};
use aws_lc_rs::hkdf;
use coffer_core::{CoreError, CoreResult};
use zeroize::Zeroizing;

/// Nonce length of every transit AEAD (96 bits).
pub(crate) const NONCE_BYTES: usize = NONCE_LEN;
/// Authentication tag length (128 bits).
pub(crate) const TAG_BYTES: usize = 16;

/// The message Go's `crypto/cipher` gives for a failed open, which Vault
/// passes through and clients may match on.
pub(crate) const AUTH_FAILED: &str = "cipher: message authentication failed";

/// A key ready to seal and open: AWS-LC's expanded key schedule, which it
/// wipes when freed. No `Debug`, no `Clone`.
pub(crate) struct AeadKey(LessSafeKey);

impl AeadKey {
    /// A key of AEAD type `kt` from raw bytes of the right length.
    pub(crate) fn new(kt: KeyType, key: &[u8]) -> CoreResult<Self> {
        let alg = match kt {
            KeyType::Aes128Gcm96 => &AES_128_GCM,
            KeyType::Aes256Gcm96 => &AES_256_GCM,
            KeyType::ChaCha20Poly1305 => &CHACHA20_POLY1305,
            other => {
                return Err(CoreError::Internal(format!(
                    "{other} is not an AEAD key type"
                )));
            }
        };
        let unbound = UnboundKey::new(alg, key).map_err(|_| {
            CoreError::Internal(format!("{kt} key of {} bytes was rejected", key.len()))
        })?;
        Ok(Self(LessSafeKey::new(unbound)))
    }

    /// Encrypts `plaintext` with `aad` under `nonce`; returns
    /// `nonce || ciphertext || tag`.
    pub(crate) fn seal(
        &self,
        nonce: [u8; NONCE_BYTES],
        plaintext: &[u8],
        aad: &[u8],
    ) -> CoreResult<Vec<u8>> {
        let mut out = Vec::with_capacity(NONCE_BYTES + plaintext.len() + TAG_BYTES);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[NONCE_BYTES..],
            )
            .map_err(|_| CoreError::Internal("AEAD encryption failed".to_owned()))?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts `nonce || ciphertext || tag` made by [`AeadKey::seal`] with
    /// the same `aad`. Any tampering, a wrong key or wrong AAD is the same
    /// user error.
    pub(crate) fn open(&self, blob: &[u8], aad: &[u8]) -> CoreResult<Zeroizing<Vec<u8>>> {
        if blob.len() < NONCE_BYTES + TAG_BYTES {
            return Err(CoreError::invalid("invalid ciphertext length"));
        }
        let (nonce, body) = blob.split_at(NONCE_BYTES);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| CoreError::invalid("invalid ciphertext length"))?;
        let mut buf = Zeroizing::new(body.to_vec());
        let len = self
            .0
            .open_in_place(nonce, Aad::from(aad), buf.as_mut_slice())
            .map_err(|_| CoreError::invalid(AUTH_FAILED))?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

/// HKDF-SHA256 (RFC 5869) of `len` bytes; transit passes an empty salt and
/// the request's `context` as `info`, as Vault does.
pub(crate) fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    len: usize,
) -> CoreResult<Zeroizing<Vec<u8>>> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info];
    let okm = prk
        .expand(&info, Len(len))
        .map_err(|_| CoreError::Internal("key derivation failed".to_owned()))?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    okm.fill(out.as_mut_slice())
        .map_err(|_| CoreError::Internal("key derivation failed".to_owned()))?;
    Ok(out)
}

/// The nonce of convergent encryption (Vault's version 3): the first 96 bits
/// of HMAC-SHA256 over the plaintext under a derived key, so equal plaintexts
/// under equal contexts encrypt equally.
pub(crate) fn convergent_nonce(hmac_key: &[u8], plaintext: &[u8]) -> [u8; NONCE_BYTES] {
    let tag = super::hash::HashAlgorithm::Sha2_256.hmac(hmac_key, plaintext);
    let mut nonce = [0u8; NONCE_BYTES];
    nonce.copy_from_slice(&tag[..NONCE_BYTES]);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).expect("hex")
    }

    fn nonce_of(s: &str) -> [u8; NONCE_BYTES] {
        unhex(s).try_into().expect("12 bytes")
    }

    const GCM_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
    const GCM_A: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
    const GCM_IV: &str = "cafebabefacedbaddecaf888";

    fn check(kt: KeyType, key: &str, iv: &str, aad: &str, pt: &[u8], ct_and_tag: &str) {
        let key = AeadKey::new(kt, &unhex(key)).expect("key");
        let sealed = key.seal(nonce_of(iv), pt, &unhex(aad)).expect("seal");
        assert_eq!(
            hex::encode(&sealed[NONCE_BYTES..]),
            ct_and_tag.replace([' ', '\n'], "")
        );
        assert_eq!(&sealed[..NONCE_BYTES], unhex(iv).as_slice());
        let opened = key.open(&sealed, &unhex(aad)).expect("open");
        assert_eq!(opened.as_slice(), pt);
    }

    /// The GCM specification's (McGrew & Viega, as adopted in NIST's GCM
    /// validation) test case 4: AES-128 with associated data.
    #[test]
    fn aes128_gcm_matches_gcm_spec_test_case_4() {
        check(
            KeyType::Aes128Gcm96,
            "feffe9928665731c6d6a8f9467308308",
            GCM_IV,
            GCM_A,
            &unhex(GCM_P),
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091\
             5bc94fbc3221a5db94fae95ae7121a47",
        );
    }

    /// Test case 16: AES-256 with associated data.
    #[test]
    fn aes256_gcm_matches_gcm_spec_test_case_16() {
        check(
            KeyType::Aes256Gcm96,
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            GCM_IV,
            GCM_A,
            &unhex(GCM_P),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
             76fc6ece0f4e1768cddf8853bb2d551b",
        );
    }

    /// RFC 8439 §2.8.2.
    #[test]
    fn chacha20_poly1305_matches_rfc_8439() {
        check(
            KeyType::ChaCha20Poly1305,
            "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
            "070000004041424344454647",
            "50515253c0c1c2c3c4c5c6c7",
            b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip \
              for the future, sunscreen would be it.",
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6\
             3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36\
             92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc\
             3ff4def08e4b7a9de576d26586cec64b6116\
             1ae10b594f09e26a7e902ecbd0600691",
        );
    }

    #[test]
    fn tampering_a_wrong_aad_or_truncation_fail_authentication() {
        let key = AeadKey::new(KeyType::Aes256Gcm96, &[7u8; 32]).expect("key");
        let sealed = key.seal([1u8; 12], b"secret", b"ad").expect("seal");
        for i in [0, NONCE_BYTES, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            let e = key.open(&bad, b"ad").expect_err("must fail");
            assert!(matches!(e, CoreError::InvalidRequest(m) if m == AUTH_FAILED));
        }
        assert!(key.open(&sealed, b"other").is_err());
        assert!(matches!(
            key.open(&sealed[..20], b"ad"),
            Err(CoreError::InvalidRequest(m)) if m == "invalid ciphertext length"
        ));
    }

    #[test]
    fn wrong_key_length_is_refused() {
        assert!(AeadKey::new(KeyType::Aes256Gcm96, &[0u8; 16]).is_err());
        assert!(AeadKey::new(KeyType::Ed25519, &[0u8; 32]).is_err());
    }

    /// RFC 5869 test case 1 (HKDF-SHA256).
    #[test]
    fn hkdf_sha256_matches_rfc_5869_case_1() {
        let okm = hkdf_sha256(
            &unhex("000102030405060708090a0b0c"),
            &[0x0b; 22],
            &unhex("f0f1f2f3f4f5f6f7f8f9"),
            42,
        )
        .expect("hkdf");
        assert_eq!(
            hex::encode(okm.as_slice()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    /// HKDF output is prefix-consistent, which lets one derivation feed both
    /// the encryption key and the convergent HMAC key, as in Vault.
    #[test]
    fn shorter_derivations_are_prefixes_of_longer_ones() {
        let long = hkdf_sha256(&[], b"key", b"ctx", 64).expect("hkdf");
        let short = hkdf_sha256(&[], b"key", b"ctx", 32).expect("hkdf");
        assert_eq!(&long[..32], short.as_slice());
    }
}
