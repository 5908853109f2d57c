//! The PKCS#11 seal against a real token (never mocked, never skipped):
//! SoftHSM2, or the module in `COFFER_TEST_PKCS11_MODULE` (kryoptic in CI's
//! second pass). Where the two tokens answer differently the test says what
//! each one does. Each test runs in its own process with its own token: see
//! `common/mod.rs` for how the token's configuration is set without `unsafe`.

mod common;

use std::sync::Arc;

use coffer_core::managed_keys::{
    ManagedKeyEntry, ManagedKeyError, ManagedKeyProvider, SignRequest, SignTest,
};
use coffer_core::seal::{Seal, SealError, SealHealth};
use coffer_seal_pkcs11::{
    CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_GCM, CKM_RSA_PKCS_OAEP, HsmError, OaepHash,
    Pkcs11KeyProvider, Pkcs11Seal, SecretString,
};
use coffer_testkit::token::TokenKind;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};

/// Offset of the key label in a version-1 blob (see `blob.rs`).
const LABEL_AT: usize = 12;

fn label_in(blob: &[u8]) -> String {
    let len = usize::from(u16::from_be_bytes([blob[10], blob[11]]));
    String::from_utf8(blob[LABEL_AT..LABEL_AT + len].to_vec()).expect("utf-8 label")
}

async fn assert_round_trips(seal: &Pkcs11Seal, sizes: &[usize]) {
    for &n in sizes {
        let plaintext: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
        let blob = seal.wrap(&plaintext).await.expect("wrap");
        assert_ne!(blob, plaintext);
        let back = seal.unwrap(&blob).await.expect("unwrap");
        assert_eq!(back.expose(), plaintext.as_slice(), "{n} bytes");
    }
}

hsm_test! {
    async fn aes_gcm_is_the_default_and_wraps_with_a_fresh_iv_each_time(token: Token) {
        let seal = Pkcs11Seal::open(token.options("root")).await.expect("open");
        assert_eq!(seal.kind(), "pkcs11");
        assert!(seal.stored_keys());
        assert_eq!(seal.mechanism(), CKM_AES_GCM);
        let a = seal.wrap(b"root key").await.expect("wrap");
        let b = seal.wrap(b"root key").await.expect("wrap");
        assert_ne!(a, b, "SoftHSM does not make GCM IVs; ours must differ per wrap");
        assert_eq!(label_in(&a), "root");
        assert_round_trips(&seal, &[0, 1, 32, 10_000]).await;
        assert_eq!(seal.health().await, SealHealth::Healthy);
    }
}

hsm_test! {
    async fn aes_cbc_pad_with_hmac_round_trips(token: Token) {
        let mut o = token.options("root");
        o.mechanism = Some(CKM_AES_CBC_PAD);
        o.hmac_key_label = Some("root-hmac".to_owned());
        let seal = Pkcs11Seal::open(o).await.expect("open");
        assert_eq!(seal.mechanism(), CKM_AES_CBC_PAD);
        assert_round_trips(&seal, &[0, 1, 15, 16, 17, 32, 1000]).await;
    }
}

hsm_test! {
    async fn aes_cbc_with_our_own_padding_and_hmac_round_trips(token: Token) {
        let mut o = token.options("root");
        o.mechanism = Some(CKM_AES_CBC);
        o.hmac_key_label = Some("root-hmac".to_owned());
        let seal = Pkcs11Seal::open(o).await.expect("open");
        assert_eq!(seal.mechanism(), CKM_AES_CBC);
        assert_round_trips(&seal, &[0, 1, 15, 16, 17, 32, 1000]).await;
    }
}

hsm_test! {
    async fn rsa_oaep_sha1_round_trips_values_larger_than_one_rsa_block(token: Token) {
        let mut o = token.options("rsa-root");
        o.mechanism = Some(CKM_RSA_PKCS_OAEP);
        o.rsa_oaep_hash = OaepHash::Sha1;
        let seal = Pkcs11Seal::open(o).await.expect("open");
        assert_eq!(seal.mechanism(), CKM_RSA_PKCS_OAEP);
        assert_round_trips(&seal, &[0, 32, 4096]).await;

        // Without a mechanism, the key type chooses: an RSA pair means OAEP.
        let mut o = token.options("rsa-root");
        o.generate_key = false;
        o.rsa_oaep_hash = OaepHash::Sha1;
        let auto = Pkcs11Seal::open(o).await.expect("open by key type");
        assert_eq!(auto.mechanism(), CKM_RSA_PKCS_OAEP);

        // Asking for AES-GCM with a label that holds an RSA pair is refused.
        let mut o = token.options("rsa-root");
        o.mechanism = Some(CKM_AES_GCM);
        let err = Pkcs11Seal::open(o).await.expect_err("type mismatch");
        assert!(matches!(err, HsmError::KeyTypeMismatch { .. }), "{err}");
    }
}

