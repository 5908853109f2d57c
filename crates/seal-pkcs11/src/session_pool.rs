//! A small pool of logged-in sessions, at most `max_parallel` of them.
//!
//! Every PKCS#11 call blocks (FFI, file or network I/O), so callers run
//! [`SessionPool::with_session`] on a blocking thread; the async side only
//! waits for a semaphore permit. `cryptoki::Session` is `Send` but not
//! `Sync`, so a session is moved to the worker, used by it alone, and moved
//! back into the pool.
//!
//! Recovery: when a call fails in a way that means the token, session or
//! login is gone ([`HsmError::is_connection_lost`]), the pool remembers it and
//! the *next* call drops every session, re-initialises the module, finds the
//! token again and logs in again. No restart, no new seal object.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use secrecy::SecretString;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::HsmError;
use crate::module::{Entered, Module, TokenSelector};
use crate::telemetry::{Op, Telemetry};

/// What a worker gets while it holds a session.
pub(crate) struct Held<'a> {
    /// The logged-in session.
    pub(crate) session: &'a Session,
    /// Slot of the token.
    pub(crate) slot: Slot,
    /// Module generation; key handles cached in another generation are stale.
    pub(crate) generation: u64,
    /// The initialised module (for `C_GetTokenInfo` and friends).
    pub(crate) module: &'a Entered<'a>,
    /// Where operations record their latency.
    pub(crate) telemetry: &'a Telemetry,
}

/// Sessions for one token, logged in with one PIN.
pub(crate) struct SessionPool {
    module: Arc<Module>,
    selector: TokenSelector,
    token: String,
    pin: SecretString,
    read_write: bool,
    permits: Arc<Semaphore>,
    max_parallel: usize,
    state: Mutex<State>,
    in_use: AtomicUsize,
    peak_in_use: AtomicUsize,
    open: AtomicUsize,
    telemetry: Telemetry,
}

struct State {
    idle: Vec<Pooled>,
    /// Slot as found in the given generation.
    slot: Option<(Slot, u64)>,
    /// A lost-connection error was seen in this generation: recover first.
    recover_from: Option<u64>,
}

struct Pooled {
    session: Session,
    generation: u64,
}

/// Numbers for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Configured `max_parallel`.
    pub max_parallel: usize,
    /// Sessions currently open (idle or in use).
    pub open_sessions: usize,
    /// Sessions in use now.
    pub in_use: usize,
    /// Most sessions ever in use at the same time.
    pub peak_in_use: usize,
}

impl SessionPool {
    /// A pool that opens nothing until first used.
    pub(crate) fn new(
        module: Arc<Module>,
        selector: TokenSelector,
        token: String,
        pin: SecretString,
        read_write: bool,
        max_parallel: usize,
    ) -> Self {
        Self {
            module,
            selector,
            token,
            pin,
            read_write,
            permits: Arc::new(Semaphore::new(max_parallel)),
            max_parallel,
            state: Mutex::new(State {
                idle: Vec::new(),
                slot: None,
                recover_from: None,
            }),
            in_use: AtomicUsize::new(0),
            peak_in_use: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            telemetry: Telemetry::default(),
        }
    }

    /// The pool's and its operations' metrics.
    pub(crate) fn metrics(&self) -> Vec<coffer_core::metrics::Metric> {
        self.telemetry.metrics(self.stats())
    }

