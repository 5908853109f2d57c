//! TLS against a real server with `ssl = on` and rcgen-made certificates:
//! real handshakes, and libpq's `sslmode` rules for checking the certificate.

mod common;

use coffer_core::storage::Backend;
use coffer_storage_postgresql::PostgresBackend;
use coffer_testkit::postgres::{PASSWORD, PgServer};
use common::{config, sql};
use std::path::{Path, PathBuf};

/// A CA, and a server certificate it signed for `names`.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn make_pki(names: &[&str]) -> Pki {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "coffer test database CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let leaf = rcgen::CertificateParams::new(names)
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf cert");
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
    }
}

/// A TLS server whose certificate names `names`, and its CA written to a file.
fn tls_server(dir: &Path, names: &[&str]) -> (PgServer, PathBuf) {
    let pki = make_pki(names);
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("write CA");
    (PgServer::start_with_tls(&pki.cert_pem, &pki.key_pem), ca)
}

async fn open(server: &PgServer, query: &str) -> Result<PostgresBackend, String> {
    PostgresBackend::open(&config(&server.url_with(PASSWORD, query)))
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn sslmode_require_encrypts_every_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _) = tls_server(dir.path(), &["localhost", "127.0.0.1"]);
    let backend = open(&server, "sslmode=require")
        .await
        .expect("open over TLS");
    backend.put("secret/k", b"v").await.expect("put");
    assert_eq!(
        backend.get("secret/k").await.expect("get").as_deref(),
        Some(&b"v"[..])
    );
    // The server's own view of the backend's (pooled, still open) connections.
    let row = sql(&server)
        .await
        .query_one(
            "SELECT count(*), bool_and(s.ssl), min(s.version) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'coffer'",
            &[],
        )
        .await
        .expect("pg_stat_ssl");
    let (count, all_tls, version): (i64, Option<bool>, Option<String>) =
        (row.get(0), row.get(1), row.get(2));
    assert!(count >= 1, "no connection of the backend found");
    assert_eq!(all_tls, Some(true), "a connection without TLS");
    assert!(
        version.as_deref().is_some_and(|v| v.starts_with("TLSv1.")),
        "{version:?}"
    );
}

#[tokio::test]
async fn verify_full_accepts_a_certificate_from_the_given_ca_for_the_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, ca) = tls_server(dir.path(), &["localhost", "127.0.0.1"]);
    let backend = open(
        &server,
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    )
    .await
    .expect("verify-full with the right CA");
    backend.put("k", b"v").await.expect("put");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_when_a_ca_is_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _) = tls_server(dir.path(), &["localhost", "127.0.0.1"]);
    let stranger = dir.path().join("other-ca.pem");
    std::fs::write(&stranger, make_pki(&["x"]).ca_pem).expect("write");
    // require + sslrootcert checks the chain, as in libpq.
    for mode in ["require", "verify-ca", "verify-full"] {
        let msg = open(
            &server,
            &format!("sslmode={mode}&sslrootcert={}", stranger.display()),
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("{mode}: a foreign certificate was accepted"));
        assert!(
            msg.contains("error performing TLS handshake: invalid peer certificate"),
            "{mode}: {msg}"
        );
        assert!(
            !msg.contains("attempts"),
            "a bad certificate is not retried: {msg}"
        );
        assert!(!msg.contains(PASSWORD), "{msg}");
    }
}

#[tokio::test]
async fn verify_ca_ignores_the_host_name_and_verify_full_checks_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, ca) = tls_server(dir.path(), &["db.example"]);
    let root = format!("sslrootcert={}", ca.display());
    open(&server, &format!("sslmode=verify-ca&{root}"))
        .await
        .expect("verify-ca: right CA, other name");
    let msg = open(&server, &format!("sslmode=verify-full&{root}"))
        .await
        .err()
        .expect("verify-full must check the name");
    assert!(msg.contains("not valid for name"), "{msg}");
}

#[tokio::test]
async fn sslmode_require_refuses_a_server_without_tls() {
    let server = PgServer::start();
    let msg = open(&server, "sslmode=require")
        .await
        .err()
        .expect("no TLS, no connection");
    assert!(msg.contains("server does not support TLS"), "{msg}");
}
