//! Property tests of the server configuration parser
//! (`coffer_server::config::parse`): a configuration written in HCL and the
//! same one in JSON give the same `Config`, the values written are the
//! values read, and no text makes the parser panic. The `server_config`
//! fuzz target checks the same at length (docs/FUZZING.md).

use coffer_server::config::{Config, Env, parse};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::path::Path;

/// A generated configuration: the scalar options and one or two listeners.
#[derive(Debug, Clone)]
struct Generated {
    ui: bool,
    disable_mlock: bool,
    raw_storage_endpoint: bool,
    api_addr: Option<String>,
    cluster_name: Option<String>,
    log_level: &'static str,
    default_lease_secs: u32,
    max_lease_secs: u32,
    listeners: Vec<(String, u64)>,
    storage_path: Option<String>,
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        (any::<bool>(), any::<bool>(), any::<bool>()),
        proptest::option::of("https?://[a-z]{1,8}(\\.[a-z]{1,5})?:[1-9][0-9]{0,3}"),
        proptest::option::of("[a-zA-Z0-9 _-]{1,12}"),
        prop_oneof![
            Just("trace"),
            Just("debug"),
            Just("info"),
            Just("warn"),
            Just("error")
        ],
        (1u32..1_000_000, 0u32..1_000_000),
        proptest::collection::vec(
            (
                "127\\.0\\.0\\.[0-9]{1,2}:[1-9][0-9]{0,3}",
                1u64..1_000_000_000,
            ),
            1..3,
        ),
        proptest::option::of("/[a-z]{1,8}(/[a-z0-9._-]{1,8}){0,2}"),
    )
        .prop_map(
            |(
                (ui, disable_mlock, raw),
                api_addr,
                cluster_name,
                log_level,
                (max, extra),
                listeners,
                storage_path,
            )| {
                Generated {
                    ui,
                    disable_mlock,
                    raw_storage_endpoint: raw,
                    api_addr,
                    cluster_name,
                    log_level,
                    // default <= max, as the parser requires.
                    default_lease_secs: max.saturating_sub(extra % max),
                    max_lease_secs: max,
                    listeners,
                    storage_path,
                }
            },
        )
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

fn to_hcl(g: &Generated) -> String {
    let mut out = String::new();
    for (address, size) in &g.listeners {
        out.push_str(&format!(
            "listener \"tcp\" {{\n  address = {}\n  tls_disable = true\n  max_request_size = {size}\n}}\n",
            quoted(address)
        ));
    }
    if let Some(p) = &g.storage_path {
        out.push_str(&format!(
            "storage \"file\" {{\n  path = {}\n}}\n",
            quoted(p)
        ));
    }
    out.push_str(&format!("ui = {}\n", g.ui));
    out.push_str(&format!("disable_mlock = {}\n", g.disable_mlock));
    out.push_str(&format!(
        "raw_storage_endpoint = \"{}\"\n",
        g.raw_storage_endpoint
    ));
    if let Some(a) = &g.api_addr {
        out.push_str(&format!("api_addr = {}\n", quoted(a)));
    }
    if let Some(c) = &g.cluster_name {
        out.push_str(&format!("cluster_name = {}\n", quoted(c)));
    }
    out.push_str(&format!("log_level = {}\n", quoted(g.log_level)));
    out.push_str(&format!(
        "default_lease_ttl = \"{}s\"\n",
        g.default_lease_secs
    ));
    out.push_str(&format!("max_lease_ttl = {}\n", g.max_lease_secs));
    out
}

