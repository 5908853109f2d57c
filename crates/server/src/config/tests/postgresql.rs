//! `storage "postgresql"` as an operator writes it (Vault's fields and defaults),
//! with the connection string from the file or from `VAULT_PG_CONNECTION_URL`.

use super::{PLAIN_LISTENER, err, ok, parse_hcl};
use crate::config::StorageConfig;
use coffer_storage_postgresql::ConnectionUrl;

const URL: &str = "postgres://vault:file-secret@db.example:5432/vault?sslmode=verify-full";

fn stanza(body: &str) -> String {
    format!("storage \"postgresql\" {{\n{body}}}\n{PLAIN_LISTENER}")
}

#[test]
fn only_a_connection_url_gives_vaults_defaults() {
    let config = ok(parse_hcl(
        &stanza(&format!("  connection_url = \"{URL}\"\n")),
        &[],
    ));
    assert_eq!(
        config.storage,
        StorageConfig::Postgresql {
            connection_url: ConnectionUrl::new(URL),
            table: "vault_kv_store".to_owned(),
            max_parallel: 128,
            ha_enabled: false,
            ha_table: "vault_ha_locks".to_owned(),
            max_connect_retries: 1,
            ha_lock_ttl: std::time::Duration::from_secs(15),
        }
    );
}

#[test]
fn the_ha_lock_ttl_is_coffers_own_setting_within_bounds() {
    let config = ok(parse_hcl(
        &stanza(&format!(
            "  connection_url = \"{URL}\"\n  ha_enabled = \"true\"\n  ha_lock_ttl = \"5s\"\n"
        )),
        &[],
    ));
    assert_eq!(
        config.storage.ha_lock_ttl(),
        Some(std::time::Duration::from_secs(5))
    );
    for bad in ["\"1s\"", "\"5m\"", "\"soon\""] {
        let e = err(parse_hcl(
            &stanza(&format!(
                "  connection_url = \"{URL}\"\n  ha_lock_ttl = {bad}\n"
            )),
            &[],
        ));
        assert!(e.contains("ha_lock_ttl"), "{bad}: {e}");
    }
}

#[test]
fn every_field_is_read_quoted_or_bare() {
    let quoted = stanza(&format!(
        "  connection_url = \"{URL}\"\n  table = \"Coffer_KV\"\n  max_parallel = \"16\"\n  \
         ha_enabled = \"false\"\n  ha_table = \"coffer_locks\"\n  max_connect_retries = \"5\"\n"
    ));
    let bare = quoted
        .replace("\"16\"", "16")
        .replace("\"false\"", "false")
        .replace("\"5\"", "5");
    let a = ok(parse_hcl(&quoted, &[]));
    assert_eq!(a.storage, ok(parse_hcl(&bare, &[])).storage);
    let StorageConfig::Postgresql {
        table,
        max_parallel,
        ha_table,
        max_connect_retries,
        ..
    } = a.storage
    else {
        panic!("not postgresql: {:?}", a.storage);
    };
    assert_eq!(
        (
            table.as_str(),
            max_parallel,
            ha_table.as_str(),
            max_connect_retries
        ),
        ("Coffer_KV", 16, "coffer_locks", 5)
    );
    for (text, want) in [("\"true\"", true), ("true", true), ("\"false\"", false)] {
        let config = ok(parse_hcl(
            &stanza(&format!(
                "  connection_url = \"{URL}\"\n  ha_enabled = {text}\n"
            )),
            &[],
        ));
        assert!(
            matches!(config.storage, StorageConfig::Postgresql { ha_enabled, .. } if ha_enabled == want),
            "ha_enabled = {text}"
        );
    }
}

#[test]
fn connection_url_may_come_from_vault_pg_connection_url_which_wins() {
    let env_url = "postgres://vault:env-secret@10.0.0.5/vault";
    let vars = [("VAULT_PG_CONNECTION_URL", env_url)];
    let from_env = ok(parse_hcl(&stanza("  table = \"kv\"\n"), &vars));
    assert!(matches!(
        &from_env.storage,
        StorageConfig::Postgresql { connection_url, table, .. }
            if connection_url.expose() == env_url && table == "kv"
    ));
    // As in Vault, the environment wins over the file.
    let both = ok(parse_hcl(
        &stanza(&format!("  connection_url = \"{URL}\"\n")),
        &vars,
    ));
    assert!(matches!(
        &both.storage,
        StorageConfig::Postgresql { connection_url, .. } if connection_url.expose() == env_url
    ));
    // Other storage types ignore it.
    let config = ok(parse_hcl(
        &format!("storage \"inmem\" {{\n}}\n{PLAIN_LISTENER}"),
        &vars,
    ));
    assert_eq!(config.storage, StorageConfig::Inmem);
}

