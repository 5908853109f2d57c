//! Behaviour of config loading as an operator sees it: whole files in, a typed
//! config or a one-line error with file and line out.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

/// `storage "postgresql"`: its fields, defaults and `VAULT_PG_CONNECTION_URL`.
mod postgresql;

/// Server options outside the stanzas: `raw_storage_endpoint`, the listener's
/// `cluster_address`, and the sanitized view of the whole config.
mod server_options;

pub(super) const PLAIN_LISTENER: &str =
    "listener \"tcp\" {\n  address = \"127.0.0.1:8200\"\n  tls_disable = true\n}\n";

fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_pairs(pairs.iter().map(|(k, v)| (*k, *v)))
}

pub(super) fn parse_hcl(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    parse(Path::new("config.hcl"), text, &env(vars))
}

pub(super) fn ok(result: Result<Config, ConfigError>) -> Config {
    match result {
        Ok(config) => config,
        Err(e) => panic!("expected a valid config, got: {e}"),
    }
}

pub(super) fn err(result: Result<Config, ConfigError>) -> String {
    match result {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(e) => e.to_string(),
    }
}

fn pkcs11(config: &Config) -> &Pkcs11SealConfig {
    match config.enabled_seal() {
        Some(SealConfig::Pkcs11(p)) => p,
        other => panic!("expected an enabled pkcs11 seal, got {other:?}"),
    }
}

/// Seed 004's config, verbatim (Futurex guide): every seal value a string.
const SEED_004: &str = r#"# Provide your Futurex HSM connection information
seal "pkcs11" {
  lib = "/usr/local/bin/fxpkcs11/x64/openssl-1.1.x/libfxpkcs11.so"
  slot = "0"
  key_label = "hsm_demo"
  hmac_key_label = "hsm_hmac_demo"
  generate_key = "true"
}

# Add the entropy stanza
entropy "seal" {
  mode = "augmentation"
}

# Configure the storage backend for Vault
storage "file" {
  path = "/tmp/vault"
}

# Addresses and ports on which Vault will respond to requests
listener "tcp" {
  address = "0.0.0.0:8200"
  tls_disable = "true"
}

ui = true
disable_mlock = true
"#;

#[test]
fn example_config_parses_and_documents_a_pkcs11_setup() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/example.hcl");
    let config = ok(load_with_env(&[path], &env(&[("VAULT_HSM_PIN", "1234")])));
    let seal = pkcs11(&config);
    assert_eq!(seal.lib, PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
    assert_eq!(seal.token_label.as_deref(), Some("coffer"));
    assert_eq!(seal.slot, None);
    assert_eq!(seal.key_label, "coffer-root-key");
    assert_eq!(seal.mechanism, Some(0x1087));
    assert!(seal.generate_key);
    assert_eq!(seal.pin.expose(), "1234");
    assert_eq!(
        config.entropy,
        Some(EntropyConfig {
            mode: EntropyMode::Augmentation
        }),
        "the example enables entropy augmentation"
    );
    assert_eq!(
        config.storage,
        StorageConfig::File {
            path: "/var/lib/coffer/data".into()
        }
    );
    assert_eq!(config.listeners.len(), 1);
    assert_eq!(config.listeners[0].address, "0.0.0.0:8200");
    assert!(config.listeners[0].tls_disable);
    assert!(!config.ui && config.disable_mlock);
    assert_eq!(config.log_level, LogLevel::Info);
    assert_eq!(config.max_lease_ttl, Duration::from_secs(768 * 3600));
}

#[test]
fn seed_004_vault_config_with_string_values_is_accepted() {
    let config = ok(parse_hcl(SEED_004, &[("VAULT_HSM_PIN", "safest")]));
    let seal = pkcs11(&config);
    assert_eq!(seal.slot, Some(0));
    assert_eq!(seal.hmac_key_label.as_deref(), Some("hsm_hmac_demo"));
    assert!(seal.generate_key);
    assert_eq!(seal.max_parallel, 1);
    assert_eq!(seal.rsa_oaep_hash, OaepHash::Sha256);
    assert!(config.entropy.is_some());
    assert_eq!(
        config.storage,
        StorageConfig::File {
            path: "/tmp/vault".into()
        }
    );
}

