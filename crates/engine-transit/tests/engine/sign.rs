//! `sign`, `verify`, `hmac`, `hash`, `random`.

use crate::support::{Harness, b64, unb64};
use coffer_core::CoreError;
use coffer_core::engine::{Operation, ResponseStatus};
use serde_json::{Value, json};

async fn sign(h: &Harness, path: &str, body: Value) -> String {
    h.write(path, body).await["signature"]
        .as_str()
        .expect("signature")
        .to_owned()
}

async fn valid(h: &Harness, path: &str, body: Value) -> bool {
    h.write(path, body).await["valid"].as_bool().expect("valid")
}

#[tokio::test]
async fn ecdsa_signs_and_verifies_with_any_hash_in_asn1_and_jws() {
    let h = Harness::new().await;
    for t in ["ecdsa-p256", "ecdsa-p384"] {
        h.create(t, json!({"type": t})).await;
        let input = b64(b"message");
        for (hash, marshaling) in [
            ("sha2-256", "asn1"),
            ("sha2-512", "asn1"),
            ("sha3-256", "jws"),
            ("sha2-384", "jws"),
        ] {
            let body =
                json!({"input": input, "hash_algorithm": hash, "marshaling_algorithm": marshaling});
            let d = h.write(&format!("sign/{t}"), body.clone()).await;
            assert_eq!(d["key_version"], 1);
            let sig = d["signature"].as_str().expect("signature").to_owned();
            assert!(sig.starts_with("vault:v1:"));
            if marshaling == "jws" {
                // Fixed-size r || s, base64url without padding.
                let n: usize = if t == "ecdsa-p256" { 64 } else { 96 };
                let body = sig.strip_prefix("vault:v1:").expect("prefix");
                assert!(!body.contains('=') && !body.contains('+') && !body.contains('/'));
                assert_eq!(body.len(), (n * 4).div_ceil(3), "{t} {hash}");
            }
            let mut v = body.clone();
            v["signature"] = json!(sig);
            assert!(
                valid(&h, &format!("verify/{t}"), v.clone()).await,
                "{t} {hash}"
            );
            v["input"] = json!(b64(b"other"));
            assert!(!valid(&h, &format!("verify/{t}"), v).await, "{t} {hash}");
        }
        // The hash in the URL wins, and prehashed input signs the hash itself.
        let digest = b64(&coffer_hash_sha384(b"m"));
        let sig = sign(
            &h,
            &format!("sign/{t}/sha2-384"),
            json!({"input": b64(b"m")}),
        )
        .await;
        assert!(
            valid(&h, &format!("verify/{t}"), json!({"input": digest, "prehashed": true, "hash_algorithm": "sha2-384", "signature": sig})).await
        );
    }
}

#[tokio::test]
async fn a_jws_signature_padded_with_zeros_does_not_verify() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let h = Harness::new().await;
    h.create("p", json!({"type": "ecdsa-p256"})).await;
    let body = json!({"input": b64(b"m"), "marshaling_algorithm": "jws"});
    let sig = sign(&h, "sign/p", body.clone()).await;
    let raw = URL_SAFE_NO_PAD
        .decode(sig.strip_prefix("vault:v1:").expect("prefix"))
        .expect("base64url");
    let (r, s) = raw.split_at(32);
    let padded = [&[0u8][..], r, &[0u8][..], s].concat();
    let mut v = body;
    v["signature"] = json!(format!("vault:v1:{}", URL_SAFE_NO_PAD.encode(padded)));
    assert!(
        !valid(&h, "verify/p", v.clone()).await,
        "malleable signature"
    );
    v["signature"] = json!(sig);
    assert!(valid(&h, "verify/p", v).await);
}

fn coffer_hash_sha384(data: &[u8]) -> Vec<u8> {
    // Through the engine's own hash endpoint would be circular; use the
    // published FIPS 180 algorithm via a second implementation.
    use aws_lc_rs::digest;
    digest::digest(&digest::SHA384, data).as_ref().to_vec()
}

