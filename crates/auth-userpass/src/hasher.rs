//! Where Argon2id runs. Never on the async workers: a 19 MiB, tens-of-
//! milliseconds computation there stalls every other request scheduled on
//! that thread. Hashes run on the blocking pool, at most [`SLOTS`] at a
//! time; each slot keeps its working memory and wipes it after every hash.
//!
//! Allocating and freeing 19 MiB per login fragmented the allocator: the
//! soak test saw the server's RSS grow by about 4 MB per login, past 2 GB in
//! 20 seconds. With memory reused, the footprint is at most `SLOTS` x 19 MiB
//! whatever the login rate, and a flood of logins waits for a slot instead
//! of growing memory.

use argon2::Block;
use coffer_core::{CoreError, CoreResult};
use std::sync::{Mutex, OnceLock};
use zeroize::{Zeroize, Zeroizing};

/// Hashes computed at once (each holds its working memory).
const SLOTS: usize = 2;

struct Slots {
    permits: tokio::sync::Semaphore,
    memory: Mutex<Vec<Vec<Block>>>,
}

fn slots() -> &'static Slots {
    static SLOTS_STATE: OnceLock<Slots> = OnceLock::new();
    SLOTS_STATE.get_or_init(|| Slots {
        permits: tokio::sync::Semaphore::new(SLOTS),
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
}

/// The Argon2id tag of `password` with `salt` and parameters `m` (KiB),
/// `t`, `p`, `tag_len` bytes long.
pub(crate) async fn argon2id(
    password: Zeroizing<Vec<u8>>,
    salt: Vec<u8>,
    (m, t, p): (u32, u32, u32),
    tag_len: usize,
) -> CoreResult<Zeroizing<Vec<u8>>> {
    let params = argon2::Params::new(m, t, p, Some(tag_len))
        .map_err(|e| CoreError::Internal(format!("argon2 parameters: {e}")))?;
    let slots = slots();
    let _slot = slots
        .permits
        .acquire()
        .await
        .map_err(|_| CoreError::Internal("the password hasher is shut down".to_owned()))?;
    let memory = slots.take(params.block_count());
    let (tag, memory) = tokio::task::spawn_blocking(move || {
        let mut memory = memory;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new(vec![0u8; tag_len]);
        let done = argon
            .hash_password_into_with_memory(&password, &salt, &mut out, &mut memory[..])
            .map_err(|e| CoreError::Internal(format!("argon2: {e}")));
        memory.iter_mut().for_each(Zeroize::zeroize);
        (done.map(|()| out), memory)
    })
    .await
    .map_err(|e| CoreError::Internal(format!("password hashing stopped: {e}")))?;
    slots.give_back(memory);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

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