#[test]
fn quoted_and_bare_scalars_give_the_same_config() {
    let quoted = "seal \"pkcs11\" {\n  lib = \"/x.so\"\n  slot = \"0x10\"\n  key_label = \"k\"\n  generate_key = \"true\"\n  max_parallel = \"4\"\n  mechanism = \"4231\"\n}\n";
    let bare = "seal \"pkcs11\" {\n  lib = \"/x.so\"\n  slot = 16\n  key_label = \"k\"\n  generate_key = true\n  max_parallel = 4\n  mechanism = 4231\n}\n";
    let vars = [("VAULT_HSM_PIN", "p")];
    let a = ok(parse_hcl(&format!("{quoted}{PLAIN_LISTENER}"), &vars));
    let b = ok(parse_hcl(&format!("{bare}{PLAIN_LISTENER}"), &vars));
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_eq!(pkcs11(&a).slot, Some(16));
    assert_eq!(pkcs11(&a).mechanism, Some(0x1087));
}

#[test]
fn environment_overrides_win_over_the_file() {
    let config = ok(parse_hcl(
        SEED_004,
        &[
            ("VAULT_HSM_PIN", "p"),
            ("VAULT_HSM_SLOT", "0x2000000000000001"),
            ("VAULT_HSM_KEY_LABEL", "from-env"),
            ("VAULT_HSM_GENERATE_KEY", "false"),
            ("VAULT_HSM_MECHANISM", "0x0009"),
            ("VAULT_HSM_RSA_OAEP_HASH", "sha1"),
            ("VAULT_HSM_MAX_PARALLEL", "8"),
            ("VAULT_HSM_KEY_ID", "0x3333"),
            ("VAULT_API_ADDR", "https://coffer.example:8200"),
        ],
    ));
    let seal = pkcs11(&config);
    assert_eq!(seal.slot, Some(0x2000_0000_0000_0001));
    assert_eq!(seal.key_label, "from-env");
    assert!(!seal.generate_key);
    assert_eq!(seal.mechanism, Some(9));
    assert_eq!(seal.rsa_oaep_hash, OaepHash::Sha1);
    assert_eq!(seal.max_parallel, 8);
    assert_eq!(seal.key_id.as_deref(), Some(&[0x33, 0x33][..]));
    assert_eq!(
        seal.hmac_key_label.as_deref(),
        Some("hsm_hmac_demo"),
        "untouched by env"
    );
    assert_eq!(
        config.api_addr.as_deref(),
        Some("https://coffer.example:8200")
    );
}

#[test]
fn pin_may_come_only_from_the_environment() {
    assert!(!SEED_004.contains("pin"));
    let config = ok(parse_hcl(SEED_004, &[("VAULT_HSM_PIN", "safest")]));
    assert_eq!(pkcs11(&config).pin.expose(), "safest");
}

#[test]
fn missing_pin_is_an_error_that_points_to_vault_hsm_pin() {
    let e = err(parse_hcl(SEED_004, &[]));
    assert_eq!(
        e,
        "config.hcl:2: seal \"pkcs11\": missing required field \"pin\" \
         (set VAULT_HSM_PIN (recommended) or pin)"
    );
}

#[test]
fn debug_of_the_config_never_shows_the_pin() {
    let from_file = SEED_004.replace("slot = \"0\"", "slot = \"0\"\n  pin = \"file-pin-4711\"");
    let config = ok(parse_hcl(&from_file, &[]));
    assert_eq!(pkcs11(&config).pin.expose(), "file-pin-4711");
    let shown = format!("{config:?} {config:#?}");
    assert!(!shown.contains("file-pin-4711"));
    assert!(shown.contains("[redacted]"));

    let config = ok(parse_hcl(SEED_004, &[("VAULT_HSM_PIN", "env-pin-0815")]));
    assert!(!format!("{config:?}").contains("env-pin-0815"));
}

#[test]
fn vault_seal_type_with_hsm_lib_activates_pkcs11_without_a_stanza() {
    let config = ok(parse_hcl(
        PLAIN_LISTENER,
        &[
            ("VAULT_SEAL_TYPE", "pkcs11"),
            ("VAULT_HSM_LIB", "/usr/lib/softhsm/libsofthsm2.so"),
            ("VAULT_HSM_TOKEN_LABEL", "coffer"),
            ("VAULT_HSM_KEY_LABEL", "root"),
            ("VAULT_HSM_PIN", "1234"),
        ],
    ));
    let seal = pkcs11(&config);
    assert_eq!(seal.token_label.as_deref(), Some("coffer"));
    assert_eq!(config.seals.len(), 1);

    let e = err(parse_hcl(
        PLAIN_LISTENER,
        &[("VAULT_SEAL_TYPE", "pkcs11"), ("VAULT_HSM_LIB", "/x.so")],
    ));
    assert_eq!(
        e,
        "seal \"pkcs11\" (from VAULT_SEAL_TYPE): missing required field \"token_label\" \
         (or slot; or set VAULT_HSM_TOKEN_LABEL / VAULT_HSM_SLOT)"
    );
}

