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

fn xff_listener(fields: &str) -> String {
    format!("listener \"tcp\" {{\n  address = \"0.0.0.0:8200\"\n  tls_disable = true\n{fields}}}\n")
}

#[test]
fn x_forwarded_for_takes_a_list_or_a_comma_separated_string_and_defaults_to_rejecting() {
    let listed = ok(parse_hcl(
        &xff_listener("  x_forwarded_for_authorized_addrs = [\"10.0.0.0/8\", \"192.0.2.7\"]\n"),
        &[],
    ));
    let xff = listed.listeners[0].x_forwarded_for.clone().expect("on");
    let blocks: Vec<String> = xff
        .authorized_addrs
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(blocks, ["10.0.0.0/8", "192.0.2.7/32"]);
    assert_eq!(xff.hop_skips, 0);
    assert!(xff.reject_not_authorized && xff.reject_not_present);
    let text = ok(parse_hcl(
        &xff_listener(
            "  x_forwarded_for_authorized_addrs = \"10.0.0.0/8, 192.0.2.7\"\n  \
             x_forwarded_for_hop_skips = \"1\"\n  \
             x_forwarded_for_reject_not_authorized = \"false\"\n  \
             x_forwarded_for_reject_not_present = false\n",
        ),
        &[],
    ));
    let xff2 = text.listeners[0].x_forwarded_for.clone().expect("on");
    assert_eq!(xff2.authorized_addrs, xff.authorized_addrs);
    assert_eq!(xff2.hop_skips, 1);
    assert!(!xff2.reject_not_authorized && !xff2.reject_not_present);
    assert_eq!(
        text.sanitized()["listeners"][0]["config"]["x_forwarded_for_authorized_addrs"],
        serde_json::json!(["10.0.0.0/8", "192.0.2.7/32"])
    );
    assert!(
        ok(parse_hcl(&xff_listener(""), &[])).listeners[0]
            .x_forwarded_for
            .is_none()
    );
}

#[test]
fn x_forwarded_for_settings_that_would_be_ignored_or_cannot_be_read_are_refused() {
    for (fields, needle) in [
        (
            "  x_forwarded_for_hop_skips = 1\n",
            "need x_forwarded_for_authorized_addrs",
        ),
        (
            "  x_forwarded_for_authorized_addrs = \"\"\n",
            "the list is empty",
        ),
        (
            "  x_forwarded_for_authorized_addrs = \"10.0.0.0/33\"\n",
            "\"10.0.0.0/33\" is not an IP address or CIDR block",
        ),
        (
            "  x_forwarded_for_authorized_addrs = \"10.0.0.1\"\n  x_forwarded_for_hop_skips = -1\n",
            "x_forwarded_for_hop_skips",
        ),
    ] {
        let e = err(parse_hcl(&xff_listener(fields), &[]));
        assert!(e.contains(needle), "{fields}: {e}");
    }
}
