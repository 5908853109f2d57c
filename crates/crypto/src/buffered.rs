//! An [`Entropy`] that reads its source a chunk at a time, for nonces.
//!
//! Every barrier write and every transit encrypt draws a 12-byte nonce. One
//! getrandom(2) call each was ~2 % of a transit encrypt's server CPU; read
//! 4 KiB at a time, the same OS bytes serve ~340 nonces per call. Nonces
//! need uniqueness, not secrecy (they are stored next to the ciphertext), so
//! holding the next few hundred in memory gives nothing away; keys and
//! tokens still draw on the unbuffered handles.
//!
//! Each byte is handed out once and wiped as it leaves; the buffer is wiped
//! when it is dropped. A failed read of the source fails the draw (fail
//! closed): nothing weaker is ever handed out.

use crate::{CryptoError, Entropy};
use std::sync::{Arc, Mutex, PoisonError};
use zeroize::{Zeroize, Zeroizing};

/// Bytes read from the source at once.
const CHUNK: usize = 4096;

/// See the module docs.
pub struct Buffered {
    source: Arc<dyn Entropy>,
    pool: Mutex<Pool>,
}

struct Pool {
    /// `buf[pos..]` are unused, `buf[..pos]` wiped.
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
}

impl std::fmt::Debug for Buffered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffered")
            .field("source", &self.source.source())
            .finish_non_exhaustive()
    }
}

impl Buffered {
    /// Buffers `source`.
    pub fn new(source: Arc<dyn Entropy>) -> Self {
        Self {
            source,
            pool: Mutex::new(Pool {
                buf: Zeroizing::new(Vec::new()),
                pos: 0,
            }),
        }
    }
}

impl Entropy for Buffered {
    fn fill(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        if out.len() > CHUNK / 4 {
            // Large draws gain nothing from the buffer.
            return self.source.fill(out);
        }
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        let mut done = 0;
        while done < out.len() {
            if pool.pos == pool.buf.len() {
                // Dropping the old buffer wipes it; an empty one hands out
                // nothing should this read fail.
                pool.buf = Zeroizing::new(Vec::new());
                pool.pos = 0;
                let mut chunk = Zeroizing::new(vec![0u8; CHUNK]);
                self.source.fill(&mut chunk)?;
                pool.buf = chunk;
            }
            let pos = pool.pos;
            let n = (out.len() - done).min(pool.buf.len() - pos);
            out[done..done + n].copy_from_slice(&pool.buf[pos..pos + n]);
            pool.buf[pos..pos + n].zeroize();
            pool.pos += n;
            done += n;
        }
        Ok(())
    }

    fn source(&self) -> &'static str {
        self.source.source()
    }

    fn report(&self) -> Option<crate::augmented::EntropyReport> {
        self.source.report()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Counts bytes 0, 1, 2, ... across calls; fails while `broken`.
    #[derive(Default)]
    struct Counting {
        next: AtomicUsize,
        calls: AtomicUsize,
        broken: AtomicBool,
    }

    impl Entropy for Counting {
        fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
            if self.broken.load(Ordering::SeqCst) {
                return Err(CryptoError::Entropy("the source is broken".to_owned()));
            }
            self.calls.fetch_add(1, Ordering::SeqCst);
            for b in buf {
                *b = self.next.fetch_add(1, Ordering::SeqCst) as u8;
            }
            Ok(())
        }

        fn source(&self) -> &'static str {
            "counting"
        }
    }

    #[test]
    fn every_source_byte_is_handed_out_once_in_order_with_one_read_per_chunk() {
        let source = Arc::new(Counting::default());
        let buffered = Buffered::new(source.clone());
        let mut seen = Vec::new();
        while seen.len() < 2 * CHUNK + 100 {
            let mut nonce = [0u8; 12];
            buffered.fill(&mut nonce).expect("fill");
            seen.extend_from_slice(&nonce);
        }
        let expected: Vec<u8> = (0..seen.len()).map(|i| i as u8).collect();
        assert_eq!(seen, expected, "no byte repeated or skipped");
        assert_eq!(source.calls.load(Ordering::SeqCst), 3);
        assert_eq!(buffered.source(), "counting");
    }

    #[test]
    fn a_failing_source_fails_the_draw_once_the_buffer_is_spent() {
        let source = Arc::new(Counting::default());
        let buffered = Buffered::new(source.clone());
        let mut nonce = [0u8; 16];
        buffered.fill(&mut nonce).expect("first chunk");
        source.broken.store(true, Ordering::SeqCst);
        for _ in 1..CHUNK / 16 {
            buffered
                .fill(&mut nonce)
                .expect("what was read is still used");
        }
        let err = buffered.fill(&mut nonce).expect_err("spent and broken");
        assert!(err.to_string().contains("the source is broken"), "{err}");
        source.broken.store(false, Ordering::SeqCst);
        buffered.fill(&mut nonce).expect("back");
        assert_eq!(source.calls.load(Ordering::SeqCst), 2, "a fresh chunk");
    }

    #[test]
    fn large_draws_go_straight_to_the_source() {
        let source = Arc::new(Counting::default());
        let buffered = Buffered::new(source.clone());
        let mut key = vec![0u8; CHUNK];
        buffered.fill(&mut key).expect("fill");
        assert_eq!(source.calls.load(Ordering::SeqCst), 1);
        assert_eq!(source.next.load(Ordering::SeqCst), CHUNK);
    }
}
