//! Crash cycles: the real server on each durable backend (embedded, file,
//! PostgreSQL) with the pkcs11 seal on the test token, 16 clients writing
//! KV v2 secrets and creating transit keys, `SIGKILL` at a random moment,
//! and a restart that must auto-unseal. After each cycle every write the
//! server acknowledged must read back exactly; a write cut off by the kill
//! must be either absent or whole; no read may fail. At the end every
//! acknowledged write of every cycle is read again.
//!
//! `COFFER_CRASH_CYCLES` sets the cycles per backend (10 by default, as CI
//! runs them); docs/RELIABILITY.md has the figures of 100-cycle runs.

mod common;

use coffer_client::Method;
use coffer_testkit::postgres::PgServer;
use common::{Hsm, api_client_with, init_auto, wait_unsealed};
use serde_json::{Value, json};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;
const DEFAULT_CYCLES: usize = 10;

/// One write and what the server said to it.
#[derive(Debug, Clone)]
enum Write {
    /// `secret/data/<path>` with `{"v": value}`.
    Kv { path: String, value: String },
    /// `transit/keys/<name>`.
    TransitKey { name: String },
}

#[derive(Debug, Default)]
struct Writes {
    /// Answered 2xx before the kill.
    acknowledged: Vec<Write>,
    /// Cut off by the kill: no answer.
    unanswered: Vec<Write>,
    /// Answered with an error while the server was up: a failure.
    refused: Vec<(Write, u16, String)>,
}

fn cycles() -> usize {
    std::env::var("COFFER_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CYCLES)
}

/// A random number from the process's hash seed and `salt`.
fn random(salt: u64) -> u64 {
    RandomState::new().hash_one(salt)
}

/// Writes as one client until `stop`; every write goes to a new name.
async fn client_writes(
    addr: String,
    token: String,
    client: usize,
    cycle: usize,
    stop: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
) -> Writes {
    let api = api_client_with(&addr, Some(&token));
    let mut out = Writes::default();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let (write, method, path, body) = if n.is_multiple_of(4) {
            let name = format!("c{cycle}-{client}-{n}");
            (
                Write::TransitKey { name: name.clone() },
                Method::Post,
                format!("transit/keys/{name}"),
                json!({"type": "aes256-gcm96"}),
            )
        } else {
            let path = format!("c{cycle}/w{client}/k{n}");
            let value = format!("{cycle}:{client}:{n}:{:016x}", random(n as u64));
            (
                Write::Kv {
                    path: path.clone(),
                    value: value.clone(),
                },
                Method::Post,
                format!("secret/data/{path}"),
                json!({"data": {"v": value}}),
            )
        };
        match api.raw(method, &path, &[], Some(&body)).await {
            Ok(r) if (200..300).contains(&r.status) => {
                acks.fetch_add(1, Ordering::Relaxed);
                out.acknowledged.push(write);
            }
            Ok(r) => {
                let text = r.body.map(|b| b.to_string()).or(r.text).unwrap_or_default();
                if stop.load(Ordering::Relaxed) {
                    out.unanswered.push(write);
                } else {
                    out.refused.push((write, r.status, text));
                }
            }
            Err(_) if stop.load(Ordering::Relaxed) => {
                out.unanswered.push(write);
                break;
            }
            Err(e) => {
                out.refused
                    .push((write, 0, format!("no answer before the kill: {e}")));
                break;
            }
        }
    }
    out
}