fn to_json(g: &Generated) -> String {
    let mut top = Map::new();
    let listeners: Vec<Value> = g
        .listeners
        .iter()
        .map(|(address, size)| {
            json!({"tcp": {"address": address, "tls_disable": "true", "max_request_size": size}})
        })
        .collect();
    top.insert("listener".into(), Value::Array(listeners));
    if let Some(p) = &g.storage_path {
        top.insert("storage".into(), json!({"file": {"path": p}}));
    }
    top.insert("ui".into(), json!(g.ui));
    top.insert("disable_mlock".into(), json!(g.disable_mlock));
    top.insert("raw_storage_endpoint".into(), json!(g.raw_storage_endpoint));
    if let Some(a) = &g.api_addr {
        top.insert("api_addr".into(), json!(a));
    }
    if let Some(c) = &g.cluster_name {
        top.insert("cluster_name".into(), json!(c));
    }
    top.insert("log_level".into(), json!(g.log_level));
    top.insert("default_lease_ttl".into(), json!(g.default_lease_secs));
    top.insert(
        "max_lease_ttl".into(),
        json!(format!("{}s", g.max_lease_secs)),
    );
    serde_json::to_string_pretty(&Value::Object(top)).expect("json")
}

fn parsed(file: &str, text: &str) -> Config {
    parse(Path::new(file), text, &Env::empty()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Config-like token soup: stanza words, quoted labels, braces, numbers in
/// every form the parser converts, heredocs.
const CONFIG_SOUP: &str = concat!(
    "(listener|seal|storage|entropy|\"tcp\"|\"pkcs11\"|\"file\"|address|lib|slot|pin|",
    "mechanism|=|\\{|\\}|\\[|\\]|\"[a-z0-9:./]{0,6}\"|,|:|\n| |-?[0-9]{1,20}|",
    "0x[0-9a-f]{1,4}|true|<<EOF\n|EOF\n)*",
);

/// Environment variables the config loader reads.
const ENV_NAMES: [&str; 6] = [
    "VAULT_HSM_SLOT",
    "VAULT_HSM_MECHANISM",
    "VAULT_HSM_MAX_PARALLEL",
    "VAULT_HSM_KEY_ID",
    "VAULT_API_ADDR",
    "VAULT_SEAL_TYPE",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_config_in_hcl_and_in_json_reads_the_same_and_as_written(g in generated()) {
        let hcl = parsed("c.hcl", &to_hcl(&g));
        let json = parsed("c.json", &to_json(&g));
        // Same configuration, whichever syntax (Debug shows every field).
        prop_assert_eq!(format!("{hcl:?}"), format!("{json:?}"));
        prop_assert_eq!(hcl.ui, g.ui);
        prop_assert_eq!(hcl.disable_mlock, g.disable_mlock);
        prop_assert_eq!(hcl.raw_storage_endpoint, g.raw_storage_endpoint);
        prop_assert_eq!(&hcl.api_addr, &g.api_addr);
        prop_assert_eq!(&hcl.cluster_name, &g.cluster_name);
        prop_assert_eq!(hcl.default_lease_ttl.as_secs(), u64::from(g.default_lease_secs));
        prop_assert_eq!(hcl.max_lease_ttl.as_secs(), u64::from(g.max_lease_secs));
        prop_assert_eq!(hcl.listeners.len(), g.listeners.len());
        for (l, (address, size)) in hcl.listeners.iter().zip(&g.listeners) {
            prop_assert_eq!(&l.address, address);
            prop_assert_eq!(u64::try_from(l.max_request_size).ok(), Some(*size));
            prop_assert!(l.tls_disable);
        }
    }

    #[test]
    fn no_text_makes_the_config_parser_panic(text in "\\PC{0,200}") {
        for file in ["c.hcl", "c.json"] {
            let _ = parse(Path::new(file), &text, &Env::empty());
        }
    }

    #[test]
    fn config_like_text_never_makes_the_parser_panic(
        text in CONFIG_SOUP,
        env in proptest::collection::vec(
            (proptest::sample::select(ENV_NAMES.to_vec()), "[a-z0-9x-]{0,6}"),
            0..3,
        ),
    ) {
        let env = Env::from_pairs(env);
        for file in ["c.hcl", "c.json"] {
            let _ = parse(Path::new(file), &text, &env);
        }
    }
}
