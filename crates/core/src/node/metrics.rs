//! The node's metrics (`sys/metrics`): a snapshot of gauges and counters the
//! core already keeps. The server renders them as Vault's JSON or as
//! Prometheus text. Names are Coffer's (`coffer.*`) except where Vault has
//! the same metric (`vault.expire.num_leases`), so dashboards carry over.

use crate::node::Core;
use crate::seal::SealHealth;
use coffer_crypto::EntropyHealth;

pub use super::histogram::{Histogram, LATENCY_BOUNDS, LatencyHistogram};

/// Whether a value is a level, a running total or a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A level that goes up and down.
    Gauge,
    /// A total since the process started (or since unseal, where noted).
    Counter,
    /// Durations in buckets ([`Metric::histogram`] holds them).
    Histogram,
}

/// One metric. Several metrics may share a name with different labels
/// (`coffer.hsm.errors{code="CKR_PIN_INCORRECT"}`); they come one after the
/// other in a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Dotted name (`coffer.entropy.seal.draws`).
    pub name: &'static str,
    /// Gauge, counter or histogram.
    pub kind: MetricKind,
    /// The value (a histogram's count).
    pub value: f64,
    /// What it measures, for Prometheus `# HELP`.
    pub help: &'static str,
    /// Label names and values.
    pub labels: Vec<(&'static str, String)>,
    /// The buckets, for [`MetricKind::Histogram`].
    pub histogram: Option<Histogram>,
}

impl Metric {
    /// A gauge.
    pub fn gauge(name: &'static str, value: f64, help: &'static str) -> Self {
        Self {
            name,
            kind: MetricKind::Gauge,
            value,
            help,
            labels: Vec::new(),
            histogram: None,
        }
    }

    /// A counter.
    pub fn counter(name: &'static str, value: u64, help: &'static str) -> Self {
        Self {
            kind: MetricKind::Counter,
            ..Self::gauge(name, value as f64, help)
        }
    }

    /// A counter whose total is not a whole number (seconds spent).
    pub fn total(name: &'static str, value: f64, help: &'static str) -> Self {
        Self {
            kind: MetricKind::Counter,
            ..Self::gauge(name, value, help)
        }
    }

    /// A histogram of durations.
    pub fn histogram(name: &'static str, histogram: Histogram, help: &'static str) -> Self {
        Self {
            kind: MetricKind::Histogram,
            histogram: Some(histogram),
            ..Self::gauge(name, 0.0, help)
        }
        .with_value_from_histogram()
    }

    fn with_value_from_histogram(mut self) -> Self {
        self.value = self.histogram.as_ref().map_or(0.0, |h| h.count as f64);
        self
    }

    /// Adds a label.
    #[must_use]
    pub fn label(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.labels.push((name, value.into()));
        self
    }
}

fn gauge(name: &'static str, value: f64, help: &'static str) -> Metric {
    Metric::gauge(name, value, help)
}

fn counter(name: &'static str, value: u64, help: &'static str) -> Metric {
    Metric::counter(name, value, help)
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

impl Core {
    /// A snapshot of every metric.
    pub async fn metrics(&self) -> Vec<Metric> {
        let mut out = vec![
            gauge(
                "coffer.core.unsealed",
                flag(!self.is_sealed()),
                "1 when the node is unsealed",
            ),
            gauge(
                "coffer.seal.healthy",
                flag(self.seal.health().await == SealHealth::Healthy),
                "1 when the seal (HSM) answers",
            ),
        ];
        if !self.is_sealed() {
            out.push(gauge(
                "vault.expire.num_leases",
                self.leases.count() as f64,
                "leases the expiration manager tracks (one per token that expires)",
            ));
        }
        if let Ok(k) = self.barrier.key_status() {
            out.push(gauge(
                "coffer.barrier.term",
                f64::from(k.term),
                "active keyring term",
            ));
            out.push(counter(
                "coffer.barrier.encryptions",
                k.encryptions,
                "encryptions with the active term (kept across restarts)",
            ));
        }
        if !self.is_sealed() {
            let table = self.router_table();
            out.extend([
                gauge(
                    "coffer.jobs.running",
                    self.jobs.running() as f64,
                    "tidies and mount data deletions running in the background",
                ),
                gauge(
                    "coffer.quota.rate_limit.quotas",
                    self.quotas.names().len() as f64,
                    "rate-limit quotas in force",
                ),
                gauge(
                    "coffer.mounts.removals_pending",
                    (table.mounts.removing.len() + table.auth.removing.len()) as f64,
                    "disabled mounts and auth methods whose data is still being deleted",
                ),
            ]);
        }
        for (name, refused) in self.quotas.refusals() {
            out.push(
                counter(
                    "coffer.quota.rate_limit.violations",
                    refused,
                    "requests refused by a rate-limit quota since unseal",
                )
                .label("name", name),
            );
        }
        let rw = self.rewrap_status();
        out.extend([
            gauge(
                "coffer.sealwrap.rewrap.running",
                flag(rw.is_running),
                "1 while a seal re-wrap pass runs",
            ),
            counter(
                "coffer.sealwrap.rewrap.processed",
                rw.processed,
                "values examined by the current or last re-wrap pass",
            ),
            counter(
                "coffer.sealwrap.rewrap.rewritten",
                rw.rewritten,
                "values re-wrapped by the current or last pass",
            ),
            counter(
                "coffer.sealwrap.rewrap.failed",
                rw.failed,
                "values the current or last pass could not re-wrap",
            ),
        ]);
        if let Some(r) = self.entropy.report() {
            out.extend([
                gauge(
                    "coffer.entropy.seal.healthy",
                    flag(r.health == EntropyHealth::Healthy),
                    "1 when the HSM entropy source answered and passed the SP 800-90B tests",
                ),
                counter(
                    "coffer.entropy.seal.draws",
                    r.draws,
                    "draws of augmented randomness (keys, tokens, ...)",
                ),
                counter(
                    "coffer.entropy.seal.bytes",
                    r.bytes,
                    "bytes of augmented randomness handed out",
                ),
                counter(
                    "coffer.entropy.seal.failures",
                    r.failures,
                    "draws refused because the HSM source was unavailable or failed a test",
                ),
                counter(
                    "coffer.entropy.seal.hsm_fetches",
                    r.fetches,
                    "C_GenerateRandom calls",
                ),
                counter(
                    "coffer.entropy.seal.hsm_bytes",
                    r.fetched_bytes,
                    "bytes fetched with C_GenerateRandom",
                ),
                counter(
                    "coffer.entropy.seal.health_test_failures",
                    r.health_test_failures,
                    "HSM chunks that failed an SP 800-90B health test",
                ),
            ]);
        }
        out.extend(self.seal.metrics());
        if let Some(provider) = &self.managed_keys {
            out.extend(provider.metrics());
        }
        out
    }

    /// The augmented entropy source's report (`None` without `entropy "seal"`).
    pub fn entropy_report(&self) -> Option<coffer_crypto::EntropyReport> {
        self.entropy.report()
    }
}
