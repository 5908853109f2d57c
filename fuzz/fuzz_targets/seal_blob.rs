//! The pkcs11 seal's blob format (version, mechanism, key labels and ids,
//! IV, wrapped key, ciphertext, MAC), through
//! `coffer_seal_pkcs11::reencode_blob`, the decoder `unwrap_blob` runs
//! before the HSM sees anything.
//!
//! Checks: never panics, never allocates more than the input holds, and a
//! blob that decodes re-encodes to exactly its bytes. The last matters
//! because GCM authenticates the re-encoded header and the CBC HMAC covers
//! it: bytes that decode but re-encode differently could be changed without
//! the tag noticing.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(again) = coffer_seal_pkcs11::reencode_blob(data) {
        assert_eq!(
            again, data,
            "a blob that decodes must re-encode to its own bytes"
        );
    }
});
