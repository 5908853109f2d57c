//! The bytes a wrap produces: a versioned, length-prefixed record that says
//! which mechanism and which keys (by label) made it, so a later unwrap
//! finds the right key even after `key_label` was rotated.
//!
//! Layout, version 1 (all integers big-endian):
//!
//! ```text
//! version        u8      = 1
//! mechanism      u64     CKM_* code (0x1087, 0x1085, 0x1082, 0x0009)
//! oaep_hash      u8      0 = n/a, 1 sha1, 2 sha224, 3 sha256, 4 sha384, 5 sha512
//! key_label      u16 len + UTF-8
//! key_id         u16 len + bytes      (empty: none configured)
//! hmac_key_label u16 len + UTF-8      (empty: no HMAC key)
//! hmac_key_id    u16 len + bytes
//! iv             u16 len + bytes      (GCM 12, CBC 16, RSA empty)
//! wrapped_key    u16 len + bytes      (RSA: OAEP-encrypted data key; else empty)
//! ciphertext     u32 len + bytes
//! mac            u16 len + bytes      (CBC: HMAC-SHA256; else empty)
//! ```
//!
//! Everything up to `wrapped_key` is the *header*; GCM authenticates it as
//! AAD, the CBC HMAC covers header and ciphertext. Each field has exactly one
//! encoding, so re-encoding a decoded blob reproduces the authenticated bytes.

use crate::keys::KeyRef;
use crate::mechanism::WrapMechanism;

/// The only version written and read.
pub(crate) const VERSION: u8 = 1;

/// A decoded (or about to be encoded) blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blob {
    pub(crate) mechanism: WrapMechanism,
    pub(crate) key: KeyRef,
    pub(crate) hmac_key: Option<KeyRef>,
    pub(crate) iv: Vec<u8>,
    pub(crate) wrapped_key: Vec<u8>,
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) mac: Vec<u8>,
}

/// Why bytes are not a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobError(pub(crate) String);

impl Blob {
    /// The authenticated header (see the module docs).
    pub(crate) fn header(&self) -> Result<Vec<u8>, BlobError> {
        let mut out = Vec::with_capacity(64 + self.iv.len() + self.wrapped_key.len());
        out.push(VERSION);
        out.extend_from_slice(&self.mechanism.code().to_be_bytes());
        out.push(self.mechanism.param_byte());
        put16(&mut out, self.key.label.as_bytes(), "key_label")?;
        put16(
            &mut out,
            self.key.id.as_deref().unwrap_or_default(),
            "key_id",
        )?;
        let (hl, hid) = match &self.hmac_key {
            Some(k) => (k.label.as_bytes(), k.id.as_deref().unwrap_or_default()),
            None => (&[][..], &[][..]),
        };
        put16(&mut out, hl, "hmac_key_label")?;
        put16(&mut out, hid, "hmac_key_id")?;
        put16(&mut out, &self.iv, "iv")?;
        put16(&mut out, &self.wrapped_key, "wrapped_key")?;
        Ok(out)
    }

    /// What the CBC HMAC covers: header and ciphertext.
    pub(crate) fn mac_input(&self) -> Result<Vec<u8>, BlobError> {
        let mut out = self.header()?;
        put32(&mut out, &self.ciphertext)?;
        Ok(out)
    }