#[test]
fn hsm_variables_without_a_pkcs11_seal_change_nothing() {
    let config = ok(parse_hcl(
        PLAIN_LISTENER,
        &[("VAULT_HSM_LIB", "/x.so"), ("VAULT_HSM_PIN", "1")],
    ));
    assert!(config.seals.is_empty());
}

#[test]
fn bad_environment_value_names_the_variable() {
    let e = err(parse_hcl(
        SEED_004,
        &[("VAULT_HSM_PIN", "p"), ("VAULT_HSM_SLOT", "zero")],
    ));
    assert_eq!(
        e,
        "environment variable VAULT_HSM_SLOT: \"zero\" is not a number (expected decimal or 0x-hex)"
    );
}

#[test]
fn unknown_field_in_a_listener_names_file_line_and_field() {
    let text = "ui = true\n\nlistener \"tcp\" {\n  adress = \"0.0.0.0:8200\"\n}\n";
    let e = err(parse_hcl(text, &[]));
    assert!(
        e.starts_with(
            "config.hcl:4: listener \"tcp\": unknown field \"adress\" (expected one of: address,"
        ),
        "{e}"
    );
}

#[test]
fn bad_mechanism_names_file_line_and_field() {
    let text = "seal \"pkcs11\" {\n  lib = \"/x.so\"\n  mechanism = \"0xZZ\"\n}\n";
    let e = err(parse_hcl(text, &[]));
    assert_eq!(
        e,
        "config.hcl:3: seal \"pkcs11\": mechanism: \"0xZZ\" is not a number (expected decimal or 0x-hex)"
    );
}

#[test]
fn bad_scalar_values_are_rejected_with_their_line() {
    let cases = [
        (
            "ui = \"maybe\"\n",
            "config.hcl:1: ui: \"maybe\" is not a boolean (expected true or false)",
        ),
        (
            "log_level = \"loud\"\n",
            "config.hcl:1: log_level: \"loud\" is not a log level",
        ),
        (
            "max_lease_ttl = \"soon\"\n",
            "config.hcl:1: max_lease_ttl: \"soon\" is not a duration",
        ),
        (
            "\nui = [true]\n",
            "config.hcl:2: ui: expected true or false, got a list",
        ),
    ];
    for (text, expected) in cases {
        let e = err(parse_hcl(&format!("{text}{PLAIN_LISTENER}"), &[]));
        assert!(e.starts_with(expected), "{e}");
    }
}

#[test]
fn unknown_top_level_key_and_stanza_are_rejected() {
    let e = err(parse_hcl(
        &format!("{PLAIN_LISTENER}plugin_directory = \"/p\"\n"),
        &[],
    ));
    assert!(
        e.starts_with("config.hcl:5: unknown field \"plugin_directory\""),
        "{e}"
    );

    let e = err(parse_hcl(
        &format!("{PLAIN_LISTENER}telemetry {{\n}}\n"),
        &[],
    ));
    assert!(
        e.starts_with("config.hcl:5: unknown stanza \"telemetry\""),
        "{e}"
    );

    let e = err(parse_hcl("storage \"consul\" {\n}\n", &[]));
    assert!(
        e.starts_with("config.hcl:1: storage \"consul\": unknown storage type"),
        "{e}"
    );

    let e = err(parse_hcl("seal \"awskms\" {\n}\n", &[]));
    assert!(
        e.starts_with("config.hcl:1: seal \"awskms\": unsupported seal type"),
        "{e}"
    );
}

#[test]
fn one_line_block_with_several_attributes_gives_a_readable_error() {
    // Seed 002 (Fortanix guide) writes the whole seal stanza on one line.
    let text = "seal \"pkcs11\" { lib = \"/opt/fortanix/pkcs11/fortanix_pkcs11.so\" slot = \"0\" pin = \"<<FORTANIX_API_KEY>>\" key_label = \"k\" }\n";
    let e = err(parse_hcl(text, &[]));
    assert!(e.starts_with("config.hcl:1:"), "{e}");
    assert!(
        e.contains("put each attribute of a block on its own line"),
        "{e}"
    );
    assert!(
        !e.contains("FORTANIX_API_KEY"),
        "the source line (with the PIN) must not be echoed: {e}"
    );
}

