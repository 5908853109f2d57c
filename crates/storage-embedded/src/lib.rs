//! `embedded`: Coffer's default storage backend, a single-file ACID store
//! built on [redb](https://docs.rs/redb). Every acknowledged `put` is
//! committed durably (fsync) before it returns; a crash at any moment leaves
//! the file at the last commit. Concurrent writes share commits (group
//! commit, see `writer`). See `docs/adr/0001-embedded-storage.md`.
//!
//! It must never depend on the server, an engine, a seal or another backend:
//! only on the storage contract in `coffer-core`. No C code, no SQL.

use async_trait::async_trait;
use coffer_core::storage::{Backend, StorageError, WriteOp, validate_key, validate_prefix};
use redb::{Database, DatabaseError, ReadableDatabase, TableDefinition};
use std::fmt::Display;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use writer::Writer;

mod writer;

/// redb's page cache. Its default (1 GiB) let the soak test's server grow by
/// 350 MB in 30 minutes as the file's pages passed through the cache; the
/// operating system's page cache still holds the file beyond this.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// All entries live in one table: key string to value bytes.
const ENTRIES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("coffer_entries");

/// The embedded [`Backend`]: one redb database file, opened by one process.
///
/// Cheap to clone; clones share the open database and its writer thread.
/// Dropping the last clone lets the writer thread commit what is still queued
/// and waits for it to exit (bounded), which closes the file.
#[derive(Clone)]
pub struct EmbeddedBackend {
    db: Arc<Database>,
    writer: Arc<Writer>,
    path: PathBuf,
}

impl std::fmt::Debug for EmbeddedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBackend")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedBackend {
    /// Opens the database file at `path`, creating it (mode 0600) and its
    /// parent directories (mode 0700) when missing.
    ///
    /// Fails with an error naming the path when the file cannot be created or
    /// read, or when another process holds it open (redb locks the file).
    /// Opening after a crash may first repair the file, which can take a while
    /// for a large database; that work runs on a blocking thread.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        let target = path.clone();
        let db = Arc::new(blocking("open", &shown, move || open_database(&target)).await?);
        let writer = Writer::start(db.clone()).map_err(|e| {
            io_err(
                "open",
                &shown,
                format!("cannot start the writer thread: {e}"),
            )
        })?;
        tracing::debug!(path = %shown, "embedded storage opened");
        Ok(Self {
            db,
            writer: Arc::new(writer),
            path,
        })
    }

    /// The database file this backend uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Metric: durable commits made since [`open`](Self::open) (not persisted).
    ///
    /// Concurrent puts and deletes share one commit, so acknowledged writes
    /// divided by this count is the mean group-commit batch size; with one
    /// writer at a time it equals the number of writes.
    pub fn commit_count(&self) -> u64 {
        self.writer.commit_count()
    }
}

#[async_trait]
impl Backend for EmbeddedBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        validate_key(key)?;
        // Inline, not on the blocking pool: a point read is a B-tree walk
        // over pages that redb's cache (CACHE_BYTES) or the OS page cache
        // hold, a few microseconds, while the hand-off to a pool thread and
        // back costs more than that in wake-ups. A read that misses both
        // caches holds this worker for one disk read.
        read_value(&self.db, key).map_err(|e| io_err("get", key, e))
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        validate_key(key)?;
        self.writer
            .submit(vec![WriteOp::Put {
                key: key.to_owned(),
                value: value.to_vec(),
            }])
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        self.writer
            .submit(vec![WriteOp::Delete {
                key: key.to_owned(),
            }])
            .await
    }

    /// One redb transaction for the whole unit (shared, like every write,
    /// with whatever else is queued): all of it is committed with one fsync,
    /// or none of it.
    fn applies_atomically(&self) -> bool {
        true
    }

    async fn apply(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        for op in &ops {
            validate_key(op.key())?;
        }
        self.writer.submit(ops).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        validate_prefix(prefix)?;
        let (db, p) = (self.db.clone(), prefix.to_owned());
        blocking("list", prefix, move || {
            list_children(&db, &p).map_err(|e| io_err("list", &p, e))
        })
        .await
    }

    fn kind(&self) -> &'static str {
        "embedded"
    }
}

