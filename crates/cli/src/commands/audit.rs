//! `coffer audit enable | disable | list`, as `vault audit ...`: device options are `k=v`
//! arguments after the type, paths get vault's trailing slash, server refusals exit 2.

use std::collections::BTreeMap;

use anyhow::Context as _;
use clap::{ArgAction, Args, Subcommand};
use coffer_client::{AuditDevice, EnableAudit};
use serde_json::Value;

use super::{EXIT_API_ERROR, EXIT_OK, api_error};
use crate::api_path::{sanitize, with_trailing_slash};
use crate::cli::GlobalArgs;
use crate::context;
use crate::data;
use crate::flags::go_bool;
use crate::format::{Format, print_data};
use crate::table::Table;

/// Audit subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Enable an audit device (e.g. `file file_path=/var/log/coffer/audit.log`).
    Enable(EnableArgs),
    /// Disable the audit device at a path.
    Disable {
        /// Device path.
        path: String,
    },
    /// List the enabled audit devices.
    List(ListArgs),
}

/// `audit enable` arguments.
#[derive(Debug, Args)]
pub(crate) struct EnableArgs {
    /// Human-friendly description.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// Where the device is mounted (default: the type).
    #[arg(long)]
    pub(crate) path: Option<String>,
    /// Mark the device local-only (not replicated).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) local: bool,
    /// Device type: `file` (with `file_path=stdout` or `discard` as targets too).
    #[arg(value_name = "TYPE")]
    pub(crate) device_type: String,
    /// Device options `k=v` (`k=@file`, `k=-` read a file or stdin).
    #[arg(value_name = "K=V")]
    pub(crate) options: Vec<String>,
}

/// `audit list` flags.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Also show replication and options.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) detailed: bool,
}

/// Runs an audit subcommand.
pub(crate) async fn run(command: AuditCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        AuditCommand::Enable(args) => enable(args, global).await,
        AuditCommand::Disable { path } => {
            let path = with_trailing_slash(&sanitize(&path));
            let client = context::client(global)?;
            match client.disable_audit(&path).await {
                Ok(()) => {
                    println!("Success! Disabled audit device (if it was enabled) at: {path}");
                    Ok(EXIT_OK)
                }
                Err(err) => Ok(api_error("Error disabling audit device", &err)),
            }
        }
        AuditCommand::List(args) => list(&args, global).await,
    }
}

async fn enable(args: EnableArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let device_type = args.device_type.trim().to_owned();
    let path = with_trailing_slash(&sanitize(args.path.as_deref().unwrap_or(&device_type)));
    let options = data::parse(&args.options, &mut std::io::stdin().lock())
        .context("Failed to parse K=V data")?
        .into_iter()
        .map(|(k, v)| (k, option_text(&v)))
        .collect();
    let request = EnableAudit {
        device_type: device_type.clone(),
        description: args.description.unwrap_or_default(),
        options,
        local: args.local,
    };
    let client = context::client(global)?;
    match client.enable_audit(&path, &request).await {
        Ok(()) => {
            println!("Success! Enabled the {device_type} audit device at: {path}");
            Ok(EXIT_OK)
        }
        Err(err) => Ok(api_error("Error enabling audit device", &err)),
    }
}

async fn list(args: &ListArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    let devices = match client.list_audit_devices().await {
        Ok(devices) => devices,
        Err(err) => return Ok(api_error("Error listing audits", &err)),
    };
    match global.format {
        f @ (Format::Json | Format::Yaml) => print_data(f, &devices)?,
        Format::Table if devices.is_empty() => {
            println!("No audit devices are enabled.");
            return Ok(EXIT_API_ERROR);
        }
        Format::Table => println!("{}", devices_table(&devices, args.detailed)),
    }
    Ok(EXIT_OK)
}

/// vault's `audit list` table; `detailed` adds replication and the options (`k=v`, sorted).
fn devices_table(devices: &BTreeMap<String, AuditDevice>, detailed: bool) -> Table {
    let mut table = if detailed {
        Table::with_header(["Path", "Type", "Description", "Replication", "Options"])
    } else {
        Table::with_header(["Path", "Type", "Description"])
    };
    for (key, device) in devices {
        let path = if device.path.is_empty() {
            key.clone()
        } else {
            device.path.clone()
        };
        let mut row = vec![path, device.device_type.clone(), device.description.clone()];
        if detailed {
            let replication = if device.local { "local" } else { "replicated" };
            let options: Vec<String> = device
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            row.push(replication.to_owned());
            row.push(options.join(" "));
        }
        table.row(row);
    }
    table
}

/// Device options given as JSON (`@file.json`, `-`) may hold non-strings; the API takes
/// strings, so those are sent as their JSON text.
fn option_text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn devices() -> BTreeMap<String, AuditDevice> {
        serde_json::from_value(json!({
            "file/": {"type": "file", "description": "", "local": false, "path": "file/",
                      "options": {"file_path": "/var/log/audit.log", "log_raw": "false"}},
            "local/": {"type": "file", "description": "node only", "local": true,
                       "path": "local/", "options": {"file_path": "stdout"}}
        }))
        .expect("devices")
    }

    #[test]
    fn plain_list_shows_path_type_description() {
        let rendered = devices_table(&devices(), false).render();
        let lines: Vec<&str> = rendered.lines().collect();
        assert_eq!(lines[0], "Path      Type    Description");
        assert_eq!(lines[2], "file/     file    n/a");
        assert_eq!(lines[3], "local/    file    node only");
    }

    #[test]
    fn detailed_list_adds_replication_and_sorted_options() {
        let rendered = devices_table(&devices(), true).render();
        assert!(
            rendered.starts_with("Path      Type    Description    Replication    Options"),
            "{rendered}"
        );
        assert!(
            rendered.contains("replicated     file_path=/var/log/audit.log log_raw=false"),
            "{rendered}"
        );
        assert!(
            rendered.contains("local          file_path=stdout"),
            "{rendered}"
        );
    }

    #[test]
    fn json_option_values_become_their_text() {
        assert_eq!(option_text(&json!("x")), "x");
        assert_eq!(option_text(&json!(true)), "true");
    }
}
