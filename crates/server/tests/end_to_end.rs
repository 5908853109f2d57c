//! End-to-end tier, in process: the real server with real sockets, real TLS
//! handshakes (certificates made by rcgen), and real storage: on disk, and in a
//! private PostgreSQL server.

use coffer_core::ceremony::InitParams;
use coffer_core::engine::{Operation, Request};
use coffer_server::config::{self, Env};
use coffer_server::server::Server;
use coffer_testkit::postgres::PgServer;
use std::path::{Path, PathBuf};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write file");
}

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

/// A fresh CA and a leaf for 127.0.0.1/localhost signed by it.
fn make_pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "coffer test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("leaf params");
    let leaf = leaf_params
        .signed_by(&leaf_key, &issuer)
        .expect("leaf cert");
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
    }
}

fn client_for(addr: &str, ca_file: Option<&Path>) -> coffer_client::Client {
    let addr = addr.to_owned();
    let ca = ca_file.map(|p| p.display().to_string());
    let cfg = coffer_client::Config::from_lookup(move |k| match k {
        "VAULT_ADDR" => Some(addr.clone()),
        "VAULT_CACERT" => ca.clone(),
        _ => None,
    })
    .expect("client config");
    coffer_client::Client::new(cfg).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_serves_its_certificate_and_reloads_a_new_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, ca1, ca2) = (
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
        dir.path().join("ca1.pem"),
        dir.path().join("ca2.pem"),
    );
    let first = make_pki();
    write(&cert, &first.cert_pem);
    write(&key, &first.key_pem);
    write(&ca1, &first.ca_pem);
    let hcl = format!(
        "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:0\"\n  tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n}}\ndisable_mlock = true\n",
        cert.display(),
        key.display()
    );
    let config = config::parse(&dir.path().join("c.hcl"), &hcl, &Env::empty()).expect("config");
    let server = Server::start(&config).await.expect("start");
    let (addr, tls) = server.addresses()[0];
    assert!(tls);
    let url = format!("https://127.0.0.1:{}", addr.port());

    let status = client_for(&url, Some(&ca1))
        .seal_status()
        .await
        .expect("TLS call with the right CA");
    assert!(status.sealed);
    assert!(
        client_for(&url, None).seal_status().await.is_err(),
        "a client that does not trust the test CA must fail the handshake"
    );

    let second = make_pki();
    write(&cert, &second.cert_pem);
    write(&key, &second.key_pem);
    write(&ca2, &second.ca_pem);
    server.reload_tls();
    client_for(&url, Some(&ca2))
        .seal_status()
        .await
        .expect("new certificate is served after reload");
    assert!(client_for(&url, Some(&ca1)).seal_status().await.is_err());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_tls_files_stop_startup_with_the_file_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    write(&cert, "not a certificate");
    let hcl = format!(
        "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:0\"\n  tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n}}\n",
        cert.display(),
        dir.path().join("missing-key.pem").display()
    );
    let config = config::parse(&dir.path().join("c.hcl"), &hcl, &Env::empty()).expect("config");
    let err = format!(
        "{:#}",
        Server::start(&config).await.err().expect("must fail")
    );
    assert!(
        err.contains("cert.pem") || err.contains("missing-key.pem"),
        "{err}"
    );
}

const SECRET_NAME: &str = "payroll-db";
const SECRET_FIELD: &str = "db-password-field";
const SECRET_VALUE: &str = "correct-horse-battery-staple";

async fn start_on(storage_stanza: &str, dir: &Path) -> Server {
    let hcl = format!(
        "{storage_stanza}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:0\"\n  tls_disable = true\n}}\ndisable_mlock = true\n"
    );
    let config = config::parse(&dir.join("c.hcl"), &hcl, &Env::empty()).expect("config");
    Server::start(&config).await.expect("start")
}

