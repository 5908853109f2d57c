//! Soak: 64 clients of mixed work against the real server with the pkcs11
//! seal on the test token and a file audit device: KV v2 writes and reads,
//! transit encrypt and decrypt, userpass logins, tokens created, looked up
//! and revoked, and short-lived tokens left to expire (the lease sweep
//! revokes them). Nothing may answer 5xx; the server's RSS and open file
//! descriptors must stay flat; the audit log must hold exactly one request
//! and one response entry for every call made.
//!
//! `COFFER_SOAK_SECS` sets the length (20 s by default, as CI runs it);
//! docs/RELIABILITY.md has the figures of a 30-minute run.

mod common;

use coffer_client::Method;
use common::{Hsm, api_client_with, init_auto, wait_unsealed};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 64;
const DEFAULT_SECS: u64 = 20;

fn soak_length() -> Duration {
    Duration::from_secs(
        std::env::var("COFFER_SOAK_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_SECS),
    )
}

/// What the clients saw, by call kind and status class.
#[derive(Debug, Default)]
struct Tally {
    calls: u64,
    by_kind: BTreeMap<&'static str, u64>,
    server_errors: Vec<String>,
    client_errors: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.calls += other.calls;
        for (k, v) in other.by_kind {
            *self.by_kind.entry(k).or_default() += v;
        }
        self.server_errors.extend(other.server_errors);
        self.client_errors.extend(other.client_errors);
    }
}

/// One client's loop: a fixed rotation of operations until `stop`.
async fn client(addr: String, root: String, id: usize, stop: Arc<AtomicBool>) -> Tally {
    let root_api = api_client_with(&addr, Some(&root));
    let mut tally = Tally::default();
    let mut ciphertext: Option<String> = None;
    let mut written: Option<String> = None;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let key = format!("soak/c{id}/k{}", n % 16);
        let (kind, method, path, body) = match n % 8 {
            0 => (
                "kv write",
                Method::Post,
                format!("secret/data/{key}"),
                Some(json!({"data": {"n": n, "pad": "x".repeat(64)}})),
            ),
            1 => match &written {
                Some(k) => ("kv read", Method::Get, format!("secret/data/{k}"), None),
                None => continue,
            },
            2 => (
                "transit encrypt",
                Method::Post,
                "transit/encrypt/soak".to_owned(),
                Some(json!({"plaintext": "c29hayB0ZXN0IHBheWxvYWQ="})),
            ),
            3 => match &ciphertext {
                Some(ct) => (
                    "transit decrypt",
                    Method::Post,
                    "transit/decrypt/soak".to_owned(),
                    Some(json!({"ciphertext": ct})),
                ),
                None => continue,
            },
            4 => (
                "userpass login",
                Method::Post,
                "auth/userpass/login/soak".to_owned(),
                Some(json!({"password": "soak-password-1"})),
            ),
            5 => (
                "short token create",
                Method::Post,
                "auth/token/create".to_owned(),
                Some(json!({"ttl": "2s", "policies": ["default"]})),
            ),
            6 => (
                "token create",
                Method::Post,
                "auth/token/create".to_owned(),
                Some(json!({"ttl": "1h", "policies": ["default"]})),
            ),
            _ => (
                "token lookup-self",
                Method::Get,
                "auth/token/lookup-self".to_owned(),
                None,
            ),
        };
        tally.calls += 1;
        *tally.by_kind.entry(kind).or_default() += 1;
        match root_api.raw(method, &path, &[], body.as_ref()).await {
            Ok(r) if r.status >= 500 => tally
                .server_errors
                .push(format!("{kind}: {} {:?}", r.status, r.body)),
            Ok(r) if r.status >= 400 => tally
                .client_errors
                .push(format!("{kind}: {} {:?}", r.status, r.body)),
            Ok(r) => {
                let data = r.body.as_ref().map(|b| &b["data"]);
                if kind == "kv write" {
                    written = Some(key.clone());
                }
                if kind == "transit encrypt" {
                    ciphertext = data.and_then(|d| d["ciphertext"].as_str().map(str::to_owned));
                }
                if kind == "token create"
                    && let Some(token) = r
                        .body
                        .as_ref()
                        .and_then(|b| b["auth"]["client_token"].as_str())
                {
                    // Revoke what was just made: revocation is part of the mix.
                    tally.calls += 1;
                    *tally.by_kind.entry("token revoke").or_default() += 1;
                    let revoked = root_api
                        .raw(
                            Method::Post,
                            "auth/token/revoke",
                            &[],
                            Some(&json!({"token": token})),
                        )
                        .await;
                    match revoked {
                        Ok(r) if r.status >= 400 => tally
                            .server_errors
                            .push(format!("token revoke: {} {:?}", r.status, r.body)),
                        Ok(_) => {}
                        Err(e) => tally.server_errors.push(format!("token revoke: {e}")),
                    }
                }
            }
            Err(e) => tally.server_errors.push(format!("{kind}: {e}")),
        }
    }
    tally
}

/// The server's resident memory in KiB and its open file descriptors.
fn footprint(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    (rss, fds)
}

/// Request ids of audit entries after line `skip`, by entry type.
fn audit_ids(log: &std::path::Path, skip: usize) -> HashMap<String, Vec<String>> {
    let text = std::fs::read_to_string(log).expect("audit log");
    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    for line in text.lines().skip(skip) {
        let entry: Value = serde_json::from_str(line).expect("audit entries are JSON lines");
        let kind = entry["type"].as_str().unwrap_or("?").to_owned();
        let id = entry["request"]["id"].as_str().unwrap_or("").to_owned();
        ids.entry(kind).or_default().push(id);
    }
    ids
}

