//! Entropy augmentation: randomness for critical security parameters that
//! mixes the OS CSPRNG with an external source (the HSM's
//! `C_GenerateRandom`), so the output is never weaker than either one.
//!
//! Construction (ADR 0006): for every draw of up to [`MAX_DRAW`] bytes,
//! `HKDF-SHA256(salt = MIX_SALT, IKM = os[32] || ext[32], info = MIX_INFO)`
//! expanded to the requested length, with 32 fresh OS bytes and 32 fresh
//! external bytes. HKDF-Extract is a randomness extractor keyed by a public
//! salt: 256 bits of min-entropy in either half of the IKM make the output
//! indistinguishable from uniform, whatever the other half is (as long as
//! it is chosen without seeing the first: the HSM never sees OS bytes).
//!
//! External bytes are fetched in chunks of [`CHUNK`] bytes, run through the
//! SP 800-90B continuous health tests as a whole chunk before any byte of it
//! is used, handed out once each (the used part is wiped at once) and kept
//! in a zeroizing buffer. Fails closed: when the external source errors or
//! fails a health test, the draw errors; it never returns OS-only bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ring::hkdf;
use zeroize::{Zeroize, Zeroizing};

use crate::health::{HealthTest, HealthTests};
use crate::{CryptoError, Entropy};

/// Bytes requested from the external source per round trip.
pub const CHUNK: usize = 1024;
/// Bytes of each source that go into one mix.
pub const MIX_INPUT: usize = 32;
/// Largest output of one HKDF expansion (255 SHA-256 blocks); longer draws
/// are made of several mixes, each with fresh inputs.
pub const MAX_DRAW: usize = 255 * 32;
/// HKDF salt: domain separation for this construction and its version.
pub const MIX_SALT: &[u8] = b"coffer entropy augmentation v1";
/// HKDF info.
pub const MIX_INFO: &[u8] = b"coffer csp randomness";

/// A blocking source of random bytes outside this process (an HSM).
///
/// Called with the augmentation buffer's lock held, at most once per
/// [`CHUNK`] bytes handed out; implementations bound the call with a
/// timeout and keep the cause (for an HSM, the PKCS#11 return code) in the
/// error.
pub trait ExternalRandom: Send + Sync {
    /// Fills `buf` entirely, or errors.
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError>;

    /// A short name for errors (`HSM`).
    fn name(&self) -> &'static str;
}

/// Whether the external source is currently usable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntropyHealth {
    /// The last fetch succeeded and passed the health tests (or none yet).
    Healthy,
    /// The last fetch failed; the message names the cause.
    Unavailable(String),
    /// The last fetched chunk failed a continuous health test; draws error
    /// until a fresh chunk passes.
    Failed(HealthTest),
}

/// What an augmented source has done, for `sys/health` and `sys/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntropyReport {
    /// The external source (`HSM`).
    pub external: &'static str,
    /// Its state as of the last fetch.
    pub health: EntropyHealth,
    /// Successful draws of augmented randomness (one per key, token, ...).
    pub draws: u64,
    /// Bytes handed out by those draws.
    pub bytes: u64,
    /// Round trips to the external source (`C_GenerateRandom` calls).
    pub fetches: u64,
    /// Bytes fetched from the external source.
    pub fetched_bytes: u64,
    /// Draws that failed (source unavailable or failing a health test).
    pub failures: u64,
    /// Fetched chunks that failed an SP 800-90B health test.
    pub health_test_failures: u64,
}

/// The augmented [`Entropy`] handle (source name `seal`).
pub struct AugmentedEntropy {
    os: Arc<dyn Entropy>,
    external: Arc<dyn ExternalRandom>,
    pool: Mutex<Pool>,
    health: Mutex<EntropyHealth>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    draws: AtomicU64,
    bytes: AtomicU64,
    fetches: AtomicU64,
    fetched_bytes: AtomicU64,
    failures: AtomicU64,
    health_test_failures: AtomicU64,
}

struct Pool {
    /// Fetched external bytes; `buf[pos..]` are unused, `buf[..pos]` wiped.
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    tests: HealthTests,
}

impl std::fmt::Debug for AugmentedEntropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AugmentedEntropy")
            .field("external", &self.external.name())
            .field("health", &self.health())
            .finish_non_exhaustive()
    }
}

