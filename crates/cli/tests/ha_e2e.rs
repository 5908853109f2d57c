//! End-to-end HA: `coffer server` processes on one real PostgreSQL
//! (`ha_enabled`) and one SoftHSM2 token, auto-unsealing. The active node
//! is frozen (SIGSTOP) past its lease under check-and-set writes and must
//! not write after it wakes; and it is killed with SIGKILL under concurrent
//! KV v2 writes, several times;
//! every acknowledged write must be readable afterwards, a standby must take
//! over, and seal-wrapped values and transit keys must keep working. The
//! CLI is pointed at standbys throughout (they forward to the active over
//! the cluster listener). A write forwarded to an active node that dies
//! before answering is reported as possibly applied (502); a read is sent
//! again to the node that takes over.

mod common;

use coffer_testkit::postgres::PgServer;
use common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Kills of the active node in one run (each costs a lock TTL of waiting).
const KILLS: usize = 2;
const WRITERS: usize = 4;
/// The HA lock's lease (`ha_lock_ttl`): how long a killed active node
/// keeps the lock, so the bulk of each takeover.
const LOCK_TTL: &str = "5s";

struct Node {
    config: PathBuf,
    addr: String,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// Starts the node. If its port was taken meanwhile (another test
    /// bound it between `free_port` and now), it moves to fresh ports.
    fn start(&mut self, hsm: &Hsm) {
        const BANNER: &str = "Coffer server started!";
        for _ in 0..3 {
            // The banner comes once the listeners are bound; the log is
            // appended to across restarts, so count banners.
            let banners = self.logs().matches(BANNER).count();
            self.spawn(hsm);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(30) {
                let exited = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                if exited.is_some() || self.logs().matches(BANNER).count() > banners {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let running = self
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_none());
            if running || !self.logs().contains("Address already in use") {
                return;
            }
            self.child = None;
            self.move_to_fresh_ports();
        }
    }

    /// Rewrites the config with new API and cluster ports.
    fn move_to_fresh_ports(&mut self) {
        let text = std::fs::read_to_string(&self.config).expect("config");
        let old_port = self.addr.rsplit(':').next().expect("port").to_owned();
        let port = free_port();
        let mut text = text.replace(
            &format!("127.0.0.1:{old_port}"),
            &format!("127.0.0.1:{port}"),
        );
        if let Some(cluster) = text
            .split("cluster_addr = \"https://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned)
        {
            text = text.replace(
                &format!("https://127.0.0.1:{cluster}"),
                &format!("https://127.0.0.1:{}", free_port()),
            );
        }
        std::fs::write(&self.config, text).expect("config");
        self.addr = format!("http://127.0.0.1:{port}");
    }

    fn spawn(&mut self, hsm: &Hsm) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_coffer"))
            .arg("server")
            .arg(format!("-config={}", self.config.display()))
            .envs([hsm.env()])
            .env("VAULT_HSM_PIN", coffer_testkit::token::PIN)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn coffer server");
        self.child = Some(child);
    }

    fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            c.wait().expect("reaped");
        }
    }

    fn leader(&self) -> Option<serde_json::Value> {
        let (code, body) = raw(&self.addr, coffer_client::Method::Get, "sys/leader", None);
        (code == 200).then_some(body)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the node to unseal itself; a node that exits (a port taken
    /// by another test between `free_port` and the bind, say) or takes too
    /// long fails the test with the node's log.
    fn wait_unsealed(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("node {} exited with {status}:\n{}", self.addr, self.logs());
            }
            if coffer(&self.addr, None, &["status"]).status.code() == Some(0) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "node {} did not auto-unseal within 90 s:\n{}",
                self.addr,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill_9();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn write_config(dir: &Path, i: usize, hsm: &Hsm, pg: &PgServer) -> Node {
    let (port, cluster_port) = (free_port(), free_port());
    let addr = format!("http://127.0.0.1:{port}");
    let config = dir.join(format!("node{i}.hcl"));
    std::fs::write(
        &config,
        format!(
            "{seal}\nstorage \"postgresql\" {{\n  connection_url = \"{url}\"\n  ha_enabled = \"true\"\n  ha_lock_ttl = \"{LOCK_TTL}\"\n}}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_disable = \"true\"\n}}\n\
             api_addr = \"{addr}\"\ncluster_addr = \"https://127.0.0.1:{cluster_port}\"\n\
             disable_mlock = true\n",
            seal = hsm.pkcs11_stanza("  key_label = \"ha-root\"\n  generate_key = \"true\"\n"),
            url = pg.url(),
        ),
    )
    .expect("config");
    Node {
        config,
        addr,
        log: dir.join(format!("node{i}.log")),
        child: None,
    }
}

/// Waits until exactly one running node says it is active; returns it.
fn wait_for_active(nodes: &[Node], within: Duration) -> usize {
    let start = Instant::now();
    loop {
        let active: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].child.is_some())
            .filter(|&i| nodes[i].leader().is_some_and(|l| l["is_self"] == true))
            .collect();
        assert!(active.len() <= 1, "two active nodes at once: {active:?}");
        if let [one] = active[..] {
            return one;
        }
        assert!(
            start.elapsed() < within,
            "no active node within {within:?}\n{}",
            nodes
                .iter()
                .map(Node::logs)
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A write that may fail (the node is down, or redirects to one that is):
/// the status, or `None` when no answer came.
fn try_put(addr: &str, token: &str, path: &str, body: serde_json::Value) -> Option<u16> {
    try_put_answer(addr, token, path, body).map(|(code, _)| code)
}

/// [`try_put`] with the answer's body.
fn try_put_answer(
    addr: &str,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> Option<(u16, serde_json::Value)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = api_client_with(addr, Some(token));
    rt.block_on(async {
        let call = client.raw(coffer_client::Method::Put, path, &[], Some(&body));
        tokio::time::timeout(Duration::from_secs(30), call)
            .await
            .ok()?
            .ok()
            .map(|r| (r.status, r.body.unwrap_or_default()))
    })
}

/// Starts `n` nodes on one PostgreSQL and one token, initialised through
/// the first; returns them and the root token once one is active.
fn cluster(n: usize, dir: &Path, hsm: &Hsm, pg: &PgServer) -> (Vec<Node>, String) {
    let mut nodes: Vec<Node> = (0..n).map(|i| write_config(dir, i, hsm, pg)).collect();
    // The first node makes the HSM key; the others find it.
    nodes[0].start(hsm);
    wait_up(
        &nodes[0].addr.clone(),
        nodes[0].child.as_mut().expect("child"),
    );
    for node in &mut nodes[1..] {
        node.start(hsm);
    }
    let (root, _) = init_auto(&nodes[0].addr, 1, 1);
    for node in &mut nodes {
        node.wait_unsealed();
    }
    wait_for_active(&nodes, Duration::from_secs(30));
    (nodes, root)
}

#[test]
fn a_frozen_active_node_that_wakes_up_after_a_takeover_writes_nothing() {
    let pg = PgServer::start();
    let hsm = Hsm::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut nodes, root) = cluster(2, dir.path(), &hsm, &pg);
    let first = wait_for_active(&nodes, Duration::from_secs(30));
    ok(&coffer(
        &nodes[first].addr,
        Some(&root),
        &["secrets", "enable", "-version=2", "-path=app", "kv"],
    ));
    // Keep every version (KV v2 keeps 10 by default) so each can be checked.
    ok(&coffer(
        &nodes[first].addr,
        Some(&root),
        &["write", "app/config", "max_versions=100000"],
    ));

    // Writers update shared keys with check-and-set: an acknowledged write is
    // version v of its key, and no two acknowledged writes may claim the same
    // version of the same key with different data (two active nodes would).
    let acknowledged: Arc<Mutex<BTreeMap<(String, u64), String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (acknowledged, stop, addrs, root) = (
                acknowledged.clone(),
                stop.clone(),
                addrs.clone(),
                root.clone(),
            );
            std::thread::spawn(move || {
                let mut n = 0usize;
                let mut cas = 0u64;
                let key = format!("shared{}", w % 2);
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let value = format!("w{w}-{n}");
                    let body = json!({"options": {"cas": cas}, "data": {"v": value}});
                    match try_put_answer(
                        &addrs[n % addrs.len()],
                        &root,
                        &format!("app/data/{key}"),
                        body,
                    ) {
                        Some((200, answer)) => {
                            let version = answer["data"]["version"].as_u64().expect("version");
                            let clash = acknowledged
                                .lock()
                                .expect("lock")
                                .insert((key.clone(), version), value.clone());
                            assert!(
                                clash.is_none(),
                                "version {version} of {key} acknowledged twice"
                            );
                            cas = version;
                        }
                        Some((400, answer)) if answer.to_string().contains("check-and-set") => {
                            // Another writer moved the key on: read where it is now.
                            cas = 0;
                            let reader = api_client_with(&addrs[0], Some(&root));
                            let rt = tokio::runtime::Builder::new_current_thread()
                                .enable_all()
                                .build()
                                .expect("runtime");
                            if let Some(Ok(r)) = rt.block_on(async {
                                tokio::time::timeout(
                                    Duration::from_secs(30),
                                    reader.raw(
                                        coffer_client::Method::Get,
                                        &format!("app/metadata/{key}"),
                                        &[],
                                        None,
                                    ),
                                )
                                .await
                                .ok()
                            }) {
                                cas = r.body.unwrap_or_default()["data"]["current_version"]
                                    .as_u64()
                                    .unwrap_or(0);
                            }
                        }
                        _ => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(1500));
    let pid = nodes[first]
        .child
        .as_ref()
        .expect("running")
        .id()
        .to_string();
    let signal = |sig: &str| {
        let done = Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
        assert!(done.success(), "kill {sig}");
    };
    signal("-STOP");
    // The other node takes over once the frozen one's lease has run out.
    let other = 1 - first;
    let start = Instant::now();
    while nodes[other].leader().is_none_or(|l| l["is_self"] != true) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no takeover:\n{}",
            nodes[other].logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let takeover = start.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    signal("-CONT");
    let frozen_for = start.elapsed();
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().expect("writer");
    }
    let leader = nodes[first].leader().expect("answers again");
    assert_eq!(
        leader["is_self"], false,
        "the woken node must not think it is active: {leader}"
    );

    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() > 10,
        "too few writes: {}",
        acknowledged.len()
    );
    let reader = api_client_with(&nodes[other].addr, Some(&root));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for ((key, version), value) in &acknowledged {
        let v = version.to_string();
        let r = rt
            .block_on(reader.raw(
                coffer_client::Method::Get,
                &format!("app/data/{key}"),
                &[("version", v.as_str())],
                None,
            ))
            .expect("read");
        let body = r.body.unwrap_or_default();
        assert_eq!(r.status, 200, "{key} v{version}: {body}");
        assert_eq!(
            body["data"]["data"]["v"],
            value.as_str(),
            "{key} v{version} was overwritten"
        );
    }
    eprintln!(
        "HA: {} check-and-set writes acknowledged around a {frozen_for:?} freeze of the active node (takeover after {takeover:?}); each version holds what was acknowledged",
        acknowledged.len()
    );
    nodes[first].kill_9();
}

#[test]
fn killing_the_active_node_under_writes_loses_no_acknowledged_write() {
    let pg = PgServer::start();
    let hsm = Hsm::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut nodes: Vec<Node> = (0..3)
        .map(|i| write_config(dir.path(), i, &hsm, &pg))
        .collect();
    // The first node makes the HSM key; the others find it.
    nodes[0].start(&hsm);
    wait_up(
        &nodes[0].addr.clone(),
        nodes[0].child.as_mut().expect("child"),
    );
    for n in &mut nodes[1..] {
        n.start(&hsm);
    }
    let (root, _) = init_auto(&nodes[0].addr, 1, 1);
    for n in &mut nodes {
        n.wait_unsealed();
    }
    let first = wait_for_active(&nodes, Duration::from_secs(30));
    let standby = (first + 1) % 3;

    // Through a standby: the CLI follows the redirect to the active.
    let via = nodes[standby].addr.clone();
    ok(&coffer(
        &via,
        Some(&root),
        &["secrets", "enable", "-version=2", "-path=app", "kv"],
    ));
    ok(&coffer(
        &via,
        Some(&root),
        &["secrets", "enable", "-seal-wrap", "-path=wrapped", "kv"],
    ));
    ok(&coffer(
        &via,
        Some(&root),
        &["secrets", "enable", "transit"],
    ));
    ok(&coffer(
        &via,
        Some(&root),
        &["write", "-f", "transit/keys/orders"],
    ));
    ok(&coffer(
        &via,
        Some(&root),
        &["kv", "put", "wrapped/db", "password=sealed"],
    ));
    let status = ok(&coffer(&via, None, &["status"]));
    assert!(
        status.contains("HA Mode") && status.contains("standby"),
        "{status}"
    );
    assert!(status.contains("Active Node Address"), "{status}");

    let acknowledged: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (acknowledged, stop, addrs, root) = (
                acknowledged.clone(),
                stop.clone(),
                addrs.clone(),
                root.clone(),
            );
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let key = format!("w{w}-{n}");
                    let addr = &addrs[(n as usize + w) % addrs.len()];
                    let code = try_put(
                        addr,
                        &root,
                        &format!("app/data/{key}"),
                        json!({"data": {"v": key}}),
                    );
                    if code == Some(200) {
                        acknowledged.lock().expect("lock").insert(key.clone(), key);
                    } else {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            })
        })
        .collect();

    let mut takeovers = Vec::new();
    let mut active = first;
    for _ in 0..KILLS {
        std::thread::sleep(Duration::from_millis(1500));
        nodes[active].kill_9();
        let killed_at = Instant::now();
        let next = wait_for_active(&nodes, Duration::from_secs(60));
        takeovers.push(killed_at.elapsed());
        assert_ne!(next, active);
        let (code, body) = raw_as(
            &nodes[next].addr,
            Some(&root),
            coffer_client::Method::Put,
            "transit/encrypt/orders",
            Some(json!({"plaintext": "aGVsbG8="})),
        );
        assert_eq!(code, 200, "transit on the new active: {body}");
        let got = ok(&coffer(
            &nodes[next].addr,
            Some(&root),
            &["kv", "get", "-field=password", "wrapped/db"],
        ));
        assert_eq!(got.trim(), "sealed", "seal-wrapped value on the new active");
        nodes[active].start(&hsm);
        nodes[active].wait_unsealed();
        active = next;
    }
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().expect("writer");
    }

    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() > 20,
        "too few writes to mean anything: {}",
        acknowledged.len()
    );
    let reader = nodes[(active + 1) % 3].addr.clone();
    for (key, value) in &acknowledged {
        let (code, body) = raw_as(
            &reader,
            Some(&root),
            coffer_client::Method::Get,
            &format!("app/data/{key}"),
            None,
        );
        assert_eq!(code, 200, "acknowledged write {key} lost: {body}");
        assert_eq!(body["data"]["data"]["v"], value.as_str());
    }
    eprintln!(
        "HA: {} acknowledged writes survived {KILLS} kills of the active node; takeover times: {takeovers:?}",
        acknowledged.len()
    );
}

