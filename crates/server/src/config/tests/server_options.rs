//! Server options outside the storage and seal stanzas, and what
//! `sys/config/state/sanitized` shows of a config.

use super::{err, ok, parse_hcl};

#[test]
fn raw_storage_endpoint_is_off_unless_the_config_turns_it_on() {
    let listener = "listener \"tcp\" {\n  address = \"127.0.0.1:8200\"\n  tls_disable = true\n}\n";
    assert!(!ok(parse_hcl(listener, &[])).raw_storage_endpoint);
    let on = format!("{listener}raw_storage_endpoint = \"true\"\n");
    assert!(ok(parse_hcl(&on, &[])).raw_storage_endpoint);
    let wrong = format!("{listener}raw_storage_endpoint = \"maybe\"\n");
    assert!(err(parse_hcl(&wrong, &[])).contains("raw_storage_endpoint"));
}

#[test]
fn the_sanitized_config_keeps_types_and_drops_every_secret() {
    let hcl = "seal \"pkcs11\" {\n  lib = \"/usr/lib/softhsm/libsofthsm2.so\"\n  slot = 0\n  \
               pin = \"hsm-pin-4711\"\n  key_label = \"k\"\n}\n\
               storage \"postgresql\" {\n  connection_url = \"postgres://u:db-pass-4711@db:5432/v\"\n  \
               ha_enabled = true\n}\n\
               listener \"tcp\" {\n  address = \"127.0.0.1:8200\"\n  tls_disable = true\n}\n\
               api_addr = \"http://127.0.0.1:8200\"\n";
    let config = ok(parse_hcl(hcl, &[]));
    let shown = config.sanitized();
    let text = shown.to_string();
    assert!(
        !text.contains("hsm-pin-4711") && !text.contains("db-pass-4711"),
        "{text}"
    );
    assert_eq!(shown["storage"]["type"], "postgresql");
    assert_eq!(shown["storage"]["ha_enabled"], true);
    assert_eq!(shown["seals"][0]["type"], "pkcs11");
    assert_eq!(shown["listeners"][0]["config"]["address"], "127.0.0.1:8200");
    assert_eq!(shown["api_addr"], "http://127.0.0.1:8200");
}

#[test]
fn a_listener_may_name_the_cluster_listeners_bind_address() {
    let hcl = "listener \"tcp\" {\n  address = \"0.0.0.0:8200\"\n  tls_disable = true\n  \
               cluster_address = \"0.0.0.0:8201\"\n}\n";
    let config = ok(parse_hcl(hcl, &[]));
    assert_eq!(
        config.listeners[0].cluster_address.as_deref(),
        Some("0.0.0.0:8201")
    );
    let bad = "listener \"tcp\" {\n  tls_disable = true\n  cluster_address = \"nohost\"\n}\n";
    assert!(err(parse_hcl(bad, &[])).contains("cluster_address"));
}
