//! Crash consistency: a child process writes in a loop and reports every
//! acknowledged write on stdout; the parent kills it with SIGKILL mid-stream,
//! reopens the storage and checks that every acknowledged write is there and
//! that every value found, acknowledged or not, is intact.
//!
//! A backend that keeps data on disk calls [`acknowledged_writes_survive_kill`]
//! from a test of its own. The child is the same test binary re-run with
//! `--exact <test name>` and [`WRITER_DIR_ENV`] set, so the same call plays the
//! writer there:
//!
//! ```ignore
//! #[test]
//! fn acknowledged_writes_survive_kill_9() {
//!     crash::acknowledged_writes_survive_kill("acknowledged_writes_survive_kill_9", async |dir| {
//!         Arc::new(MyBackend::open(dir.join("data")).await.expect("open")) as SharedBackend
//!     });
//! }
//! ```
//!
//! A backend kept in a server the test starts (a database) uses
//! [`acknowledged_writes_survive_kill_with_env`] to tell the writer where that
//! server is, and [`is_writer`] to start the server in the parent only.

use super::{record, runtime, temp_dir};
use coffer_core::storage::SharedBackend;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Set in the child's environment to the storage directory; its presence
/// turns [`acknowledged_writes_survive_kill`] into the writer.
pub const WRITER_DIR_ENV: &str = "COFFER_TESTKIT_CRASH_WRITER_DIR";

/// Acknowledged writes to wait for before the kill.
const ACKS_BEFORE_KILL: usize = 300;
/// Upper bound on the child's writes, should nobody kill it.
const WRITER_LIMIT: u64 = 20_000;
/// How long the parent waits for the acknowledgements before giving up.
const PATIENCE: Duration = Duration::from_secs(60);
/// Line prefix of an acknowledgement; libtest prints on the same stdout.
const ACK: &str = "COFFER-CRASH-ACK ";
/// Overwritten on every step, to catch torn replacements.
const SHARED: &str = "crash/shared";
/// Distinct keys are spread over this many folders.
const FOLDERS: u64 = 8;

/// Runs the crash test (in the parent) or the writer (in the child).
///
/// `test_name` must be the calling test's full name inside its test binary
/// (`module::test` for a test in a module), as `--exact` matches it. `open`
/// opens the backend kept in the given directory; it is called by the child
/// before writing and by the parent after the kill. Panics on any lost or
/// damaged write.
pub fn acknowledged_writes_survive_kill(
    test_name: &str,
    open: impl AsyncFn(&Path) -> SharedBackend,
) {
    acknowledged_writes_survive_kill_with_env(test_name, &[], open);
}

/// [`acknowledged_writes_survive_kill`], with `child_env` set in the writer's
/// environment (in the parent; the writer ignores it), e.g. the address of the
/// database server the parent started, which the writer must write to.
pub fn acknowledged_writes_survive_kill_with_env(
    test_name: &str,
    child_env: &[(&str, &str)],
    open: impl AsyncFn(&Path) -> SharedBackend,
) {
    match std::env::var_os(WRITER_DIR_ENV) {
        Some(dir) => write_until_killed(&PathBuf::from(dir), open),
        None => kill_writer_then_verify(test_name, child_env, open),
    }
}

/// Whether this process is the crash writer (the child), not the test itself.
pub fn is_writer() -> bool {
    std::env::var_os(WRITER_DIR_ENV).is_some()
}

/// Child side: writes one distinct key and the shared key per step, then
/// acknowledges the step on stdout, until killed.
fn write_until_killed(dir: &Path, open: impl AsyncFn(&Path) -> SharedBackend) {
    runtime().block_on(async {
        let backend = open(dir).await;
        let mut out = std::io::stdout().lock();
        for seq in 0..WRITER_LIMIT {
            let key = distinct_key(seq);
            for k in [key.as_str(), SHARED] {
                backend
                    .put(k, &record::encode(k, seq, value_size(seq)))
                    .await
                    .unwrap_or_else(|e| panic!("crash writer: put {k:?} failed: {e}"));
            }
            if writeln!(out, "{ACK}{seq}")
                .and_then(|()| out.flush())
                .is_err()
            {
                return; // The parent is gone; stop writing.
            }
        }
    });
}

