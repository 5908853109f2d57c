//! Group commit: one thread owns every write transaction of the database.
//!
//! Callers queue a unit (one put or delete, or several changes that must
//! land together) with a reply channel and wait. The thread blocks for the
//! first queued unit, takes whatever else is already queued (no waiting for
//! more, so a lone writer pays nothing extra), applies the batch in arrival
//! order in one redb write transaction, commits it durably (one fsync for the
//! whole batch), and only then answers every caller. A failed commit fails
//! every caller of the batch and leaves nothing of it visible; a unit that
//! cannot be applied is retried alone, so it fails without taking its
//! neighbours along, and nothing of it is visible. Reads never come here: they open their own read
//! transactions, which redb serves alongside a write transaction.

use super::{ENTRIES, io_err};
use coffer_core::storage::{StorageError, WriteOp};
use redb::{Database, Durability, Table};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// At most this many units share one commit, so one commit's latency stays bounded.
const MAX_BATCH_UNITS: usize = 256;
/// At most this many key and value bytes share one commit (a larger single
/// write still goes, alone).
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// How long dropping the backend waits for the writer to finish what is queued.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(10);

/// Handle on the writer thread; dropping it drains the queue and joins the thread.
pub(crate) struct Writer {
    /// `None` only while dropping: closing the queue tells the thread to stop.
    queue: Option<Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    /// Disconnects when the thread has finished (its sender is dropped on
    /// exit). Only used in `drop`; the mutex just makes the handle `Sync`.
    finished: Mutex<Receiver<Infallible>>,
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread for `db`.
    pub(crate) fn start(db: Arc<Database>) -> std::io::Result<Self> {
        Self::start_with(db, apply_op)
    }