#[tokio::test]
async fn ed25519_signs_and_derived_keys_return_their_public_key() {
    let h = Harness::new().await;
    h.create("ed", json!({"type": "ed25519"})).await;
    let sig = sign(&h, "sign/ed", json!({"input": b64(b"msg")})).await;
    assert!(
        valid(
            &h,
            "verify/ed",
            json!({"input": b64(b"msg"), "signature": sig})
        )
        .await
    );
    assert!(
        !valid(
            &h,
            "verify/ed",
            json!({"input": b64(b"msh"), "signature": sig})
        )
        .await
    );
    let e = h
        .call(
            Operation::Update,
            "sign/ed",
            json!({"input": "", "prehashed": true}),
        )
        .await;
    assert!(matches!(e, Err(CoreError::NotSupported(_))), "{e:?}");

    h.create("edd", json!({"type": "ed25519", "derived": true}))
        .await;
    assert_eq!(h.read("keys/edd").await["keys"]["1"]["public_key"], "");
    let ctx = b64(b"user-1");
    let d = h
        .write("sign/edd", json!({"input": b64(b"m"), "context": ctx}))
        .await;
    let pk = d["public_key"].as_str().expect("public key").to_owned();
    let sig = d["signature"].clone();
    assert!(
        valid(
            &h,
            "verify/edd",
            json!({"input": b64(b"m"), "context": ctx, "signature": sig})
        )
        .await
    );
    assert!(
        !valid(
            &h,
            "verify/edd",
            json!({"input": b64(b"m"), "context": b64(b"user-2"), "signature": sig})
        )
        .await
    );
    let read = h
        .data(Operation::Read, "keys/edd", json!({"context": ctx}))
        .await;
    assert_eq!(read["keys"]["1"]["public_key"], pk);
    assert!(
        h.invalid("sign/edd", json!({"input": b64(b"m")}))
            .await
            .starts_with("missing 'context'")
    );
}

#[tokio::test]
async fn rsa_signs_with_pss_by_default_and_pkcs1v15_on_request() {
    let h = Harness::new().await;
    h.create("r", json!({"type": "rsa-2048"})).await;
    let input = b64(b"document");
    for alg in ["pss", "pkcs1v15"] {
        for hash in ["sha2-256", "sha2-384", "sha2-512"] {
            let body = json!({"input": input, "signature_algorithm": alg, "hash_algorithm": hash});
            let sig = sign(&h, "sign/r", body.clone()).await;
            assert_eq!(
                unb64(sig.strip_prefix("vault:v1:").expect("prefix")).len(),
                256
            );
            let mut v = body;
            v["signature"] = json!(sig);
            assert!(valid(&h, "verify/r", v.clone()).await, "{alg} {hash}");
            // The other padding does not verify it.
            v["signature_algorithm"] = json!(if alg == "pss" { "pkcs1v15" } else { "pss" });
            assert!(!valid(&h, "verify/r", v).await, "{alg} {hash}");
        }
    }
    let sig = sign(&h, "sign/r", json!({"input": input, "salt_length": "hash"})).await;
    assert!(valid(&h, "verify/r", json!({"input": input, "signature": sig})).await);
    let e = h
        .call(
            Operation::Update,
            "sign/r/sha3-256",
            json!({"input": input}),
        )
        .await;
    assert!(matches!(e, Err(CoreError::NotSupported(_))), "{e:?}");
    assert_eq!(
        h.invalid(
            "sign/r",
            json!({"input": input, "signature_algorithm": "rsa"})
        )
        .await,
        "unsupported rsa signature algorithm rsa"
    );
}

