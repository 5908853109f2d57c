//! Command-line arguments and the checks that keep a run bounded and on this machine.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use clap::builder::PossibleValuesParser;
use reqwest::Url;

use crate::scenario;

/// Largest client count accepted: each client is one task and one connection.
pub(crate) const MAX_CLIENTS: usize = 1024;
/// Longest measurement or warm-up phase accepted, so that a typo cannot start an endless run.
pub(crate) const MAX_PHASE: Duration = Duration::from_secs(3600);
/// Most `--rounds` accepted, for the same reason.
pub(crate) const MAX_ROUNDS: u32 = 20;

/// Drive a Vault-compatible server with N concurrent clients and report ops/s and latency.
#[derive(Debug, Parser)]
#[command(name = "coffer-bench", version)]
pub(crate) struct Args {
    /// Server address, e.g. http://127.0.0.1:8200.
    #[arg(long, env = "VAULT_ADDR", default_value = "http://127.0.0.1:8200")]
    pub(crate) address: String,

    /// Token sent as X-Vault-Token; it must be allowed to mount engines (a root token will do).
    /// Not needed for in-process scenarios (`aes-gcm-raw`).
    #[arg(long, env = "VAULT_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,

    /// Scenarios to run, comma-separated, in order.
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        value_parser = PossibleValuesParser::new(scenario::NAMES)
    )]
    pub(crate) scenario: Vec<String>,

    /// Concurrent client counts, comma-separated; each scenario runs once per count.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64", value_parser = parse_clients)]
    pub(crate) clients: Vec<usize>,

    /// Measured time per (scenario, clients) pair, e.g. 10s or 1m.
    #[arg(long, default_value = "10s", value_parser = parse_phase)]
    pub(crate) duration: Duration,

    /// Unmeasured time before each measurement, to fill connection pools and caches.
    #[arg(long, default_value = "2s", value_parser = parse_warmup)]
    pub(crate) warmup: Duration,

    /// Per-request timeout; a request that takes longer counts as an error.
    #[arg(long, default_value = "10s", value_parser = parse_phase)]
    pub(crate) request_timeout: Duration,

    /// Print one JSON document on stdout (human-readable lines go to stderr).
    #[arg(long)]
    pub(crate) json: bool,

    /// Allow an address that is not loopback (127.0.0.0/8, ::1, localhost).
    #[arg(long)]
    pub(crate) allow_remote: bool,

    /// PEM file with the CA certificate(s) to trust for an https address (replaces the defaults).
    #[arg(long, env = "VAULT_CACERT")]
    pub(crate) ca_cert: Option<PathBuf>,

    /// Skip TLS certificate verification for an https address.
    #[arg(long)]
    pub(crate) insecure: bool,

    /// A second server to compare with, e.g. http://127.0.0.1:8300: every scenario is set up
    /// on both, each client count runs against --address then against this one (--rounds
    /// times), and a ratio line follows. Same loopback rule as --address.
    #[arg(long, value_name = "ADDR")]
    pub(crate) compare: Option<String>,

    /// Token for the --compare server (default: the --token).
    #[arg(long, requires = "compare")]
    pub(crate) compare_token: Option<String>,

    /// With --compare: how many times each client count runs on each server, alternating;
    /// the best ops/s of each side is reported.
    #[arg(long, requires = "compare", default_value_t = 1, value_parser = parse_rounds)]
    pub(crate) rounds: u32,
}

impl Args {
    /// The parsed address, after checking scheme and the loopback rule.
    pub(crate) fn target(&self) -> anyhow::Result<Url> {
        self.checked("--address", &self.address)
    }

    /// The parsed `--compare` address, if any, after the same checks as [`Args::target`].
    pub(crate) fn compare_target(&self) -> anyhow::Result<Option<Url>> {
        self.compare
            .as_deref()
            .map(|address| self.checked("--compare", address))
            .transpose()
    }

    /// The token for the `--compare` server: `--compare-token`, else `--token`.
    pub(crate) fn compare_token(&self) -> Option<&str> {
        self.compare_token.as_deref().or(self.token.as_deref())
    }