/// Reads one write back: `Ok(true)` whole, `Ok(false)` absent, `Err` on
/// anything else (a failed read, a wrong value, a key that does not work).
/// Transit creates a missing key on encrypt (upsert), so callers check that
/// a transit key exists before they read it back this way.
async fn read_back(api: &coffer_client::Client, write: &Write) -> Result<bool, String> {
    match write {
        Write::Kv { path, value } => {
            let r = api
                .raw(Method::Get, &format!("secret/data/{path}"), &[], None)
                .await
                .map_err(|e| format!("read {path}: {e}"))?;
            match r.status {
                404 => Ok(false),
                200 => {
                    let got = r.body.as_ref().map(|b| b["data"]["data"]["v"].clone());
                    if got == Some(Value::String(value.clone())) {
                        Ok(true)
                    } else {
                        Err(format!("{path}: read {got:?}, wrote {value:?}"))
                    }
                }
                s => Err(format!("read {path}: status {s}: {:?}", r.body)),
            }
        }
        Write::TransitKey { name } => {
            let enc = api
                .raw(
                    Method::Post,
                    &format!("transit/encrypt/{name}"),
                    &[],
                    Some(&json!({"plaintext": "aGVsbG8="})),
                )
                .await
                .map_err(|e| format!("encrypt with {name}: {e}"))?;
            if enc.status != 200 {
                return Err(format!(
                    "encrypt with {name}: status {}: {:?}",
                    enc.status, enc.body
                ));
            }
            let ct = enc
                .body
                .as_ref()
                .and_then(|b| b["data"]["ciphertext"].as_str().map(str::to_owned))
                .ok_or_else(|| format!("encrypt with {name}: no ciphertext"))?;
            let dec = api
                .raw(
                    Method::Post,
                    &format!("transit/decrypt/{name}"),
                    &[],
                    Some(&json!({"ciphertext": ct})),
                )
                .await
                .map_err(|e| format!("decrypt with {name}: {e}"))?;
            let plain = dec
                .body
                .as_ref()
                .and_then(|b| b["data"]["plaintext"].as_str().map(str::to_owned));
            if dec.status == 200 && plain.as_deref() == Some("aGVsbG8=") {
                Ok(true)
            } else {
                Err(format!(
                    "decrypt with {name}: status {}: {:?}",
                    dec.status, dec.body
                ))
            }
        }
    }
}

/// Whether transit key `name` exists (404 when not).
async fn transit_key_exists(api: &coffer_client::Client, name: &str) -> Result<bool, String> {
    let r = api
        .raw(Method::Get, &format!("transit/keys/{name}"), &[], None)
        .await
        .map_err(|e| format!("read key {name}: {e}"))?;
    match r.status {
        200 => Ok(true),
        404 => Ok(false),
        s => Err(format!("read key {name}: status {s}: {:?}", r.body)),
    }
}

/// The barrier's encryption count of the active key term (`sys/key-status`).
fn encryptions(addr: &str, token: &str) -> u64 {
    let (status, body) = common::raw_as(addr, Some(token), Method::Get, "sys/key-status", None);
    assert_eq!(status, 200, "sys/key-status: {body}");
    body["data"]["encryptions"].as_u64().expect("encryptions")
}

/// Checks the writes of one cycle against the restarted server.
async fn verify(addr: &str, token: &str, writes: &Writes) -> Result<(usize, usize), String> {
    let api = api_client_with(addr, Some(token));
    for w in &writes.acknowledged {
        if let Write::TransitKey { name } = w
            && !transit_key_exists(&api, name).await?
        {
            return Err(format!("acknowledged transit key {name} is gone"));
        }
        if !read_back(&api, w).await? {
            return Err(format!("acknowledged write lost: {w:?}"));
        }
    }
    let mut whole = 0;
    for w in &writes.unanswered {
        let present = match w {
            Write::TransitKey { name } => {
                transit_key_exists(&api, name).await? && read_back(&api, w).await?
            }
            Write::Kv { .. } => read_back(&api, w).await?,
        };
        whole += usize::from(present);
    }
    Ok((writes.acknowledged.len(), whole))
}