#[tokio::test]
async fn verification_rejects_bad_signatures_with_clear_errors() {
    let h = Harness::new().await;
    h.create("ec", json!({"type": "ecdsa-p256"})).await;
    h.create("aes", json!({})).await;
    let input = b64(b"m");
    let sig = sign(&h, "sign/ec", json!({"input": input})).await;
    let cases = [
        (
            json!({"input": input, "signature": "v1:abc"}),
            "invalid signature: no prefix",
        ),
        (
            json!({"input": input, "signature": "vault:v2:AAAA"}),
            "invalid signature: version is too new",
        ),
        (
            json!({"input": input, "signature": "vault:v1:%%%"}),
            "invalid base64 signature value",
        ),
        (
            json!({"input": input}),
            "neither a 'signature' nor an 'hmac' were given to verify",
        ),
        (
            json!({"input": input, "signature": sig, "hmac": "vault:v1:AA=="}),
            "provide one of 'signature' or 'hmac'",
        ),
        (
            json!({"input": input, "signature": sig, "marshaling_algorithm": "der"}),
            "invalid marshaling type \"der\"",
        ),
        (
            json!({"input": input, "signature": sig, "hash_algorithm": "md5"}),
            "invalid hash algorithm \"md5\"",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(h.invalid("verify/ec", body.clone()).await, want, "{body}");
    }
    // Garbage that is valid base64 is simply not a valid signature.
    assert!(
        !valid(
            &h,
            "verify/ec",
            json!({"input": input, "signature": "vault:v1:AAAA"})
        )
        .await
    );
    assert_eq!(
        h.invalid("sign/aes", json!({"input": input})).await,
        "key type aes256-gcm96 does not support signing"
    );
    assert_eq!(
        h.invalid("verify/aes", json!({"input": input, "signature": sig}))
            .await,
        "key type aes256-gcm96 does not support verification"
    );
    assert_eq!(
        h.invalid("sign/nope", json!({"input": input})).await,
        "encryption key not found"
    );
    // Rotation and min_decryption_version apply to signatures too.
    h.write("keys/ec/rotate", json!({})).await;
    h.write("keys/ec/config", json!({"min_decryption_version": 2}))
        .await;
    assert_eq!(
        h.invalid("verify/ec", json!({"input": input, "signature": sig}))
            .await,
        "ciphertext or signature version is disallowed by policy (too old)"
    );
}

#[tokio::test]
async fn batch_sign_and_verify_report_per_item_results() {
    let h = Harness::new().await;
    h.create("ec", json!({"type": "ecdsa-p256"})).await;
    let d = h
        .write(
            "sign/ec",
            json!({"batch_input": [{"input": b64(b"a"), "reference": "a"}, {"input": b64(b"b")}]}),
        )
        .await;
    let r = d["batch_results"].as_array().expect("results");
    assert_eq!(r[0]["reference"], "a");
    let resp = h
        .response(
            Operation::Update,
            "verify/ec",
            json!({"batch_input": [
                {"input": b64(b"a"), "signature": r[0]["signature"]},
                {"input": b64(b"a"), "signature": r[1]["signature"]},
                {"input": "%%", "signature": r[1]["signature"]},
            ]}),
        )
        .await;
    assert_eq!(resp.status, ResponseStatus::Code(400));
    let data = resp.data.expect("data");
    assert_eq!(data["batch_results"][0]["valid"], true);
    assert_eq!(data["batch_results"][1]["valid"], false);
    assert!(
        data["batch_results"][2]["error"]
            .as_str()
            .expect("error")
            .contains("base64")
    );
    assert_eq!(
        h.invalid(
            "verify/ec",
            json!({"batch_input": [{"input": "", "signature": "x"}, {"input": ""}]})
        )
        .await,
        "some elements of batch_input are missing 'signature'"
    );
}

#[tokio::test]
async fn hmac_uses_the_versions_hmac_key_and_verifies_through_verify() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    h.create("mac", json!({"type": "hmac", "key_size": 64}))
        .await;
    for name in ["k", "mac"] {
        let d = h
            .write(&format!("hmac/{name}"), json!({"input": b64(b"data")}))
            .await;
        let mac = d["hmac"].as_str().expect("hmac").to_owned();
        assert!(mac.starts_with("vault:v1:"));
        assert_eq!(
            unb64(mac.strip_prefix("vault:v1:").expect("prefix")).len(),
            32
        );
        assert!(
            valid(
                &h,
                &format!("verify/{name}"),
                json!({"input": b64(b"data"), "hmac": mac})
            )
            .await
        );
        assert!(
            !valid(
                &h,
                &format!("verify/{name}"),
                json!({"input": b64(b"datb"), "hmac": mac})
            )
            .await
        );
        // The algorithm in the URL changes the MAC.
        let d512 = h
            .write(
                &format!("hmac/{name}/sha2-512"),
                json!({"input": b64(b"data")}),
            )
            .await;
        let mac512 = d512["hmac"].as_str().expect("hmac").to_owned();
        assert_eq!(
            unb64(mac512.strip_prefix("vault:v1:").expect("prefix")).len(),
            64
        );
        assert!(
            valid(
                &h,
                &format!("verify/{name}/sha2-512"),
                json!({"input": b64(b"data"), "hmac": mac512})
            )
            .await
        );
        assert!(
            !valid(
                &h,
                &format!("verify/{name}"),
                json!({"input": b64(b"data"), "hmac": mac512})
            )
            .await
        );
        let d3 = h
            .write(
                &format!("hmac/{name}"),
                json!({"input": b64(b"data"), "algorithm": "sha3-256"}),
            )
            .await;
        assert_ne!(d3["hmac"], json!(mac));
    }
    // The exported HMAC key reproduces the MAC (RFC 2104 with SHA-256).
    h.create("ex", json!({"type": "hmac", "exportable": true}))
        .await;
    let key = h.read("export/hmac-key/ex/1").await["keys"]["1"]
        .as_str()
        .expect("key")
        .to_owned();
    let mac = h.write("hmac/ex", json!({"input": b64(b"data")})).await["hmac"].clone();
    let expected = {
        use aws_lc_rs::hmac;
        let k = hmac::Key::new(hmac::HMAC_SHA256, &unb64(&key));
        format!("vault:v1:{}", b64(hmac::sign(&k, b"data").as_ref()))
    };
    assert_eq!(mac, json!(expected));
    let batch = h
        .write(
            "hmac/k",
            json!({"batch_input": [{"input": b64(b"1"), "reference": "x"}, {"input": b64(b"2")}]}),
        )
        .await;
    assert_eq!(batch["batch_results"][0]["reference"], "x");
    assert!(batch["batch_results"][1]["hmac"].is_string());
    assert_eq!(
        h.invalid("hmac/k", json!({})).await,
        "missing input for HMAC"
    );
    assert_eq!(
        h.invalid("hmac/k", json!({"input": "", "key_version": 2}))
            .await,
        "key version does not exist; latest key version is 1"
    );
    assert_eq!(
        h.invalid("verify/k", json!({"input": "", "hmac": "nope"}))
            .await,
        "invalid HMAC to verify: no prefix"
    );
}