#[test]
fn missing_connection_url_points_to_the_variable() {
    let e = err(parse_hcl(&stanza("  table = \"kv\"\n"), &[]));
    assert_eq!(
        e,
        "config.hcl:1: storage \"postgresql\": missing required field \"connection_url\" \
         (or set VAULT_PG_CONNECTION_URL)"
    );
}

#[test]
fn bad_values_are_rejected_at_their_line() {
    let e = err(parse_hcl(
        &stanza(&format!(
            "  connection_url = \"{URL}\"\n  table = \"kv; DROP TABLE x\"\n"
        )),
        &[],
    ));
    assert!(
        e.starts_with("config.hcl:3: storage \"postgresql\": table: table name"),
        "{e}"
    );
    let e = err(parse_hcl(
        &stanza(&format!(
            "  connection_url = \"{URL}\"\n  ha_table = \"a.b\"\n"
        )),
        &[],
    ));
    assert!(
        e.starts_with("config.hcl:3: storage \"postgresql\": ha_table:"),
        "{e}"
    );
    let e = err(parse_hcl(
        &stanza(&format!(
            "  connection_url = \"{URL}\"\n  max_parallel = 0\n"
        )),
        &[],
    ));
    assert_eq!(
        e,
        "config.hcl:3: storage \"postgresql\": max_parallel: must be at least 1"
    );
    let e = err(parse_hcl(
        &stanza(&format!(
            "  connection_url = \"{URL}\"\n  ha_enabled = \"maybe\"\n"
        )),
        &[],
    ));
    assert!(
        e.starts_with("config.hcl:3: storage \"postgresql\": ha_enabled:"),
        "{e}"
    );
}

#[test]
fn unknown_fields_are_rejected_with_the_accepted_names() {
    let e = err(parse_hcl(
        &stanza(&format!("  conection_url = \"{URL}\"\n")),
        &[],
    ));
    assert!(
        e.starts_with("config.hcl:2: storage \"postgresql\": unknown field \"conection_url\""),
        "{e}"
    );
    assert!(e.contains("connection_url, table, max_parallel"), "{e}");
    assert!(!e.contains("file-secret"), "{e}");
}

#[test]
fn debug_of_the_config_never_shows_the_connection_url() {
    let config = ok(parse_hcl(
        &stanza(&format!("  connection_url = \"{URL}\"\n")),
        &[],
    ));
    let shown = format!("{config:?} {config:#?}");
    assert!(!shown.contains("file-secret"), "{shown}");
    assert!(shown.contains("[redacted]"));
    let config = ok(parse_hcl(
        &stanza(""),
        &[("VAULT_PG_CONNECTION_URL", "postgres://u:env-secret@h/db")],
    ));
    assert!(!format!("{config:?}").contains("env-secret"));
}

#[test]
fn the_commented_stanza_in_example_hcl_parses_once_uncommented() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/example.hcl");
    let text = std::fs::read_to_string(path).expect("example.hcl");
    let stanza: String = text
        .lines()
        .skip_while(|l| *l != "# storage \"postgresql\" {")
        .take_while(|l| *l != "# }")
        .chain(["# }"])
        .map(|l| {
            format!(
                "{}\n",
                l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#'))
            )
        })
        .collect();
    assert!(stanza.starts_with("storage \"postgresql\""), "{stanza}");
    let config = ok(parse_hcl(&format!("{stanza}{PLAIN_LISTENER}"), &[]));
    let StorageConfig::Postgresql {
        connection_url,
        table,
        max_parallel,
        ha_enabled,
        ha_table,
        max_connect_retries,
        ..
    } = config.storage
    else {
        panic!("not postgresql");
    };
    assert!(connection_url.expose().contains("sslmode=verify-full"));
    assert_eq!(
        (table.as_str(), max_parallel, ha_enabled, ha_table.as_str()),
        ("vault_kv_store", 128, false, "vault_ha_locks")
    );
    assert_eq!(max_connect_retries, 1);
}
