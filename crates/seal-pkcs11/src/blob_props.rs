//! Property tests of the blob format (`blob.rs`): encode → decode gives the
//! same blob, a blob that decodes re-encodes to exactly its bytes (GCM and
//! the CBC HMAC authenticate the re-encoded header, so a second encoding of
//! one blob would be a change the tag cannot see), and no bytes make the
//! decoder panic. The `seal_blob` fuzz target checks the same at length.

use crate::blob::{Blob, VERSION};
use crate::keys::KeyRef;
use crate::mechanism::WrapMechanism;
use crate::options::OaepHash;
use proptest::prelude::*;

fn mechanism() -> impl Strategy<Value = WrapMechanism> {
    prop_oneof![
        Just(WrapMechanism::AesGcm),
        Just(WrapMechanism::AesCbcPad),
        Just(WrapMechanism::AesCbc),
        Just(WrapMechanism::RsaOaep(OaepHash::Sha1)),
        Just(WrapMechanism::RsaOaep(OaepHash::Sha224)),
        Just(WrapMechanism::RsaOaep(OaepHash::Sha256)),
        Just(WrapMechanism::RsaOaep(OaepHash::Sha384)),
        Just(WrapMechanism::RsaOaep(OaepHash::Sha512)),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn key_ref() -> impl Strategy<Value = KeyRef> {
    (
        "\\PC{1,20}",
        proptest::option::of(proptest::collection::vec(any::<u8>(), 1..8)),
    )
        .prop_map(|(label, id)| KeyRef::new(label, id))
}

fn blob() -> impl Strategy<Value = Blob> {
    (
        mechanism(),
        key_ref(),
        proptest::option::of(key_ref()),
        bytes(17),
        bytes(64),
        bytes(256),
        bytes(33),
    )
        .prop_map(
            |(mechanism, key, hmac_key, iv, wrapped_key, ciphertext, mac)| Blob {
                mechanism,
                key,
                hmac_key,
                iv,
                wrapped_key,
                ciphertext,
                mac,
            },
        )
}

proptest! {
    #[test]
    fn encode_then_decode_gives_the_same_blob(b in blob()) {
        let bytes = b.encode().expect("encode");
        prop_assert_eq!(Blob::decode(&bytes).expect("decode"), b);
    }

    #[test]
    fn a_changed_byte_either_fails_to_decode_or_re_encodes_to_the_changed_bytes(
        b in blob(),
        at: prop::sample::Index,
        mask in 1u8..,
    ) {
        let mut bytes = b.encode().expect("encode");
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        if let Ok(decoded) = Blob::decode(&bytes) {
            prop_assert_eq!(decoded.encode().expect("re-encode"), bytes, "byte {} changed", i);
        }
    }

    #[test]
    fn no_bytes_make_the_decoder_panic(
        tail in bytes(128),
        mechanism in prop_oneof![Just(0x1087u64), Just(0x1085), Just(0x1082), Just(0x0009), any::<u64>()],
        param in 0u8..7,
    ) {
        let mut input = vec![VERSION];
        input.extend_from_slice(&mechanism.to_be_bytes());
        input.push(param);
        input.extend_from_slice(&tail);
        if let Ok(decoded) = Blob::decode(&input) {
            prop_assert_eq!(decoded.encode().expect("re-encode"), input);
        }
        let _ = Blob::decode(&tail);
    }
}