hsm_test! {
    async fn rsa_oaep_sha256_works_where_offered_and_otherwise_names_the_code_and_sha1(token: Token) {
        let mut o = token.options("rsa-root");
        o.mechanism = Some(CKM_RSA_PKCS_OAEP);
        o.rsa_oaep_hash = OaepHash::Sha256;
        if token.kind() == TokenKind::Kryoptic {
            let seal = Pkcs11Seal::open(o).await.expect("kryoptic does OAEP with SHA-256");
            assert_round_trips(&seal, &[0, 32, 4096]).await;
            return;
        }
        let err = Pkcs11Seal::open(o).await.expect_err("SoftHSM 2.6 does OAEP with SHA-1 only");
        let text = err.to_string();
        assert!(
            text.contains("CKR_ARGUMENTS_BAD") || text.contains("CKR_MECHANISM_PARAM_INVALID"),
            "{text}"
        );
        assert!(text.contains("sha1"), "the message says what works: {text}");
        assert!(matches!(SealError::from(err), SealError::Unavailable(_)));
    }
}

hsm_test! {
    async fn generated_keys_are_sensitive_and_never_extractable(token: Token) {
        let mut o = token.options("aes-root");
        o.mechanism = Some(CKM_AES_CBC_PAD);
        o.hmac_key_label = Some("hmac-root".to_owned());
        let _aes = Pkcs11Seal::open(o).await.expect("open AES");
        let mut o = token.options("rsa-root");
        o.mechanism = Some(CKM_RSA_PKCS_OAEP);
        o.rsa_oaep_hash = OaepHash::Sha1;
        let _rsa = Pkcs11Seal::open(o).await.expect("open RSA");

        token.with_session(|s| {
            for (label, class, key_type) in [
                ("aes-root", ObjectClass::SECRET_KEY, KeyType::AES),
                ("hmac-root", ObjectClass::SECRET_KEY, KeyType::GENERIC_SECRET),
                ("rsa-root", ObjectClass::PRIVATE_KEY, KeyType::RSA),
            ] {
                let found = s
                    .find_objects(&[
                        Attribute::Class(class),
                        Attribute::KeyType(key_type),
                        Attribute::Label(label.as_bytes().to_vec()),
                    ])
                    .expect("find");
                assert_eq!(found.len(), 1, "{label}");
                let attrs = s
                    .get_attributes(
                        found[0],
                        &[
                            AttributeType::Token,
                            AttributeType::Private,
                            AttributeType::Sensitive,
                            AttributeType::Extractable,
                            AttributeType::NeverExtractable,
                            AttributeType::AlwaysSensitive,
                        ],
                    )
                    .expect("attributes");
                for want in [
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::NeverExtractable(true),
                    Attribute::AlwaysSensitive(true),
                ] {
                    assert!(attrs.contains(&want), "{label}: {want:?} missing in {attrs:?}");
                }
                // The secret itself cannot be read (SoftHSM drops it silently).
                let value = s.get_attributes(found[0], &[AttributeType::Value]).unwrap_or_default();
                assert!(value.is_empty(), "{label}: key value readable");
            }
            let aes = s
                .find_objects(&[Attribute::Label(b"aes-root".to_vec())])
                .expect("find");
            let len = s.get_attributes(aes[0], &[AttributeType::ValueLen]).expect("len");
            assert_eq!(len, vec![Attribute::ValueLen(32.into())], "AES-256");
            let rsa_pub = s
                .find_objects(&[
                    Attribute::Class(ObjectClass::PUBLIC_KEY),
                    Attribute::Label(b"rsa-root".to_vec()),
                ])
                .expect("find");
            assert_eq!(rsa_pub.len(), 1);
            let bits = s.get_attributes(rsa_pub[0], &[AttributeType::ModulusBits]).expect("bits");
            assert_eq!(bits, vec![Attribute::ModulusBits(2048.into())]);
        });
    }
}

