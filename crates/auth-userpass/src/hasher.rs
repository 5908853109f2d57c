//! Where Argon2id runs. Never on the async workers: a 19 MiB, tens-of-
//! milliseconds computation there stalls every other request scheduled on
//! that thread. Hashes run on the blocking pool, at most [`SLOTS`] at a
//! time; each slot keeps its working memory and wipes it after every hash.
//!
//! Allocating and freeing 19 MiB per login fragmented the allocator: the
//! soak test saw the server's RSS grow by about 4 MB per login, past 2 GB in
//! 20 seconds. With memory reused, the footprint is at most `SLOTS` x 19 MiB
//! whatever the login rate. A flood of logins waits for a slot, up to
//! [`MAX_WAITING`] of them; more are refused at once (503, `Retry-After`).

use argon2::Block;
use coffer_core::{CoreError, CoreResult};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::{Zeroize, Zeroizing};

/// Hashes computed at once (each holds its working memory).
const SLOTS: usize = 2;
/// Logins waiting for a slot, past which a login is refused at once (503,
/// retry) instead of queueing without limit.
const MAX_WAITING: usize = 64;

struct Slots {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    memory: Mutex<Vec<Vec<Block>>>,
}

fn slots() -> &'static Slots {
    // One pool for the process, like the blocking pool it runs on: every
    // userpass mount shares the two slots and their memory.
    static SLOTS_STATE: OnceLock<Slots> = OnceLock::new();
    SLOTS_STATE.get_or_init(|| Slots {
        permits: Arc::new(Semaphore::new(SLOTS)),
        waiting: AtomicUsize::new(0),
        memory: Mutex::new(Vec::new()),
    })
}

impl Slots {
    /// Working memory of `blocks` blocks: a kept buffer if one fits.
    fn take(&self, blocks: usize) -> Vec<Block> {
        let mut kept = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match kept.iter().position(|m| m.len() == blocks) {
            Some(i) => kept.swap_remove(i),
            None => vec![Block::default(); blocks],
        }
    }

    /// Keeps wiped memory for the next hash (at most one buffer per slot).
    fn give_back(&self, memory: Vec<Block>) {
        let mut kept = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() < SLOTS {
            kept.push(memory);
        }
    }

    /// A slot, waited for unless too many logins wait already.
    async fn slot(&self) -> CoreResult<OwnedSemaphorePermit> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(CoreError::Busy(format!(
                "{MAX_WAITING} logins are already waiting for a password check; retry in a moment"
            )));
        }
        let permit = Arc::clone(&self.permits).acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit.map_err(|_| CoreError::Internal("the password hasher is shut down".to_owned()))
    }
}

/// Working memory that is wiped and handed back to the pool when dropped,
/// on every path (a panic in the hash included).
struct Lent(Vec<Block>);

impl Drop for Lent {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(Zeroize::zeroize);
        slots().give_back(std::mem::take(&mut self.0));
    }
}

/// The Argon2id tag of `password` with `salt` and parameters `m` (KiB),
/// `t`, `p`, `tag_len` bytes long. The slot is held by the computation
/// itself: a caller that goes away (a client hanging up) does not free it
/// while the hash still runs.
pub(crate) async fn argon2id(
    password: Zeroizing<Vec<u8>>,
    salt: Vec<u8>,
    (m, t, p): (u32, u32, u32),
    tag_len: usize,
) -> CoreResult<Zeroizing<Vec<u8>>> {
    let params = argon2::Params::new(m, t, p, Some(tag_len))
        .map_err(|e| CoreError::Internal(format!("argon2 parameters: {e}")))?;
    let slots = slots();
    let slot = slots.slot().await?;
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let mut memory = Lent(slots.take(params.block_count()));
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new(vec![0u8; tag_len]);
        argon
            .hash_password_into_with_memory(&password, &salt, &mut out, &mut memory.0[..])
            .map_err(|e| CoreError::Internal(format!("argon2: {e}")))?;
        Ok(out)
    })
    .await
    .map_err(|e| CoreError::Internal(format!("password hashing stopped: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_goes_away_does_not_free_the_slot_of_a_running_hash() {
        let pw = Zeroizing::new(b"correct horse".to_vec());
        let slow = argon2id(pw, vec![9; 16], (8 * 1024, 8, 1), 32);
        let cut = tokio::time::timeout(std::time::Duration::from_millis(5), slow).await;
        assert!(cut.is_err(), "the hash takes longer than 5 ms");
        assert!(
            slots().permits.available_permits() < SLOTS,
            "the abandoned hash still holds its slot"
        );
        for _ in 0..3000 {
            if slots().permits.available_permits() == SLOTS {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the slot never came back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_hashes_agree_and_memory_is_kept_per_slot_only() {
        let pw = || Zeroizing::new(b"correct horse".to_vec());
        let first = argon2id(pw(), vec![7; 16], (64, 1, 1), 32)
            .await
            .expect("hash");
        let many: Vec<_> = (0..8)
            .map(|_| tokio::spawn(argon2id(pw(), vec![7; 16], (64, 1, 1), 32)))
            .collect();
        for h in many {
            assert_eq!(*h.await.expect("task").expect("hash"), *first);
        }
        let other = argon2id(pw(), vec![8; 16], (64, 1, 1), 32)
            .await
            .expect("hash");
        assert_ne!(*other, *first, "the salt changes the tag");
        let kept = slots()
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert!(kept.len() <= SLOTS);
        assert!(
            kept.iter()
                .flatten()
                .all(|b| b.as_ref().iter().all(|w| *w == 0)),
            "kept memory is wiped"
        );
    }
}
