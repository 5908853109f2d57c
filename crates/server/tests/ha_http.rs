//! HA at the HTTP tier: two nodes on one storage and one in-process lock,
//! each behind the real router. The standby answers health and leader
//! itself and redirects everything else to the active node.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use coffer_core::Core;
use coffer_core::CoreOptions;
use coffer_core::ha::HaOptions;
use coffer_server::http::{AppState, DEFAULT_MAX_REQUEST_SIZE, router};
use coffer_storage_inmem::InmemHaLock;
use coffer_testkit::node::{b64, node_options, shamir_params};
use coffer_testkit::storage::{SlowReads, inmem};
use common::call;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt as _;

struct Node {
    core: Arc<Core>,
    app: axum::Router,
    api_addr: String,
}

/// Node `i` on `backend`, competing for `lock`, reachable at `api` and
/// `cluster`.
fn ha_core(
    backend: &coffer_core::storage::SharedBackend,
    lock: &Arc<InmemHaLock>,
    i: usize,
    api: &str,
    cluster: &str,
) -> Arc<Core> {
    let mut ha = HaOptions::new(
        lock.clone(),
        format!("node-{i}"),
        api.to_owned(),
        cluster.to_owned(),
    );
    ha.retry_interval = Duration::from_millis(30);
    Core::new(CoreOptions {
        ha: Some(ha),
        ..node_options(backend.clone(), None)
    })
}

