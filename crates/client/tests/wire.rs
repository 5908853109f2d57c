//! The client against tiny loopback HTTP(S) servers that answer canned responses and record what
//! they received: headers, verbs, status handling and TLS trust, over real sockets.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use coffer_client::{Client, Config, Error, SecretString};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// What the fake server saw: the request line and lower-cased headers.
#[derive(Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    status: u16,
    body: &str,
) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.first() == Some(&0x16) {
            // A TLS ClientHello on a plain-HTTP port: answer like an HTTP server would.
            let reply = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
            let _ = stream.write_all(reply).await;
            return None;
        }
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let request_body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    let reason = if status == 204 { "No Content" } else { "X" };
    let response = if status == 204 {
        format!("HTTP/1.1 204 {reason}\r\nConnection: close\r\n\r\n")
    } else {
        format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    stream.write_all(response.as_bytes()).await.ok()?;
    stream.shutdown().await.ok()?;
    Some(Seen {
        request_line,
        headers,
        body: request_body,
    })
}

/// A plain-HTTP server answering one request with `status`/`body`.
async fn serve_once(status: u16, body: &'static str) -> (String, oneshot::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await
            && let Some(seen) = handle(stream, status, body).await
        {
            let _ = tx.send(seen);
        }
    });
    (format!("http://{addr}"), rx)
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A TLS server (fixture certificate for 127.0.0.1) answering one request.
async fn serve_tls_once(status: u16, body: &'static str) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs = CertificateDer::pem_file_iter(fixture("server.pem"))
        .expect("cert file")
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_file(fixture("server-key.pem")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await
            && let Ok(tls) = acceptor.accept(stream).await
        {
            let _ = handle(tls, status, body).await;
        }
    });
    format!("https://{addr}")
}

fn client(address: &str, token: Option<&str>) -> Client {
    client_with(address, token, None, false)
}

fn client_with(address: &str, token: Option<&str>, ca: Option<PathBuf>, skip: bool) -> Client {
    Client::new(Config {
        address: address.to_owned(),
        token: token.map(SecretString::from),
        ca_cert: ca,
        skip_verify: skip,
        timeout: Duration::from_secs(10),
        wrap_ttl: None,
    })
    .expect("client")
}

