//! Barrier records: the AES-GCM envelope with its key-term header
//! (`coffer_crypto::envelope::{term_of, open}`), stored values read back
//! through a real `Barrier` (with the seal-wrap layer of the test kit's
//! software seal), the keyring record the root key opens, and encrypted
//! path segments (`PathCipher`).
//!
//! Selector byte (first input byte) % 6, the rest is the payload:
//! 0. an envelope: `term_of` and `open` return, never panic;
//! 1. the stored bytes of a value: `Barrier::get` and `Barrier::stored` of
//!    it return, and never yield a value (no forgery);
//! 2. a plaintext: seal → open gives it back with its term; one changed
//!    byte, or another associated data, fails;
//! 3. a keyring record (JSON) encrypted with the root key: a fresh barrier's
//!    `unseal` accepts or refuses it, and a barrier it opened can write and
//!    read;
//! 4. a stored path segment: `decrypt_segment` returns; a segment name:
//!    encrypt → decrypt gives it back;
//! 5. `path\nvalue`: put (plain and seal-wrapped) → get gives the value back.

#![no_main]

mod common;

use coffer_core::seal::{Seal, SealWrapper};
use coffer_core::storage::{Barrier, KEYRING_PATH, SharedBackend};
use coffer_crypto::path_cipher::PathCipher;
use coffer_crypto::{Entropy, Key256, OsEntropy, envelope};
use coffer_storage_inmem::InmemBackend;
use coffer_testkit::soft_seal::SoftSeal;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

const VICTIM: &str = "logical/fuzz/victim";

struct Fixture {
    entropy: Arc<dyn Entropy>,
    key: Key256,
    root: Key256,
    barrier: Barrier,
    backend: SharedBackend,
    victim_physical: String,
    victim_record: Vec<u8>,
    paths: PathCipher,
}

fn wrapper() -> Arc<SealWrapper> {
    let seal: Arc<dyn Seal> = SoftSeal::new();
    Arc::new(SealWrapper::new(seal, None))
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        common::block_on(async {
            let entropy: Arc<dyn Entropy> = Arc::new(OsEntropy::new());
            let backend: SharedBackend = Arc::new(InmemBackend::new());
            let barrier = Barrier::new(backend.clone(), entropy.clone()).with_seal_wrap(wrapper());
            let root = Key256::from_slice(&[7; 32]).expect("32 bytes");
            barrier
                .initialize(root.duplicate(), SystemTime::UNIX_EPOCH)
                .expect("initialize");
            barrier.commit_keyring().await.expect("commit");
            barrier
                .put(VICTIM, b"the victim's value")
                .await
                .expect("put");
            let stored = barrier
                .stored(VICTIM)
                .await
                .expect("stored")
                .expect("present");
            Fixture {
                entropy,
                key: Key256::from_slice(&[9; 32]).expect("32 bytes"),
                root,
                barrier,
                backend,
                victim_physical: stored.physical,
                victim_record: stored.bytes,
                paths: PathCipher::new(&Key256::from_slice(&[5; 32]).expect("32 bytes")),
            }
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    match selector % 6 {
        0 => {
            let _ = envelope::term_of(rest);
            let _ = envelope::open(&f.key, b"aad", rest);
        }
        1 => common::block_on(async {
            f.backend
                .put(&f.victim_physical, rest)
                .await
                .expect("backend put");
            let got = f.barrier.get(VICTIM).await;
            if rest != f.victim_record.as_slice() {
                assert!(
                    !matches!(got, Ok(Some(_))),
                    "stored bytes other than the real record opened"
                );
            }
            let _ = f.barrier.stored(VICTIM).await;
        }),
        2 => {
            let term = rest.len() as u32;
            let sealed =
                envelope::seal(&f.key, term, f.entropy.as_ref(), b"aad", rest).expect("seal");
            assert_eq!(envelope::term_of(&sealed).expect("term"), term);
            let opened = envelope::open(&f.key, b"aad", &sealed).expect("open");
            assert_eq!(opened.as_slice(), rest);
            assert!(envelope::open(&f.key, b"other", &sealed).is_err());
            let at = usize::from(rest.first().copied().unwrap_or(0)) % sealed.len();
            let mut tampered = sealed.clone();
            tampered[at] ^= rest.get(1).copied().filter(|m| *m != 0).unwrap_or(0x80);
            assert!(envelope::open(&f.key, b"aad", &tampered).is_err());
        }
        3 => common::block_on(async {
            let blob = envelope::seal(
                &f.root,
                0,
                f.entropy.as_ref(),
                KEYRING_PATH.as_bytes(),
                rest,
            )
            .expect("seal");
            let backend: SharedBackend = Arc::new(InmemBackend::new());
            backend.put(KEYRING_PATH, &blob).await.expect("put");
            let b = Barrier::new(backend, f.entropy.clone());
            if b.unseal(&f.root).await.is_ok() {
                b.put("logical/x", b"v")
                    .await
                    .expect("a barrier that unsealed writes");
                let got = b.get("logical/x").await.expect("and reads");
                assert_eq!(got.as_deref().map(Vec::as_slice), Some(&b"v"[..]));
            }
        }),
        4 => {
            let text = String::from_utf8_lossy(rest);
            let (parent, name) = text.split_once('\n').unwrap_or(("logical/", &text));
            let _ = f.paths.decrypt_segment(parent, name);
            if let Ok(stored) = f.paths.encrypt_segment(parent, name) {
                assert_eq!(
                    f.paths.decrypt_segment(parent, &stored).expect("decrypt"),
                    name
                );
                assert!(
                    parent == "other/" || f.paths.decrypt_segment("other/", &stored).is_err(),
                    "a segment moved to another parent decrypted"
                );
            }
        }
        _ => common::block_on(async {
            let text = String::from_utf8_lossy(rest);
            let (path, value) = text.split_once('\n').unwrap_or((&text, ""));
            let path = format!("logical/{path}");
            for wrapped in [false, true] {
                let put = if wrapped {
                    f.barrier.put_wrapped(&path, value.as_bytes()).await
                } else {
                    f.barrier.put(&path, value.as_bytes()).await
                };
                if put.is_ok() {
                    let got = f.barrier.get(&path).await.expect("get after put");
                    assert_eq!(got.as_deref().map(Vec::as_slice), Some(value.as_bytes()));
                    f.barrier.delete(&path).await.expect("delete");
                }
            }
        }),
    }
});
