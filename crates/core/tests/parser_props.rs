//! Property tests of the core's parsers: ACL policies (HCL and JSON say the
//! same thing; no text makes the parser panic), seal-wrap records (what is
//! wrapped unwraps, any change is caught, no bytes make the decoder panic)
//! and barrier records (a value read back is the value written; a changed
//! stored record never opens). The fuzz targets in `fuzz/` cover the same
//! parsers at length (docs/FUZZING.md); these run in CI.

use async_trait::async_trait;
use coffer_core::policy::Policy;
use coffer_core::seal::{Seal, SealError, SealHealth, SealWrapper};
use coffer_core::storage::{Barrier, SharedBackend};
use coffer_crypto::{Key256, OsEntropy, SecretBytes, envelope};
use coffer_storage_inmem::InmemBackend;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::SystemTime;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

// ---- policies ------------------------------------------------------------

/// One generated `path` stanza.
#[derive(Debug, Clone)]
struct Stanza {
    pattern: String,
    capabilities: Vec<&'static str>,
    required: Vec<String>,
    allowed: Vec<(String, Vec<String>)>,
    denied: Vec<(String, Vec<String>)>,
    min_ttl: Option<u32>,
    max_ttl: Option<u32>,
}

const CAPABILITIES: [&str; 8] = [
    "create", "read", "update", "patch", "delete", "list", "sudo", "deny",
];

fn pattern() -> impl Strategy<Value = String> {
    (
        "[a-z][a-z0-9_-]{0,7}",
        proptest::collection::vec(prop_oneof!["[a-z0-9_.-]{1,6}", Just("+".to_owned())], 0..4),
        any::<bool>(),
    )
        .prop_map(|(first, rest, glob)| {
            let mut p = first;
            for seg in rest {
                p.push('/');
                p.push_str(&seg);
            }
            if glob {
                p.push_str("/*");
            }
            p
        })
}

fn params() -> impl Strategy<Value = Vec<(String, Vec<String>)>> {
    proptest::collection::btree_map(
        prop_oneof!["[a-z_]{1,8}", Just("*".to_owned())],
        proptest::collection::vec("[a-z0-9*]{0,6}", 0..3),
        0..3,
    )
    // The "*" key takes only an empty list (a deliberate difference from Vault).
    .prop_map(|m| {
        m.into_iter()
            .map(|(k, vs)| if k == "*" { (k, Vec::new()) } else { (k, vs) })
            .collect()
    })
}

fn stanza() -> impl Strategy<Value = Stanza> {
    (
        pattern(),
        proptest::sample::subsequence(CAPABILITIES.to_vec(), 0..=CAPABILITIES.len()),
        proptest::collection::vec("[a-z_]{1,8}", 0..3),
        params(),
        params(),
        proptest::option::of(0u32..100_000),
        proptest::option::of(0u32..100_000),
    )
        .prop_map(
            |(pattern, capabilities, required, allowed, denied, min_ttl, max_ttl)| Stanza {
                pattern,
                capabilities,
                required,
                allowed,
                denied,
                min_ttl,
                max_ttl,
            },
        )
}

fn stanzas() -> impl Strategy<Value = Vec<Stanza>> {
    proptest::collection::vec(stanza(), 1..5).prop_map(|mut v| {
        // JSON objects cannot repeat a key; HCL could, so keep patterns unique.
        let mut seen = std::collections::BTreeSet::new();
        v.retain(|s| seen.insert(s.pattern.clone()));
        v
    })
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a JSON string is HCL string syntax here")
}

fn hcl_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| quoted(i)).collect();
    format!("[{}]", items.join(", "))
}

fn hcl_params(params: &[(String, Vec<String>)]) -> String {
    let mut out = String::from("{\n");
    for (k, vs) in params {
        out.push_str(&format!("    {} = {}\n", quoted(k), hcl_list(vs)));
    }
    out.push_str("  }");
    out
}

fn to_hcl(stanzas: &[Stanza]) -> String {
    let mut out = String::new();
    for s in stanzas {
        out.push_str(&format!("path {} {{\n", quoted(&s.pattern)));
        let caps: Vec<String> = s.capabilities.iter().map(|c| (*c).to_owned()).collect();
        out.push_str(&format!("  capabilities = {}\n", hcl_list(&caps)));
        if !s.required.is_empty() {
            out.push_str(&format!(
                "  required_parameters = {}\n",
                hcl_list(&s.required)
            ));
        }
        if !s.allowed.is_empty() {
            out.push_str(&format!(
                "  allowed_parameters = {}\n",
                hcl_params(&s.allowed)
            ));
        }
        if !s.denied.is_empty() {
            out.push_str(&format!(
                "  denied_parameters = {}\n",
                hcl_params(&s.denied)
            ));
        }
        if let Some(t) = s.min_ttl {
            out.push_str(&format!("  min_wrapping_ttl = \"{t}s\"\n"));
        }
        if let Some(t) = s.max_ttl {
            out.push_str(&format!("  max_wrapping_ttl = {t}\n"));
        }
        out.push_str("}\n");
    }
    out
}