    /// Waits for the right to use a session (a wait is counted).
    pub(crate) async fn permit(&self) -> Result<OwnedSemaphorePermit, HsmError> {
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(permit);
        }
        let _waiting = self.telemetry.wait();
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| HsmError::Worker(e.to_string()))
    }

    /// Runs `f` with a session on a blocking thread, after waiting for a
    /// permit; `limit` bounds the whole wait (permit + call). A call that
    /// times out keeps running on its thread and frees its permit when done.
    /// With `op`, the call's time goes into that operation's histogram;
    /// every error is counted by its return code.
    pub(crate) async fn run<T, F>(
        self: &Arc<Self>,
        limit: Option<Duration>,
        op: Option<Op>,
        f: F,
    ) -> Result<T, HsmError>
    where
        T: Send + 'static,
        F: FnOnce(&Held<'_>) -> Result<T, HsmError> + Send + 'static,
    {
        let pool = Arc::clone(self);
        let work = async move {
            let permit = pool.permit().await?;
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                match op {
                    Some(op) => pool.telemetry.time(op, || pool.with_session(f)),
                    None => pool.with_session(f),
                }
            })
            .await
            .map_err(|e| HsmError::Worker(e.to_string()))?
        };
        let result = match limit {
            Some(d) => tokio::time::timeout(d, work)
                .await
                .unwrap_or(Err(HsmError::Timeout(d))),
            None => work.await,
        };
        if let Err(e) = &result {
            self.telemetry.error(e);
        }
        result
    }

    /// Records `err` in the error counts (for callers outside [`Self::run`]).
    pub(crate) fn count_error(&self, err: &HsmError) {
        self.telemetry.error(err);
    }

    /// [`Self::with_session`], timed as `op`.
    pub(crate) fn with_session_timed<T>(
        &self,
        op: Op,
        f: impl FnOnce(&Held<'_>) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        self.telemetry.time(op, || self.with_session(f))
    }

    /// Current numbers.
    pub(crate) fn stats(&self) -> PoolStats {
        PoolStats {
            max_parallel: self.max_parallel,
            open_sessions: self.open.load(Ordering::Relaxed),
            in_use: self.in_use.load(Ordering::Relaxed),
            peak_in_use: self.peak_in_use.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` with a logged-in session. Blocking: call it on a blocking
    /// thread while holding a [`SessionPool::permit`].
    pub(crate) fn with_session<T>(
        &self,
        f: impl FnOnce(&Held<'_>) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        self.recover_if_needed()?;
        let entered = self.module.enter()?;
        let generation = entered.generation();
        let (slot, pooled) = match self.checkout(&entered) {
            Ok(v) => v,
            Err(e) => {
                if e.is_connection_lost() {
                    self.lock().recover_from = Some(generation);
                }
                return Err(e);
            }
        };
        let now = self.in_use.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_use.fetch_max(now, Ordering::Relaxed);
        let result = f(&Held {
            session: &pooled.session,
            slot,
            generation,
            module: &entered,
            telemetry: &self.telemetry,
        });
        self.in_use.fetch_sub(1, Ordering::Relaxed);
        match &result {
            Err(e) if e.is_connection_lost() => {
                tracing::warn!(error = %e, token = %self.token, "HSM connection lost; will re-initialise on the next call");
                self.close(&entered, pooled);
                self.lock().recover_from = Some(generation);
            }
            _ => self.lock().idle.push(pooled),
        }
        drop(entered);
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// After a lost connection: close what we hold, then finalise and
    /// initialise the module again (once, however many callers noticed).
    fn recover_if_needed(&self) -> Result<(), HsmError> {
        let (seen, idle) = {
            let mut st = self.lock();
            let Some(seen) = st.recover_from.take() else {
                return Ok(());
            };
            st.slot = None;
            (seen, std::mem::take(&mut st.idle))
        };
        if self.module.generation() == seen {
            let entered = self.module.enter()?;
            for p in idle {
                self.close(&entered, p);
            }
            drop(entered);
            self.module.reinitialize(seen)?;
        } else {
            // Someone else re-initialised; the old sessions died with it.
            self.forget(idle);
        }
        tracing::info!(token = %self.token, "PKCS#11 module re-initialised; reopening sessions");
        Ok(())
    }

    fn checkout(&self, entered: &Entered<'_>) -> Result<(Slot, Pooled), HsmError> {
        let generation = entered.generation();
        let (slot, reusable) = {
            let mut st = self.lock();
            let slot = st.slot.filter(|(_, g)| *g == generation).map(|(s, _)| s);
            let mut reusable = None;
            let mut stale = Vec::new();
            while let Some(p) = st.idle.pop() {
                if p.generation == generation {
                    reusable = Some(p);
                    break;
                }
                stale.push(p);
            }
            drop(st);
            self.forget(stale);
            (slot, reusable)
        };
        let slot = match slot {
            Some(s) => s,
            None => {
                let s = self.selector.find(entered, &self.token)?;
                self.lock().slot = Some((s, generation));
                s
            }
        };
        if let Some(p) = reusable {
            return Ok((slot, p));
        }
        let ctx = entered.ctx();
        // Sessions are closed explicitly, and only while their generation is
        // current: see the module docs.
        let session = if self.read_write {
            ctx.open_rw_session_no_drop(slot)
        } else {
            ctx.open_ro_session_no_drop(slot)
        }
        .map_err(|e| HsmError::from_cryptoki("error opening HSM session", e))?;
        let pooled = Pooled {
            session,
            generation,
        };
        self.open.fetch_add(1, Ordering::Relaxed);
        match pooled.session.login(UserType::User, Some(&self.pin)) {
            // Login is per application and token, not per session.
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok((slot, pooled)),
            Err(e) => {
                self.close(entered, pooled);
                Err(HsmError::from_cryptoki("error logging in to HSM", e))
            }
        }
    }

    fn close(&self, entered: &Entered<'_>, p: Pooled) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        if p.generation == entered.generation()
            && let Err(e) = p.session.close()
        {
            tracing::debug!(error = %e, "C_CloseSession failed (session already gone)");
        }
    }

    /// Drops sessions of an older generation without `C_CloseSession`.
    fn forget(&self, stale: Vec<Pooled>) {
        self.open.fetch_sub(stale.len(), Ordering::Relaxed);
        drop(stale);
    }
}

impl Drop for SessionPool {
    // C_CloseSession here runs on whatever thread drops the seal; it is one
    // quick call per idle session, made once per seal lifetime.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.lock().idle);
        if idle.is_empty() {
            return;
        }
        match self.module.enter() {
            Ok(entered) => {
                for p in idle {
                    self.close(&entered, p);
                }
            }
            Err(_) => self.forget(idle),
        }
    }
}