#[tokio::test]
async fn hash_matches_published_digests_in_hex_and_base64() {
    let h = Harness::new().await;
    let abc = b64(b"abc");
    let d = h.write("hash", json!({"input": abc})).await;
    assert_eq!(
        d["sum"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let d = h.write("hash/sha3-256", json!({"input": abc})).await;
    assert_eq!(
        d["sum"],
        "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
    );
    let d = h
        .write(
            "hash",
            json!({"input": abc, "algorithm": "sha2-224", "format": "base64"}),
        )
        .await;
    assert_eq!(
        hex_of(&unb64(d["sum"].as_str().expect("sum"))),
        "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"
    );
    assert_eq!(
        h.invalid("hash/md5", json!({"input": abc})).await,
        "unsupported algorithm md5"
    );
    assert_eq!(
        h.invalid("hash", json!({"input": abc, "format": "raw"}))
            .await,
        "unsupported encoding format raw; must be \"hex\" or \"base64\""
    );
    assert!(
        h.invalid("hash", json!({"input": "%%"}))
            .await
            .starts_with("unable to decode input")
    );
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn random_returns_the_requested_bytes_from_each_source() {
    let h = Harness::new().await;
    let d = h.write("random", json!({})).await;
    assert_eq!(unb64(d["random_bytes"].as_str().expect("bytes")).len(), 32);
    let d = h.write("random/64", json!({"format": "hex"})).await;
    assert_eq!(d["random_bytes"].as_str().expect("hex").len(), 128);
    let before = h.entropy.drawn();
    let d = h.write("random/seal/16", json!({})).await;
    assert_eq!(unb64(d["random_bytes"].as_str().expect("bytes")).len(), 16);
    assert_eq!(
        h.entropy.drawn(),
        before + 16,
        "seal draws on the mount's entropy"
    );
    let d = h.write("random/all", json!({"bytes": 8})).await;
    assert_eq!(unb64(d["random_bytes"].as_str().expect("bytes")).len(), 8);
    assert_eq!(h.entropy.drawn(), before + 24);
    h.write("random/platform/4", json!({})).await;
    assert_eq!(h.entropy.drawn(), before + 24, "platform does not");
    assert_eq!(
        h.invalid("random/0", json!({})).await,
        "\"bytes\" cannot be less than 1"
    );
    assert!(
        h.invalid("random/999999", json!({}))
            .await
            .starts_with("\"bytes\" should be less than")
    );
    assert!(
        h.invalid("random/x", json!({}))
            .await
            .starts_with("error parsing url-set byte count")
    );
    assert!(
        h.invalid("random/hsm/8", json!({}))
            .await
            .starts_with("unsupported entropy source")
    );
    assert!(
        h.invalid("random", json!({"format": "raw"}))
            .await
            .starts_with("unsupported encoding format")
    );
}