    /// The full encoding.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, BlobError> {
        let mut out = self.mac_input()?;
        put16(&mut out, &self.mac, "mac")?;
        Ok(out)
    }

    /// Parses bytes written by [`Blob::encode`]; never panics on bad input.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, BlobError> {
        let mut r = Reader { rest: bytes };
        let version = r.u8("version")?;
        if version != VERSION {
            return Err(BlobError(format!(
                "unknown version {version} (this build reads version {VERSION})"
            )));
        }
        let code = u64::from_be_bytes(r.array::<8>("mechanism")?);
        let param = r.u8("oaep_hash")?;
        let mechanism = WrapMechanism::from_wire(code, param).ok_or_else(|| {
            BlobError(format!(
                "unsupported mechanism {code:#06x} (parameter {param})"
            ))
        })?;
        let label = r.text16("key_label")?;
        if label.is_empty() {
            return Err(BlobError("empty key label".to_owned()));
        }
        let key = KeyRef::new(label, non_empty(r.bytes16("key_id")?));
        let hmac_label = r.text16("hmac_key_label")?;
        let hmac_id = non_empty(r.bytes16("hmac_key_id")?);
        // Dropping the id would make a second encoding of the same blob, one
        // whose extra bytes the GCM tag (over the re-encoded header) misses.
        if hmac_label.is_empty() && hmac_id.is_some() {
            return Err(BlobError("hmac_key_id without hmac_key_label".to_owned()));
        }
        let hmac_key = (!hmac_label.is_empty()).then(|| KeyRef::new(hmac_label, hmac_id));
        let iv = r.bytes16("iv")?.to_vec();
        let wrapped_key = r.bytes16("wrapped_key")?.to_vec();
        let ciphertext = r.bytes32("ciphertext")?.to_vec();
        let mac = r.bytes16("mac")?.to_vec();
        if !r.rest.is_empty() {
            return Err(BlobError(format!("{} trailing bytes", r.rest.len())));
        }
        Ok(Self {
            mechanism,
            key,
            hmac_key,
            iv,
            wrapped_key,
            ciphertext,
            mac,
        })
    }
}

/// Decodes a seal blob as [`Pkcs11Seal::unwrap_blob`](crate::Pkcs11Seal::unwrap_blob)
/// does before it reaches the HSM, and encodes it again. For fuzz targets
/// and property tests, which have no HSM: no I/O, never panics, and a blob
/// that decodes re-encodes to the very same bytes (each field has one
/// encoding). The error text says why the bytes are not a blob.
pub fn reencode_blob(bytes: &[u8]) -> Result<Vec<u8>, String> {
    Blob::decode(bytes)
        .and_then(|blob| blob.encode())
        .map_err(|e| e.0)
}

fn non_empty(b: &[u8]) -> Option<Vec<u8>> {
    (!b.is_empty()).then(|| b.to_vec())
}

fn put16(out: &mut Vec<u8>, field: &[u8], name: &str) -> Result<(), BlobError> {
    let len = u16::try_from(field.len())
        .map_err(|_| BlobError(format!("{name} is longer than 65535 bytes")))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
    Ok(())
}