hsm_test! {
    async fn a_missing_key_without_generate_key_is_key_missing_naming_label_slot_and_token(token: Token) {
        let mut o = token.options("no-such-key");
        o.generate_key = false;
        let err = Pkcs11Seal::open(o).await.expect_err("no key");
        assert!(matches!(err, HsmError::KeyMissing { .. }), "{err}");
        match SealError::from(err) {
            SealError::KeyMissing(m) => {
                assert!(m.contains("\"no-such-key\""), "{m}");
                assert!(m.contains(&token.slot.to_string()), "{m}");
                assert!(m.contains(&token.label), "{m}");
                assert!(m.contains("generate_key"), "{m}");
            }
            other => panic!("expected KeyMissing, got {other:?}"),
        }
    }
}

hsm_test! {
    async fn a_wrong_pin_fails_with_ckr_pin_incorrect(token: Token) {
        let mut o = token.options("root");
        o.pin = SecretString::from("9999");
        let err = Pkcs11Seal::open(o).await.expect_err("wrong PIN");
        let text = err.to_string();
        assert!(text.contains("CKR_PIN_INCORRECT"), "{text}");
        assert!(text.contains("0xA0"), "{text}");
    }
}

hsm_test! {
    async fn duplicate_key_labels_are_refused(token: Token) {
        let first = Pkcs11Seal::open(token.options("dup")).await.expect("open");
        token.with_session(|s| {
            s.generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Label(b"dup".to_vec()),
                    Attribute::Token(true),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                ],
            )
            .expect("plant a second key with the same label");
        });
        let err = Pkcs11Seal::open(token.options("dup")).await.expect_err("ambiguous");
        assert!(matches!(err, HsmError::DuplicateKey { count: 2, .. }), "{err}");
        assert!(err.to_string().contains("\"dup\""), "{err}");
        match first.health().await {
            SealHealth::Unhealthy(m) => assert!(m.contains("labelled \"dup\""), "{m}"),
            SealHealth::Healthy => panic!("health must notice the duplicate"),
        }
    }
}

hsm_test! {
    async fn key_id_picks_one_of_two_keys_sharing_a_label(token: Token) {
        let mut o = token.options("shared");
        o.key_id = Some(vec![0x33, 0x33]);
        let a = Pkcs11Seal::open(o).await.expect("open id 3333");
        let mut o = token.options("shared");
        o.key_id = Some(vec![0x44, 0x44]);
        let b = Pkcs11Seal::open(o).await.expect("open id 4444");
        let blob = a.wrap(b"secret").await.expect("wrap");
        assert_eq!(a.unwrap(&blob).await.expect("unwrap").expose(), b"secret");
        // The blob records the id, so b (configured with the other id) still
        // opens it with a's key.
        assert_eq!(b.unwrap(&blob).await.expect("unwrap").expose(), b"secret");
        let mut o = token.options("shared");
        o.generate_key = false;
        let err = Pkcs11Seal::open(o).await.expect_err("label alone is ambiguous");
        assert!(matches!(err, HsmError::DuplicateKey { .. }), "{err}");
    }
}

hsm_test! {
    async fn tampered_or_truncated_blobs_fail_the_integrity_check(token: Token) {
        let gcm = Pkcs11Seal::open(token.options("root")).await.expect("open");
        let mut o = token.options("cbc-root");
        o.mechanism = Some(CKM_AES_CBC_PAD);
        o.hmac_key_label = Some("cbc-hmac".to_owned());
        let cbc = Pkcs11Seal::open(o).await.expect("open");
        let mut o = token.options("rsa-root");
        o.mechanism = Some(CKM_RSA_PKCS_OAEP);
        o.rsa_oaep_hash = OaepHash::Sha1;
        let rsa = Pkcs11Seal::open(o).await.expect("open");

        for seal in [&gcm, &cbc, &rsa] {
            let blob = seal.wrap(b"the root key").await.expect("wrap");
            // Flip one bit at every position: header, IV, wrapped key,
            // ciphertext, tag, MAC. None may decrypt, none may panic.
            for i in 0..blob.len() {
                let mut bad = blob.clone();
                bad[i] ^= 0x01;
                match seal.unwrap(&bad).await {
                    Err(SealError::Integrity(_)) => {}
                    // A flipped label byte names a key that does not exist.
                    Err(SealError::KeyMissing(m)) if i >= LABEL_AT => assert!(m.contains("label"), "{m}"),
                    other => panic!("byte {i} of {:?}: {other:?}", seal.mechanism()),
                }
            }
            for n in [0, 1, blob.len() / 2, blob.len() - 1] {
                assert!(matches!(seal.unwrap(&blob[..n]).await, Err(SealError::Integrity(_))));
            }
            let mut longer = blob.clone();
            longer.push(0);
            assert!(matches!(seal.unwrap(&longer).await, Err(SealError::Integrity(_))));
            // Bad data is not a broken HSM: the seal stays healthy and usable.
            assert_eq!(seal.health().await, SealHealth::Healthy);
            assert_eq!(seal.unwrap(&blob).await.expect("intact").expose(), b"the root key");
        }
        assert!(matches!(gcm.unwrap(b"garbage").await, Err(SealError::Integrity(_))));
    }
}

