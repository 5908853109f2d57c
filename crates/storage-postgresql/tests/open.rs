//! Opening the backend against a real server: tables made when missing (or
//! used as an operator made them), Vault's row layout, and clear failures that
//! never show the password.

mod common;

use coffer_core::storage::Backend;
use coffer_storage_postgresql::PostgresBackend;
use coffer_testkit::postgres::PgServer;
use common::{config, sql};
use std::net::TcpListener;

/// Column name, type and collation of `table`, in order.
async fn columns(
    db: &tokio_postgres::Client,
    table: &str,
) -> Vec<(String, String, Option<String>)> {
    db.query(
        "SELECT column_name::text, data_type::text, collation_name::text \
         FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
        &[&table],
    )
    .await
    .expect("columns")
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// The definitions of the indexes on `table`.
async fn indexes(db: &tokio_postgres::Client, table: &str) -> Vec<String> {
    let mut defs: Vec<String> = db
        .query(
            "SELECT indexdef FROM pg_indexes WHERE tablename = $1",
            &[&table],
        )
        .await
        .expect("indexes")
        .iter()
        .map(|r| r.get(0))
        .collect();
    defs.sort();
    defs
}

async fn exists(db: &tokio_postgres::Client, table: &str) -> bool {
    db.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .expect("to_regclass")
        .get(0)
}

fn col(name: &str, ty: &str, collation: Option<&str>) -> (String, String, Option<String>) {
    (name.to_owned(), ty.to_owned(), collation.map(str::to_owned))
}

#[tokio::test]
async fn missing_tables_are_created_with_vaults_columns_and_index() {
    let server = PgServer::start();
    let db = sql(&server).await;
    let mut c = config(&server.url());
    c.table = "coffer_kv".to_owned();
    c.ha_enabled = true;
    c.ha_table = "coffer_locks".to_owned();
    let backend = PostgresBackend::open(&c).await.expect("open");
    assert_eq!(backend.kind(), "postgresql");
    assert_eq!(backend.table(), "coffer_kv");

    assert_eq!(
        columns(&db, "coffer_kv").await,
        [
            col("parent_path", "text", Some("C")),
            col("path", "text", Some("C")),
            col("key", "text", Some("C")),
            col("value", "bytea", None),
        ]
    );
    assert_eq!(
        indexes(&db, "coffer_kv").await,
        [
            "CREATE INDEX coffer_kv_parent_path_idx ON public.coffer_kv USING btree (parent_path)",
            "CREATE UNIQUE INDEX coffer_kv_pkey ON public.coffer_kv USING btree (path, key)",
        ]
    );
    assert_eq!(
        columns(&db, "coffer_locks").await,
        [
            col("ha_key", "text", Some("C")),
            col("ha_identity", "text", Some("C")),
            col("ha_value", "text", Some("C")),
            col("valid_until", "timestamp with time zone", None),
        ]
    );

    // A second start finds the tables and leaves them alone.
    drop(backend);
    PostgresBackend::open(&c).await.expect("reopen");
    assert_eq!(indexes(&db, "coffer_kv").await.len(), 2);

    // Without ha_enabled no lock table is made.
    PostgresBackend::open(&config(&server.url()))
        .await
        .expect("open default table");
    assert!(exists(&db, "vault_kv_store").await);
    assert!(!exists(&db, "vault_ha_locks").await);
}

#[tokio::test]
async fn rows_follow_vaults_layout() {
    let server = PgServer::start();
    let db = sql(&server).await;
    let backend = PostgresBackend::open(&config(&server.url()))
        .await
        .expect("open");
    backend.put("top", b"1").await.expect("put");
    backend.put("a/b", b"2").await.expect("put");
    backend.put("a/b/c/d", b"\x00\xff").await.expect("put");
    let rows: Vec<(String, String, String, Vec<u8>)> = db
        .query(
            "SELECT parent_path, path, key, value FROM vault_kv_store ORDER BY path, key",
            &[],
        )
        .await
        .expect("select")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let row = |p: &str, q: &str, k: &str, v: &[u8]| {
        (p.to_owned(), q.to_owned(), k.to_owned(), v.to_vec())
    };
    assert_eq!(
        rows,
        [
            row("", "/", "top", b"1"),
            row("/", "/a/", "b", b"2"),
            row("/a/b/", "/a/b/c/", "d", b"\x00\xff"),
        ]
    );
}

#[tokio::test]
async fn a_table_made_by_hand_from_the_docs_serves_a_role_without_create_rights() {
    let server = PgServer::start();
    let db = sql(&server).await;
    // The operator's SQL from docs/storage-postgresql.md (Vault's), and a role
    // that may only read and write rows.
    db.batch_execute(
        "CREATE TABLE vault_kv_store (
           parent_path TEXT COLLATE \"C\" NOT NULL,
           path        TEXT COLLATE \"C\",
           key         TEXT COLLATE \"C\",
           value       BYTEA,
           CONSTRAINT pkey PRIMARY KEY (path, key)
         );
         CREATE INDEX parent_path_idx ON vault_kv_store (parent_path);
         INSERT INTO vault_kv_store VALUES ('/', '/core/', 'seal-config', 'written by hand');
         CREATE ROLE app LOGIN PASSWORD 'app-password';
         GRANT SELECT, INSERT, UPDATE, DELETE ON vault_kv_store TO app;",
    )
    .await
    .expect("operator SQL");
    let app_url = format!(
        "postgres://app:app-password@127.0.0.1:{}/postgres?sslmode=disable",
        server.port()
    );
    let backend = PostgresBackend::open(&config(&app_url))
        .await
        .expect("open as app");
    assert_eq!(
        backend
            .get("core/seal-config")
            .await
            .expect("get")
            .as_deref(),
        Some(&b"written by hand"[..])
    );
    backend.put("core/keyring", b"k").await.expect("put");
    assert_eq!(
        backend.list("core/").await.expect("list"),
        ["keyring", "seal-config"]
    );
    assert_eq!(
        indexes(&db, "vault_kv_store").await.len(),
        2,
        "no index added"
    );

    // Where the table is missing, the same role gets PostgreSQL's reason.
    let mut other = config(&app_url);
    other.table = "missing_kv".to_owned();
    let msg = PostgresBackend::open(&other)
        .await
        .err()
        .expect("cannot create")
        .to_string();
    assert!(msg.contains("permission denied for schema public"), "{msg}");
    assert!(!msg.contains("app-password"), "{msg}");
}