fn all_files(root: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(root).expect("read_dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Initialises, writes one KV v1 and one KV v2 secret, seals and restarts,
/// unseals again and reads them back; also scans every byte under `data`
/// (where the storage keeps its files) for the secret in clear.
async fn secrets_survive_restart_and_never_reach_disk_in_clear(stanza: &str, data: &Path) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_on(stanza, dir.path()).await;
    let init = server
        .core
        .initialize(InitParams {
            secret_shares: 3,
            secret_threshold: 2,
            ..InitParams::default()
        })
        .await
        .expect("init");
    let keys: Vec<String> = init.keys.iter().map(|k| hex::encode(k.expose())).collect();
    let token = init.root_token.to_string();
    for k in &keys[..2] {
        server.core.submit_unseal_key(k).await.expect("unseal");
    }
    let core = &server.core;
    let call = |op, path: &str, body: serde_json::Value| Request::new(op, path).with_data(body);
    core.handle(
        call(
            Operation::Update,
            "sys/mounts/kv1",
            serde_json::json!({"type": "kv"}),
        ),
        Some(&token),
    )
    .await
    .expect("mount v1");
    core.handle(
        call(
            Operation::Update,
            "sys/mounts/kv2",
            serde_json::json!({"type": "kv-v2"}),
        ),
        Some(&token),
    )
    .await
    .expect("mount v2");
    core.handle(
        call(
            Operation::Update,
            &format!("kv1/{SECRET_NAME}"),
            serde_json::json!({SECRET_FIELD: SECRET_VALUE}),
        ),
        Some(&token),
    )
    .await
    .expect("kv1 write");
    core.handle(
        call(
            Operation::Update,
            &format!("kv2/data/{SECRET_NAME}"),
            serde_json::json!({"data": {SECRET_FIELD: SECRET_VALUE}}),
        ),
        Some(&token),
    )
    .await
    .expect("kv2 write");
    server.shutdown().await;

    let mut files = Vec::new();
    all_files(data, &mut files);
    assert!(!files.is_empty());
    for f in &files {
        let path_text = f.display().to_string();
        assert!(
            !path_text.contains(SECRET_NAME),
            "secret name in a file name: {path_text}"
        );
        let bytes = std::fs::read(f).expect("read");
        for needle in [SECRET_NAME, SECRET_FIELD, SECRET_VALUE, token.as_str()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} found in clear in {path_text}"
            );
        }
    }

    let server = start_on(stanza, dir.path()).await;
    assert!(server.core.is_sealed());
    for k in &keys[1..] {
        server
            .core
            .submit_unseal_key(k)
            .await
            .expect("unseal after restart");
    }
    let v1 = server
        .core
        .handle(
            Request::new(Operation::Read, format!("kv1/{SECRET_NAME}")),
            Some(&token),
        )
        .await
        .expect("read v1")
        .expect("present");
    assert_eq!(v1.data.expect("data")[SECRET_FIELD], SECRET_VALUE);
    let v2 = server
        .core
        .handle(
            Request::new(Operation::Read, format!("kv2/data/{SECRET_NAME}")),
            Some(&token),
        )
        .await
        .expect("read v2")
        .expect("present");
    assert_eq!(v2.data.expect("data")["data"][SECRET_FIELD], SECRET_VALUE);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_storage_keeps_secrets_across_restart_and_never_in_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let stanza = format!(
        "storage \"embedded\" {{\n  path = \"{}\"\n}}",
        data.join("coffer.redb").display()
    );
    secrets_survive_restart_and_never_reach_disk_in_clear(&stanza, &data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_storage_keeps_secrets_across_restart_and_never_in_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let stanza = format!("storage \"file\" {{\n  path = \"{}\"\n}}", data.display());
    secrets_survive_restart_and_never_reach_disk_in_clear(&stanza, &data).await;
}

/// Against a private PostgreSQL server; the scan covers its whole data
/// directory, WAL included, where every committed row lands first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_storage_keeps_secrets_across_restart_and_never_in_clear() {
    let pg = PgServer::start();
    let stanza = format!(
        "storage \"postgresql\" {{\n  connection_url = \"{}\"\n  table = \"coffer_e2e\"\n  \
         max_parallel = 8\n}}",
        pg.url()
    );
    secrets_survive_restart_and_never_reach_disk_in_clear(&stanza, &pg.dir().join("data")).await;
}

