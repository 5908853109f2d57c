//! Results: one human line per (scenario, clients), or one JSON document for machines.

use std::time::Duration;

use serde::Serialize;

use crate::stats::{Latencies, human};

/// The outcome of one (scenario, clients) run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LevelResult {
    pub(crate) scenario: &'static str,
    pub(crate) clients: usize,
    pub(crate) duration_s: f64,
    /// Successful operations that started inside the measured window.
    pub(crate) ops: u64,
    pub(crate) ops_per_sec: f64,
    pub(crate) p50_us: Option<u64>,
    pub(crate) p99_us: Option<u64>,
    pub(crate) max_us: Option<u64>,
    /// Requests the server shed (429, or 503 with Retry-After); not in `ops`
    /// or the latencies.
    pub(crate) refused: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    #[serde(skip)]
    p50: Option<Duration>,
    #[serde(skip)]
    p99: Option<Duration>,
}

impl LevelResult {
    pub(crate) fn new(
        scenario: &'static str,
        clients: usize,
        duration: Duration,
        latencies: &Latencies,
        refused: u64,
        errors: u64,
        first_error: Option<String>,
    ) -> Self {
        let ops = u64::try_from(latencies.len()).unwrap_or(u64::MAX);
        let secs = duration.as_secs_f64();
        #[allow(clippy::cast_precision_loss, reason = "op counts stay far below 2^53")]
        let ops_per_sec = if secs > 0.0 { ops as f64 / secs } else { 0.0 };
        let p50 = latencies.percentile(50.0);
        let p99 = latencies.percentile(99.0);
        let micros =
            |d: Option<Duration>| d.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        Self {
            scenario,
            clients,
            duration_s: secs,
            ops,
            ops_per_sec,
            p50_us: micros(p50),
            p99_us: micros(p99),
            max_us: micros(latencies.max()),
            refused,
            errors,
            first_error,
            p50,
            p99,
        }
    }

    /// `kv2-write  clients=16  ops/s=1234.5  p50=1.23ms  p99=4.56ms  errors=0  (ops=12345)`,
    /// with `refused=N (x%)` when the server shed requests.
    pub(crate) fn human_line(&self) -> String {
        let mut line = format!(
            "{:<12} clients={:<4} ops/s={:<10.1} p50={:<10} p99={:<10} errors={} (ops={})",
            self.scenario,
            self.clients,
            self.ops_per_sec,
            human(self.p50),
            human(self.p99),
            self.errors,
            self.ops,
        );
        if self.refused > 0 {
            #[allow(clippy::cast_precision_loss, reason = "op counts stay far below 2^53")]
            let share = self.refused as f64 * 100.0 / (self.refused + self.ops).max(1) as f64;
            line.push_str(&format!("  refused={} ({share:.1}%)", self.refused));
        }
        if let Some(e) = &self.first_error {
            line.push_str(&format!("\n  first error: {e}"));
        }
        line
    }
}

/// The `--json` document.
#[derive(Debug, Serialize)]
pub(crate) struct Report<'a> {
    pub(crate) address: &'a str,
    pub(crate) warmup_s: f64,
    pub(crate) results: &'a [LevelResult],
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn sample() -> LevelResult {
        let lat = Latencies::from_samples((1..=100).map(Duration::from_micros).collect());
        LevelResult::new(
            "kv2-read",
            16,
            Duration::from_secs(2),
            &lat,
            7,
            3,
            Some("503: Vault is sealed".into()),
        )
    }

    #[test]
    fn ops_per_second_divides_successful_ops_by_the_window() {
        let r = sample();
        assert_eq!(r.ops, 100);
        assert!((r.ops_per_sec - 50.0).abs() < f64::EPSILON);
        assert_eq!(
            (r.p50_us, r.p99_us, r.max_us),
            (Some(50), Some(99), Some(100))
        );
    }

    #[test]
    fn human_line_names_scenario_clients_latencies_and_errors() {
        let line = sample().human_line();
        for part in [
            "kv2-read",
            "clients=16",
            "ops/s=50.0",
            "p50=50µs",
            "p99=99µs",
            "refused=7",
            "errors=3",
            "Vault is sealed",
        ] {
            assert!(line.contains(part), "{part:?} missing from {line:?}");
        }
    }

    #[test]
    fn json_report_has_machine_fields() {
        let results = [sample()];
        let doc = serde_json::to_value(Report {
            address: "http://127.0.0.1:8200",
            warmup_s: 2.0,
            results: &results,
        })
        .unwrap();
        let r = &doc["results"][0];
        assert_eq!(r["scenario"], "kv2-read");
        assert_eq!(r["clients"], 16);
        assert_eq!(r["p99_us"], 99);
        assert_eq!(r["errors"], 3);
        assert_eq!(r["refused"], 7);
        assert!(r.get("p50").is_none());
    }
}
