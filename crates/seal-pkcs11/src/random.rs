//! [`HsmRandom`]: the token's `C_GenerateRandom` as the external source of
//! entropy augmentation ([`coffer_crypto::AugmentedEntropy`]).
//!
//! `Entropy::fill` is synchronous and the core calls it from async code, so
//! this adapter bridges without ever running PKCS#11 on an async worker:
//! the `C_GenerateRandom` call runs on the runtime's blocking pool (with a
//! session from the seal's pool, after a permit, like every other call),
//! and the caller waits on a plain channel, bounded by the seal's operation
//! timeout. On a multi-threaded runtime the wait is wrapped in
//! `block_in_place`, so the worker's other tasks move elsewhere meanwhile.
//! The wait needs no tokio timer or I/O driver, so it works on any runtime
//! flavour and outside one. Calls are rare: `AugmentedEntropy` fetches
//! [`coffer_crypto::augmented::CHUNK`] bytes per call and hands them out from
//! a buffer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use coffer_crypto::{CryptoError, ExternalRandom};
use tokio::runtime::{Handle, RuntimeFlavor};
use zeroize::Zeroizing;

use crate::error::HsmError;
use crate::mechanism;
use crate::session_pool::SessionPool;
use crate::telemetry::Op;

/// The HSM's random number generator, for [`coffer_crypto::AugmentedEntropy`].
/// Made by [`crate::Pkcs11Seal::random_source`].
pub struct HsmRandom {
    pool: Arc<SessionPool>,
    runtime: Handle,
    timeout: Duration,
    stats: Counters,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    bytes: AtomicU64,
    failures: AtomicU64,
}

/// How much randomness was drawn from the HSM (for tests and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RandomStats {
    /// Successful `C_GenerateRandom` calls.
    pub calls: u64,
    /// Bytes those calls returned.
    pub bytes: u64,
    /// Calls that failed or timed out.
    pub failures: u64,
}

impl std::fmt::Debug for HsmRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmRandom")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl HsmRandom {
    pub(crate) fn new(pool: Arc<SessionPool>, runtime: Handle, timeout: Duration) -> Self {
        Self {
            pool,
            runtime,
            timeout,
            stats: Counters::default(),
        }
    }

    /// Calls and bytes drawn so far.
    pub fn stats(&self) -> RandomStats {
        RandomStats {
            calls: self.stats.calls.load(Ordering::Relaxed),
            bytes: self.stats.bytes.load(Ordering::Relaxed),
            failures: self.stats.failures.load(Ordering::Relaxed),
        }
    }

    /// `n` bytes from `C_GenerateRandom`, blocking the calling thread (but
    /// never running PKCS#11 on it) for at most the operation timeout.
    pub fn random_blocking(&self, n: usize) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let pool = Arc::clone(&self.pool);
        let runtime = self.runtime.clone();
        self.runtime.spawn_blocking(move || {
            let result = runtime.block_on(pool.permit()).and_then(|permit| {
                let r = pool.with_session_timed(Op::Random, |held| mechanism::random(held, n));
                drop(permit);
                r
            });
            // The caller may have timed out and gone: nothing to do then.
            let _ = tx.send(result.map(Zeroizing::new));
        });
        let wait = || rx.recv_timeout(self.timeout);
        let received = match Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
            _ => wait(),
        };
        let result = match received {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(HsmError::Timeout(self.timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(HsmError::Worker(
                "the C_GenerateRandom worker stopped (runtime shutting down?)".to_owned(),
            )),
        };
        match &result {
            Ok(bytes) => {
                self.stats.calls.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .bytes
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                self.pool.count_error(e);
            }
        }
        result
    }
}

impl ExternalRandom for HsmRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        let bytes = self.random_blocking(buf.len()).map_err(|e| {
            let e = match e {
                HsmError::Timeout(d) => {
                    format!("C_GenerateRandom: the HSM did not answer within {d:?}")
                }
                other => other.to_string(),
            };
            CryptoError::Entropy(e)
        })?;
        if bytes.len() != buf.len() {
            return Err(CryptoError::Entropy(format!(
                "C_GenerateRandom returned {} bytes, {} requested",
                bytes.len(),
                buf.len()
            )));
        }
        buf.copy_from_slice(&bytes);
        Ok(())
    }

    fn name(&self) -> &'static str {
        "HSM"
    }
}