hsm_test! {
    async fn blobs_wrapped_under_an_old_label_unwrap_after_rotating_to_a_new_one(token: Token) {
        let mut o = token.options("old-root");
        o.mechanism = Some(CKM_AES_CBC_PAD);
        o.hmac_key_label = Some("old-hmac".to_owned());
        let old = Pkcs11Seal::open(o).await.expect("open old");
        let old_cbc = old.wrap(b"root key v1").await.expect("wrap");
        let old_gcm = Pkcs11Seal::open(token.options("old-gcm")).await.expect("open")
            .wrap(b"root key v1 gcm").await.expect("wrap");
        drop(old);

        // "Restart" with only the new labels configured.
        let new = Pkcs11Seal::open(token.options("new-root")).await.expect("open new");
        assert_eq!(new.unwrap(&old_cbc).await.expect("old CBC blob").expose(), b"root key v1");
        assert_eq!(new.unwrap(&old_gcm).await.expect("old GCM blob").expose(), b"root key v1 gcm");
        let rewrapped = new.wrap(b"root key v1").await.expect("re-wrap");
        assert_eq!(label_in(&rewrapped), "new-root");
        assert_eq!(new.unwrap(&rewrapped).await.expect("unwrap").expose(), b"root key v1");
    }
}

hsm_test! {
    async fn a_removed_token_fails_with_a_pkcs11_code_and_recovers_when_restored(token: Token) {
        let seal = Pkcs11Seal::open(token.options("root")).await.expect("open");
        let blob = seal.wrap(b"before").await.expect("wrap");
        let original = token.remove();

        let err = seal.wrap_blob(b"while away").await.expect_err("token gone");
        assert!(err.to_string().contains("pkcs11: 0x"), "{err}");
        assert!(err.to_string().contains("CKR_"), "{err}");
        for _ in 0..2 {
            match seal.unwrap(&blob).await {
                Err(SealError::Unavailable(m)) => assert!(m.contains("CKR_"), "{m}"),
                other => panic!("expected Unavailable, got {other:?}"),
            }
            match seal.health().await {
                SealHealth::Unhealthy(m) => assert!(m.contains("CKR_"), "{m}"),
                SealHealth::Healthy => panic!("healthy without a token"),
            }
        }
        // Randomness is a separate question: SoftHSM's RNG may keep working.
        let _ = seal.random(16).await;

        token.restore(&original);
        let again = seal.wrap(b"after").await.expect("recovers without a new seal");
        assert_eq!(seal.unwrap(&again).await.expect("unwrap").expose(), b"after");
        assert_eq!(seal.unwrap(&blob).await.expect("old blob").expose(), b"before");
        assert_eq!(seal.health().await, SealHealth::Healthy);
    }
}

