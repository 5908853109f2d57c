//! Property tests of the barrier's envelope and the path cipher: what goes
//! in comes out, any change is caught, and no input makes them panic.

use coffer_crypto::envelope::{self, OVERHEAD};
use coffer_crypto::path_cipher::{MAX_SEGMENT_LEN, PathCipher};
use coffer_crypto::{CryptoError, Key256, OsEntropy};
use proptest::prelude::*;

fn key(b: u8) -> Key256 {
    Key256::from_slice(&[b; 32]).expect("32 bytes")
}

fn sealed(term: u32, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    envelope::seal(&key(1), term, &OsEntropy::new(), aad, plaintext).expect("seal")
}

proptest! {
    #[test]
    fn seal_then_open_gives_back_the_plaintext_and_the_term(
        term: u32,
        aad in proptest::collection::vec(any::<u8>(), 0..64),
        plaintext in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let blob = sealed(term, &aad, &plaintext);
        prop_assert_eq!(blob.len(), plaintext.len() + OVERHEAD);
        prop_assert_eq!(envelope::term_of(&blob).expect("term"), term);
        let opened = envelope::open(&key(1), &aad, &blob).expect("open");
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }

    #[test]
    fn changing_any_byte_of_an_envelope_makes_open_fail(
        plaintext in proptest::collection::vec(any::<u8>(), 0..128),
        at: prop::sample::Index,
        mask in 1u8..,
    ) {
        let mut blob = sealed(3, b"logical/a", &plaintext);
        let i = at.index(blob.len());
        blob[i] ^= mask;
        prop_assert!(envelope::open(&key(1), b"logical/a", &blob).is_err(), "byte {} changed", i);
    }

    #[test]
    fn an_envelope_opens_only_under_its_own_key_and_associated_data(
        plaintext in proptest::collection::vec(any::<u8>(), 0..64),
        other_aad in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let blob = sealed(1, b"logical/a", &plaintext);
        prop_assert!(envelope::open(&key(2), b"logical/a", &blob).is_err());
        if other_aad != b"logical/a" {
            prop_assert!(matches!(
                envelope::open(&key(1), &other_aad, &blob),
                Err(CryptoError::Authentication)
            ));
        }
    }

    #[test]
    fn truncated_or_extended_envelopes_are_refused(
        plaintext in proptest::collection::vec(any::<u8>(), 0..64),
        cut: prop::sample::Index,
        extra in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let blob = sealed(1, b"", &plaintext);
        let n = cut.index(blob.len());
        prop_assert!(envelope::open(&key(1), b"", &blob[..n]).is_err());
        let mut longer = blob;
        longer.extend_from_slice(&extra);
        prop_assert!(envelope::open(&key(1), b"", &longer).is_err());
    }

    #[test]
    fn arbitrary_bytes_are_refused_without_panicking(
        bytes in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        let term = envelope::term_of(&bytes);
        prop_assert_eq!(term.is_ok(), bytes.len() >= OVERHEAD && bytes[0] == envelope::VERSION);
        prop_assert!(envelope::open(&key(1), b"", &bytes).is_err());
    }

    #[test]
    fn path_segments_decrypt_to_their_name_under_their_parent_only(
        parent in "[a-z0-9/_-]{0,40}",
        name in "\\PC{0,40}",
        other_parent in "[a-z0-9/_-]{0,40}",
    ) {
        let c = PathCipher::new(&key(5));
        prop_assume!(name.len() <= MAX_SEGMENT_LEN);
        let stored = c.encrypt_segment(&parent, &name).expect("encrypt");
        prop_assert_eq!(&c.encrypt_segment(&parent, &name).expect("again"), &stored);
        prop_assert_eq!(c.decrypt_segment(&parent, &stored).expect("decrypt"), name);
        if other_parent != parent {
            prop_assert!(c.decrypt_segment(&other_parent, &stored).is_err());
        }
    }

    #[test]
    fn a_changed_stored_segment_is_refused(
        name in "[a-zA-Z0-9._-]{1,40}",
        at: prop::sample::Index,
        with in "[A-Za-z0-9_-]",
    ) {
        let c = PathCipher::new(&key(5));
        let stored = c.encrypt_segment("logical/x/", &name).expect("encrypt");
        let i = at.index(stored.len());
        let mut changed = stored.clone();
        changed.replace_range(i..=i, &with);
        prop_assume!(changed != stored);
        // The last character may carry unused low bits; base64url without
        // padding refuses non-zero ones, so every change is still caught.
        prop_assert!(c.decrypt_segment("logical/x/", &changed).is_err());
    }

    #[test]
    fn arbitrary_stored_segments_are_refused_without_panicking(stored in "\\PC{0,80}") {
        let c = PathCipher::new(&key(5));
        prop_assert!(c.decrypt_segment("logical/", &stored).is_err());
    }
}