/// Initialises through the first node, unseals every node and waits until
/// `ready` holds for all of them; returns the root token.
async fn init_and_wait(cores: &[Arc<Core>], ready: impl Fn(&Core) -> bool) -> String {
    let init = cores[0]
        .initialize(shamir_params(1, 1))
        .await
        .expect("init");
    for core in cores {
        core.submit_unseal_key(&b64(&init.keys[0]))
            .await
            .expect("unseal");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cores.iter().all(|c| ready(c)) {
        assert!(Instant::now() < deadline, "the nodes never got ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    init.root_token.to_string()
}

async fn two_nodes() -> (Vec<Node>, String) {
    let backend = inmem();
    let lock = Arc::new(InmemHaLock::new());
    let nodes: Vec<Node> = (0..2)
        .map(|i| {
            let api_addr = format!("https://node{i}.example:8200");
            let core = ha_core(
                &backend,
                &lock,
                i,
                &api_addr,
                &format!("https://node{i}.example:8201"),
            );
            let app = router(AppState::new(core.clone(), DEFAULT_MAX_REQUEST_SIZE), false);
            Node {
                core,
                app,
                api_addr,
            }
        })
        .collect();
    let cores: Vec<_> = nodes.iter().map(|n| n.core.clone()).collect();
    // One active node, and standbys that know where it is.
    let root = init_and_wait(&cores, |c| {
        let s = c.ha_status();
        s.is_self || !s.leader_address.is_empty()
    })
    .await;
    let active = nodes.iter().filter(|n| n.core.ha_status().is_self).count();
    assert_eq!(active, 1, "one active node");
    (nodes, root)
}

#[tokio::test]
async fn a_standby_answers_health_and_leader_itself() {
    let (nodes, _) = two_nodes().await;
    let (active, standby) = if nodes[0].core.ha_status().is_self {
        (&nodes[0], &nodes[1])
    } else {
        (&nodes[1], &nodes[0])
    };
    let (code, body) = call(&standby.app, "GET", "/v1/sys/health", None, None).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["standby"], true);
    let (code, _) = call(
        &standby.app,
        "GET",
        "/v1/sys/health?standbyok=true",
        None,
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let (code, body) = call(&active.app, "GET", "/v1/sys/health", None, None).await;
    assert_eq!(
        (code, body["standby"].clone()),
        (StatusCode::OK, json!(false))
    );

    let (_, leader) = call(&standby.app, "GET", "/v1/sys/leader", None, None).await;
    assert_eq!(leader["ha_enabled"], true);
    assert_eq!(leader["is_self"], false);
    assert_eq!(leader["leader_address"], active.api_addr.as_str());
    assert!(
        leader["leader_cluster_address"]
            .as_str()
            .expect("s")
            .ends_with(":8201")
    );
    let (_, own) = call(&active.app, "GET", "/v1/sys/leader", None, None).await;
    assert_eq!(
        (own["is_self"].clone(), own["ha_enabled"].clone()),
        (json!(true), json!(true))
    );
    assert_ne!(own["active_time"], "0001-01-01T00:00:00Z");

    let (code, seal) = call(&standby.app, "GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(seal["sealed"], false);
    assert!(
        seal["cluster_name"].as_str().is_some_and(|n| !n.is_empty()),
        "{seal}"
    );
}

#[tokio::test]
async fn a_standby_redirects_logical_requests_to_the_active_api_addr() {
    let (nodes, root) = two_nodes().await;
    let (active, standby) = if nodes[0].core.ha_status().is_self {
        (&nodes[0], &nodes[1])
    } else {
        (&nodes[1], &nodes[0])
    };
    for (method, path) in [
        ("GET", "/v1/secret/data/app?version=2"),
        ("PUT", "/v1/sys/mounts/kv"),
        ("PUT", "/v1/sys/step-down"),
    ] {
        let resp = standby
            .app
            .clone()
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .header("X-Vault-Token", root.as_str())
                    .body(Body::from("{}"))
                    .expect("request"),
            )
            .await
            .expect("router");
        assert_eq!(
            resp.status(),
            StatusCode::TEMPORARY_REDIRECT,
            "{method} {path}"
        );
        assert_eq!(
            resp.headers()["location"].to_str().expect("ascii"),
            format!("{}{path}", active.api_addr)
        );
    }
    let (code, body) = call(&standby.app, "PUT", "/v1/sys/seal", Some(&root), None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        common::first_error(&body).contains("cannot seal when in standby mode"),
        "{body}"
    );
    assert!(!standby.core.is_sealed() && !active.core.is_sealed());
    let (code, _) = call(&active.app, "GET", "/v1/sys/mounts", Some(&root), None).await;
    assert_eq!(code, StatusCode::OK, "the active serves");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Two nodes on real sockets: an API listener each that forwards, and the
/// cluster listener (mutual TLS) each runs while unsealed.
struct Served {
    core: Arc<Core>,
    api: String,
    /// This node's view of the shared storage.
    storage: Arc<SlowReads>,
    _listener: coffer_server::listener::RunningListener,
}

async fn two_forwarding_nodes() -> (Vec<Served>, String) {
    let backend = inmem();
    let lock = Arc::new(InmemHaLock::new());
    let mut nodes = Vec::new();
    for i in 0..2 {
        let (api_port, cluster_port) = (free_port(), free_port());
        let api = format!("http://127.0.0.1:{api_port}");
        let cluster = format!("https://127.0.0.1:{cluster_port}");
        let storage = SlowReads::new(backend.clone());
        let shared: coffer_core::storage::SharedBackend = storage.clone();
        let core = ha_core(&shared, &lock, i, &api, &cluster);
        let forwarder: Arc<coffer_server::cluster::Forwarder> = Arc::default();
        coffer_server::cluster::watch_listener(
            core.clone(),
            coffer_server::cluster::bind_address(&cluster),
            router(
                AppState {
                    cluster: true,
                    ..AppState::new(core.clone(), DEFAULT_MAX_REQUEST_SIZE)
                },
                false,
            ),
            forwarder.clone(),
        );
        let app = router(
            AppState {
                forwarder: Some(forwarder),
                ..AppState::new(core.clone(), DEFAULT_MAX_REQUEST_SIZE)
            },
            false,
        );
        let listener = coffer_server::listener::RunningListener::start(
            &coffer_server::listener::ListenerSpec {
                address: format!("127.0.0.1:{api_port}"),
                tls: None,
            },
            app,
        )
        .expect("api listener");
        nodes.push(Served {
            core,
            api,
            storage,
            _listener: listener,
        });
    }
    let cores: Vec<_> = nodes.iter().map(|n| n.core.clone()).collect();
    // An active node with a cluster identity, and standbys that have it too.
    let root = init_and_wait(&cores, |c| {
        let s = c.ha_status();
        c.cluster_tls().is_some() && (s.is_self || !s.leader_cluster_address.is_empty())
    })
    .await;
    (nodes, root)
}

/// A plain-HTTP client that follows no redirect, and a caller of `api`
/// with `token`.
fn api_caller(
    api: String,
    token: String,
) -> impl Fn(&str, &str, Option<serde_json::Value>) -> reqwest::RequestBuilder {
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(no_roots())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    move |method: &str, path: &str, body: Option<serde_json::Value>| {
        let mut req = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{api}/v1/{path}"),
            )
            .header("X-Vault-Token", token.as_str());
        if let Some(b) = body {
            req = req.json(&b);
        }
        req
    }
}

/// Enables a mount through the standby at `api` (answered once the
/// active's cluster listener is up, within a watch interval).
async fn enable_through(api: &str, root: &str, path: &str, body: serde_json::Value) {
    let call = api_caller(api.to_owned(), root.to_owned());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = call("PUT", &format!("sys/mounts/{path}"), Some(body.clone()))
            .send()
            .await
            .expect("send");
        if r.status() == reqwest::StatusCode::NO_CONTENT {
            return;
        }
        assert_ne!(
            r.status(),
            reqwest::StatusCode::TEMPORARY_REDIRECT,
            "redirected, not forwarded"
        );
        assert!(
            Instant::now() < deadline,
            "forwarding never worked: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_standby_forwards_requests_to_the_active_over_mutual_tls() {
    let (nodes, root) = two_forwarding_nodes().await;
    let standby = nodes
        .iter()
        .find(|n| n.core.ha_status().standby)
        .expect("a standby");
    let caller = api_caller(standby.api.clone(), root.clone());
    let call = |method: &str, path: &str, body: Option<serde_json::Value>| {
        caller(method, path, body).send()
    };
    enable_through(&standby.api, &root, "kv", json!({"type": "kv"})).await;
    let r = call("PUT", "kv/app", Some(json!({"password": "fwd"})))
        .await
        .expect("write");
    assert_eq!(r.status(), reqwest::StatusCode::NO_CONTENT);
    let r = call("GET", "kv/app", None).await.expect("read");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["data"]["password"], "fwd");
    let r = call("LIST", "kv", None).await.expect("list");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["data"]["keys"], json!(["app"]));
    let r = call("GET", "kv/nothing", None).await.expect("404");
    assert_eq!(
        r.status(),
        reqwest::StatusCode::NOT_FOUND,
        "the active's status comes back as is"
    );
}

/// A rustls client config on the ring provider that trusts nothing (for
/// plain HTTP) or the given CA, without a client certificate.
fn no_roots() -> rustls::ClientConfig {
    trusting(rustls::RootCertStore::empty())
}

fn trusting(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[tokio::test]
async fn the_cluster_listener_refuses_clients_without_this_clusters_certificate() {
    let (nodes, _) = two_forwarding_nodes().await;
    let active = nodes
        .iter()
        .find(|n| n.core.ha_status().is_self)
        .expect("active");
    let cert = active.core.cluster_tls().expect("identity");
    let bind =
        coffer_server::cluster::bind_address(&active.core.ha_status().leader_cluster_address);
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(&bind).is_err() {
        assert!(
            Instant::now() < deadline,
            "the cluster listener never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // It trusts the right CA and asks for the right name, but has no client
    // certificate: the handshake fails, no request is served.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert.ca_der.clone()))
        .expect("ca");
    let target: std::net::SocketAddr = bind.parse().expect("addr");
    let name = coffer_crypto::cluster_cert::CLUSTER_SERVER_NAME;
    let anonymous = reqwest::Client::builder()
        .tls_backend_preconfigured(trusting(roots))
        .resolve(name, target)
        .build()
        .expect("client");
    let r = anonymous
        .get(format!("https://{name}:{}/v1/sys/health", target.port()))
        .send()
        .await;
    assert!(
        r.is_err(),
        "a client without the cluster certificate got an answer: {r:?}"
    );

    // A certificate for the right name from another cluster's CA is refused too.
    let other = coffer_crypto::cluster_cert::generate(&coffer_crypto::OsEntropy::new(), "other")
        .expect("another cluster's identity");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert.ca_der.clone()))
        .expect("ca");
    let stranger_tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(
        vec![rustls::pki_types::CertificateDer::from(
            other.cert_der.clone(),
        )],
        rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
            other.key_pkcs8.to_vec(),
        )),
    )
    .expect("client auth");
    let stranger = reqwest::Client::builder()
        .tls_backend_preconfigured(stranger_tls)
        .resolve(name, target)
        .build()
        .expect("client");
    let r = stranger
        .get(format!("https://{name}:{}/v1/sys/health", target.port()))
        .send()
        .await;
    assert!(
        r.is_err(),
        "another cluster's certificate got an answer: {r:?}"
    );
}

/// Waits until `ready` holds, within a few seconds.
async fn until(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ready() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Two forwarding nodes, the active one first, with KV v2 at `app/`;
/// and the root token.
async fn active_and_standby_with_app_kv() -> (Vec<Served>, String) {
    let (mut nodes, root) = two_forwarding_nodes().await;
    if !nodes[0].core.ha_status().is_self {
        nodes.swap(0, 1);
    }
    enable_through(
        &nodes[1].api,
        &root,
        "app",
        json!({"type": "kv", "options": {"version": "2"}}),
    )
    .await;
    (nodes, root)
}

type Answer = tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>;

/// Steps `old` down while `write` is in flight, waits for `new` to take
/// over, lets `old`'s reads run at full speed again, and returns the answer.
async fn step_down_and_answer(
    old: &Served,
    new: &Served,
    write: Answer,
) -> (reqwest::StatusCode, serde_json::Value) {
    old.core.request_step_down().expect("step down");
    until("the other node took over", || new.core.ha_status().is_self).await;
    old.storage.set_delay(Duration::ZERO);
    let r = write.await.expect("task").expect("answered");
    let status = r.status();
    (status, r.json().await.expect("json"))
}

#[tokio::test]
async fn an_active_node_that_steps_down_before_a_request_wrote_hands_it_on() {
    let (nodes, root) = active_and_standby_with_app_kv().await;
    let (old, new) = (&nodes[0], &nodes[1]);
    // The write reads before it writes; its reads are held up while the
    // node steps down, so its first write meets a closed fence.
    old.storage.set_delay(Duration::from_millis(500));
    let write = tokio::spawn(
        api_caller(old.api.clone(), root.clone())(
            "PUT",
            "app/data/moved",
            Some(json!({"data": {"v": "handed-on"}})),
        )
        .send(),
    );
    until("the request is being served on the active node", || {
        old.storage.delayed_reads() > 0
    })
    .await;
    assert!(old.core.ha_status().is_self, "still active when it started");
    let writes_before = old.storage.writes();
    let (status, body) = step_down_and_answer(old, new, write).await;
    assert_eq!(
        status,
        reqwest::StatusCode::OK,
        "the request was handed on to the new active: {body}"
    );
    assert_eq!(body["data"]["version"], 1, "applied once: {body}");
    assert_eq!(
        old.storage.writes(),
        writes_before,
        "the old active wrote nothing after it began stepping down"
    );
    assert!(old.core.ha_status().standby);
    let r = api_caller(new.api.clone(), root.clone())("GET", "app/data/moved", None)
        .send()
        .await
        .expect("read");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["data"]["data"]["v"], "handed-on", "{body}");
}

#[tokio::test]
async fn a_request_that_wrote_before_its_node_stepped_down_is_not_applied_twice() {
    let (nodes, root) = active_and_standby_with_app_kv().await;
    let (old, new) = (&nodes[0], &nodes[1]);
    // A token with a use limit: authenticating the request writes (one use
    // spent), and only then does the KV write read and write.
    let r = api_caller(new.api.clone(), root.clone())(
        "POST",
        "auth/token/create",
        Some(json!({"num_uses": 5, "policies": ["root"]})),
    )
    .send()
    .await
    .expect("create");
    let created: serde_json::Value = r.json().await.expect("json");
    let limited = created["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let writes_before = old.storage.writes();
    old.storage.set_delay(Duration::from_millis(300));
    let write = tokio::spawn(
        api_caller(old.api.clone(), limited.clone())(
            "PUT",
            "app/data/half",
            Some(json!({"data": {"v": "once"}})),
        )
        .send(),
    );
    until("the token's use was written", || {
        old.storage.writes() > writes_before
    })
    .await;
    let (status, body) = step_down_and_answer(old, new, write).await;
    assert_eq!(
        status,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "not handed on: {body}"
    );
    let errors = body["errors"].to_string();
    assert!(
        errors.contains("stepped down") && errors.contains("check before retrying"),
        "{errors}"
    );
    let r = api_caller(new.api.clone(), root.clone())("GET", "app/data/half", None)
        .send()
        .await
        .expect("read");
    assert_eq!(
        r.status(),
        reqwest::StatusCode::NOT_FOUND,
        "the KV write was not applied"
    );
    let r = api_caller(new.api.clone(), limited)("GET", "auth/token/lookup-self", None)
        .send()
        .await
        .expect("lookup");
    let looked: serde_json::Value = r.json().await.expect("json");
    // One use spent by the interrupted request, one by this lookup.
    assert_eq!(looked["data"]["num_uses"], 3, "{looked}");
}
