//! Seal-wrap records (`CSW`, version, seal type, seal blob), through the
//! public `coffer_core::seal::SealWrapper` over the test kit's software seal
//! (which plays the pkcs11 seal: blobs name their key, an AES-GCM envelope
//! inside; the pkcs11 blob format itself is the `seal_blob` target).
//!
//! Selector byte (first input byte):
//! - even: the rest is a stored record: `unwrap`, `describe` and `is_stale`
//!   must return, never panic;
//! - odd: the rest is a value: wrapping then unwrapping gives it back, and
//!   a record with one byte changed (position and xor mask from the input)
//!   never unwraps.

#![no_main]

mod common;

use coffer_core::seal::{Seal, SealWrapper};
use coffer_testkit::soft_seal::SoftSeal;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

fn wrapper() -> &'static SealWrapper {
    static W: OnceLock<SealWrapper> = OnceLock::new();
    W.get_or_init(|| {
        // Two keys, the second current: records of the first are stale.
        let seal = SoftSeal::new();
        seal.rotate_to("key-2");
        let seal: Arc<dyn Seal> = seal;
        SealWrapper::new(seal, None)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let w = wrapper();
    common::block_on(async {
        if selector % 2 == 0 {
            let _ = w.unwrap("fuzz/physical", rest).await;
            let _ = w.describe(rest);
            let _ = w.is_stale(rest);
            return;
        }
        let record = w.wrap(rest).await.expect("wrap");
        let back = w
            .unwrap("p", &record)
            .await
            .expect("unwrap of a fresh record");
        assert_eq!(back.as_slice(), rest);
        assert!(!w.is_stale(&record));
        let at = usize::from(rest.first().copied().unwrap_or(0)) % record.len();
        let mask = rest.get(1).copied().filter(|m| *m != 0).unwrap_or(1);
        let mut tampered = record.clone();
        tampered[at] ^= mask;
        assert!(
            w.unwrap("p", &tampered).await.is_err(),
            "a record with byte {at} changed still unwrapped"
        );
    });
});
