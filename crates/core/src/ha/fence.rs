//! The write fence of an HA node: storage writes pass only while the node
//! is sure to hold the election lock (see the module docs of `ha`).
//!
//! Deadlines are kept on the boot-time clock (`CLOCK_BOOTTIME`), not the
//! monotonic one: a machine suspended (or a VM paused by its host) while
//! active must find its lease over when it resumes, as the lock's own clock
//! does, instead of serving for what is left of a lease that has long run
//! out.

use crate::storage::{Backend, SharedBackend, StorageError};
use async_trait::async_trait;
use std::cell::Cell;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

const CLOSED: u8 = 1;
const UNTIL_DEADLINE: u8 = 2;

/// A moment on the boot-time clock: the time since boot, suspensions
/// included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct BootInstant(Duration);

impl BootInstant {
    /// Now; `None` should the clock ever be unreadable, and then no
    /// deadline is set and none is met: the fence stays (or falls) closed.
    pub(crate) fn now() -> Option<Self> {
        use nix::time::{ClockId, clock_gettime};
        clock_gettime(ClockId::CLOCK_BOOTTIME)
            .ok()
            .map(|t| Self(Duration::from(t)))
    }

    fn saturating_duration_since(self, earlier: Self) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl std::ops::Add<Duration> for BootInstant {
    type Output = Self;
    fn add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d))
    }
}

impl std::ops::Sub<Duration> for BootInstant {
    type Output = Self;
    fn sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(d))
    }
}

/// When writes may pass.
#[derive(Debug)]
pub(crate) struct Fence {
    mode: AtomicU8,
    deadline: Mutex<Option<BootInstant>>,
}

impl Fence {
    /// A closed fence: an HA node writes only while it holds the lock (a
    /// sealed node's init or seal migration takes it too).
    pub(crate) fn new() -> Self {
        Self {
            mode: AtomicU8::new(CLOSED),
            deadline: Mutex::new(None),
        }
    }

    /// Stops every write (a standby).
    pub(crate) fn close(&self) {
        self.mode.store(CLOSED, Ordering::SeqCst);
    }

    /// Lets writes pass until `deadline` (the active node's lease); a later
    /// renewal moves it on. Never moves it back. Without a deadline (the
    /// clock could not be read when the lease was taken) nothing changes:
    /// a closed fence stays closed, an open one runs out.
    pub(crate) fn open_until(&self, deadline: Option<BootInstant>) {
        let Some(deadline) = deadline else {
            return;
        };
        let mut d = self
            .deadline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if d.is_none_or(|old| old < deadline) || self.mode.load(Ordering::SeqCst) != UNTIL_DEADLINE
        {
            *d = Some(deadline);
        }
        self.mode.store(UNTIL_DEADLINE, Ordering::SeqCst);
    }

    /// Whether the lease has run out (or was never taken).
    pub(crate) fn lapsed(&self) -> bool {
        !self.allows_writes()
    }

    /// How long writes may still pass (zero when they may not).
    pub(crate) fn time_left(&self) -> Duration {
        if self.mode.load(Ordering::SeqCst) != UNTIL_DEADLINE {
            return Duration::ZERO;
        }
        self.deadline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .zip(BootInstant::now())
            .map_or(Duration::ZERO, |(d, now)| d.saturating_duration_since(now))
    }

    fn allows_writes(&self) -> bool {
        match self.mode.load(Ordering::SeqCst) {
            UNTIL_DEADLINE => self
                .deadline
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .zip(BootInstant::now())
                .is_some_and(|(d, now)| now < d),
            _ => false,
        }
    }

    fn check(&self, op: &'static str, key: &str) -> Result<(), StorageError> {
        if self.allows_writes() {
            Ok(())
        } else {
            Err(StorageError::NotActive {
                op,
                key: key.to_owned(),
            })
        }
    }
}

tokio::task_local! {
    /// Set once a write of the work run by [`track_writes`] passed the fence.
    static WROTE: Cell<bool>;
}

