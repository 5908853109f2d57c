//! Group commit seen from outside: concurrent writers share durable commits,
//! every one of them is acknowledged only once its write is readable, and a
//! bad request fails alone.

use coffer_core::storage::{Backend, StorageError, WriteOp};
use coffer_storage_embedded::EmbeddedBackend;
use std::sync::Arc;

async fn open(dir: &tempfile::TempDir) -> Arc<EmbeddedBackend> {
    let backend = EmbeddedBackend::open(dir.path().join("coffer.db"))
        .await
        .expect("open");
    Arc::new(backend)
}

/// Runs `writers` tasks that each put `per_writer` distinct keys; returns the keys.
async fn concurrent_puts(
    b: &Arc<EmbeddedBackend>,
    writers: usize,
    per_writer: usize,
) -> Vec<String> {
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let b = b.clone();
            tokio::spawn(async move {
                let mut keys = Vec::new();
                for i in 0..per_writer {
                    let key = format!("gc/w{w:02}/k{i}");
                    b.put(&key, key.as_bytes())
                        .await
                        .unwrap_or_else(|e| panic!("put {key:?} failed: {e}"));
                    keys.push(key);
                }
                keys
            })
        })
        .collect();
    let mut keys = Vec::new();
    for t in tasks {
        keys.extend(t.await.expect("writer task panicked"));
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_writers_are_all_acknowledged_and_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = open(&dir).await;
    let keys = concurrent_puts(&b, 64, 5).await;
    assert_eq!(keys.len(), 320);
    for key in &keys {
        assert_eq!(
            b.get(key).await.expect("get").as_deref(),
            Some(key.as_bytes()),
            "{key}"
        );
    }
    // And still there after the file is closed and opened again.
    drop(b);
    let reopened = open(&dir).await;
    for key in &keys {
        assert!(
            reopened.get(key).await.expect("get").is_some(),
            "{key} lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_share_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = open(&dir).await;
    let puts = concurrent_puts(&b, 64, 10).await.len() as u64;
    let commits = b.commit_count();
    assert!(
        commits < puts,
        "{commits} commits for {puts} concurrent puts: nothing was batched"
    );
}

#[tokio::test]
async fn one_writer_at_a_time_commits_every_write_on_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = open(&dir).await;
    for i in 0..5 {
        b.put(&format!("solo/{i}"), b"v").await.expect("put");
    }
    b.delete("solo/0").await.expect("delete");
    assert_eq!(b.commit_count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_key_among_concurrent_writes_is_rejected_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = open(&dir).await;
    // A large write first keeps the writer busy while the rest queue up behind it.
    let big = vec![0x5a; 4 * 1024 * 1024];
    let tasks: Vec<_> = (0..48)
        .map(|i| {
            let (b, big) = (b.clone(), big.clone());
            tokio::spawn(async move {
                let key = match i % 4 {
                    0 if i == 0 => "mix/big".to_owned(),
                    3 => format!("mix/../bad{i}"),
                    _ => format!("mix/ok{i}"),
                };
                let value = if i == 0 { big } else { key.as_bytes().to_vec() };
                (key.clone(), b.put(&key, &value).await)
            })
        })
        .collect();
    for t in tasks {
        let (key, outcome) = t.await.expect("task panicked");
        if key.contains("..") {
            assert!(
                matches!(outcome, Err(StorageError::InvalidKey { .. })),
                "{key}: {outcome:?}"
            );
        } else {
            outcome.unwrap_or_else(|e| panic!("{key} failed beside an invalid key: {e}"));
            assert!(b.get(&key).await.expect("get").is_some(), "{key} missing");
        }
    }
    assert_eq!(b.list("mix/").await.expect("list").len(), 36);
}

#[tokio::test]
async fn a_unit_of_several_changes_is_one_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = open(&dir).await;
    b.put("unit/old", b"o").await.expect("put");
    let before = b.commit_count();
    let unit = vec![
        WriteOp::Put {
            key: "unit/a".to_owned(),
            value: b"1".to_vec(),
        },
        WriteOp::Put {
            key: "unit/b".to_owned(),
            value: b"2".to_vec(),
        },
        WriteOp::Delete {
            key: "unit/old".to_owned(),
        },
    ];
    assert!(b.applies_atomically());
    b.apply(unit).await.expect("apply");
    assert_eq!(b.commit_count(), before + 1, "three changes, one commit");
    assert_eq!(
        b.get("unit/b").await.expect("get").as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(b.get("unit/old").await.expect("get"), None);
}