#[tokio::test]
async fn wrong_password_is_refused_at_once_naming_the_cause_but_not_the_password() {
    let server = PgServer::start();
    let mut c = config(&server.url_with("not-the-password-4711", "sslmode=disable"));
    c.max_connect_retries = 3;
    let err = PostgresBackend::open(&c).await.err().expect("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("password authentication failed for user \"postgres\""),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("127.0.0.1:{}", server.port())),
        "{msg}"
    );
    assert!(
        !msg.contains("attempts"),
        "a refused login is not retried: {msg}"
    );
    let all = format!("{msg} {err:?}");
    assert!(!all.contains("not-the-password-4711"), "{all}");
}

#[tokio::test]
async fn unreachable_server_fails_after_the_configured_retries() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut c = config(&format!(
        "postgres://postgres:secret-pw-0815@127.0.0.1:{port}/postgres?sslmode=disable"
    ));
    c.max_connect_retries = 2;
    let err = PostgresBackend::open(&c).await.err().expect("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{port} after 3 attempts"
        )),
        "{msg}"
    );
    assert!(msg.contains("Connection refused"), "{msg}");
    assert!(
        !format!("{msg} {err:?}").contains("secret-pw-0815"),
        "{msg}"
    );
}

#[tokio::test]
async fn bad_table_names_are_refused_before_connecting() {
    let url = "postgres://postgres:pw@127.0.0.1:1/postgres";
    let mut c = config(url);
    c.table = "kv\"; DROP TABLE users; --".to_owned();
    let msg = PostgresBackend::open(&c)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        msg.contains("table: table name") && msg.contains("not allowed"),
        "{msg}"
    );
    assert!(!msg.contains("connect"), "{msg}");

    let mut c = config(url);
    c.ha_enabled = true;
    c.ha_table = "locks.v2".to_owned();
    let msg = PostgresBackend::open(&c)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(msg.contains("ha_table: table name"), "{msg}");
}

#[tokio::test]
async fn entries_survive_reopen_and_tables_keep_apart() {
    let server = PgServer::start();
    let mut one = config(&server.url());
    one.table = "one".to_owned();
    let mut two = config(&server.url());
    two.table = "two".to_owned();
    let a = PostgresBackend::open(&one).await.expect("open one");
    let b = PostgresBackend::open(&two).await.expect("open two");
    a.put("core/x", b"in one").await.expect("put");
    assert_eq!(b.get("core/x").await.expect("get"), None);
    assert!(b.list("").await.expect("list").is_empty());
    drop(a);
    let a = PostgresBackend::open(&one).await.expect("reopen");
    assert_eq!(
        a.get("core/x").await.expect("get").as_deref(),
        Some(&b"in one"[..])
    );
}

#[tokio::test]
async fn pooled_connections_lost_in_a_server_restart_are_replaced() {
    let server = PgServer::start();
    let backend = PostgresBackend::open(&config(&server.url()))
        .await
        .expect("open");
    backend.put("k", b"before").await.expect("put");
    server.crash_and_restart();
    assert_eq!(
        backend
            .get("k")
            .await
            .expect("get after restart")
            .as_deref(),
        Some(&b"before"[..])
    );
    backend.put("k", b"after").await.expect("put after restart");
}