/// Creates the parent directories and the file, opens it, and makes sure the
/// table exists so that readers never meet a missing table.
fn open_database(path: &Path) -> Result<Database, StorageError> {
    let shown = path.display().to_string();
    let fail = |cause: String| io_err("open", &shown, cause);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| fail(format!("cannot create directory {}: {e}", parent.display())))?;
    }
    // Pre-create the file so it is private from the start; redb would use 0666 & umask.
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| fail(format!("cannot create the database file: {e}")))?;
    let db = Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(path)
        .map_err(|e| {
            match e {
        DatabaseError::DatabaseAlreadyOpen => fail(
            "the database file is locked by another process; is another coffer server using it?"
                .to_owned(),
        ),
        other => fail(format!("cannot open the database file: {other}")),
    }
        })?;
    let init = || -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        txn.open_table(ENTRIES)?;
        txn.commit()?;
        Ok(())
    };
    init().map_err(|e| fail(format!("cannot initialise the database: {e}")))?;
    Ok(db)
}

fn read_value(db: &Database, key: &str) -> Result<Option<Vec<u8>>, redb::Error> {
    let txn = db.begin_read()?;
    let table = txn.open_table(ENTRIES)?;
    Ok(table.get(key)?.map(|v| v.value().to_vec()))
}

/// Range-scans the keys under `prefix`. A deeper key is reported as its folder
/// and the scan then jumps past that whole folder, so listing a level costs
/// one seek per child rather than one step per key underneath it.
fn list_children(db: &Database, prefix: &str) -> Result<Vec<String>, redb::Error> {
    let txn = db.begin_read()?;
    let table = txn.open_table(ENTRIES)?;
    let mut names = Vec::new();
    let mut from = prefix.to_owned();
    loop {
        let mut resume = None;
        for entry in table.range(from.as_str()..)? {
            let (key, _) = entry?;
            let key = key.value();
            let Some(rest) = key.strip_prefix(prefix) else {
                break;
            };
            match rest.find('/') {
                Some(i) => {
                    names.push(rest[..=i].to_owned());
                    // '0' is the byte right after '/', so "<folder>0" sorts
                    // after every key inside "<folder>/".
                    resume = Some(format!("{prefix}{}0", &rest[..i]));
                    break;
                }
                None if !rest.is_empty() => names.push(rest.to_owned()),
                None => {}
            }
        }
        match resume {
            Some(next) => from = next,
            None => break,
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Runs redb work on a blocking thread, never on the async workers.
async fn blocking<T: Send + 'static>(
    op: &'static str,
    key: &str,
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| io_err(op, key, format!("storage task failed: {e}")))?
}

fn io_err(op: &'static str, key: &str, cause: impl Display) -> StorageError {
    StorageError::Io {
        op,
        key: key.to_owned(),
        cause: cause.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_are_served_while_a_write_waits_for_its_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = EmbeddedBackend::open(dir.path().join("coffer.db"))
            .await
            .expect("open");
        b.put("k", b"old").await.expect("put");
        // Holding redb's write transaction stalls the writer thread.
        let hold = b.db.begin_write().expect("hold the write lock");
        let pending = tokio::spawn({
            let b = b.clone();
            async move { b.put("k", b"new").await }
        });
        assert_eq!(b.get("k").await.expect("get").as_deref(), Some(&b"old"[..]));
        assert_eq!(b.list("").await.expect("list"), ["k"]);
        assert!(!pending.is_finished(), "acknowledged before its commit");
        drop(hold);
        pending.await.expect("task").expect("put");
        assert_eq!(b.get("k").await.expect("get").as_deref(), Some(&b"new"[..]));
    }
}