hsm_test! {
    async fn sixteen_concurrent_wraps_share_max_parallel_sessions(token: Token) {
        let mut o = token.options("root");
        o.max_parallel = 2;
        let seal = Arc::new(Pkcs11Seal::open(o).await.expect("open"));
        let tasks: Vec<_> = (0..16u8)
            .map(|i| {
                let seal = Arc::clone(&seal);
                tokio::spawn(async move {
                    let plaintext = vec![i; 64];
                    let blob = seal.wrap(&plaintext).await.expect("wrap");
                    let back = seal.unwrap(&blob).await.expect("unwrap");
                    assert_eq!(back.expose(), plaintext.as_slice());
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let stats = seal.pool_stats();
        assert_eq!(stats.max_parallel, 2);
        assert!(stats.open_sessions <= 2, "{stats:?}");
        assert!((1..=2).contains(&stats.peak_in_use), "{stats:?}");
    }
}

hsm_test! {
    async fn random_bytes_come_from_the_token(token: Token) {
        let seal = Pkcs11Seal::open(token.options("root")).await.expect("open");
        let a = seal.random(32).await.expect("random");
        let b = seal.random(32).await.expect("random");
        assert_eq!(a.len(), 32);
        assert!(!a.ct_eq(b.expose()));
        assert!(seal.random(0).await.expect("empty").is_empty());
    }
}

hsm_test! {
    async fn augmented_entropy_draws_the_token_rng_in_one_kib_chunks_and_counts_them(token: Token) {
        use coffer_crypto::{AugmentedEntropy, Entropy, EntropyHealth, OsEntropy};
        let seal = Pkcs11Seal::open(token.options("root")).await.expect("open");
        let source = Arc::new(seal.random_source().expect("source"));
        let augmented = Arc::new(AugmentedEntropy::new(Arc::new(OsEntropy::new()), source.clone()));
        // From an async worker (block_in_place path).
        let mut a = [0u8; 32];
        augmented.fill(&mut a).expect("fill on a worker");
        let stats = source.stats();
        assert_eq!((stats.calls, stats.bytes, stats.failures), (1, 1024, 0));
        // From a thread outside the runtime: served from the buffer.
        let other = Arc::clone(&augmented);
        let b = std::thread::spawn(move || {
            let mut b = [0u8; 32];
            other.fill(&mut b).map(|()| b)
        })
        .join()
        .expect("thread")
        .expect("fill off the runtime");
        assert_ne!(a, b);
        assert_eq!(source.stats().calls, 1, "the second draw came from the buffer");
        // Drain the chunk: the next draw fetches another from the token.
        for _ in 0..31 {
            augmented.fill(&mut a).expect("fill");
        }
        assert_eq!(source.stats().bytes, 2048);
        assert_eq!(augmented.health(), EntropyHealth::Healthy);
    }
}

hsm_test! {
    async fn banner_info_describes_the_module_and_token(token: Token) {
        let seal = Pkcs11Seal::open(token.options("root")).await.expect("open");
        let info = seal.banner_info();
        let (version, manufacturer, model) = match token.kind() {
            TokenKind::SoftHsm2 => ("2.40", "SoftHSM", "SoftHSM v2"),
            TokenKind::Kryoptic => ("3.2", "Kryoptic", "v1"),
        };
        assert_eq!(info.pkcs11_version, version);
        assert_eq!(info.manufacturer_id, manufacturer);
        assert!(!info.library.is_empty(), "{info:?}");
        assert!(!info.library_version.is_empty(), "{info:?}");
        assert_eq!(info.token_model, model);
        assert_eq!(info.token_label, token.label);
        assert_eq!(info.slot, token.slot);
        let lines = info.banner_lines();
        let names: Vec<_> = lines.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "HSM PKCS#11 Version",
                "HSM Library",
                "HSM Library Version",
                "HSM Manufacturer ID",
                "HSM Type",
                "HSM Keys",
            ]
        );
        assert_eq!(lines[5].1, "root (AES, created)");
    }
}

hsm_test! {
    async fn the_token_can_be_chosen_by_slot_id_and_a_wrong_slot_is_token_not_present(token: Token) {
        let mut o = token.options("root");
        o.token_label = None;
        o.slot = Some(token.slot);
        let seal = Pkcs11Seal::open(o).await.expect("open by slot");
        assert_eq!(seal.banner_info().token_label, token.label);
        let mut o = token.options("root");
        o.token_label = None;
        o.slot = Some(token.slot.wrapping_add(100));
        let err = Pkcs11Seal::open(o).await.expect_err("no such slot");
        assert!(err.to_string().contains("CKR_TOKEN_NOT_PRESENT"), "{err}");
    }
}

#[tokio::test]
async fn a_module_path_that_does_not_exist_is_an_error_naming_it() {
    let o = coffer_seal_pkcs11::Pkcs11Options::new(
        "/nonexistent/libpkcs11.so",
        "t",
        SecretString::from(coffer_testkit::token::PIN),
        "k",
    );
    let err = Pkcs11Seal::open(o).await.expect_err("no module");
    assert!(
        err.to_string().contains("/nonexistent/libpkcs11.so"),
        "{err}"
    );
}

#[test]
fn the_module_under_test_exists() {
    // Fails (never skips) on a machine without SoftHSM2 (or the module named
    // in COFFER_TEST_PKCS11_MODULE).
    coffer_testkit::token::module_path();
}

hsm_test! {
    async fn generate_key_creates_the_hmac_key_with_aes_gcm_too_so_cbc_needs_no_new_key(token: Token) {
        // Seed 002: AES-GCM with key_label and hmac_key_label and generate_key = "true".
        let mut o = token.options("hsm_demo");
        o.hmac_key_label = Some("hsm_hmac_demo".to_owned());
        let seal = Pkcs11Seal::open(o).await.expect("open");
        let keys = |seal: &Pkcs11Seal| {
            seal.banner_info()
                .banner_lines()
                .into_iter()
                .find(|(k, _)| *k == "HSM Keys")
                .map(|(_, v)| v)
                .expect("HSM Keys line")
        };
        assert_eq!(keys(&seal), "hsm_demo (AES, created), hsm_hmac_demo (HMAC, created)");
        token.with_session(|s| {
            let hmac = s
                .find_objects(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::GENERIC_SECRET),
                    Attribute::Label(b"hsm_hmac_demo".to_vec()),
                ])
                .expect("find");
            assert_eq!(hmac.len(), 1, "the HMAC key is on the token");
        });
        let blob = seal.wrap(b"root key").await.expect("wrap");
        drop(seal);

        // Opened again, both are found, not made twice.
        let mut o = token.options("hsm_demo");
        o.hmac_key_label = Some("hsm_hmac_demo".to_owned());
        let again = Pkcs11Seal::open(o).await.expect("reopen");
        assert_eq!(keys(&again), "hsm_demo (AES, found), hsm_hmac_demo (HMAC, found)");
        assert_eq!(again.unwrap(&blob).await.expect("unwrap").expose(), b"root key");

        // A later switch to AES-CBC + HMAC uses the keys that are there.
        let mut o = token.options("hsm_demo");
        o.generate_key = false;
        o.mechanism = Some(CKM_AES_CBC_PAD);
        o.hmac_key_label = Some("hsm_hmac_demo".to_owned());
        let cbc = Pkcs11Seal::open(o).await.expect("open with AES-CBC");
        assert_round_trips(&cbc, &[1, 32]).await;
    }
}