#[test]
fn syntax_error_carries_line_and_column() {
    let e = err(parse_hcl(
        "ui = true\nlistener \"tcp\" {\n  address = \n}\n",
        &[],
    ));
    assert!(e.starts_with("config.hcl:3:13: syntax error:"), "{e}");
}

#[test]
fn nesting_past_the_bound_is_a_syntax_error_with_its_position() {
    let text = format!("ui = true\nlog_level = {}1\n", "(".repeat(11));
    let e = err(parse_hcl(&text, &[]));
    assert!(e.starts_with("config.hcl:2:23: syntax error:"), "{e}");
    assert!(e.contains("nested more than 10 levels"), "{e}");
}

#[test]
fn interpolation_is_not_evaluated_but_rejected() {
    let e = err(parse_hcl("cluster_name = \"${env}\"\n", &[]));
    assert!(
        e.starts_with("config.hcl:1: cluster_name: expected a string, got an interpolated string"),
        "{e}"
    );
}

#[test]
fn missing_storage_means_embedded_in_the_working_directory() {
    let config = ok(parse_hcl(PLAIN_LISTENER, &[]));
    assert_eq!(
        config.storage,
        StorageConfig::Embedded {
            path: "coffer-data/coffer.redb".into()
        }
    );
    let config = ok(parse_hcl(
        &format!("storage \"embedded\" {{\n}}\n{PLAIN_LISTENER}"),
        &[],
    ));
    assert_eq!(
        config.storage,
        StorageConfig::Embedded {
            path: DEFAULT_EMBEDDED_PATH.into()
        }
    );
    let config = ok(parse_hcl(
        &format!("storage \"inmem\" {{\n}}\n{PLAIN_LISTENER}"),
        &[],
    ));
    assert_eq!(config.storage, StorageConfig::Inmem);
}

#[test]
fn file_storage_without_path_is_rejected() {
    let e = err(parse_hcl("storage \"file\" {\n}\n", &[]));
    assert_eq!(
        e,
        "config.hcl:1: storage \"file\": missing required field \"path\""
    );
}

#[test]
fn listener_defaults_follow_vault() {
    let config = ok(parse_hcl(
        "listener \"tcp\" {\n  tls_disable = \"true\"\n}\n",
        &[],
    ));
    let l = &config.listeners[0];
    assert_eq!(l.address, DEFAULT_ADDRESS);
    assert_eq!(l.max_request_size, 33_554_432);
    assert_eq!(l.max_concurrent_requests, 1024, "Coffer's own bound");
    assert_eq!(l.tls_min_version, TlsMinVersion::Tls12);
    assert_eq!(config.log_level, LogLevel::Info);
    assert_eq!(config.default_lease_ttl, DEFAULT_LEASE_TTL);
    assert!(config.seals.is_empty() && config.enabled_seal().is_none());
}

#[test]
fn several_listeners_are_kept_in_order() {
    let text = "listener \"tcp\" {\n  address = \"127.0.0.1:8200\"\n  tls_disable = true\n}\n\
                listener \"tcp\" {\n  address = \"[::1]:8300\"\n  tls_cert_file = \"/c.pem\"\n  tls_key_file = \"/k.pem\"\n  tls_min_version = \"tls13\"\n}\n";
    let config = ok(parse_hcl(text, &[]));
    assert_eq!(config.listeners.len(), 2);
    assert_eq!(config.listeners[1].address, "[::1]:8300");
    assert_eq!(config.listeners[1].tls_min_version, TlsMinVersion::Tls13);
    assert_eq!(
        config.listeners[1].tls_cert_file,
        Some(PathBuf::from("/c.pem"))
    );
}

#[test]
fn tls_listener_without_certificate_names_its_address() {
    let e = err(parse_hcl(
        "\nlistener \"tcp\" {\n  address = \"0.0.0.0:8443\"\n  tls_cert_file = \"/c.pem\"\n}\n",
        &[],
    ));
    assert!(
        e.starts_with("config.hcl:2: listener \"tcp\" on 0.0.0.0:8443: TLS is enabled but tls_key_file not set"),
        "{e}"
    );
}