    /// Queues `unit` (applied all or nothing) and waits until the commit
    /// that contains it has returned.
    pub(crate) async fn submit(&self, unit: Vec<WriteOp>) -> Result<(), StorageError> {
        let Some(first) = unit.first() else {
            return Ok(());
        };
        let (name, key) = (first.name(), first.key().to_owned());
        let stopped = || io_err(name, &key, "the storage writer thread has stopped");
        let (reply, answer) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or_else(stopped)?;
        queue.send(Request { unit, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Durable commits made so far.
    pub(crate) fn commit_count(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// [`Writer::start`] with the function that applies one write to the
    /// table; tests pass one that fails on purpose.
    fn start_with(db: Arc<Database>, apply: Apply) -> std::io::Result<Self> {
        let (queue, incoming) = mpsc::channel();
        let (done, finished) = mpsc::channel::<Infallible>();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let thread = std::thread::Builder::new()
            .name("coffer-redb-writer".to_owned())
            .spawn(move || {
                let _done = done; // Dropped on exit, panics included.
                write_until_closed(&db, &incoming, &counter, apply);
            })?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
            finished: Mutex::new(finished),
            commits,
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // The thread still commits and answers whatever is queued (writes whose
        // callers gave up waiting), then finds the queue closed and returns.
        drop(self.queue.take());
        let finished = self
            .finished
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        match finished.recv_timeout(SHUTDOWN_PATIENCE) {
            Err(RecvTimeoutError::Disconnected) => {
                if let Some(thread) = self.thread.take()
                    && thread.join().is_err()
                {
                    tracing::error!("the embedded storage writer thread panicked");
                }
            }
            Ok(never) => match never {},
            Err(RecvTimeoutError::Timeout) => tracing::warn!(
                patience = ?SHUTDOWN_PATIENCE,
                "the embedded storage writer is still committing; not waiting any longer"
            ),
        }
    }
}

/// A queued unit of writes (never empty) and where to send its outcome.
struct Request {
    unit: Vec<WriteOp>,
    reply: oneshot::Sender<Result<(), StorageError>>,
}

impl Request {
    /// What the unit adds to a batch, for [`MAX_BATCH_BYTES`].
    fn size(&self) -> usize {
        self.unit
            .iter()
            .map(|op| match op {
                WriteOp::Put { key, value } => key.len() + value.len(),
                WriteOp::Delete { key } => key.len(),
            })
            .sum()
    }

    /// The error a failure of this unit answers: named by the change at
    /// `index` (the one that failed, or the first when the commit did), and
    /// by how many there were when more than one.
    fn error(&self, index: usize, cause: impl std::fmt::Display) -> StorageError {
        let op = self.unit.get(index).unwrap_or(&self.unit[0]);
        match self.unit.len() {
            1 => io_err(op.name(), op.key(), cause),
            n => io_err(
                op.name(),
                op.key(),
                format!("{cause} (in a unit of {n} changes, none of which was applied)"),
            ),
        }
    }
}

/// Applies one write inside an open write transaction.
type Apply =
    fn(&mut Table<'_, &'static str, &'static [u8]>, &WriteOp) -> Result<(), redb::StorageError>;

/// Why a batch was not committed.
enum Failure {
    /// The write at this index of the batch's writes could not be applied;
    /// the others may be fine on their own.
    Op(usize, redb::Error),
    /// The transaction as a whole failed (begin, open or commit).
    Batch(redb::Error),
}

/// The writer thread's loop: batch, commit, answer; returns once the queue
/// is closed and empty.
fn write_until_closed(
    db: &Database,
    incoming: &Receiver<Request>,
    commits: &AtomicU64,
    apply: Apply,
) {
    let mut carried = None;
    loop {
        let first = match carried.take() {
            Some(request) => request,
            None => match incoming.recv() {
                Ok(request) => request,
                Err(_) => return,
            },
        };
        let mut bytes = first.size();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_UNITS {
            let Ok(next) = incoming.try_recv() else {
                break;
            };
            if bytes + next.size() > MAX_BATCH_BYTES {
                carried = Some(next);
                break;
            }
            bytes += next.size();
            batch.push(next);
        }
        commit_and_reply(db, batch, commits, apply);
    }
}

/// Commits `batch` as one transaction and answers each request. When a single
/// write cannot be applied, each unit is retried in a transaction of its own
/// so that only the faulty one fails.
fn commit_and_reply(db: &Database, batch: Vec<Request>, commits: &AtomicU64, apply: Apply) {
    let ops: Vec<&WriteOp> = batch.iter().flat_map(|r| &r.unit).collect();
    match commit(db, &ops, apply) {
        Ok(()) => {
            commits.fetch_add(1, Ordering::Relaxed);
            tracing::trace!(writes = batch.len(), "embedded storage group commit");
            // A caller that stopped waiting has dropped its receiver; nothing to tell.
            for r in batch {
                let _ = r.reply.send(Ok(()));
            }
        }
        Err(Failure::Op(..)) if batch.len() > 1 => {
            for r in batch {
                commit_and_reply(db, vec![r], commits, apply);
            }
        }
        Err(Failure::Op(index, cause)) => {
            for r in batch {
                let err = r.error(index, &cause);
                let _ = r.reply.send(Err(err));
            }
        }
        Err(Failure::Batch(cause)) => {
            let n: usize = batch.iter().map(|r| r.unit.len()).sum();
            for r in batch {
                let why = format!("the commit of its batch of {n} writes failed: {cause}");
                let err = r.error(0, why);
                let _ = r.reply.send(Err(err));
            }
        }
    }
}

/// Applies `ops` in order in one write transaction and commits it durably.
/// On failure the transaction is dropped, which aborts it: nothing is visible.
fn commit(db: &Database, ops: &[&WriteOp], apply: Apply) -> Result<(), Failure> {
    let batch = |e: redb::Error| Failure::Batch(e);
    let mut txn = db.begin_write().map_err(|e| batch(e.into()))?;
    // The default today, but the contract depends on it: `commit` returns
    // only once the data is on disk.
    txn.set_durability(Durability::Immediate)
        .map_err(|e| batch(e.into()))?;
    {
        let mut table = txn.open_table(ENTRIES).map_err(|e| batch(e.into()))?;
        for (index, op) in ops.iter().enumerate() {
            apply(&mut table, op).map_err(|e| Failure::Op(index, e.into()))?;
        }
    }
    txn.commit().map_err(|e| batch(e.into()))
}

/// The real [`Apply`]: insert or remove the entry.
fn apply_op(
    table: &mut Table<'_, &'static str, &'static [u8]>,
    op: &WriteOp,
) -> Result<(), redb::StorageError> {
    match op {
        WriteOp::Put { key, value } => {
            table.insert(key.as_str(), value.as_slice())?;
        }
        WriteOp::Delete { key } => {
            table.remove(key.as_str())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer on a fresh database, and the database for the test to inspect.
    fn writer(dir: &tempfile::TempDir, apply: Apply) -> (Writer, Arc<Database>) {
        let db = Arc::new(crate::open_database(&dir.path().join("coffer.db")).expect("open"));
        (Writer::start_with(db.clone(), apply).expect("start"), db)
    }

    fn put(key: &str, value: &str) -> WriteOp {
        WriteOp::Put {
            key: key.to_owned(),
            value: value.as_bytes().to_vec(),
        }
    }

    /// Queues `units` without waiting; returns the reply receivers.
    fn enqueue(
        w: &Writer,
        units: Vec<Vec<WriteOp>>,
    ) -> Vec<oneshot::Receiver<Result<(), StorageError>>> {
        let queue = w.queue.as_ref().expect("queue open");
        units
            .into_iter()
            .map(|unit| {
                let (reply, answer) = oneshot::channel();
                queue.send(Request { unit, reply }).expect("send");
                answer
            })
            .collect()
    }

    /// Each write a unit of its own.
    fn singles(ops: Vec<WriteOp>) -> Vec<Vec<WriteOp>> {
        ops.into_iter().map(|op| vec![op]).collect()
    }

    /// Queues `units` while the test holds the database's write transaction,
    /// so the writer is stuck in `begin_write` and they pile up; then lets go.
    fn enqueue_while_writer_blocked(
        w: &Writer,
        db: &Database,
        units: Vec<Vec<WriteOp>>,
    ) -> Vec<Result<(), StorageError>> {
        let hold = db.begin_write().expect("hold the write lock");
        let answers = enqueue(w, units);
        drop(hold);
        answers
            .into_iter()
            .map(|a| a.blocking_recv().expect("answered"))
            .collect()
    }

    fn read(db: &Database, key: &str) -> Option<Vec<u8>> {
        crate::read_value(db, key).expect("read")
    }

    #[test]
    fn queued_writes_share_at_most_two_commits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (w, db) = writer(&dir, apply_op);
        let ops = (0..64).map(|i| put(&format!("k/{i}"), "v")).collect();
        let answers = enqueue_while_writer_blocked(&w, &db, singles(ops));
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        // The writer may have taken the first write before the others were
        // queued; everything after it waited behind the held transaction.
        assert!(w.commit_count() <= 2, "{} commits", w.commit_count());
        for i in 0..64 {
            assert_eq!(read(&db, &format!("k/{i}")).as_deref(), Some(&b"v"[..]));
        }
    }

    #[test]
    fn same_key_writes_in_one_batch_apply_in_arrival_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (w, db) = writer(&dir, apply_op);
        let ops = vec![
            put("same", "first"),
            put("gone", "x"),
            put("same", "second"),
            WriteOp::Delete {
                key: "gone".to_owned(),
            },
            put("same", "last"),
        ];
        let answers = enqueue_while_writer_blocked(&w, &db, singles(ops));
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert_eq!(read(&db, "same").as_deref(), Some(&b"last"[..]));
        assert_eq!(read(&db, "gone"), None);
    }

    #[test]
    fn a_batch_holds_at_most_256_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (w, db) = writer(&dir, apply_op);
        let ops = (0..600).map(|i| put(&format!("k/{i}"), "v")).collect();
        let answers = enqueue_while_writer_blocked(&w, &db, singles(ops));
        assert!(answers.iter().all(Result::is_ok));
        // 600 = at most 256 + 256 + 88, plus maybe one taken before the block.
        let commits = w.commit_count();
        assert!((3..=4).contains(&commits), "{commits} commits");
    }

    #[test]
    fn a_batch_holds_at_most_8_mib() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (w, db) = writer(&dir, apply_op);
        let mib = "m".repeat(1024 * 1024);
        let ops = (0..20).map(|i| put(&format!("k/{i}"), &mib)).collect();
        let answers = enqueue_while_writer_blocked(&w, &db, singles(ops));
        assert!(answers.iter().all(Result::is_ok));
        // 20 MiB in batches of at most 7 whole values (keys add a few bytes).
        let commits = w.commit_count();
        assert!((3..=4).contains(&commits), "{commits} commits");
    }

    /// Fails every write to a key ending in `bad`, as redb would fail one.
    fn apply_failing_bad_keys(
        table: &mut Table<'_, &'static str, &'static [u8]>,
        op: &WriteOp,
    ) -> Result<(), redb::StorageError> {
        if op.key().ends_with("bad") {
            return Err(redb::StorageError::ValueTooLarge(usize::MAX));
        }
        apply_op(table, op)
    }

    #[test]
    fn a_write_that_cannot_be_applied_fails_alone_and_its_neighbours_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (w, db) = writer(&dir, apply_failing_bad_keys);
        let ops = vec![put("a", "1"), put("is/bad", "2"), put("c", "3")];
        let answers = enqueue_while_writer_blocked(&w, &db, singles(ops));
        assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
        let err = answers[1].as_ref().expect_err("the bad write must fail");
        let msg = err.to_string();
        assert!(msg.contains("put") && msg.contains("is/bad"), "{msg}");
        assert_eq!(read(&db, "a").as_deref(), Some(&b"1"[..]));
        assert_eq!(read(&db, "is/bad"), None);
        assert_eq!(read(&db, "c").as_deref(), Some(&b"3"[..]));
    }

    #[test]
    fn a_unit_lands_whole_in_one_commit_or_not_at_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (w, db) = writer(&dir, apply_failing_bad_keys);
        let units = vec![
            vec![put("good/1", "a"), put("good/2", "b")],
            vec![put("torn/1", "x"), put("torn/bad", "y"), put("torn/3", "z")],
            vec![put("next", "n")],
        ];
        let answers = enqueue_while_writer_blocked(&w, &db, units);
        assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
        let msg = answers[1]
            .as_ref()
            .expect_err("the torn unit fails")
            .to_string();
        assert!(
            msg.contains("torn/bad")
                && msg.contains("unit of 3 changes, none of which was applied"),
            "{msg}"
        );
        assert_eq!(read(&db, "good/2").as_deref(), Some(&b"b"[..]));
        assert_eq!(read(&db, "next").as_deref(), Some(&b"n"[..]));
        for key in ["torn/1", "torn/bad", "torn/3"] {
            assert_eq!(read(&db, key), None, "{key} of the failed unit is visible");
        }
    }

    #[test]
    fn dropping_the_writer_commits_what_is_queued_and_joins_the_thread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (w, db) = writer(&dir, apply_op);
        let hold = db.begin_write().expect("hold the write lock");
        let answers = enqueue(
            &w,
            singles((0..10).map(|i| put(&format!("k/{i}"), "v")).collect()),
        );
        drop(hold);
        drop(w); // Returns only after the thread has exited.
        for a in answers {
            assert!(a.blocking_recv().expect("answered").is_ok());
        }
        assert_eq!(
            Arc::strong_count(&db),
            1,
            "the writer thread still holds the database"
        );
        for i in 0..10 {
            assert_eq!(read(&db, &format!("k/{i}")).as_deref(), Some(&b"v"[..]));
        }
    }
}