hsm_test! {
    async fn aes_gcm_opens_without_the_named_hmac_key_when_not_generating(token: Token) {
        let _made = Pkcs11Seal::open(token.options("gcm-only")).await.expect("make the AES key");
        let mut o = token.options("gcm-only");
        o.generate_key = false;
        o.hmac_key_label = Some("absent-hmac".to_owned());
        let seal = Pkcs11Seal::open(o).await.expect("AES-GCM does not need the HMAC key");
        assert_round_trips(&seal, &[16]).await;
        let keys: Vec<_> = seal.banner_info().keys.iter().map(|k| k.label.as_str()).collect();
        assert_eq!(keys, ["gcm-only"]);
    }
}

hsm_test! {
    async fn metrics_time_each_operation_count_sessions_and_errors_by_kind(token: Token) {
        let mut o = token.options("cbc-root");
        o.mechanism = Some(CKM_AES_CBC_PAD);
        o.hmac_key_label = Some("cbc-hmac".to_owned());
        let seal = Pkcs11Seal::open(o).await.expect("open");
        for _ in 0..3 {
            let blob = seal.wrap(b"value").await.expect("wrap");
            seal.unwrap(&blob).await.expect("unwrap");
        }
        seal.random(32).await.expect("random");
        let mut bad = seal.wrap(b"value").await.expect("wrap");
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(seal.unwrap(&bad).await.is_err());

        let metrics = seal.metrics();
        let count = |op: &str| {
            metrics
                .iter()
                .find(|m| m.name == "coffer.hsm.operation.seconds" && m.labels == [("op", op.to_owned())])
                .and_then(|m| m.histogram.as_ref())
                .map(|h| h.count)
                .unwrap_or_else(|| panic!("no {op} histogram: {metrics:?}"))
        };
        // The open's self-test is a wrap and an unwrap too.
        assert_eq!(count("wrap"), 1 + 3 + 1);
        assert_eq!(count("unwrap"), 1 + 3 + 1);
        assert_eq!(count("random"), 1);
        // CBC signs each wrap and verifies each unwrap with the HMAC key.
        assert_eq!(count("sign"), 2 * 5);
        let value = |name: &str| {
            metrics.iter().find(|m| m.name == name).map(|m| m.value).unwrap_or_else(|| panic!("{name}"))
        };
        assert!(value("coffer.hsm.sessions.open") >= 1.0);
        assert_eq!(value("coffer.hsm.sessions.in_use"), 0.0);
        let errors: Vec<_> = metrics.iter().filter(|m| m.name == "coffer.hsm.errors").collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].labels, [("code", "integrity".to_owned())]);
        assert_eq!(errors[0].value, 1.0);
    }
}