#[test]
fn mixed_work_answers_no_5xx_keeps_memory_and_fds_flat_and_audits_every_call() {
    let hsm = Hsm::new();
    let seal = hsm.pkcs11_stanza(
        "  key_label = \"soak-root\"\n  hmac_key_label = \"soak-hmac\"\n  generate_key = \"true\"\n",
    );
    let storage = format!(
        "storage \"embedded\" {{\n  path = \"{}\"\n}}\n",
        hsm.dir.path().join("embedded").display()
    );
    let (config, addr) = hsm.write_config_with(&seal, &storage, "");
    let server_log = hsm.dir.path().join("server.log");
    let mut server = hsm.start_logged(&config, &server_log);
    common::wait_up(&addr, &mut server);
    let (root, _) = init_auto(&addr, 1, 1);
    wait_unsealed(&addr);
    let audit_log = hsm.dir.path().join("audit.log");
    let setup = [
        (
            "sys/audit/file",
            json!({"type": "file", "options": {"file_path": audit_log}}),
        ),
        (
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        ),
        ("sys/mounts/transit", json!({"type": "transit"})),
        ("transit/keys/soak", json!({"type": "aes256-gcm96"})),
        ("sys/auth/userpass", json!({"type": "userpass"})),
        (
            "auth/userpass/users/soak",
            json!({"password": "soak-password-1", "token_ttl": "2s", "token_policies": "default"}),
        ),
    ];
    for (path, body) in setup {
        let (status, answer) = common::raw_as(&addr, Some(&root), Method::Post, path, Some(body));
        assert!(status < 300, "{path}: {status} {answer}");
    }
    let audited_before = std::fs::read_to_string(&audit_log)
        .expect("audit log")
        .lines()
        .count();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| rt.spawn(client(addr.clone(), root.clone(), i, stop.clone())))
        .collect();
    let length = soak_length();
    let sample_every = (length / 40).max(Duration::from_millis(500));
    let started = Instant::now();
    let pid = server.id();
    let mut samples = Vec::new();
    let peak_fds = AtomicU64::new(0);
    while started.elapsed() < length {
        std::thread::sleep(sample_every);
        let (rss, fds) = footprint(pid);
        peak_fds.fetch_max(fds as u64, Ordering::Relaxed);
        samples.push((started.elapsed(), rss, fds));
        if let Some(status) = server.try_wait().expect("try_wait") {
            panic!(
                "the server exited with {status} during the soak:\n{}",
                std::fs::read_to_string(&server_log).unwrap_or_default()
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut tally = Tally::default();
    for c in clients {
        tally.add(rt.block_on(c).expect("client"));
    }
    // Short-lived tokens expire now; the sweep revokes them (no HTTP calls).
    std::thread::sleep(Duration::from_secs(3));
    let (rss_end, fds_end) = footprint(pid);
    let _ = server.kill();
    let _ = server.wait();

    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "soak: {} calls in {secs:.0} s ({:.0}/s) by {CLIENTS} clients: {:?}",
        tally.calls,
        tally.calls as f64 / secs,
        tally.by_kind
    );
    for (at, rss, fds) in &samples {
        eprintln!(
            "soak: at {:>6.1} s  RSS {:>7} KiB  fds {fds}",
            at.as_secs_f64(),
            rss
        );
    }
    assert!(
        tally.server_errors.is_empty(),
        "{} calls failed with 5xx or no answer, first: {:?}",
        tally.server_errors.len(),
        &tally.server_errors[..tally.server_errors.len().min(5)]
    );
    assert!(
        tally.client_errors.is_empty(),
        "{} calls refused, first: {:?}",
        tally.client_errors.len(),
        &tally.client_errors[..tally.client_errors.len().min(5)]
    );

    // Flat: after the first quarter (caches, pools and allocator arenas
    // warm up), RSS grows by at most a quarter, and descriptors stay within
    // the clients' connections of where they were.
    let warm = samples.len() / 4;
    let (_, rss_warm, fds_warm) = samples[warm.max(1) - 1];
    let rss_peak = samples[warm..].iter().map(|s| s.1).max().unwrap_or(rss_end);
    assert!(
        rss_peak <= rss_warm + rss_warm / 4,
        "RSS grew from {rss_warm} KiB (warm) to {rss_peak} KiB"
    );
    assert!(
        fds_end <= fds_warm + 8,
        "open descriptors went from {fds_warm} (warm) to {fds_end} after the clients left"
    );
    eprintln!(
        "soak: RSS {rss_warm} KiB warm, {rss_peak} KiB peak, {rss_end} KiB at the end; fds \
         {fds_warm} warm, {} peak, {fds_end} at the end",
        peak_fds.load(Ordering::Relaxed)
    );

    let ids = audit_ids(&audit_log, audited_before);
    let requests = ids.get("request").cloned().unwrap_or_default();
    let mut responses = ids.get("response").cloned().unwrap_or_default();
    assert_eq!(
        requests.len() as u64,
        tally.calls,
        "one audit request entry per call"
    );
    assert_eq!(
        responses.len(),
        requests.len(),
        "one response entry per request"
    );
    let mut requests = requests;
    requests.sort();
    responses.sort();
    assert_eq!(
        requests, responses,
        "each request entry's id has its response entry"
    );
    requests.dedup();
    assert_eq!(requests.len() as u64, tally.calls, "request ids are unique");
}