#[test]
fn a_forwarded_write_whose_active_dies_is_reported_as_unknown_and_a_read_is_retried() {
    let pg = PgServer::start();
    let hsm = Hsm::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut nodes, root) = cluster(2, dir.path(), &hsm, &pg);
    let active = wait_for_active(&nodes, Duration::from_secs(30));
    let standby = 1 - active;
    let via = nodes[standby].addr.clone();
    // Once the standby names the active node it forwards (rather than
    // redirects). A forwarded request first, so that its connection to the
    // active is open and idle: the write below goes out on it at once.
    let start = Instant::now();
    while nodes[standby].leader().is_none_or(|l| {
        l["leader_cluster_address"]
            .as_str()
            .is_none_or(str::is_empty)
    }) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "standby never named the active"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, body) = raw_as(
        &via,
        Some(&root),
        coffer_client::Method::Get,
        "sys/mounts",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let pid = nodes[active]
        .child
        .as_ref()
        .expect("running")
        .id()
        .to_string();
    let stopped = Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .expect("kill");
    assert!(stopped.success());

    // The frozen active receives the write and never answers it.
    let (to, token) = (via.clone(), root.clone());
    let write = std::thread::spawn(move || {
        try_put_answer(&to, &token, "cubbyhole/late", json!({"v": "maybe"}))
    });
    std::thread::sleep(Duration::from_millis(300));
    let read = std::thread::spawn(move || {
        raw_as(
            &via,
            Some(&root),
            coffer_client::Method::Get,
            "sys/mounts",
            None,
        )
    });
    std::thread::sleep(Duration::from_millis(700));
    nodes[active].kill_9();

    let (code, body) = write
        .join()
        .expect("writer")
        .expect("the standby answered the write");
    assert_eq!(code, 502, "{body}");
    assert!(
        body.to_string()
            .contains("may or may not have been applied"),
        "{body}"
    );
    // The read is sent again, to the standby that takes over.
    let (code, body) = read.join().expect("reader");
    assert_eq!(code, 200, "the read was retried on the new active: {body}");
    assert!(body["data"]["cubbyhole/"].is_object(), "{body}");
    assert_eq!(
        nodes[standby].leader().expect("leader")["is_self"],
        true,
        "the standby took over"
    );
}