fn run(storage_kind: &str, storage: impl Fn(&Hsm) -> String) {
    let hsm = Hsm::new();
    let seal = hsm.pkcs11_stanza(
        "  key_label = \"crash-root\"\n  hmac_key_label = \"crash-hmac\"\n  generate_key = \"true\"\n",
    );
    let (config, addr) = hsm.write_config_with(&seal, &storage(&hsm), "");
    let logs = hsm.dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let mut server = hsm.start_logged(&config, &logs.join("server-0.log"));
    common::wait_up(&addr, &mut server);
    let (token, _) = init_auto(&addr, 1, 1);
    common::ok(&common::coffer(
        &addr,
        Some(&token),
        &["secrets", "enable", "-path=secret", "kv-v2"],
    ));
    common::ok(&common::coffer(
        &addr,
        Some(&token),
        &["secrets", "enable", "transit"],
    ));

    let mut all = Writes::default();
    let mut unseal_times = Vec::new();
    let total = cycles();
    for cycle in 0..total {
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                rt.spawn(client_writes(
                    addr.clone(),
                    token.clone(),
                    c,
                    cycle,
                    stop.clone(),
                    acks.clone(),
                ))
            })
            .collect();
        // The kill falls at a random moment once writing is under way (new
        // database connections take a while on a loaded debug build).
        let writing = Instant::now();
        while acks.load(Ordering::Relaxed) < CLIENTS && writing.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let delay = 100 + random(cycle as u64 + 1) % 900;
        std::thread::sleep(Duration::from_millis(delay));
        let counted = encryptions(&addr, &token);
        // From here on a missing answer is the kill's doing.
        stop.store(true, Ordering::Relaxed);
        server.kill().expect("SIGKILL");
        let _ = server.wait();
        let mut writes = Writes::default();
        for c in clients {
            let w = rt.block_on(c).expect("client task");
            writes.acknowledged.extend(w.acknowledged);
            writes.unanswered.extend(w.unanswered);
            writes.refused.extend(w.refused);
        }
        assert!(
            writes.refused.is_empty(),
            "{storage_kind} cycle {cycle}: writes refused while the server was up: {:?}",
            &writes.refused[..writes.refused.len().min(3)]
        );
        assert!(
            writes.acknowledged.len() >= CLIENTS,
            "{storage_kind} cycle {cycle}: only {} writes acknowledged before the kill",
            writes.acknowledged.len()
        );

        let log = logs.join(format!("server-{}.log", cycle + 1));
        let started = Instant::now();
        server = hsm.start_logged(&config, &log);
        common::wait_up(&addr, &mut server);
        wait_unsealed(&addr);
        unseal_times.push(started.elapsed());
        let recounted = encryptions(&addr, &token);
        assert!(
            recounted >= counted,
            "{storage_kind} cycle {cycle}: the barrier's encryption count went back from \
             {counted} to {recounted} across the crash"
        );
        match rt.block_on(verify(&addr, &token, &writes)) {
            Ok((acked, whole)) => eprintln!(
                "{storage_kind} cycle {cycle}: killed {delay} ms into the writing; {acked} acknowledged \
                 writes intact, {whole} of {} cut-off writes present and whole; unsealed in {:?}",
                writes.unanswered.len(),
                unseal_times[cycle]
            ),
            Err(e) => panic!(
                "{storage_kind} cycle {cycle}: {e}\nserver log after the restart:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
        }
        all.acknowledged.extend(writes.acknowledged);
    }
    let final_check = rt.block_on(verify(&addr, &token, &all));
    server.kill().expect("SIGKILL");
    let _ = server.wait();
    let (acked, _) = final_check.unwrap_or_else(|e| panic!("{storage_kind} final check: {e}"));
    let slowest = unseal_times.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{storage_kind}: {total} kill -9 cycles, {acked} acknowledged writes all intact at the end; \
         unsealed every time, slowest restart to unsealed {slowest:?}"
    );
}

#[test]
fn kill_9_cycles_on_embedded_storage_lose_no_acknowledged_write() {
    run("embedded", |hsm| {
        format!(
            "storage \"embedded\" {{\n  path = \"{}\"\n}}\n",
            hsm.dir.path().join("embedded").display()
        )
    });
}

#[test]
fn kill_9_cycles_on_file_storage_lose_no_acknowledged_write() {
    run("file", |hsm| {
        format!(
            "storage \"file\" {{\n  path = \"{}\"\n}}\n",
            hsm.data().display()
        )
    });
}

#[test]
fn kill_9_cycles_on_postgresql_lose_no_acknowledged_write() {
    let pg = PgServer::start();
    let url = pg.url();
    run("postgresql", move |_| {
        format!("storage \"postgresql\" {{\n  connection_url = \"{url}\"\n}}\n")
    });
}