fn json_params(params: &[(String, Vec<String>)]) -> Value {
    Value::Object(
        params
            .iter()
            .map(|(k, vs)| (k.clone(), json!(vs)))
            .collect::<Map<String, Value>>(),
    )
}

fn to_json(stanzas: &[Stanza]) -> String {
    let mut paths = Map::new();
    for s in stanzas {
        let mut rule = Map::new();
        rule.insert("capabilities".into(), json!(s.capabilities));
        if !s.required.is_empty() {
            rule.insert("required_parameters".into(), json!(s.required));
        }
        if !s.allowed.is_empty() {
            rule.insert("allowed_parameters".into(), json_params(&s.allowed));
        }
        if !s.denied.is_empty() {
            rule.insert("denied_parameters".into(), json_params(&s.denied));
        }
        if let Some(t) = s.min_ttl {
            rule.insert("min_wrapping_ttl".into(), json!(format!("{t}s")));
        }
        if let Some(t) = s.max_ttl {
            rule.insert("max_wrapping_ttl".into(), json!(t));
        }
        paths.insert(s.pattern.clone(), Value::Object(rule));
    }
    serde_json::to_string_pretty(&json!({ "path": paths })).expect("json")
}

/// The rules of a parse, by pattern, with the text position left out.
fn meaning(parsed: &Result<Policy, coffer_core::policy::PolicyError>) -> Option<Vec<String>> {
    let policy = parsed.as_ref().ok()?;
    let mut rules: Vec<String> = policy
        .rules()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.line = 0;
            format!("{r:?}")
        })
        .collect();
    rules.sort();
    Some(rules)
}

proptest! {
    #[test]
    fn a_policy_written_in_hcl_and_in_json_means_the_same(stanzas in stanzas()) {
        let hcl = to_hcl(&stanzas);
        let json = to_json(&stanzas);
        let from_hcl = Policy::parse("p", &hcl);
        let from_json = Policy::parse("p", &json);
        prop_assert_eq!(
            from_hcl.is_ok(),
            from_json.is_ok(),
            "HCL {:?} vs JSON {:?}\n{}\n{}",
            from_hcl.as_ref().err().map(ToString::to_string),
            from_json.as_ref().err().map(ToString::to_string),
            hcl,
            json
        );
        prop_assert_eq!(meaning(&from_hcl), meaning(&from_json), "{}\n{}", hcl, json);
    }

    #[test]
    fn generated_policies_parse_with_one_rule_per_stanza(stanzas in stanzas()) {
        // Every generated stanza is valid except for min > max wrapping TTL.
        let policy = Policy::parse("p", &to_hcl(&stanzas));
        let inverted = stanzas.iter().any(|s| matches!((s.min_ttl, s.max_ttl), (Some(a), Some(b)) if a > b));
        if !inverted {
            let policy = policy.expect("a valid policy");
            prop_assert_eq!(policy.rules().len(), stanzas.len());
        }
    }

}

proptest! {
    // Cheap per case, but random text rarely gets far: fewer cases, same reach.
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn no_policy_text_makes_the_parser_panic(text in "\\PC{0,200}") {
        let _ = Policy::parse("p", &text);
        let _ = Policy::parse("p", &format!("{{{text}"));
        let _ = Policy::parse("p", &format!("path \"{text}\" {{\n capabilities = [\"read\"]\n}}\n"));
    }

    #[test]
    fn policy_like_text_never_makes_the_parser_panic(
        text in "(path|capabilities|allowed_parameters|=|\\{|\\}|\\[|\\]|\"[a-z*+/]{0,4}\"|,|\n| |[0-9]{1,3}|-|\\(|\\))*",
    ) {
        let _ = Policy::parse("p", &text);
    }
}

// ---- seal-wrap records ---------------------------------------------------

/// A seal that wraps with an AES-GCM envelope under a fixed key, so tampering
/// is detected the way the pkcs11 seal detects it (the GCM tag).
struct EnvelopeSeal;

