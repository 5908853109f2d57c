//! Seal wrap: a second layer of encryption, made by the seal (the HSM key),
//! over values that already passed the barrier. ADR 0007 has the reasoning.
//!
//! The layer sits *outside* the barrier: the barrier encrypts a value with
//! the keyring (logical path as associated data), then the seal encrypts that
//! ciphertext, and the result is stored as a seal-wrap record:
//!
//! ```text
//! magic     3 bytes  "CSW"
//! version   u8       1
//! seal type u8 len + ASCII   the seal that wrapped it ("pkcs11")
//! seal blob rest             the seal's own authenticated blob (for pkcs11:
//!                            mechanism, key labels, IV, ciphertext, and the
//!                            GCM tag or HMAC-SHA256 made with the HMAC key)
//! ```
//!
//! A barrier envelope starts with its version byte (1) and the keyring
//! record with the same envelope, so the first byte tells the two apart.
//! Tampering with a record is caught by the seal's tag or HMAC before the
//! barrier ever sees the bytes; moving a record to another path is caught by
//! the barrier's associated data.

use crate::error::{CoreError, CoreResult};
use crate::seal::{Seal, SealError};
use std::sync::Arc;
use zeroize::Zeroizing;

const MAGIC: &[u8; 3] = b"CSW";
const VERSION: u8 = 1;

/// Whether stored bytes are a seal-wrap record.
pub(crate) fn is_wrapped(record: &[u8]) -> bool {
    record.len() > MAGIC.len() && record.starts_with(MAGIC)
}

/// What the seal-wrap layer can do with the configured seals.
pub struct SealWrapper {
    current: Arc<dyn Seal>,
    previous: Option<Arc<dyn Seal>>,
}

impl std::fmt::Debug for SealWrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealWrapper")
            .field("seal", &self.current.kind())
            .field("active", &self.active())
            .finish()
    }
}

/// A decoded record: which seal wrapped it and that seal's blob.
struct Record<'a> {
    seal_type: &'a str,
    blob: &'a [u8],
}

impl SealWrapper {
    /// Wraps with `current`; unwraps records of `current` or, during a
    /// migration away from an auto seal, of `previous` (the disabled seal).
    pub fn new(current: Arc<dyn Seal>, previous: Option<Arc<dyn Seal>>) -> Self {
        Self { current, previous }
    }

    /// Whether new values are seal-wrapped: only seals whose key lives
    /// outside Coffer (an HSM) can. The Shamir seal's key is rebuilt from the
    /// very shares that open the barrier, so wrapping with it would add no
    /// protection, and Coffer refuses `seal_wrap` mounts under it.
    pub fn active(&self) -> bool {
        self.current.stored_keys()
    }

