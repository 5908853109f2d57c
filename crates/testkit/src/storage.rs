//! Storage for test nodes: fresh in-memory backends, one whose writes can be
//! made to fail, one whose reads can be made slow, and a dump of every
//! physical key.

use async_trait::async_trait;
use coffer_core::storage::{Backend, SharedBackend, StorageError};
use coffer_storage_inmem::InmemBackend;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// A fresh, empty in-memory backend.
pub fn inmem() -> SharedBackend {
    Arc::new(InmemBackend::new())
}

/// Real in-memory storage whose puts to the keys `fails` picks fail with
/// `cause` while `broken` is set.
pub struct FailingWrites {
    inner: InmemBackend,
    fails: fn(&str) -> bool,
    cause: &'static str,
    broken: AtomicBool,
}

impl FailingWrites {
    /// Empty storage failing puts to the keys `fails` picks with `cause`
    /// (an I/O error message) while `broken`.
    pub fn new(fails: fn(&str) -> bool, cause: &'static str, broken: bool) -> Arc<Self> {
        Arc::new(Self {
            inner: InmemBackend::new(),
            fails,
            cause,
            broken: AtomicBool::new(broken),
        })
    }

    /// Breaks (`true`) or mends (`false`) the picked writes from now on.
    pub fn set_broken(&self, broken: bool) {
        self.broken.store(broken, Ordering::SeqCst);
    }
}

#[async_trait]
impl Backend for FailingWrites {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        if self.broken.load(Ordering::SeqCst) && (self.fails)(key) {
            return Err(StorageError::Io {
                op: "put",
                key: key.to_owned(),
                cause: self.cause.to_owned(),
            });
        }
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }
    fn kind(&self) -> &'static str {
        "inmem"
    }
}

/// A view of shared storage whose reads take `delay` longer, to hold a
/// request of one node half-way while something else happens; it counts
/// the reads it held up and the writes it passed on, so a test can act at
/// a known point of the request.
pub struct SlowReads {
    inner: SharedBackend,
    delay_ms: AtomicU64,
    delayed: AtomicU64,
    writes: AtomicU64,
}

impl SlowReads {
    /// `inner`, at full speed until [`SlowReads::set_delay`].
    pub fn new(inner: SharedBackend) -> Arc<Self> {
        Arc::new(Self {
            inner,
            delay_ms: AtomicU64::new(0),
            delayed: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        })
    }

    /// Reads that have started waiting so far.
    pub fn delayed_reads(&self) -> u64 {
        self.delayed.load(Ordering::SeqCst)
    }

    /// Writes (puts and deletes) passed on so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Every read from now on waits `delay` first.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    async fn wait(&self) {
        let ms = self.delay_ms.load(Ordering::SeqCst);
        if ms > 0 {
            self.delayed.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
}

#[async_trait]
impl Backend for SlowReads {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.wait().await;
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.wait().await;
        self.inner.list(prefix).await
    }
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}

/// Every physical key in `backend` (a storage dump's names).
pub async fn all_keys(backend: &SharedBackend) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![String::new()];
    while let Some(prefix) = stack.pop() {
        for child in backend.list(&prefix).await.expect("list") {
            let full = format!("{prefix}{child}");
            if child.ends_with('/') {
                stack.push(full);
            } else {
                out.insert(full);
            }
        }
    }
    out
}