#[tokio::test]
async fn postgresql_lost_while_serving_answers_503_and_recovers_without_restart() {
    let pg = PgServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let stanza = format!(
        "storage \"postgresql\" {{\n  connection_url = \"{}\"\n}}",
        pg.url()
    );
    let server = start_on(&stanza, dir.path()).await;
    let init = server
        .core
        .initialize(InitParams {
            secret_shares: 1,
            secret_threshold: 1,
            ..InitParams::default()
        })
        .await
        .expect("init");
    server
        .core
        .submit_unseal_key(&hex::encode(init.keys[0].expose()))
        .await
        .expect("unseal");
    let addr = format!("http://{}", server.addresses()[0].0);
    let token = init.root_token.to_string();
    let client = coffer_client::Client::new(
        coffer_client::Config::from_lookup(|k| match k {
            "VAULT_ADDR" => Some(addr.clone()),
            "VAULT_TOKEN" => Some(token.clone()),
            _ => None,
        })
        .expect("config"),
    )
    .expect("client");
    let send = |method, path: &'static str, body: Option<serde_json::Value>| {
        let client = &client;
        async move {
            client
                .raw(method, path, &[], body.as_ref())
                .await
                .expect("an answer")
        }
    };
    send(
        coffer_client::Method::Post,
        "sys/mounts/kv",
        Some(serde_json::json!({"type": "kv"})),
    )
    .await;
    send(
        coffer_client::Method::Put,
        "kv/a",
        Some(serde_json::json!({"v": "1"})),
    )
    .await;
    let state = send(
        coffer_client::Method::Get,
        "sys/config/state/sanitized",
        None,
    )
    .await;
    assert_eq!(state.status, 200, "{:?}", state.body);
    let state = state.body.expect("body");
    assert_eq!(state["data"]["storage"]["type"], "postgresql", "{state}");
    assert!(!state.to_string().contains(&pg.url()), "{state}");
    assert!(!state.to_string().contains("connection_url"), "{state}");

    pg.crash();
    let down = send(coffer_client::Method::Get, "kv/a", None).await;
    assert_eq!(down.status, 503, "{:?}", down.body);
    let message = down.body.unwrap_or_default().to_string();
    assert!(message.contains("unreachable"), "{message}");
    assert!(!message.contains(&pg.url()), "{message}");

    pg.start_again();
    let back = send(coffer_client::Method::Get, "kv/a", None).await;
    assert_eq!(back.status, 200, "{:?}", back.body);
    assert_eq!(back.body.expect("body")["data"]["v"], "1");
}

#[tokio::test]
async fn postgresql_with_ha_enabled_needs_an_api_addr_before_anything_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hcl = "storage \"postgresql\" {\n  connection_url = \"postgres://u:pw@127.0.0.1:1/db\"\n  \
               ha_enabled = \"true\"\n}\nlistener \"tcp\" {\n  address = \"127.0.0.1:0\"\n  \
               tls_disable = true\n}\n";
    let config = config::parse(&dir.path().join("c.hcl"), hcl, &Env::empty()).expect("config");
    let err = format!(
        "{:#}",
        Server::start(&config).await.err().expect("must refuse")
    );
    assert!(err.contains("ha_enabled needs api_addr"), "{err}");
    assert!(!err.contains("pw"), "{err}");
}

/// A node whose storage is in the environment's `VAULT_PG_CONNECTION_URL`.
async fn start_with_pg_url(url: String, dir: &Path) -> anyhow::Result<Server> {
    let hcl = "storage \"postgresql\" {\n  max_connect_retries = 0\n}\nlistener \"tcp\" {\n  \
               address = \"127.0.0.1:0\"\n  tls_disable = true\n}\ndisable_mlock = true\n";
    let env = Env::from_pairs([("VAULT_PG_CONNECTION_URL", url)]);
    let config = config::parse(&dir.join("c.hcl"), hcl, &env).expect("config");
    Server::start(&config).await
}

async fn health(server: &Server) -> (u16, String) {
    let addr = format!("http://{}", server.addresses()[0].0);
    let client = coffer_client::Client::new(
        coffer_client::Config::from_lookup(|k| (k == "VAULT_ADDR").then(|| addr.clone()))
            .expect("config"),
    )
    .expect("client");
    let r = client
        .raw(coffer_client::Method::Get, "sys/health", &[], None)
        .await
        .expect("an answer");
    (r.status, r.body.unwrap_or_default().to_string())
}

#[tokio::test]
async fn unreachable_postgresql_at_start_is_waited_for_while_sys_health_answers_503() {
    let pg = PgServer::start();
    pg.crash();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = pg.url();
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, p)| p.to_owned())
        .expect("the URL has a password");
    let server = start_with_pg_url(url, dir.path())
        .await
        .expect("the node starts and waits");
    let (code, body) = health(&server).await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("unreachable") && body.contains(&format!("127.0.0.1:{}", pg.port())),
        "{body}"
    );
    assert!(!body.contains(&password), "{body}");

    pg.start_again();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (code, body) = health(&server).await;
        if code == 501 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {code}: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    server
        .core
        .initialize(InitParams {
            secret_shares: 1,
            secret_threshold: 1,
            ..InitParams::default()
        })
        .await
        .expect("init once PostgreSQL answers");
}

#[tokio::test]
async fn a_wrong_postgresql_password_stops_startup_at_once_without_showing_it() {
    let pg = PgServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let err = format!(
        "{:#}",
        start_with_pg_url(pg.url_with("not-the-pass-4711", ""), dir.path())
            .await
            .err()
            .expect("must fail")
    );
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("not-the-pass-4711"), "{err}");
}