impl AugmentedEntropy {
    /// Mixes `os` (the OS CSPRNG) with `external`.
    pub fn new(os: Arc<dyn Entropy>, external: Arc<dyn ExternalRandom>) -> Self {
        Self {
            os,
            external,
            pool: Mutex::new(Pool {
                buf: Zeroizing::new(Vec::new()),
                pos: 0,
                tests: HealthTests::new(),
            }),
            health: Mutex::new(EntropyHealth::Healthy),
            counters: Counters::default(),
        }
    }

    /// The state of the external source, as of the last fetch.
    pub fn health(&self) -> EntropyHealth {
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_health(&self, h: EntropyHealth) {
        *self.health.lock().unwrap_or_else(PoisonError::into_inner) = h;
    }

    /// Takes `out.len()` unused external bytes, fetching chunks as needed.
    fn take_external(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        let mut done = 0;
        while done < out.len() {
            if pool.pos == pool.buf.len() {
                self.refill(&mut pool)?;
            }
            let pos = pool.pos;
            let n = (out.len() - done).min(pool.buf.len() - pos);
            out[done..done + n].copy_from_slice(&pool.buf[pos..pos + n]);
            // Each byte is handed out once: wipe it as it leaves.
            pool.buf[pos..pos + n].zeroize();
            pool.pos += n;
            done += n;
        }
        Ok(())
    }

    fn refill(&self, pool: &mut MutexGuard<'_, Pool>) -> Result<(), CryptoError> {
        // Dropping the old buffer wipes it (`Zeroizing`); an empty buffer
        // means nothing is left to hand out if this fetch fails.
        pool.buf = Zeroizing::new(Vec::new());
        pool.pos = 0;
        let mut chunk = Zeroizing::new(vec![0u8; CHUNK]);
        self.counters.fetches.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.external.fill(&mut chunk) {
            self.set_health(EntropyHealth::Unavailable(e.to_string()));
            return Err(CryptoError::Entropy(format!(
                "{} randomness is unavailable and entropy augmentation never falls back to \
                 OS-only randomness: {e}",
                self.external.name()
            )));
        }
        let was_failed = matches!(self.health(), EntropyHealth::Failed(_));
        if was_failed {
            // A failure restarts the tests: a fresh chunk must pass them on
            // its own (a start-up test over CHUNK samples) before use.
            pool.tests = HealthTests::new();
        }
        if let Err(test) = pool.tests.check(&chunk) {
            self.counters
                .health_test_failures
                .fetch_add(1, Ordering::Relaxed);
            self.set_health(EntropyHealth::Failed(test));
            pool.tests = HealthTests::new();
            return Err(CryptoError::Entropy(format!(
                "{} entropy failed the {test}; the source is treated as failed until a fresh \
                 chunk passes",
                self.external.name()
            )));
        }
        self.set_health(EntropyHealth::Healthy);
        self.counters
            .fetched_bytes
            .fetch_add(CHUNK as u64, Ordering::Relaxed);
        pool.buf = chunk;
        Ok(())
    }
}

impl Entropy for AugmentedEntropy {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        let result = buf.chunks_mut(MAX_DRAW).try_for_each(|out| {
            let mut ikm = Zeroizing::new([0u8; 2 * MIX_INPUT]);
            let (os, ext) = ikm.split_at_mut(MIX_INPUT);
            // External first: a failing HSM costs no OS draw.
            self.take_external(ext)?;
            self.os.fill(os)?;
            mix(ikm.as_slice(), out)
        });
        if result.is_err() {
            // No partial output: a caller that ignored the error gets zeros.
            buf.zeroize();
            self.counters.failures.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.draws.fetch_add(1, Ordering::Relaxed);
            self.counters
                .bytes
                .fetch_add(buf.len() as u64, Ordering::Relaxed);
        }
        result
    }

    fn source(&self) -> &'static str {
        "seal"
    }

    fn report(&self) -> Option<EntropyReport> {
        let c = &self.counters;
        Some(EntropyReport {
            external: self.external.name(),
            health: self.health(),
            draws: c.draws.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            fetches: c.fetches.load(Ordering::Relaxed),
            fetched_bytes: c.fetched_bytes.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            health_test_failures: c.health_test_failures.load(Ordering::Relaxed),
        })
    }
}

