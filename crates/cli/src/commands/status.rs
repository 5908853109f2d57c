//! `coffer status`: the seal-status table vault operators know, plus HA information.

use anyhow::Context as _;
use anyhow::anyhow;
use coffer_client::{Client, LeaderStatus, SealStatus};
use serde_json::Value;

use super::{EXIT_OK, EXIT_SEALED_OR_MISSING};
use crate::cli::GlobalArgs;
use crate::context;
use crate::format::{Format, print_data};
use crate::table::Table;

/// Prints the status; exit 0 when unsealed, 2 when sealed.
pub(crate) async fn run(global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    let status = client
        .seal_status()
        .await
        .context("Error checking seal status")?;
    let leader = leader(&client, &status).await?;
    print_status(&status, &leader, global.format)?;
    Ok(if status.sealed {
        EXIT_SEALED_OR_MISSING
    } else {
        EXIT_OK
    })
}

/// `sys/leader`, tolerating servers that refuse it while sealed or do not have it.
pub(crate) async fn leader(client: &Client, status: &SealStatus) -> anyhow::Result<LeaderStatus> {
    match client.leader().await {
        Ok(leader) => Ok(leader),
        // A sealed HA node cannot name a leader (vault prints "HA Mode sealed").
        Err(e) if status.sealed && e.status() == Some(503) => Ok(LeaderStatus {
            ha_enabled: true,
            ..LeaderStatus::default()
        }),
        Err(e) if status.sealed || e.status() == Some(404) => Ok(LeaderStatus::default()),
        Err(e) => Err(anyhow!("Error checking leader status: {e}")),
    }
}

/// Prints seal status (used by `status` and `operator unseal`).
pub(crate) fn print_status(
    status: &SealStatus,
    leader: &LeaderStatus,
    format: Format,
) -> anyhow::Result<()> {
    match format {
        f @ (Format::Json | Format::Yaml) => print_data(f, &status_json(status, leader)?),
        Format::Table => {
            println!("{}", status_table(status, leader));
            Ok(())
        }
    }
}

/// The seal-status object with vault's HA fields merged in (`vault status -format=json`).
fn status_json(status: &SealStatus, leader: &LeaderStatus) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(status)?;
    if let Value::Object(map) = &mut value {
        map.insert("ha_enabled".to_owned(), Value::Bool(leader.ha_enabled));
        if leader.ha_enabled {
            map.insert("is_self".to_owned(), Value::Bool(leader.is_self));
            map.insert(
                "active_time".to_owned(),
                Value::from(leader.active_time.clone()),
            );
            map.insert(
                "leader_address".to_owned(),
                Value::from(leader.leader_address.clone()),
            );
            map.insert(
                "leader_cluster_address".to_owned(),
                Value::from(leader.leader_cluster_address.clone()),
            );
        }
    }
    Ok(value)
}