#[test]
fn listener_address_without_port_is_rejected() {
    let e = err(parse_hcl(
        "listener \"tcp\" {\n  address = \"localhost\"\n  tls_disable = 1\n}\n",
        &[],
    ));
    assert!(
        e.starts_with("config.hcl:2: listener \"tcp\": address: \"localhost\" is not HOST:PORT"),
        "{e}"
    );
}

#[test]
fn config_without_listener_is_rejected() {
    let e = err(parse_hcl("ui = true\n", &[]));
    assert!(e.starts_with("no listener configured"), "{e}");
}

#[test]
fn two_enabled_seals_are_rejected_but_a_migration_pair_is_accepted() {
    let shamir = "seal \"shamir\" {\n}\n";
    let e = err(parse_hcl(
        &format!("{SEED_004}{shamir}"),
        &[("VAULT_HSM_PIN", "p")],
    ));
    assert!(
        e.starts_with("config.hcl:28: two enabled seals (\"pkcs11\" and \"shamir\")"),
        "{e}"
    );

    // Migrating from Shamir to the HSM: the old Shamir seal is disabled.
    let old = "seal \"shamir\" {\n  disabled = \"true\"\n}\n";
    let config = ok(parse_hcl(
        &format!("{SEED_004}{old}"),
        &[("VAULT_HSM_PIN", "p")],
    ));
    assert_eq!(config.seals.len(), 2);
    assert_eq!(config.enabled_seal().map(SealConfig::kind), Some("pkcs11"));
    assert_eq!(
        config.migration_source().map(SealConfig::kind),
        Some("shamir")
    );
}

#[test]
fn migration_away_from_pkcs11_takes_the_pin_from_env() {
    let text = "seal \"pkcs11\" {\n  lib = \"/x.so\"\n  token_label = \"t\"\n  key_label = \"k\"\n  disabled = \"true\"\n}\n";
    let config = ok(parse_hcl(
        &format!("{text}{PLAIN_LISTENER}"),
        &[("VAULT_HSM_PIN", "p")],
    ));
    assert!(config.enabled_seal().is_none());
    match config.migration_source() {
        Some(SealConfig::Pkcs11(p)) => assert_eq!(p.pin.expose(), "p"),
        other => panic!("expected the disabled pkcs11 seal, got {other:?}"),
    }
}

#[test]
fn entropy_augmentation_needs_an_hsm_seal() {
    let entropy = "entropy \"seal\" {\n  mode = \"augmentation\"\n}\n";
    let expected = "config.hcl:1: entropy \"seal\" needs a seal that supplies randomness (pkcs11); \
                    the shamir seal has none";
    assert_eq!(
        err(parse_hcl(&format!("{entropy}{PLAIN_LISTENER}"), &[])),
        expected
    );

    let e = err(parse_hcl(
        "entropy \"seal\" {\n  mode = \"mixing\"\n}\n",
        &[],
    ));
    assert!(
        e.starts_with("config.hcl:2: entropy \"seal\": mode: \"mixing\" is not supported"),
        "{e}"
    );
    let e = err(parse_hcl("entropy \"seal\" {\n}\n", &[]));
    assert!(
        e.starts_with("config.hcl:1: entropy \"seal\": missing required field \"mode\""),
        "{e}"
    );
}

#[test]
fn pkcs11_seal_requires_lib_token_and_key_label() {
    let e = err(parse_hcl("seal \"pkcs11\" {\n  slot = 0\n}\n", &[]));
    assert!(
        e.starts_with("config.hcl:1: seal \"pkcs11\": missing required field \"lib\""),
        "{e}"
    );
    let e = err(parse_hcl(
        "seal \"pkcs11\" {\n  lib = \"/x.so\"\n  slot = 0\n}\n",
        &[],
    ));
    assert!(e.contains("missing required field \"key_label\""), "{e}");
}

#[test]
fn default_lease_ttl_longer_than_max_is_rejected() {
    let text = format!("{PLAIN_LISTENER}default_lease_ttl = \"1h30m\"\nmax_lease_ttl = 3600\n");
    let e = err(parse_hcl(&text, &[]));
    assert_eq!(
        e,
        "config.hcl:5: default_lease_ttl (1h 30m) is longer than max_lease_ttl (1h)"
    );
}

