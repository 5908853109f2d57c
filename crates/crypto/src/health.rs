//! Continuous health tests for an external noise source (NIST SP 800-90B
//! §4.4): the Repetition Count Test and the Adaptive Proportion Test, run
//! over every byte an external source (the HSM's `C_GenerateRandom`) delivers
//! before any of it is used.
//!
//! Cutoffs are fixed for a claimed min-entropy of H = 8 bits per byte (the
//! HSM's output is conditioned DRBG output, so full entropy is the claim)
//! and a false-positive probability α = 2^-40, the low end of the range the
//! standard recommends (2^-40 to 2^-20):
//!
//! * RCT: C = 1 + ⌈-log2(α) / H⌉ = 1 + ⌈40 / 8⌉ = **6** identical bytes in a row.
//! * APT: window W = 512 (non-binary samples), C = 1 + CRITBINOM(W, 2^-H, 1 - α)
//!   = **19** occurrences of the window's first byte (recomputed by a test
//!   below).
//!
//! Why not α = 2^-20: with C = 4 a perfect byte source trips the RCT with
//! probability 2^-24 per byte, once per 16 MiB. A busy server would fail a
//! key or token draw now and then, and `coffer hsm doctor` (64 KiB) would
//! call a healthy token broken one run in 256.

use std::fmt;

/// Claimed min-entropy per byte, in bits.
pub const CLAIMED_ENTROPY_BITS: u32 = 8;
/// -log2 of the false-positive probability α of each test.
pub const ALPHA_LOG2: u32 = 40;
/// Repetition Count Test cutoff: a run of this many identical bytes fails.
pub const RCT_CUTOFF: u32 = 1 + ALPHA_LOG2.div_ceil(CLAIMED_ENTROPY_BITS);
/// Adaptive Proportion Test window (samples), for non-binary sources.
pub const APT_WINDOW: u32 = 512;
/// Adaptive Proportion Test cutoff: this many copies of the window's first
/// byte within one window fails.
pub const APT_CUTOFF: u32 = 19;

/// Which SP 800-90B health test a source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthTest {
    /// §4.4.1: too many identical samples in a row (a stuck source).
    RepetitionCount,
    /// §4.4.2: one value too frequent within a window (a biased source).
    AdaptiveProportion,
}

impl fmt::Display for HealthTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RepetitionCount => write!(
                f,
                "SP 800-90B repetition count test ({RCT_CUTOFF} identical bytes in a row)"
            ),
            Self::AdaptiveProportion => write!(
                f,
                "SP 800-90B adaptive proportion test ({APT_CUTOFF} copies of one byte in a \
                 {APT_WINDOW}-byte window)"
            ),
        }
    }
}

/// The state of both continuous tests across every byte seen so far.
#[derive(Debug, Default)]
pub struct HealthTests {
    rct_value: Option<u8>,
    rct_count: u32,
    apt_value: u8,
    apt_count: u32,
    /// Samples seen in the current APT window; 0 = a new window starts.
    apt_seen: u32,
}

impl HealthTests {
    /// Fresh tests (no history), as after a start-up or a failure.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds `bytes` through both tests, stopping at the first failure.
    pub fn check(&mut self, bytes: &[u8]) -> Result<(), HealthTest> {
        for &b in bytes {
            self.repetition_count(b)?;
            self.adaptive_proportion(b)?;
        }
        Ok(())
    }

    fn repetition_count(&mut self, b: u8) -> Result<(), HealthTest> {
        if self.rct_value == Some(b) {
            self.rct_count += 1;
            if self.rct_count >= RCT_CUTOFF {
                return Err(HealthTest::RepetitionCount);
            }
        } else {
            self.rct_value = Some(b);
            self.rct_count = 1;
        }
        Ok(())
    }

    fn adaptive_proportion(&mut self, b: u8) -> Result<(), HealthTest> {
        if self.apt_seen == 0 {
            self.apt_value = b;
            self.apt_count = 1;
        } else if b == self.apt_value {
            self.apt_count += 1;
            if self.apt_count >= APT_CUTOFF {
                return Err(HealthTest::AdaptiveProportion);
            }
        }
        self.apt_seen += 1;
        if self.apt_seen == APT_WINDOW {
            self.apt_seen = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRITBINOM(n, p, 1 - α): the least k with P[Binomial(n, p) > k] <= α.
    /// Sums the upper tail directly, so 1 - α never has to be represented.
    fn critbinom(n: u32, p: f64, alpha: f64) -> u32 {
        let pmf: Vec<f64> = (0..=n)
            .scan((1.0 - p).powi(n as i32), |term, k| {
                let this = *term;
                *term *= f64::from(n - k) / f64::from(k + 1) * p / (1.0 - p);
                Some(this)
            })
            .collect();
        (0..=n)
            .find(|&k| pmf[k as usize + 1..].iter().sum::<f64>() <= alpha)
            .expect("the tail above n is empty")
    }

    #[test]
    fn cutoffs_follow_the_formulas_for_eight_bits_per_byte_at_alpha_two_to_minus_forty() {
        assert_eq!(RCT_CUTOFF, 6);
        let alpha = 2f64.powi(-(ALPHA_LOG2 as i32));
        let p = 2f64.powi(-(CLAIMED_ENTROPY_BITS as i32));
        assert_eq!(APT_CUTOFF, 1 + critbinom(APT_WINDOW, p, alpha));
        // SP 800-90B Table 2's entry for W = 512, H = 8 at α = 2^-20.
        assert_eq!(1 + critbinom(APT_WINDOW, p, 2f64.powi(-20)), 13);
    }

    #[test]
    fn a_run_of_five_identical_bytes_passes_and_six_fail_the_repetition_count_test() {
        let mut t = HealthTests::new();
        assert_eq!(t.check(&[1, 7, 7, 7, 7, 7, 2]), Ok(()));
        assert_eq!(
            t.check(&[9, 9, 9, 9, 9, 9]),
            Err(HealthTest::RepetitionCount)
        );
    }

    #[test]
    fn a_byte_too_frequent_in_one_window_fails_the_adaptive_proportion_test() {
        let mut t = HealthTests::new();
        // 0xAA every other byte: never a run, but 19 copies within 37 bytes.
        let biased: Vec<u8> = (0u8..40).flat_map(|i| [0xAA, i]).collect();
        assert_eq!(t.check(&biased), Err(HealthTest::AdaptiveProportion));
    }

    #[test]
    fn the_adaptive_proportion_count_restarts_with_each_window() {
        let mut t = HealthTests::new();
        // 18 copies of the first byte per 512-byte window: at the limit, passes.
        let mut window = vec![0u8; APT_WINDOW as usize];
        for (i, b) in window.iter_mut().enumerate() {
            *b = (i % 200) as u8 + 1;
        }
        for i in 0..18 {
            window[i * 28] = 0;
        }
        for _ in 0..4 {
            assert_eq!(t.check(&window), Ok(()));
        }
    }
}
