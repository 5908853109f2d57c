//! What the seal measures for `sys/metrics`: latency of each HSM operation,
//! waits for a session, and errors by PKCS#11 return code.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use coffer_core::metrics::{LatencyHistogram, Metric};

use crate::error::{HsmError, code_and_name};
use crate::session_pool::PoolStats;

/// An HSM operation with its own latency histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Wrapping a value (root key, keyring, seal-wrapped entry).
    Wrap,
    /// Unwrapping one.
    Unwrap,
    /// `C_GenerateRandom`.
    Random,
    /// `C_Sign`/`C_Verify` (the HMAC of the CBC mechanisms).
    Sign,
}

impl Op {
    const ALL: [Op; 4] = [Op::Wrap, Op::Unwrap, Op::Random, Op::Sign];

    fn name(self) -> &'static str {
        match self {
            Op::Wrap => "wrap",
            Op::Unwrap => "unwrap",
            Op::Random => "random",
            Op::Sign => "sign",
        }
    }
}

/// Counters shared by a seal's session pool and its operations.
#[derive(Debug, Default)]
pub(crate) struct Telemetry {
    latency: [LatencyHistogram; 4],
    errors: Mutex<BTreeMap<&'static str, u64>>,
    waits: AtomicU64,
    wait_nanos: AtomicU64,
}

impl Telemetry {
    /// Runs `f` and records how long it took under `op`.
    pub(crate) fn time<T>(&self, op: Op, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        self.latency[op as usize].observe(started.elapsed());
        out
    }

    /// Counts an error under its `CKR_` name (or its kind, for errors that
    /// are not return codes).
    pub(crate) fn error(&self, err: &HsmError) {
        let code = match err.return_code() {
            Some(rv) => code_and_name(rv).1,
            None => err.kind_name(),
        };
        *self
            .errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(code)
            .or_default() += 1;
    }

    /// Starts timing a wait for a free session; recorded when dropped, so a
    /// wait cut short by the operation timeout counts too.
    pub(crate) fn wait(&self) -> Waiting<'_> {
        Waiting {
            telemetry: self,
            started: Instant::now(),
        }
    }

    fn waited(&self, d: Duration) {
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.wait_nanos.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The metrics, with the pool's current numbers.
    pub(crate) fn metrics(&self, pool: PoolStats) -> Vec<Metric> {
        let mut out: Vec<Metric> = Op::ALL
            .iter()
            .map(|op| {
                Metric::histogram(
                    "coffer.hsm.operation.seconds",
                    self.latency[*op as usize].snapshot(),
                    "time of HSM operations, by operation, including key look-ups and re-login \
                     (the CBC mechanisms' HMAC is counted as sign and within wrap/unwrap)",
                )
                .label("op", op.name())
            })
            .collect();
        out.extend([
            Metric::gauge(
                "coffer.hsm.sessions.open",
                pool.open_sessions as f64,
                "PKCS#11 sessions the seal holds open",
            ),
            Metric::gauge(
                "coffer.hsm.sessions.in_use",
                pool.in_use as f64,
                "sessions in use by an operation now",
            ),
            Metric::gauge(
                "coffer.hsm.sessions.max",
                pool.max_parallel as f64,
                "max_parallel: the most sessions the seal opens",
            ),
            Metric::counter(
                "coffer.hsm.sessions.waits",
                self.waits.load(Ordering::Relaxed),
                "operations that had to wait for a free session",
            ),
            Metric::total(
                "coffer.hsm.sessions.wait_seconds",
                self.wait_nanos.load(Ordering::Relaxed) as f64 / 1e9,
                "total time operations waited for a free session",
            ),
        ]);
        let errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        out.extend(errors.iter().map(|(code, n)| {
            Metric::counter(
                "coffer.hsm.errors",
                *n,
                "failed HSM operations, by PKCS#11 return code (or error kind)",
            )
            .label("code", *code)
        }));
        out
    }
}

/// A wait for a session in progress ([`Telemetry::wait`]).
pub(crate) struct Waiting<'a> {
    telemetry: &'a Telemetry,
    started: Instant,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.telemetry.waited(self.started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::error::RvError;

    #[test]
    fn errors_are_counted_by_return_code_name_or_kind() {
        let t = Telemetry::default();
        let pin = HsmError::ReturnCode {
            context: "C_Login".to_owned(),
            rv: RvError::PinIncorrect,
            hint: String::new(),
        };
        t.error(&pin);
        t.error(&pin);
        t.error(&HsmError::Timeout(Duration::from_secs(1)));
        let m = t.metrics(PoolStats::default());
        let errors: Vec<_> = m.iter().filter(|m| m.name == "coffer.hsm.errors").collect();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].labels, [("code", "CKR_PIN_INCORRECT".to_owned())]);
        assert_eq!(errors[0].value, 2.0);
        assert_eq!(errors[1].labels, [("code", "timeout".to_owned())]);
    }

    #[test]
    fn each_operation_has_its_own_histogram() {
        let t = Telemetry::default();
        t.time(Op::Unwrap, || std::thread::sleep(Duration::from_millis(2)));
        let m = t.metrics(PoolStats::default());
        let unwrap = m
            .iter()
            .find(|m| m.labels == [("op", "unwrap".to_owned())])
            .expect("unwrap histogram");
        let h = unwrap.histogram.as_ref().expect("buckets");
        assert_eq!(h.count, 1);
        assert!(h.sum >= 0.002, "{h:?}");
        let wrap = m
            .iter()
            .find(|m| m.labels == [("op", "wrap".to_owned())])
            .expect("wrap");
        assert_eq!(wrap.value, 0.0);
    }
}