#[test]
fn json_config_reads_like_hcl() {
    let text = r#"{
  "seal": {"pkcs11": {"lib": "/x.so", "slot": 0, "key_label": "k", "generate_key": true}},
  "listener": [{"tcp": {"address": "127.0.0.1:8200", "tls_disable": "true"}}],
  "ui": true,
  "log_level": "err"
}"#;
    let config = ok(parse(
        Path::new("config.json"),
        text,
        &env(&[("VAULT_HSM_PIN", "p")]),
    ));
    assert_eq!(pkcs11(&config).slot, Some(0));
    assert!(pkcs11(&config).generate_key);
    assert!(config.ui);
    assert_eq!(config.log_level, LogLevel::Error);

    let bad = text.replace("\"tls_disable\"", "\"tls_disabel\"");
    let e = err(parse(
        Path::new("config.json"),
        &bad,
        &env(&[("VAULT_HSM_PIN", "p")]),
    ));
    assert!(
        e.starts_with("config.json:3: listener \"tcp\": unknown field \"tls_disabel\""),
        "{e}"
    );
}

#[test]
fn directory_loads_hcl_and_json_files_in_name_order() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    fs::write(dir.path().join("10-listener.hcl"), PLAIN_LISTENER)?;
    fs::write(
        dir.path().join("20-options.json"),
        r#"{"log_level": "debug", "ui": true}"#,
    )?;
    fs::write(dir.path().join("30-override.hcl"), "log_level = \"warn\"\n")?;
    fs::write(dir.path().join("notes.txt"), "not a config")?;
    let files = config_files(&[dir.path().to_path_buf()])?;
    let names: Vec<_> = files
        .iter()
        .filter_map(|f| f.file_name()?.to_str())
        .collect();
    assert_eq!(
        names,
        ["10-listener.hcl", "20-options.json", "30-override.hcl"]
    );

    let config = load_with_env(&[dir.path().to_path_buf()], &Env::empty())?;
    assert_eq!(config.log_level, LogLevel::Warn, "the later file wins");
    assert!(config.ui, "set by an earlier file, kept");
    Ok(())
}

#[test]
fn listeners_from_several_files_combine() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let a = dir.path().join("a.hcl");
    let b = dir.path().join("b.hcl");
    fs::write(&a, PLAIN_LISTENER)?;
    fs::write(&b, PLAIN_LISTENER.replace("8200", "8300"))?;
    let config = load_with_env(&[a, b], &Env::empty())?;
    assert_eq!(config.listeners.len(), 2);
    Ok(())
}

#[test]
fn two_storage_stanzas_across_files_are_rejected() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let a = dir.path().join("a.hcl");
    let b = dir.path().join("b.hcl");
    fs::write(&a, format!("storage \"inmem\" {{\n}}\n{PLAIN_LISTENER}"))?;
    fs::write(&b, "\nstorage \"file\" {\n  path = \"/d\"\n}\n")?;
    let e = load_with_env(&[a.clone(), b.clone()], &Env::empty())
        .err()
        .map(|e| e.to_string());
    let expected = format!(
        "{}:2: second storage stanza (the first is at {}:1); configure one storage backend",
        b.display(),
        a.display()
    );
    assert_eq!(e.as_deref(), Some(expected.as_str()));
    Ok(())
}

#[test]
fn empty_directory_and_missing_file_are_reported() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let e = load_with_env(&[dir.path().to_path_buf()], &Env::empty())
        .err()
        .map(|e| e.to_string());
    assert!(e.is_some_and(|e| e.ends_with("directory holds no *.hcl or *.json config file")));
    let missing = dir.path().join("nope.hcl");
    let e = load_with_env(&[missing], &Env::empty())
        .err()
        .map(|e| e.to_string());
    assert!(e.is_some_and(|e| e.contains("nope.hcl: cannot read config")));
    assert!(matches!(
        load_with_env(&[], &Env::empty()),
        Err(ConfigError::NoFiles { dir: None })
    ));
    Ok(())
}

#[test]
fn errors_expose_their_location() {
    let result = parse_hcl(
        "ui = true\nseal \"pkcs11\" {\n  mechanism = \"x\"\n}\n",
        &[],
    );
    let location = result.err().and_then(|e| e.location());
    assert_eq!(
        location,
        Some(Location {
            file: "config.hcl".into(),
            line: 3
        })
    );
}

#[test]
fn dev_config_is_inmem_plain_http_with_the_ui() {
    let config = Config::dev();
    assert_eq!(config.storage, StorageConfig::Inmem);
    assert!(config.listeners[0].tls_disable);
    assert!(config.ui, "as Vault's dev server");
}