/// Parent side: starts the writer, kills it after enough acknowledgements,
/// then reopens the storage and checks it.
fn kill_writer_then_verify(
    test_name: &str,
    child_env: &[(&str, &str)],
    open: impl AsyncFn(&Path) -> SharedBackend,
) {
    let dir = temp_dir();
    let exe =
        std::env::current_exe().unwrap_or_else(|e| panic!("cannot find the test binary: {e}"));
    let mut child = Command::new(&exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(WRITER_DIR_ENV, dir.path())
        .envs(child_env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the crash writer {}: {e}", exe.display()));
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        panic!("crash writer has no stdout/stderr pipe");
    };
    let (tx, rx) = mpsc::channel();
    let out_reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(seq) = line
                .find(ACK)
                .and_then(|i| line[i + ACK.len()..].trim().parse().ok())
            {
                let _ = tx.send(seq);
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let deadline = Instant::now() + PATIENCE;
    let mut acked: Vec<u64> = Vec::new();
    let failure = loop {
        if acked.len() >= ACKS_BEFORE_KILL {
            break None;
        }
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(seq) => acked.push(seq),
            Err(RecvTimeoutError::Timeout) => break Some("timed out"),
            Err(RecvTimeoutError::Disconnected) => break Some("exited early"),
        }
    };
    // SIGKILL: no destructors, no flushes, no chance to tidy up.
    let _ = child.kill();
    let status = child.wait();
    let _ = out_reader.join();
    acked.extend(rx.try_iter()); // Acknowledged between our last read and the kill.
    let stderr_text = err_reader.join().unwrap_or_default();
    if let Some(what) = failure {
        panic!(
            "crash writer {what} after {} acknowledged writes (status {status:?}); its stderr:\n{stderr_text}",
            acked.len()
        );
    }
    for (i, seq) in acked.iter().enumerate() {
        assert_eq!(*seq, i as u64, "crash writer acknowledged out of order");
    }
    let last = acked.len() as u64 - 1;

    runtime().block_on(verify_after_kill(dir.path(), last, open));
}

/// Reopens the storage and checks it against the acknowledged steps `0..=last`.
async fn verify_after_kill(dir: &Path, last: u64, open: impl AsyncFn(&Path) -> SharedBackend) {
    let b = open(dir).await;
    for seq in 0..=last {
        let key = distinct_key(seq);
        let value = read(&b, &key).await.unwrap_or_else(|| {
            panic!("acknowledged write {key:?} (step {seq} of {last}) was lost")
        });
        assert_eq!(intact(&key, &value), seq);
    }
    let shared = read(&b, SHARED).await.expect("the shared key was lost");
    let shared_seq = intact(SHARED, &shared);
    assert!(
        shared_seq == last || shared_seq == last + 1,
        "shared key holds step {shared_seq}, but step {last} was acknowledged"
    );
    // Whatever is there, acknowledged or caught in flight, must be whole.
    let mut found = 0;
    for folder in 0..FOLDERS {
        let prefix = format!("crash/d{folder}/");
        let names = b
            .list(&prefix)
            .await
            .unwrap_or_else(|e| panic!("list {prefix:?} after kill failed: {e}"));
        for name in names {
            let key = format!("{prefix}{name}");
            let value = read(&b, &key)
                .await
                .unwrap_or_else(|| panic!("listed {key:?} is missing"));
            assert!(
                intact(&key, &value) <= last + 1,
                "{key:?} was never written"
            );
            found += 1;
        }
    }
    assert!(
        found == last + 1 || found == last + 2,
        "{found} keys after {} steps",
        last + 1
    );
    // And the storage is still usable.
    b.put("crash/after", b"ok")
        .await
        .expect("put after reopen failed");
    assert_eq!(read(&b, "crash/after").await.as_deref(), Some(&b"ok"[..]));
}

async fn read(b: &SharedBackend, key: &str) -> Option<Vec<u8>> {
    b.get(key)
        .await
        .unwrap_or_else(|e| panic!("get {key:?} after kill failed: {e}"))
}

/// Checks the value found under `key` is a whole record of that key; returns its step.
fn intact(key: &str, value: &[u8]) -> u64 {
    let rec =
        record::decode(value).unwrap_or_else(|e| panic!("{key:?} is damaged after kill: {e}"));
    assert_eq!(rec.key, key, "value of {} found under {key:?}", rec.key);
    rec.seq
}

fn distinct_key(seq: u64) -> String {
    format!("crash/d{}/k{seq:06}", seq % FOLDERS)
}

/// Sizes from a few bytes to several pages, so writes span page boundaries.
fn value_size(seq: u64) -> usize {
    64 + (seq.wrapping_mul(7919) % 12_000) as usize
}
