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

/// The best round of each server at one (scenario, clients), with `--compare`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ComparedLevel {
    pub(crate) scenario: &'static str,
    pub(crate) clients: usize,
    /// The `--address` server's best round (highest ops/s).
    pub(crate) primary: LevelResult,
    /// The `--compare` server's best round.
    pub(crate) compare: LevelResult,
    /// Primary ops/s divided by compare ops/s; `None` when the compare server had no op.
    pub(crate) ratio: Option<f64>,
}

impl ComparedLevel {
    /// Pairs the two best rounds of one (scenario, clients).
    pub(crate) fn new(primary: LevelResult, compare: LevelResult) -> Self {
        let ratio = (compare.ops_per_sec > 0.0).then(|| primary.ops_per_sec / compare.ops_per_sec);
        Self {
            scenario: primary.scenario,
            clients: primary.clients,
            primary,
            compare,
            ratio,
        }
    }

    /// `kv2-read c=16: coffer 28,400 ops/s vs compare 7,100 ops/s = 4.00x (p99 1.8 ms vs 22.1 ms)`.
    pub(crate) fn ratio_line(&self) -> String {
        let ratio = self
            .ratio
            .map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}x"));
        format!(
            "{} c={}: coffer {} ops/s vs compare {} ops/s = {ratio} (p99 {} vs {})",
            self.scenario,
            self.clients,
            thousands(self.primary.ops_per_sec),
            thousands(self.compare.ops_per_sec),
            short_latency(self.primary.p99),
            short_latency(self.compare.p99),
        )
    }
}

/// A rate rounded to a whole number, with a comma every three digits: `28,400`.
fn thousands(rate: f64) -> String {
    let digits = format!("{rate:.0}");
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (n, c) in digits.chars().enumerate() {
        if n > 0 && (digits.len() - n) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency with one decimal in milliseconds (`22.1 ms`), or in microseconds below one.
fn short_latency(d: Option<Duration>) -> String {
    match d {
        None => "-".to_owned(),
        Some(d) if d < Duration::from_millis(1) => format!("{} µs", d.as_micros()),
        Some(d) => format!("{:.1} ms", d.as_secs_f64() * 1000.0),
    }
}

/// The `--json` document.
#[derive(Debug, Serialize)]
pub(crate) struct Report<'a> {
    pub(crate) address: &'a str,
    pub(crate) warmup_s: f64,
    /// One result per (scenario, clients) for `address` (with `--compare`, its best round).
    pub(crate) results: &'a [LevelResult],
    /// Only with `--compare`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) compare: Option<CompareReport<'a>>,
}

/// The `compare` section of the `--json` document.
#[derive(Debug, Serialize)]
pub(crate) struct CompareReport<'a> {
    /// The `--compare` server.
    pub(crate) address: &'a str,
    pub(crate) rounds: u32,
    pub(crate) levels: &'a [ComparedLevel],
}

/// Prints a human line: on stdout, or on stderr when stdout carries the JSON document.
pub(crate) fn say(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
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
            compare: None,
        })
        .unwrap();
        assert!(doc.get("compare").is_none());
        let r = &doc["results"][0];
        assert_eq!(r["scenario"], "kv2-read");
        assert_eq!(r["clients"], 16);
        assert_eq!(r["p99_us"], 99);
        assert_eq!(r["errors"], 3);
        assert_eq!(r["refused"], 7);
        assert!(r.get("p50").is_none());
    }

    /// A result of `ops` ops in one second whose every latency is `p99`.
    fn level(ops: u64, p99: Duration) -> LevelResult {
        let lat = Latencies::from_samples(vec![p99; usize::try_from(ops).unwrap()]);
        LevelResult::new("kv2-read", 16, Duration::from_secs(1), &lat, 0, 0, None)
    }

    #[test]
    fn ratio_line_gives_both_rates_the_ratio_and_both_p99s() {
        let pair = ComparedLevel::new(
            level(28_400, Duration::from_micros(1_800)),
            level(7_100, Duration::from_micros(22_100)),
        );
        assert_eq!(
            pair.ratio_line(),
            "kv2-read c=16: coffer 28,400 ops/s vs compare 7,100 ops/s = 4.00x \
             (p99 1.8 ms vs 22.1 ms)"
        );
    }

    #[test]
    fn ratio_is_not_available_when_the_compare_server_had_no_op() {
        let pair = ComparedLevel::new(
            level(10, Duration::from_micros(450)),
            level(0, Duration::ZERO),
        );
        assert_eq!(pair.ratio, None);
        assert_eq!(
            pair.ratio_line(),
            "kv2-read c=16: coffer 10 ops/s vs compare 0 ops/s = n/a (p99 450 µs vs -)"
        );
    }

    #[test]
    fn rates_get_a_comma_every_three_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(28_400.2), "28,400");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }

    #[test]
    fn json_compare_section_pairs_both_servers_with_the_ratio() {
        let results = [level(300, Duration::from_millis(2))];
        let levels = [ComparedLevel::new(
            level(300, Duration::from_millis(2)),
            level(100, Duration::from_millis(5)),
        )];
        let doc = serde_json::to_value(Report {
            address: "http://127.0.0.1:8200",
            warmup_s: 2.0,
            results: &results,
            compare: Some(CompareReport {
                address: "http://127.0.0.1:8300",
                rounds: 3,
                levels: &levels,
            }),
        })
        .unwrap();
        let c = &doc["compare"];
        assert_eq!(c["address"], "http://127.0.0.1:8300");
        assert_eq!(c["rounds"], 3);
        let l = &c["levels"][0];
        assert_eq!(
            (&l["scenario"], &l["clients"]),
            (&"kv2-read".into(), &16.into())
        );
        assert_eq!(l["primary"]["ops"], 300);
        assert_eq!(l["compare"]["p99_us"], 5000);
        assert!((l["ratio"].as_f64().unwrap() - 3.0).abs() < 1e-9);
    }
}