    /// The type of the seal that wraps new values.
    pub fn seal_type(&self) -> &'static str {
        self.current.kind()
    }

    /// Wraps barrier ciphertext into a record.
    pub async fn wrap(&self, inner: &[u8]) -> CoreResult<Vec<u8>> {
        if !self.active() {
            return Err(CoreError::Internal(format!(
                "seal wrap requested, but the {} seal cannot seal-wrap",
                self.current.kind()
            )));
        }
        let blob = self.current.wrap(inner).await.map_err(|e| {
            CoreError::Seal(format!(
                "seal-wrapping a value with the {} seal: {e}",
                self.current.kind()
            ))
        })?;
        let kind = self.current.kind().as_bytes();
        let kind_len = u8::try_from(kind.len())
            .map_err(|_| CoreError::Internal("seal type name too long".to_owned()))?;
        let mut out = Vec::with_capacity(MAGIC.len() + 2 + kind.len() + blob.len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(kind_len);
        out.extend_from_slice(kind);
        out.extend_from_slice(&blob);
        Ok(out)
    }

    /// Unwraps a record back to barrier ciphertext. `physical` names the
    /// storage key in errors (it is encrypted, so safe to show).
    pub async fn unwrap(&self, physical: &str, record: &[u8]) -> CoreResult<Zeroizing<Vec<u8>>> {
        let rec = decode(physical, record)?;
        let seal = self.seal_for(physical, rec.seal_type)?;
        let plain = seal.unwrap(rec.blob).await.map_err(|e| match e {
            SealError::Integrity(why) => CoreError::SealWrapIntegrity {
                path: physical.to_owned(),
                reason: why,
            },
            other => CoreError::Seal(format!(
                "unwrapping the seal-wrapped value at physical key {physical:?}: {other}"
            )),
        })?;
        Ok(Zeroizing::new(plain.expose().to_vec()))
    }

    /// Whether a record should be wrapped again: it was made by another
    /// seal, or by an older key of this one (after an HSM key rotation).
    pub fn is_stale(&self, record: &[u8]) -> bool {
        match decode("", record) {
            Ok(rec) if rec.seal_type == self.current.kind() => {
                !self.current.wrapped_with_current_key(rec.blob)
            }
            _ => true,
        }
    }

    /// The seal type that made a record and what its blob says in the
    /// clear; `None` when the bytes are not a well-formed record. The type is
    /// read from the record, so records of a seal no longer configured still
    /// name it (with no details).
    pub fn describe(&self, record: &[u8]) -> Option<(String, Vec<(&'static str, String)>)> {
        let rec = decode("", record).ok()?;
        let details = match self.seal_for("", rec.seal_type) {
            Ok(seal) => seal.describe(rec.blob),
            Err(_) => Vec::new(),
        };
        Some((rec.seal_type.to_owned(), details))
    }

    fn seal_for(&self, physical: &str, seal_type: &str) -> CoreResult<&Arc<dyn Seal>> {
        if seal_type == self.current.kind() {
            return Ok(&self.current);
        }
        match &self.previous {
            Some(p) if p.kind() == seal_type => Ok(p),
            _ => Err(CoreError::Seal(format!(
                "the value at physical key {physical:?} was seal-wrapped by a {seal_type} seal, \
                 which is not configured; add that seal stanza back (with disabled = \"true\" \
                 to migrate away from it)"
            ))),
        }
    }
}

fn decode<'a>(physical: &str, record: &'a [u8]) -> CoreResult<Record<'a>> {
    let bad = |why: &str| CoreError::SealWrapIntegrity {
        path: physical.to_owned(),
        reason: format!("malformed seal-wrap record: {why}"),
    };
    let rest = record.strip_prefix(MAGIC).ok_or_else(|| bad("no magic"))?;
    let (&version, rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
    if version != VERSION {
        return Err(bad(&format!("unknown version {version}")));
    }
    let (&len, rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(bad("truncated seal type"));
    }
    let (kind, blob) = rest.split_at(len);
    let seal_type = std::str::from_utf8(kind).map_err(|_| bad("seal type is not UTF-8"))?;
    Ok(Record { seal_type, blob })
}

/// Which values of a storage view are seal-wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WrapRule {
    /// None (no seal that can wrap, or nothing critical here).
    #[default]
    Nothing,
    /// Every value (`seal_wrap: true` mounts).
    Everything,
    /// Values under these prefixes, relative to the view's root (an engine's
    /// `seal_wrap_storage`, or the core's own critical paths).
    Prefixes(&'static [&'static str]),
}