/// Runs `work` and says whether any of its storage writes passed the fence
/// (and so may have been applied, whatever the write's own outcome). A
/// request that a step-down stopped half-way may be handed on to the new
/// active node only when this is false: otherwise it would be applied
/// twice, or on top of half of itself. Writes of tasks `work` spawns count
/// only when the spawner tracks them too (see `Core::run_detached`).
pub async fn track_writes<F: Future>(work: F) -> (F::Output, bool) {
    WROTE
        .scope(Cell::new(false), async move {
            let out = work.await;
            (out, WROTE.with(Cell::get))
        })
        .await
}

/// Runs `work` on a task of its own, so that a caller that goes away (a
/// client hanging up) cannot cut it apart; its storage writes count as the
/// caller's own for [`track_writes`] once it ends.
pub async fn detached<F>(work: F) -> Result<F::Output, tokio::task::JoinError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (out, wrote) = tokio::spawn(track_writes(work)).await?;
    if wrote {
        note_write();
    }
    Ok(out)
}

/// Records, for [`track_writes`], that a write of the current work passed.
fn note_write() {
    // Outside any tracked work (background tasks) there is no one to tell.
    let _ = WROTE.try_with(|w| w.set(true));
}

/// A backend whose writes pass a [`Fence`]; reads always pass.
pub(crate) struct FencedBackend {
    inner: SharedBackend,
    fence: std::sync::Arc<Fence>,
}

impl FencedBackend {
    pub(crate) fn new(inner: SharedBackend, fence: std::sync::Arc<Fence>) -> Self {
        Self { inner, fence }
    }
}

#[async_trait]
impl Backend for FencedBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.fence.check("put", key)?;
        note_write();
        self.inner.put(key, value).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.fence.check("delete", key)?;
        note_write();
        self.inner.delete(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Storage that accepts everything and keeps nothing.
    struct Sink;

    #[async_trait]
    impl Backend for Sink {
        async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, StorageError> {
            Ok(None)
        }
        async fn put(&self, _: &str, _: &[u8]) -> Result<(), StorageError> {
            Ok(())
        }
        async fn delete(&self, _: &str) -> Result<(), StorageError> {
            Ok(())
        }
        async fn list(&self, _: &str) -> Result<Vec<String>, StorageError> {
            Ok(Vec::new())
        }
        fn kind(&self) -> &'static str {
            "sink"
        }
    }

    #[tokio::test]
    async fn tracked_work_says_whether_a_write_passed_the_fence() {
        let fence = std::sync::Arc::new(Fence::new());
        let backend = FencedBackend::new(std::sync::Arc::new(Sink), fence.clone());
        let (refused, wrote) = track_writes(backend.put("a", b"1")).await;
        assert!(refused.is_err());
        assert!(!wrote, "a write the fence refused was not applied");
        fence.open_until(BootInstant::now().map(|t| t + Duration::from_secs(60)));
        let ((), wrote) = track_writes(async {
            backend.get("a").await.expect("read");
        })
        .await;
        assert!(!wrote, "reads are not writes");
        let (done, wrote) = track_writes(backend.delete("a")).await;
        assert!(done.is_ok());
        assert!(wrote);
        backend
            .put("untracked", b"1")
            .await
            .expect("outside any tracking");
        let backend = std::sync::Arc::new(backend);
        let detached_backend = backend.clone();
        let (done, wrote) = track_writes(async move {
            detached(async move { detached_backend.put("b", b"1").await })
                .await
                .expect("task")
        })
        .await;
        assert!(done.is_ok());
        assert!(wrote, "a detached task's write counts for its caller");
    }

    #[test]
    fn the_fence_closes_by_itself_when_the_lease_runs_out() {
        let fence = Fence::new();
        assert!(
            fence.check("put", "k").is_err(),
            "closed until the lock is held"
        );
        fence.open_until(BootInstant::now().map(|t| t + Duration::from_secs(60)));
        assert!(fence.check("put", "k").is_ok());
        fence.open_until(BootInstant::now().map(|t| t - Duration::from_secs(1)));
        assert!(
            fence.check("put", "k").is_ok(),
            "a renewal never moves it back"
        );
        fence.close();
        fence.open_until(BootInstant::now().map(|t| t - Duration::from_millis(1)));
        let refused = fence.check("delete", "a/b").expect_err("lapsed");
        assert!(refused.to_string().contains("HA lock"), "{refused}");
        assert!(fence.lapsed());
        fence.close();
        fence.open_until(None);
        assert!(fence.lapsed(), "no readable clock, no open fence");
    }
}