fn put32(out: &mut Vec<u8>, field: &[u8]) -> Result<(), BlobError> {
    let len = u32::try_from(field.len())
        .map_err(|_| BlobError("ciphertext is longer than 4 GiB".to_owned()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
    Ok(())
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], BlobError> {
        if self.rest.len() < n {
            return Err(BlobError(format!(
                "truncated in {what}: need {n} bytes, have {}",
                self.rest.len()
            )));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], BlobError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u8(&mut self, what: &str) -> Result<u8, BlobError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn bytes16(&mut self, what: &str) -> Result<&'a [u8], BlobError> {
        let n = u16::from_be_bytes(self.array::<2>(what)?);
        self.take(usize::from(n), what)
    }

    fn bytes32(&mut self, what: &str) -> Result<&'a [u8], BlobError> {
        let n = u32::from_be_bytes(self.array::<4>(what)?);
        let n = usize::try_from(n).map_err(|_| BlobError(format!("{what} too long")))?;
        self.take(n, what)
    }

    fn text16(&mut self, what: &str) -> Result<String, BlobError> {
        let b = self.bytes16(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| BlobError(format!("{what} is not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::OaepHash;

    fn sample() -> Blob {
        Blob {
            mechanism: WrapMechanism::AesCbcPad,
            key: KeyRef::new("root-2026".to_owned(), Some(vec![0x33, 0x33])),
            hmac_key: Some(KeyRef::new("hmac-2026".to_owned(), None)),
            iv: vec![7; 16],
            wrapped_key: Vec::new(),
            ciphertext: vec![1, 2, 3, 4, 5],
            mac: vec![9; 32],
        }
    }

    #[test]
    fn encode_then_decode_gives_the_same_blob() {
        for blob in [
            sample(),
            Blob {
                mechanism: WrapMechanism::RsaOaep(OaepHash::Sha1),
                key: KeyRef::new("rsa".to_owned(), None),
                hmac_key: None,
                iv: Vec::new(),
                wrapped_key: vec![5; 256],
                ciphertext: vec![0; 70_000],
                mac: Vec::new(),
            },
        ] {
            let bytes = blob.encode().expect("encode");
            assert_eq!(Blob::decode(&bytes).expect("decode"), blob);
        }
    }

    #[test]
    fn the_layout_starts_with_version_mechanism_and_label() {
        let bytes = sample().encode().expect("encode");
        assert_eq!(bytes[0], VERSION);
        assert_eq!(&bytes[1..9], &0x1085u64.to_be_bytes());
        assert_eq!(bytes[9], 0);
        assert_eq!(&bytes[10..12], &9u16.to_be_bytes());
        assert_eq!(&bytes[12..21], b"root-2026");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = sample().encode().expect("encode");
        for n in 0..bytes.len() {
            assert!(Blob::decode(&bytes[..n]).is_err(), "prefix of {n} bytes");
        }
    }

    #[test]
    fn trailing_bytes_unknown_versions_and_mechanisms_are_rejected() {
        let mut bytes = sample().encode().expect("encode");
        bytes.push(0);
        assert!(Blob::decode(&bytes).unwrap_err().0.contains("trailing"));
        let mut bytes = sample().encode().expect("encode");
        bytes[0] = 2;
        assert!(Blob::decode(&bytes).unwrap_err().0.contains("version"));
        let mut bytes = sample().encode().expect("encode");
        bytes[8] = 0x01; // CKM_RSA_PKCS (0x1001 after the edit): not ours
        assert!(Blob::decode(&bytes).unwrap_err().0.contains("mechanism"));
    }

    #[test]
    fn a_blob_naming_an_hmac_key_id_without_its_label_is_refused_not_re_encoded_differently() {
        // Found by the seal_blob fuzz target: an id with an empty label used to
        // decode (the id dropped), so these bytes were a second encoding of a
        // blob without HMAC key, and the extra bytes went unauthenticated.
        let mut blob = sample();
        blob.mechanism = WrapMechanism::AesGcm;
        blob.hmac_key = None;
        blob.mac = Vec::new();
        let canonical = blob.encode().expect("encode");
        // version, mechanism, parameter, key label, key id (2 bytes), empty
        // HMAC key label: then the HMAC key id's length, 0.
        let id_len_at = 1 + 8 + 1 + (2 + blob.key.label.len()) + (2 + 2) + 2;
        assert_eq!(&canonical[id_len_at..id_len_at + 2], &[0, 0]);
        let mut bytes = canonical[..id_len_at].to_vec();
        bytes.extend_from_slice(&[0, 1, 0x42]);
        bytes.extend_from_slice(&canonical[id_len_at + 2..]);
        let err = Blob::decode(&bytes).expect_err("an id without a label");
        assert!(
            err.0.contains("hmac_key_id without hmac_key_label"),
            "{}",
            err.0
        );
        assert_eq!(Blob::decode(&canonical).expect("decode"), blob);
        // The bytes the fuzzer found, as it found them.
        let found = [
            1, 0, 0, 0, 0, 0, 0, 16, 133, 0, 0, 9, 114, 111, 111, 116, 45, 50, 48, 50, 54, 0, 0, 0,
            0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(Blob::decode(&found).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic fuzz: xorshift bytes of many lengths, plus
        // length fields that claim more than is there.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..400 {
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(x as u8);
            }
            if let Some(b) = buf.first_mut() {
                *b = VERSION;
            }
            let _ = Blob::decode(&buf);
        }
        let mut huge = vec![VERSION];
        huge.extend_from_slice(&0x1087u64.to_be_bytes());
        huge.extend_from_slice(&[0, 0xFF, 0xFF]);
        assert!(Blob::decode(&huge).is_err());
    }

    #[test]
    fn the_mac_covers_header_and_ciphertext_but_not_itself() {
        let blob = sample();
        let mut other = blob.clone();
        other.mac = vec![0; 32];
        assert_eq!(blob.mac_input(), other.mac_input());
        other.key.label = "root-2027".to_owned();
        assert_ne!(blob.mac_input(), other.mac_input());
        let mut other = blob.clone();
        other.ciphertext[0] ^= 1;
        assert_ne!(blob.mac_input(), other.mac_input());
    }
}