/// A managed key entry as the core stores it.
fn managed_key(token: &common::Token, name: &str, fields: serde_json::Value) -> ManagedKeyEntry {
    let mut entry = serde_json::json!({
        "name": name, "uuid": format!("uuid-{name}"), "key_type": "pkcs11", "library": "hsm",
        "slot": null, "token_label": token.label, "pin": coffer_testkit::token::PIN,
        "key_label": name, "key_id": null, "mechanism": 1, "key_bits": 2048, "curve": null,
        "rsa_oaep_hash": null, "force_rw_session": false, "max_parallel": 1,
        "allow_generate_key": true, "allow_replace_key": false, "allow_store_key": false,
        "any_mount": false, "usages": ["sign", "verify"],
    });
    entry
        .as_object_mut()
        .expect("object")
        .extend(fields.as_object().expect("object").clone());
    serde_json::from_value(entry).expect("entry")
}

hsm_test! {
    async fn managed_keys_sign_verify_encrypt_and_decrypt_in_the_token_within_their_usages(token: Token) {
        let provider = Pkcs11KeyProvider::new([("hsm".to_owned(), token.lib.clone())]);
        let test = SignTest { use_pss: false, hash_algorithm: "sha2-256".to_owned() };
        let request = |input: &[u8]| SignRequest {
            hash_algorithm: "sha2-256".to_owned(),
            use_pss: false,
            prehashed: false,
            input: input.to_vec(),
        };
        for (name, fields) in [
            ("rsa", serde_json::json!({})),
            ("pss", serde_json::json!({"mechanism": 0x000D})),
            ("p256", serde_json::json!({"mechanism": 0x1041, "curve": "P256"})),
        ] {
            let key = managed_key(&token, name, fields);
            // Operations never create a key; test/sign (or binding a transit
            // version) does, when allowed.
            let err = provider.sign(&key, &request(b"message")).await.expect_err("no key yet");
            assert!(err.to_string().contains("not found"), "{err}");
            provider.test_sign(&key, &test).await.expect("generates and tests");
            let sig = provider.sign(&key, &request(b"message")).await.expect("sign");
            assert!(provider.verify(&key, &request(b"message"), &sig).await.expect("verify"), "{name}");
            assert!(!provider.verify(&key, &request(b"other"), &sig).await.expect("verify"), "{name}");
            let err = provider.encrypt(&key, b"x").await.expect_err("usages say sign, verify");
            assert!(err.to_string().contains("may not encrypt"), "{err}");
        }
        let oaep = if token.kind() == TokenKind::SoftHsm2 { "sha1" } else { "sha256" };
        for (name, fields) in [
            ("aes", serde_json::json!({"mechanism": 0x1087})),
            ("oaep", serde_json::json!({"mechanism": 9, "rsa_oaep_hash": oaep})),
        ] {
            let mut fields = fields;
            fields["usages"] = serde_json::json!(["encrypt", "decrypt"]);
            let key = managed_key(&token, name, fields);
            provider.test_sign(&key, &test).await.expect("generates and tests");
            let ct = provider.encrypt(&key, b"card 4111").await.expect("encrypt");
            assert_eq!(provider.decrypt(&key, &ct).await.expect("decrypt").as_slice(), b"card 4111");
            let mut forged = ct.clone();
            let last = forged.len() - 1;
            forged[last] ^= 1;
            match provider.decrypt(&key, &forged).await {
                Err(ManagedKeyError::Integrity(_)) => {}
                other => panic!("{name}: a forged ciphertext must be an integrity error: {other:?}"),
            }
            let err = provider.sign(&key, &request(b"m")).await.expect_err("usages say encrypt");
            assert!(err.to_string().contains("may not sign"), "{err}");
        }
        // Each key's pool reports under its name.
        let metrics = provider.metrics();
        assert!(metrics.iter().any(|m| m.labels.contains(&("managed_key", "aes".to_owned()))));
    }
}