#[tokio::test]
async fn read_sends_token_and_vault_request_headers() {
    let (addr, seen) = serve_once(200, r#"{"request_id":"1","data":{"foo":"bar"}}"#).await;
    let secret = client(&addr, Some("s.root"))
        .read("secret/foo")
        .await
        .expect("read");
    let seen = seen.await.expect("request seen");
    assert_eq!(seen.request_line, "GET /v1/secret/foo HTTP/1.1");
    assert_eq!(seen.header("x-vault-token"), Some("s.root"));
    assert_eq!(seen.header("x-vault-request"), Some("true"));
    assert_eq!(
        secret.and_then(|s| s.data).map(|d| d["foo"].clone()),
        Some(json!("bar"))
    );
}

#[tokio::test]
async fn request_without_token_sends_no_token_header() {
    let (addr, seen) = serve_once(200, r#"{"initialized":true}"#).await;
    assert!(
        client(&addr, None)
            .init_status()
            .await
            .expect("init status")
    );
    let seen = seen.await.expect("request seen");
    assert_eq!(seen.header("x-vault-token"), None);
}

#[tokio::test]
async fn list_uses_the_list_verb() {
    let (addr, seen) = serve_once(200, r#"{"data":{"keys":["a","b/"]}}"#).await;
    let secret = client(&addr, Some("t"))
        .list("secret/metadata/")
        .await
        .expect("list");
    assert_eq!(
        seen.await.expect("seen").request_line,
        "LIST /v1/secret/metadata/ HTTP/1.1"
    );
    assert_eq!(
        secret.and_then(|s| s.data).map(|d| d["keys"].clone()),
        Some(json!(["a", "b/"]))
    );
}

#[tokio::test]
async fn read_of_missing_path_is_none_not_an_error() {
    let (addr, _seen) = serve_once(404, r#"{"errors":[]}"#).await;
    assert!(
        client(&addr, Some("t"))
            .read("secret/nope")
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn read_of_deleted_kv2_version_still_returns_its_metadata() {
    let (addr, _seen) = serve_once(
        404,
        r#"{"data":{"data":null,"metadata":{"version":1,"deletion_time":"2024-01-01T00:00:00Z"}}}"#,
    )
    .await;
    let secret = client(&addr, Some("t"))
        .read("secret/data/x")
        .await
        .expect("read");
    assert!(secret.is_some_and(|s| s.data_field("metadata").is_some()));
}

#[tokio::test]
async fn server_errors_become_vault_style_api_errors() {
    let (addr, _seen) = serve_once(400, r#"{"errors":["invalid key"]}"#).await;
    let err = client(&addr, None)
        .unseal(&SecretString::from("aGVsbG8="), false)
        .await
        .expect_err("must fail");
    assert_eq!(err.status(), Some(400));
    assert_eq!(
        err.to_string(),
        format!(
            "Error making API request.\n\nURL: PUT {addr}/v1/sys/unseal\nCode: 400. Errors:\n\n\
             * invalid key"
        )
    );
    assert!(
        !err.to_string().contains("aGVsbG8="),
        "the key must never appear in errors"
    );
}

#[tokio::test]
async fn unseal_sends_key_and_migrate_flag() {
    let (addr, seen) = serve_once(
        200,
        r#"{"type":"shamir","initialized":true,"sealed":false,"t":1,"n":1,"progress":0}"#,
    )
    .await;
    let status = client(&addr, None)
        .unseal(&SecretString::from("abcd"), true)
        .await
        .expect("unseal");
    assert!(!status.sealed);
    let body: serde_json::Value =
        serde_json::from_str(&seen.await.expect("seen").body).expect("json body");
    assert_eq!(body, json!({"key": "abcd", "migrate": true}));
}

#[tokio::test]
async fn write_answered_with_204_returns_none() {
    let (addr, seen) = serve_once(204, "").await;
    let out = client(&addr, Some("t"))
        .write("secret/foo", &json!({"a": "b"}))
        .await;
    assert!(out.expect("write").is_none());
    let seen = seen.await.expect("seen");
    assert_eq!(seen.request_line, "PUT /v1/secret/foo HTTP/1.1");
    assert_eq!(seen.body, r#"{"a":"b"}"#);
}

#[tokio::test]
async fn mounts_are_read_from_data_not_the_injected_top_level() {
    let (addr, _seen) = serve_once(
        200,
        r#"{"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,
            "data":{"kv/":{"type":"kv","accessor":"kv_1","options":{"version":"2"},"config":{}}},
            "kv/":{"type":"kv","accessor":"kv_1","options":{"version":"2"},"config":{}}}"#,
    )
    .await;
    let mounts = client(&addr, Some("t"))
        .list_mounts()
        .await
        .expect("mounts");
    assert_eq!(mounts.keys().collect::<Vec<_>>(), vec!["kv/"]);
}

#[tokio::test]
async fn kv_mount_detection_reads_version_two() {
    let (addr, seen) = serve_once(
        200,
        r#"{"data":{"path":"secret/","type":"kv","options":{"version":"2"}}}"#,
    )
    .await;
    let mount = client(&addr, Some("t"))
        .kv_mount("secret/foo")
        .await
        .expect("mount");
    assert_eq!(
        seen.await.expect("seen").request_line,
        "GET /v1/sys/internal/ui/mounts/secret/foo HTTP/1.1"
    );
    assert_eq!((mount.path.as_str(), mount.version), ("secret/", 2));
}

#[tokio::test]
async fn kv_mount_detection_treats_404_as_version_one() {
    let (addr, _seen) = serve_once(404, r#"{"errors":[]}"#).await;
    let mount = client(&addr, Some("t"))
        .kv_mount("kv/foo")
        .await
        .expect("mount");
    assert_eq!(mount.version, 1);
}

#[tokio::test]
async fn refused_connection_names_the_address_and_vault_addr() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let addr = format!("http://127.0.0.1:{port}");
    let err = client(&addr, None)
        .seal_status()
        .await
        .expect_err("must fail");
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&addr) && text.contains("VAULT_ADDR"),
        "{text}"
    );
}

#[tokio::test]
async fn https_client_against_plain_http_server_hints_at_http() {
    let (addr, _seen) = serve_once(200, "{}").await;
    let https = addr.replace("http://", "https://");
    let err = client_with(&https, None, None, true)
        .seal_status()
        .await
        .expect_err("must fail");
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    assert!(err.to_string().contains("plain HTTP"), "{err}");
}

#[tokio::test]
async fn tls_server_is_trusted_through_the_ca_file() {
    let addr = serve_tls_once(200, r#"{"initialized":true}"#).await;
    let client = client_with(&addr, None, Some(fixture("ca.pem")), false);
    assert!(client.init_status().await.expect("init status over TLS"));
}

#[tokio::test]
async fn tls_server_with_unknown_ca_is_rejected() {
    let addr = serve_tls_once(200, r#"{"initialized":true}"#).await;
    let err = client_with(&addr, None, None, false)
        .init_status()
        .await
        .expect_err("must fail");
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    assert!(err.to_string().contains("VAULT_CACERT"), "{err}");
}

#[tokio::test]
async fn tls_skip_verify_accepts_an_unknown_ca() {
    let addr = serve_tls_once(200, r#"{"initialized":true}"#).await;
    let client = client_with(&addr, None, None, true);
    assert!(
        client
            .init_status()
            .await
            .expect("init status with skip verify")
    );
}
