//! The HA election lock in `ha_table` on a real server: one holder at a
//! time, renewals by the holder, lapsing by the database's clock, release,
//! and the row as Vault lays it out.

mod common;

use coffer_core::ha::HaLock;
use coffer_storage_postgresql::PostgresBackend;
use coffer_testkit::postgres::PgServer;
use common::{config, sql};
use std::time::Duration;

#[tokio::test]
async fn one_node_holds_the_lock_until_it_lapses_or_is_released() {
    let server = PgServer::start();
    let mut cfg = config(&server.url());
    cfg.ha_enabled = true;
    let a = PostgresBackend::open(&cfg).await.expect("open a");
    let b = PostgresBackend::open(&cfg).await.expect("open b");
    let (lock_a, lock_b) = (
        a.ha_lock().expect("ha enabled"),
        b.ha_lock().expect("ha enabled"),
    );
    let ttl = Duration::from_millis(1500);
    assert!(lock_a.acquire("node-a", "{\"a\":1}", ttl).await.expect("a"));
    assert!(
        !lock_b.acquire("node-b", "{}", ttl).await.expect("b"),
        "a holds it"
    );
    assert!(
        lock_a
            .acquire("node-a", "{\"a\":1}", ttl)
            .await
            .expect("renew")
    );
    let seen = lock_b.holder().await.expect("holder").expect("held");
    assert_eq!(
        (seen.holder.as_str(), seen.value.as_str()),
        ("node-a", "{\"a\":1}")
    );

    let db = sql(&server).await;
    let row = db
        .query_one(
            "SELECT ha_key, ha_identity, valid_until > now() FROM vault_ha_locks",
            &[],
        )
        .await
        .expect("one row");
    let (key, identity, valid): (String, String, bool) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        (key.as_str(), identity.as_str(), valid),
        ("core/lock", "node-a", true)
    );

    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    assert!(
        lock_b.holder().await.expect("holder").is_none(),
        "lapsed by the database's clock"
    );
    assert!(
        lock_b
            .acquire("node-b", "{}", ttl)
            .await
            .expect("b takes over")
    );
    assert!(
        !lock_a.acquire("node-a", "{}", ttl).await.expect("a"),
        "b holds it now"
    );
    lock_a
        .release("node-a")
        .await
        .expect("a non-holder's release changes nothing");
    assert_eq!(
        lock_a.holder().await.expect("h").expect("b").holder,
        "node-b"
    );
    lock_b.release("node-b").await.expect("release");
    assert!(lock_a.holder().await.expect("h").is_none());
    assert!(
        lock_a
            .acquire("node-a", "{}", ttl)
            .await
            .expect("free again")
    );
}

#[tokio::test]
async fn without_ha_enabled_there_is_no_lock() {
    let server = PgServer::start();
    let backend = PostgresBackend::open(&config(&server.url()))
        .await
        .expect("open");
    assert!(backend.ha_lock().is_none());
}

#[tokio::test]
async fn a_fenced_backend_writes_only_while_its_node_holds_the_lock() {
    use coffer_core::storage::{Backend, StorageError};
    let server = PgServer::start();
    let mut cfg = config(&server.url());
    cfg.ha_enabled = true;
    let a = PostgresBackend::open(&cfg)
        .await
        .expect("open a")
        .fenced_by("node-a");
    let b = PostgresBackend::open(&cfg)
        .await
        .expect("open b")
        .fenced_by("node-b");
    let lock = a.ha_lock().expect("lock");
    let refused = |r: Result<(), StorageError>| matches!(r, Err(StorageError::NotActive { .. }));

    assert!(
        refused(a.put("k", b"v0").await),
        "no one holds the lock yet"
    );
    let ttl = Duration::from_millis(1200);
    assert!(lock.acquire("node-a", "{}", ttl).await.expect("a"));
    a.put("k", b"v1").await.expect("a holds the lock");
    assert!(refused(b.put("k", b"b").await), "b does not");
    assert!(refused(b.delete("k").await));
    assert_eq!(
        b.get("k").await.expect("reads are not fenced"),
        Some(b"v1".to_vec())
    );
    a.delete("gone")
        .await
        .expect("deleting an absent key while holding the lock");

    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    assert!(refused(a.put("k", b"late").await), "a's lease ran out");
    assert!(
        lock.acquire("node-b", "{}", ttl)
            .await
            .expect("b takes over")
    );
    b.put("k", b"v2").await.expect("b holds the lock");
    assert!(refused(a.delete("k").await));
    assert_eq!(a.get("k").await.expect("get"), Some(b"v2".to_vec()));
}