#[async_trait]
impl Seal for EnvelopeSeal {
    fn kind(&self) -> &'static str {
        "pkcs11"
    }
    fn stored_keys(&self) -> bool {
        true
    }
    async fn wrap(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        envelope::seal(&seal_key(), 1, &OsEntropy::new(), b"seal", plaintext)
            .map_err(|e| SealError::Unavailable(e.to_string()))
    }
    async fn unwrap(&self, blob: &[u8]) -> Result<SecretBytes, SealError> {
        envelope::open(&seal_key(), b"seal", blob)
            .map(|p| SecretBytes::from_slice(&p))
            .map_err(|e| SealError::Integrity(e.to_string()))
    }
    async fn health(&self) -> SealHealth {
        SealHealth::Healthy
    }
}

fn seal_key() -> Key256 {
    Key256::from_slice(&[0x5e; 32]).expect("32 bytes")
}

fn wrapper() -> SealWrapper {
    let seal: Arc<dyn Seal> = Arc::new(EnvelopeSeal);
    SealWrapper::new(seal, None)
}

proptest! {
    #[test]
    fn a_seal_wrapped_value_unwraps_to_itself(value in proptest::collection::vec(any::<u8>(), 0..256)) {
        let w = wrapper();
        let record = block_on(w.wrap(&value)).expect("wrap");
        prop_assert!(record.starts_with(b"CSW\x01\x06pkcs11"));
        let back = block_on(w.unwrap("p", &record)).expect("unwrap");
        prop_assert_eq!(back.as_slice(), value.as_slice());
        prop_assert!(!w.is_stale(&record));
        prop_assert_eq!(w.describe(&record).map(|(kind, _)| kind), Some("pkcs11".to_owned()));
    }

    #[test]
    fn changing_any_byte_of_a_seal_wrap_record_makes_unwrap_fail(
        value in proptest::collection::vec(any::<u8>(), 0..64),
        at: prop::sample::Index,
        mask in 1u8..,
    ) {
        let w = wrapper();
        let mut record = block_on(w.wrap(&value)).expect("wrap");
        let i = at.index(record.len());
        record[i] ^= mask;
        prop_assert!(block_on(w.unwrap("p", &record)).is_err(), "byte {} changed", i);
    }

    #[test]
    fn no_bytes_make_the_seal_wrap_decoder_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..64),
        header in proptest::sample::select(vec![
            b"".to_vec(),
            b"CSW".to_vec(),
            b"CSW\x01".to_vec(),
            b"CSW\x01\x06pkcs11".to_vec(),
        ]),
    ) {
        let w = wrapper();
        let record = [header, tail].concat();
        prop_assert!(block_on(w.unwrap("p", &record)).is_err());
        let _ = w.describe(&record);
        let _ = w.is_stale(&record);
    }
}

// ---- barrier records -----------------------------------------------------

async fn open_barrier(wrapped: bool) -> (Barrier, SharedBackend) {
    let backend: SharedBackend = Arc::new(InmemBackend::new());
    let e = Arc::new(OsEntropy::new());
    let mut b = Barrier::new(backend.clone(), e.clone());
    if wrapped {
        b = b.with_seal_wrap(Arc::new(wrapper()));
    }
    b.initialize(
        Key256::generate(e.as_ref()).expect("rng"),
        SystemTime::now(),
    )
    .expect("init");
    b.commit_keyring().await.expect("commit");
    (b, backend)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_barrier_reads_back_what_was_written_and_refuses_a_changed_record(
        segments in proptest::collection::vec("[^/\u{0}]{1,12}", 1..4),
        value in proptest::collection::vec(any::<u8>(), 0..128),
        wrapped: bool,
        at: prop::sample::Index,
        mask in 1u8..,
    ) {
        let path = format!("logical/{}", segments.join("/"));
        prop_assume!(!segments.iter().any(|s| s == "." || s == ".."));
        block_on(async {
            let (b, backend) = open_barrier(wrapped).await;
            if wrapped {
                b.put_wrapped(&path, &value).await.expect("put");
            } else {
                b.put(&path, &value).await.expect("put");
            }
            let got = b.get(&path).await.expect("get").expect("present");
            assert_eq!(got.as_slice(), value.as_slice());
            let stored = b.stored(&path).await.expect("stored").expect("present");
            assert_eq!(stored.seal_wrap.is_some(), wrapped);
            let mut bytes = stored.bytes.clone();
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
            backend.put(&stored.physical, &bytes).await.expect("backend put");
            assert!(b.get(&path).await.is_err(), "byte {i} of the stored record changed");
        });
    }
}