    /// `address` (given as `flag`) parsed, with an http(s) scheme, a host, and that host on
    /// this machine unless `--allow-remote`.
    fn checked(&self, flag: &str, address: &str) -> anyhow::Result<Url> {
        let url =
            Url::parse(address).with_context(|| format!("{flag} {address:?} is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("{flag} must start with http:// or https://, got {address:?}");
        }
        let Some(host) = url.host_str() else {
            bail!("{flag} {address:?} has no host");
        };
        if !self.allow_remote && !is_loopback_host(host) {
            bail!(
                "refusing to load {host}: it is not a loopback address. A benchmark floods its target \
                 with requests, so by default it may only aim at this machine (127.0.0.0/8, [::1], \
                 localhost). Pass --allow-remote to benchmark a server you own elsewhere."
            );
        }
        Ok(url)
    }
}

/// True for `localhost`, any 127.0.0.0/8 address and `::1` (bracketed or not). Names other
/// than `localhost` are not resolved: they count as remote.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn parse_clients(s: &str) -> Result<usize, String> {
    parse_count(s, "client count", MAX_CLIENTS)
}

fn parse_rounds(s: &str) -> Result<u32, String> {
    parse_count(s, "number of rounds", MAX_ROUNDS)
}

/// A whole number from 1 to `max`; `what` names it in the error.
fn parse_count<T>(s: &str, what: &str, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + From<u8> + std::fmt::Display,
    T::Err: std::fmt::Display,
{
    let n: T = s
        .trim()
        .parse()
        .map_err(|e| format!("{s:?} is not a {what}: {e}"))?;
    if n < T::from(1) || n > max {
        return Err(format!("{what} must be between 1 and {max}, got {n}"));
    }
    Ok(n)
}

fn parse_phase(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration: {e}"))?;
    if d.is_zero() || d > MAX_PHASE {
        return Err(format!(
            "duration must be above 0 and at most {}, got {s:?}",
            humantime::format_duration(MAX_PHASE)
        ));
    }
    Ok(d)
}

fn parse_warmup(s: &str) -> Result<Duration, String> {
    // Unlike the measured phase, a warm-up may be skipped entirely.
    if humantime::parse_duration(s).is_ok_and(|d| d.is_zero()) {
        return Ok(Duration::ZERO);
    }
    parse_phase(s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Result<Args, clap::Error> {
        let mut argv = vec![
            "coffer-bench",
            "--address",
            "http://127.0.0.1:8200",
            "--token",
            "root",
        ];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv)
    }

    #[test]
    fn defaults_are_one_sixteen_sixtyfour_clients_for_ten_seconds_after_two() {
        let args = parse(&["--scenario", "kv2-write"]).unwrap();
        assert_eq!(args.clients, vec![1, 16, 64]);
        assert_eq!(args.duration, Duration::from_secs(10));
        assert_eq!(args.warmup, Duration::from_secs(2));
        assert!(!args.json);
        assert!(!args.allow_remote);
    }

    #[test]
    fn scenario_and_clients_accept_comma_separated_lists() {
        let args = parse(&[
            "--scenario",
            "kv2-write,kv2-read",
            "--clients",
            "2,8",
            "--duration",
            "1m",
            "--warmup",
            "500ms",
            "--json",
        ])
        .unwrap();
        assert_eq!(args.scenario, vec!["kv2-write", "kv2-read"]);
        assert_eq!(args.clients, vec![2, 8]);
        assert_eq!(args.duration, Duration::from_secs(60));
        assert_eq!(args.warmup, Duration::from_millis(500));
        assert!(args.json);
    }

    #[test]
    fn unknown_scenario_is_rejected() {
        assert!(parse(&["--scenario", "kv3-write"]).is_err());
    }

    #[test]
    fn scenario_is_required() {
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn zero_or_too_many_clients_are_rejected() {
        assert!(parse(&["--scenario", "kv2-read", "--clients", "0"]).is_err());
        assert!(parse(&["--scenario", "kv2-read", "--clients", "1,5000"]).is_err());
        assert!(parse(&["--scenario", "kv2-read", "--clients", "four"]).is_err());
    }

    #[test]
    fn zero_or_endless_duration_is_rejected_but_zero_warmup_is_fine() {
        assert!(parse(&["--scenario", "kv2-read", "--duration", "0s"]).is_err());
        assert!(parse(&["--scenario", "kv2-read", "--duration", "2days"]).is_err());
        let args = parse(&["--scenario", "kv2-read", "--warmup", "0s"]).unwrap();
        assert_eq!(args.warmup, Duration::ZERO);
    }

    #[test]
    fn loopback_addresses_are_targets() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn other_addresses_are_remote() {
        for host in [
            "10.0.0.1",
            "192.168.1.1",
            "8.8.8.8",
            "vault.example.com",
            "[fe80::1]",
            "0.0.0.0",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn remote_target_is_refused_without_allow_remote() {
        let mut args = parse(&["--scenario", "kv2-read"]).unwrap();
        args.address = "http://10.1.2.3:8200".to_owned();
        let err = args.target().unwrap_err().to_string();
        assert!(err.contains("--allow-remote"), "{err}");
        args.allow_remote = true;
        assert!(args.target().is_ok());
    }

    #[test]
    fn ipv6_loopback_url_is_a_target() {
        let mut args = parse(&["--scenario", "kv2-read"]).unwrap();
        args.address = "http://[::1]:8200".to_owned();
        assert!(args.target().is_ok());
    }

    #[test]
    fn without_compare_there_is_no_second_target_and_one_round() {
        let args = parse(&["--scenario", "kv2-read"]).unwrap();
        assert_eq!(args.compare, None);
        assert!(args.compare_target().unwrap().is_none());
        assert_eq!(args.rounds, 1);
    }

    #[test]
    fn compare_takes_an_address_and_defaults_to_the_same_token() {
        let args = parse(&[
            "--scenario",
            "kv2-read",
            "--compare",
            "http://127.0.0.1:8300",
            "--rounds",
            "3",
        ])
        .unwrap();
        let url = args.compare_target().unwrap().unwrap();
        assert_eq!(url.port(), Some(8300));
        assert_eq!(args.compare_token(), Some("root"));
        assert_eq!(args.rounds, 3);
    }

    #[test]
    fn compare_token_replaces_the_token_for_the_second_server_only() {
        let args = parse(&[
            "--scenario",
            "kv2-read",
            "--compare",
            "http://localhost:8300",
            "--compare-token",
            "other",
        ])
        .unwrap();
        assert_eq!(args.compare_token(), Some("other"));
        assert_eq!(args.token.as_deref(), Some("root"));
    }

    #[test]
    fn compare_token_and_rounds_need_compare() {
        assert!(parse(&["--scenario", "kv2-read", "--compare-token", "x"]).is_err());
        assert!(parse(&["--scenario", "kv2-read", "--rounds", "2"]).is_err());
    }

    #[test]
    fn zero_or_too_many_rounds_are_rejected() {
        let compare = [
            "--scenario",
            "kv2-read",
            "--compare",
            "http://127.0.0.1:8300",
        ];
        for bad in ["0", "21", "two"] {
            let mut argv = compare.to_vec();
            argv.extend(["--rounds", bad]);
            assert!(parse(&argv).is_err(), "{bad}");
        }
    }

    #[test]
    fn remote_compare_target_is_refused_without_allow_remote() {
        let mut args = parse(&[
            "--scenario",
            "kv2-read",
            "--compare",
            "http://vault.example.com:8200",
        ])
        .unwrap();
        let err = args.compare_target().unwrap_err().to_string();
        assert!(err.contains("--allow-remote"), "{err}");
        args.allow_remote = true;
        assert!(args.compare_target().unwrap().is_some());
    }

    #[test]
    fn malformed_compare_address_names_the_compare_flag() {
        let args = parse(&["--scenario", "kv2-read", "--compare", "ftp://127.0.0.1/"]).unwrap();
        let err = args.compare_target().unwrap_err().to_string();
        assert!(err.starts_with("--compare "), "{err}");
    }

    #[test]
    fn non_http_scheme_is_rejected() {
        let mut args = parse(&["--scenario", "kv2-read"]).unwrap();
        args.address = "ftp://127.0.0.1/".to_owned();
        assert!(args.target().is_err());
    }
}