/// The `Key / Value` table of `vault status`.
pub(crate) fn status_table(status: &SealStatus, leader: &LeaderStatus) -> Table {
    let mut table = Table::key_value();
    table.pair("Seal Type", status.seal_type.as_str());
    if status.recovery_seal {
        table.pair(
            "Recovery Seal Type",
            status.recovery_seal_type.as_deref().unwrap_or("shamir"),
        );
    }
    table.pair("Initialized", status.initialized.to_string());
    table.pair("Sealed", status.sealed.to_string());
    let shares_label = if status.recovery_seal {
        "Total Recovery Shares"
    } else {
        "Total Shares"
    };
    table.pair(shares_label, status.shares.to_string());
    table.pair("Threshold", status.threshold.to_string());
    if status.sealed {
        table.pair(
            "Unseal Progress",
            format!("{}/{}", status.progress, status.threshold),
        );
        table.pair("Unseal Nonce", status.nonce.as_str());
    }
    if status.migration {
        table.pair("Seal Migration in Progress", "true");
    }
    table.pair("Version", status.version.as_str());
    table.pair("Build Date", status.build_date.as_str());
    table.pair("Storage Type", status.storage_type.as_str());
    if !status.sealed
        && let (Some(name), Some(id)) = (&status.cluster_name, &status.cluster_id)
    {
        table.pair("Cluster Name", name.as_str());
        table.pair("Cluster ID", id.as_str());
    }
    table.pair("HA Enabled", leader.ha_enabled.to_string());
    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_owned()
        } else {
            s.to_owned()
        }
    };
    if leader.ha_enabled && status.sealed {
        table.pair("HA Mode", "sealed");
    } else if leader.ha_enabled {
        table.pair("HA Cluster", or_none(&leader.leader_cluster_address));
        table.pair("HA Mode", if leader.is_self { "active" } else { "standby" });
        if leader.is_self {
            table.pair("Active Since", leader.active_time.as_str());
        } else {
            table.pair("Active Node Address", or_none(&leader.leader_address));
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(table: &Table) -> Vec<String> {
        table
            .render()
            .lines()
            .skip(2)
            .map(|l| l.split("    ").next().unwrap_or_default().trim().to_owned())
            .collect()
    }

    #[test]
    fn sealed_shamir_status_shows_progress_and_nonce_but_no_cluster() {
        let status = SealStatus {
            seal_type: "shamir".into(),
            initialized: true,
            sealed: true,
            threshold: 3,
            shares: 5,
            progress: 1,
            cluster_name: Some("c".into()),
            cluster_id: Some("id".into()),
            ..SealStatus::default()
        };
        let table = status_table(&status, &LeaderStatus::default());
        assert_eq!(
            keys(&table),
            [
                "Seal Type",
                "Initialized",
                "Sealed",
                "Total Shares",
                "Threshold",
                "Unseal Progress",
                "Unseal Nonce",
                "Version",
                "Build Date",
                "Storage Type",
                "HA Enabled"
            ]
        );
        let rendered = table.render();
        assert!(rendered.contains("Unseal Progress    1/3"), "{rendered}");
        assert!(rendered.contains("Unseal Nonce       n/a"), "{rendered}");
    }

    #[test]
    fn unsealed_auto_seal_status_shows_recovery_rows_and_cluster() {
        let status = SealStatus {
            seal_type: "pkcs11".into(),
            initialized: true,
            sealed: false,
            threshold: 2,
            shares: 3,
            recovery_seal: true,
            recovery_seal_type: Some("shamir".into()),
            version: "0.1.0".into(),
            cluster_name: Some("coffer-cluster-1".into()),
            cluster_id: Some("abcd".into()),
            ..SealStatus::default()
        };
        let table = status_table(&status, &LeaderStatus::default());
        assert_eq!(
            keys(&table),
            [
                "Seal Type",
                "Recovery Seal Type",
                "Initialized",
                "Sealed",
                "Total Recovery Shares",
                "Threshold",
                "Version",
                "Build Date",
                "Storage Type",
                "Cluster Name",
                "Cluster ID",
                "HA Enabled"
            ]
        );
        assert!(table.render().starts_with(
            "Key                      Value\n---                      -----\n\
             Seal Type                pkcs11\nRecovery Seal Type       shamir"
        ));
    }

    #[test]
    fn json_status_includes_ha_enabled() {
        let value = status_json(&SealStatus::default(), &LeaderStatus::default()).expect("json");
        assert_eq!(value["ha_enabled"], Value::Bool(false));
        assert_eq!(value["sealed"], Value::Bool(false));
    }

    #[test]
    fn a_standby_names_the_active_node_and_the_active_says_since_when() {
        let status = SealStatus {
            initialized: true,
            ..SealStatus::default()
        };
        let standby = LeaderStatus {
            ha_enabled: true,
            is_self: false,
            leader_address: "https://node1:8200".into(),
            leader_cluster_address: "https://node1:8201".into(),
            ..LeaderStatus::default()
        };
        let rendered = status_table(&status, &standby).render();
        assert!(
            rendered.contains("HA Enabled             true"),
            "{rendered}"
        );
        assert!(
            rendered.contains("HA Mode                standby"),
            "{rendered}"
        );
        assert!(
            rendered.contains("Active Node Address    https://node1:8200"),
            "{rendered}"
        );
        let active = LeaderStatus {
            is_self: true,
            active_time: "2026-12-06T05:00:00Z".into(),
            ..standby
        };
        let rendered = status_table(&status, &active).render();
        assert!(rendered.contains("HA Mode"), "{rendered}");
        assert!(
            rendered.contains("active") && rendered.contains("Active Since"),
            "{rendered}"
        );
        assert!(!rendered.contains("Active Node Address"), "{rendered}");
    }

    #[test]
    fn a_sealed_ha_node_shows_ha_mode_sealed_and_an_unknown_leader_shows_none() {
        let sealed = SealStatus {
            initialized: true,
            sealed: true,
            ..SealStatus::default()
        };
        let ha = LeaderStatus {
            ha_enabled: true,
            ..LeaderStatus::default()
        };
        let rendered = status_table(&sealed, &ha).render();
        assert!(
            rendered.contains("HA Mode") && rendered.contains("sealed"),
            "{rendered}"
        );
        let unsealed = SealStatus {
            initialized: true,
            ..SealStatus::default()
        };
        let rendered = status_table(&unsealed, &ha).render();
        assert!(
            rendered.contains("Active Node Address    <none>"),
            "{rendered}"
        );
    }
}