/// `HKDF-SHA256(MIX_SALT, ikm, MIX_INFO)` expanded into `out`
/// (at most [`MAX_DRAW`] bytes).
fn mix(ikm: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, MIX_SALT).extract(ikm);
    prk.expand(&[MIX_INFO], Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| CryptoError::Entropy(format!("HKDF cannot expand to {} bytes", out.len())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Always the same byte.
    struct Constant(u8);
    impl Entropy for Constant {
        fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
            buf.fill(self.0);
            Ok(())
        }
        fn source(&self) -> &'static str {
            "constant"
        }
    }

    /// A deterministic good source: HMAC-SHA256(key, counter) blocks; can be
    /// switched off, then errors like an unplugged token; counts bytes.
    struct FakeHsm {
        key: ring::hmac::Key,
        counter: AtomicUsize,
        bytes: AtomicUsize,
        down: AtomicBool,
        /// Output override (stuck or biased), if any.
        pattern: Option<fn(usize) -> u8>,
    }
    impl FakeHsm {
        fn good() -> Self {
            Self {
                key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"fake hsm"),
                counter: AtomicUsize::new(0),
                bytes: AtomicUsize::new(0),
                down: AtomicBool::new(false),
                pattern: None,
            }
        }
        fn with(pattern: fn(usize) -> u8) -> Self {
            Self {
                pattern: Some(pattern),
                ..Self::good()
            }
        }
    }
    impl ExternalRandom for FakeHsm {
        fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(CryptoError::Entropy(
                    "C_GenerateRandom: pkcs11: 0xE0: CKR_TOKEN_NOT_PRESENT".to_owned(),
                ));
            }
            self.bytes.fetch_add(buf.len(), Ordering::SeqCst);
            for block in buf.chunks_mut(32) {
                let n = self.counter.fetch_add(1, Ordering::SeqCst);
                match self.pattern {
                    Some(p) => {
                        for (i, b) in block.iter_mut().enumerate() {
                            *b = p(n * 32 + i);
                        }
                    }
                    None => {
                        let tag = ring::hmac::sign(&self.key, &n.to_be_bytes());
                        block.copy_from_slice(&tag.as_ref()[..block.len()]);
                    }
                }
            }
            Ok(())
        }
        fn name(&self) -> &'static str {
            "HSM"
        }
    }

    fn augmented(hsm: &Arc<FakeHsm>) -> AugmentedEntropy {
        AugmentedEntropy::new(Arc::new(Constant(0x11)), hsm.clone())
    }

    #[test]
    fn mixing_matches_the_hkdf_sha256_known_answer() {
        // RFC 5869 HKDF-SHA256, computed independently (Python hmac/hashlib):
        // salt = MIX_SALT, IKM = 0x11 * 32 || 0x22 * 32, info = MIX_INFO, L = 32.
        let mut ikm = [0x11u8; 64];
        ikm[32..].fill(0x22);
        let mut out = [0u8; 32];
        mix(&ikm, &mut out).expect("mix");
        assert_eq!(
            hex::encode(out),
            "1c8dc40c610a2e68c5a7705e2a4bd38479e1bf20b334fb8513140042b2d60286"
        );
    }

    #[test]
    fn augmented_output_differs_from_both_inputs() {
        let hsm = Arc::new(FakeHsm::good());
        let e = augmented(&hsm);
        let mut out = [0u8; 32];
        e.fill(&mut out).expect("fill");
        let mut hsm_first = [0u8; 32];
        FakeHsm::good().fill(&mut hsm_first).expect("replay");
        assert_ne!(out, [0x11; 32], "not the OS bytes");
        assert_ne!(out, hsm_first, "not the HSM bytes");
        assert_eq!(e.source(), "seal");
    }

    #[test]
    fn external_bytes_are_fetched_in_chunks_and_each_used_once() {
        let hsm = Arc::new(FakeHsm::good());
        let e = augmented(&hsm);
        let mut seen = std::collections::HashSet::new();
        let draws = CHUNK / MIX_INPUT + 1;
        for _ in 0..draws {
            let mut out = [0u8; 32];
            e.fill(&mut out).expect("fill");
            assert!(seen.insert(out), "a repeated output means reused bytes");
        }
        // 33 draws of 32 bytes need two chunks, not 33 round trips.
        assert_eq!(hsm.bytes.load(Ordering::SeqCst), 2 * CHUNK);
        assert_eq!(hsm.counter.load(Ordering::SeqCst), 2 * CHUNK / 32);
        let r = e.report().expect("augmented sources report");
        assert_eq!((r.draws, r.bytes), (draws as u64, 32 * draws as u64));
        assert_eq!((r.fetches, r.fetched_bytes), (2, 2 * CHUNK as u64));
        assert_eq!((r.failures, r.health), (0, EntropyHealth::Healthy));
    }

    #[test]
    fn the_report_counts_failed_draws_and_the_os_source_has_none() {
        let hsm = Arc::new(FakeHsm::good());
        let e = augmented(&hsm);
        hsm.down.store(true, Ordering::SeqCst);
        assert!(e.fill(&mut [0u8; 32]).is_err());
        let r = e.report().expect("report");
        assert_eq!(
            (r.draws, r.failures, r.fetches, r.fetched_bytes),
            (0, 1, 1, 0)
        );
        assert!(matches!(r.health, EntropyHealth::Unavailable(_)));
        assert!(crate::OsEntropy::new().report().is_none());
    }

    #[test]
    fn a_good_source_passes_the_health_tests() {
        let hsm = Arc::new(FakeHsm::good());
        let e = augmented(&hsm);
        let mut out = vec![0u8; 64 * 1024];
        e.fill(&mut out).expect("fill");
        assert_eq!(e.health(), EntropyHealth::Healthy);
    }

    #[test]
    fn a_stuck_source_trips_the_repetition_count_test_and_later_draws_fail() {
        let hsm = Arc::new(FakeHsm::with(|_| 0));
        let e = augmented(&hsm);
        let err = e.fill(&mut [0u8; 32]).expect_err("stuck source");
        assert!(
            err.to_string()
                .contains("HSM entropy failed the SP 800-90B repetition count test"),
            "{err}"
        );
        assert_eq!(
            e.health(),
            EntropyHealth::Failed(HealthTest::RepetitionCount)
        );
        assert!(e.fill(&mut [0u8; 32]).is_err(), "still failed");
    }

    #[test]
    fn a_biased_source_trips_the_adaptive_proportion_test() {
        // Every other byte is 0xAA: no runs, but far too frequent.
        let hsm = Arc::new(FakeHsm::with(
            |i| if i % 2 == 0 { 0xAA } else { i as u8 / 2 },
        ));
        let e = augmented(&hsm);
        let err = e.fill(&mut [0u8; 32]).expect_err("biased source");
        assert!(
            err.to_string().contains("adaptive proportion test"),
            "{err}"
        );
        assert_eq!(
            e.health(),
            EntropyHealth::Failed(HealthTest::AdaptiveProportion)
        );
    }

    #[test]
    fn a_failing_source_is_an_error_never_os_only_bytes_and_recovers_when_back() {
        let hsm = Arc::new(FakeHsm::good());
        let e = augmented(&hsm);
        hsm.down.store(true, Ordering::SeqCst);
        let mut out = [0u8; 32];
        let err = e.fill(&mut out).expect_err("no HSM, no bytes");
        assert!(err.to_string().contains("CKR_TOKEN_NOT_PRESENT"), "{err}");
        assert!(err.to_string().contains("never falls back"), "{err}");
        assert_eq!(out, [0u8; 32], "nothing written on failure");
        assert!(matches!(e.health(), EntropyHealth::Unavailable(m) if m.contains("CKR_")));
        hsm.down.store(false, Ordering::SeqCst);
        e.fill(&mut out).expect("back");
        assert_eq!(e.health(), EntropyHealth::Healthy);
    }

    #[test]
    fn draws_longer_than_one_expansion_use_fresh_inputs_per_part() {
        let hsm = Arc::new(FakeHsm::good());
        let e = augmented(&hsm);
        let mut out = vec![0u8; 2 * MAX_DRAW];
        e.fill(&mut out).expect("fill");
        assert_ne!(out[..MAX_DRAW], out[MAX_DRAW..]);
    }
}