impl WrapRule {
    /// Whether a value at `relative` (to the view's root) is wrapped.
    pub fn covers(self, relative: &str) -> bool {
        match self {
            Self::Nothing => false,
            Self::Everything => true,
            Self::Prefixes(ps) => ps.iter().any(|p| relative.starts_with(p)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::SealHealth;
    use async_trait::async_trait;
    use coffer_crypto::SecretBytes;

    /// Wraps by XOR with a one-byte "key" and a one-byte label prefix; the
    /// tag is a trailing checksum, enough to exercise the record framing.
    struct Toy {
        kind: &'static str,
        key: u8,
    }

    #[async_trait]
    impl Seal for Toy {
        fn kind(&self) -> &'static str {
            self.kind
        }
        fn stored_keys(&self) -> bool {
            self.kind != "shamir"
        }
        async fn wrap(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
            let mut out = vec![self.key];
            out.extend(plaintext.iter().map(|b| b ^ self.key));
            out.push(plaintext.iter().fold(0u8, |a, b| a.wrapping_add(*b)));
            Ok(out)
        }
        async fn unwrap(&self, blob: &[u8]) -> Result<SecretBytes, SealError> {
            let (&key, rest) = blob
                .split_first()
                .ok_or(SealError::Integrity("empty".into()))?;
            let (&sum, body) = rest
                .split_last()
                .ok_or(SealError::Integrity("short".into()))?;
            let plain: Vec<u8> = body.iter().map(|b| b ^ key).collect();
            if plain.iter().fold(0u8, |a, b| a.wrapping_add(*b)) != sum {
                return Err(SealError::Integrity("checksum mismatch".into()));
            }
            Ok(SecretBytes::new(plain))
        }
        async fn health(&self) -> SealHealth {
            SealHealth::Healthy
        }
        fn wrapped_with_current_key(&self, blob: &[u8]) -> bool {
            blob.first() == Some(&self.key)
        }
    }

    fn toy(kind: &'static str, key: u8) -> Arc<dyn Seal> {
        Arc::new(Toy { kind, key })
    }

    #[tokio::test]
    async fn records_round_trip_and_name_the_seal_that_made_them() {
        let w = SealWrapper::new(toy("pkcs11", 7), None);
        let rec = w.wrap(b"barrier ciphertext").await.expect("wrap");
        assert!(is_wrapped(&rec));
        assert!(rec.starts_with(b"CSW\x01\x06pkcs11"));
        assert!(rec.len() > b"barrier ciphertext".len());
        let back = w.unwrap("p", &rec).await.expect("unwrap");
        assert_eq!(back.as_slice(), b"barrier ciphertext");
        assert!(!w.is_stale(&rec));
    }

    #[tokio::test]
    async fn a_flipped_byte_is_an_integrity_error_that_names_the_physical_key() {
        let w = SealWrapper::new(toy("pkcs11", 7), None);
        let mut rec = w.wrap(b"value").await.expect("wrap");
        let last = rec.len() - 2;
        rec[last] ^= 0x40;
        let err = w.unwrap("barrier/abc", &rec).await.expect_err("tampered");
        assert!(matches!(err, CoreError::SealWrapIntegrity { .. }), "{err}");
        assert!(err.to_string().contains("barrier/abc"), "{err}");
    }

    #[tokio::test]
    async fn a_barrier_envelope_is_not_mistaken_for_a_record() {
        assert!(!is_wrapped(&[1, 0, 0, 0, 1, 9, 9]));
        assert!(!is_wrapped(b"CSW"));
        let w = SealWrapper::new(toy("pkcs11", 7), None);
        let err = w.unwrap("p", b"CSW\x02\x00").await.expect_err("version");
        assert!(err.to_string().contains("unknown version 2"), "{err}");
    }

    #[tokio::test]
    async fn records_of_an_older_key_or_another_seal_are_stale() {
        let old = SealWrapper::new(toy("pkcs11", 7), None);
        let rec = old.wrap(b"v").await.expect("wrap");
        let rotated = SealWrapper::new(toy("pkcs11", 8), None);
        assert!(rotated.is_stale(&rec));
        assert_eq!(
            rotated
                .unwrap("p", &rec)
                .await
                .expect("old key still reads")
                .as_slice(),
            b"v"
        );
        let other = SealWrapper::new(toy("awskms", 7), None);
        assert!(other.is_stale(&rec));
    }

    #[tokio::test]
    async fn during_migration_the_disabled_seal_still_unwraps_and_shamir_never_wraps() {
        let pkcs11 = toy("pkcs11", 7);
        let rec = SealWrapper::new(pkcs11.clone(), None)
            .wrap(b"v")
            .await
            .expect("wrap");
        let migrating = SealWrapper::new(toy("shamir", 0), Some(pkcs11));
        assert!(!migrating.active());
        assert_eq!(
            migrating
                .unwrap("p", &rec)
                .await
                .expect("unwrap")
                .as_slice(),
            b"v"
        );
        assert!(migrating.wrap(b"v").await.is_err());
        let without = SealWrapper::new(toy("shamir", 0), None);
        let err = without.unwrap("p", &rec).await.expect_err("no pkcs11 seal");
        assert!(
            err.to_string()
                .contains("pkcs11 seal, which is not configured"),
            "{err}"
        );
    }

    #[test]
    fn rules_cover_prefixes_relative_to_the_view_root() {
        assert!(!WrapRule::Nothing.covers("policy/k"));
        assert!(WrapRule::Everything.covers("anything"));
        let r = WrapRule::Prefixes(&["policy/", "archive/"]);
        assert!(r.covers("policy/k") && r.covers("archive/k"));
        assert!(!r.covers("cache/k"));
    }
}
