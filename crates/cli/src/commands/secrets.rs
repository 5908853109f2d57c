//! `coffer secrets enable | disable | list | tune`.

use anyhow::Context as _;
use std::collections::BTreeMap;

use clap::{ArgAction, Args, Subcommand};
use coffer_client::{EnableMount, MountConfigInput, MountOutput, TuneMount};

use super::EXIT_OK;
use crate::api_path::with_trailing_slash;
use crate::cli::GlobalArgs;
use crate::context;
use crate::flags::{go_bool, key_value};
use crate::format::{Format, go_value, print_data};
use crate::table::Table;

/// Secrets-engine subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCommand {
    /// Enable a secrets engine at a path.
    Enable(EnableArgs),
    /// Disable the secrets engine at a path (its data is deleted).
    Disable {
        /// Mount path.
        path: String,
    },
    /// List enabled secrets engines.
    List(ListArgs),
    /// Tune a secrets engine's settings.
    Tune(TuneArgs),
}

/// `secrets enable` flags.
#[derive(Debug, Args)]
pub(crate) struct EnableArgs {
    /// Mount path (default: the engine type).
    #[arg(long)]
    pub(crate) path: Option<String>,
    /// Human-friendly description.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// Seal-wrap the engine's stored values (cannot be changed later).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) seal_wrap: bool,
    /// Let the engine draw key material from the seal's entropy source (mount time only).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) external_entropy_access: bool,
    /// Do not replicate this mount.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) local: bool,
    /// Never cache responses.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) force_no_cache: bool,
    /// Engine version (sets the `version` option; `2` for KV v2).
    #[arg(long)]
    pub(crate) version: Option<u32>,
    /// A managed key (`sys/managed-keys`) the engine may use (repeatable, or comma-separated).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub(crate) allowed_managed_keys: Vec<String>,
    /// Default lease TTL (e.g. `30m`).
    #[arg(long, value_name = "DURATION")]
    pub(crate) default_lease_ttl: Option<String>,
    /// Maximum lease TTL.
    #[arg(long, value_name = "DURATION")]
    pub(crate) max_lease_ttl: Option<String>,
    /// Engine option `key=value` (repeatable).
    #[arg(long = "options", value_name = "K=V", value_parser = key_value)]
    pub(crate) options: Vec<(String, String)>,
    /// Plugin name (for `plugin` engines).
    #[arg(long)]
    pub(crate) plugin_name: Option<String>,
    /// Engine type: kv, kv-v2, transit, ...
    #[arg(value_name = "TYPE")]
    pub(crate) engine_type: String,
}

/// `secrets list` flags.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Show every mount setting.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) detailed: bool,
}

/// `secrets tune` flags.
#[derive(Debug, Args)]
pub(crate) struct TuneArgs {
    /// New default lease TTL.
    #[arg(long, value_name = "DURATION")]
    pub(crate) default_lease_ttl: Option<String>,
    /// New maximum lease TTL.
    #[arg(long, value_name = "DURATION")]
    pub(crate) max_lease_ttl: Option<String>,
    /// New description.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// Engine option `key=value` (repeatable).
    #[arg(long = "options", value_name = "K=V", value_parser = key_value)]
    pub(crate) options: Vec<(String, String)>,
    /// Managed keys the engine may use, replacing the list (repeatable, or comma-separated;
    /// an empty value clears it).
    #[arg(long, value_name = "NAME", value_delimiter = ',', num_args = 0..)]
    pub(crate) allowed_managed_keys: Option<Vec<String>>,
    /// Mount path.
    pub(crate) path: String,
}

/// Runs a secrets subcommand.
pub(crate) async fn run(command: SecretsCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    match command {
        SecretsCommand::Enable(args) => {
            let (path, request) = enable_request(&args);
            client
                .enable_mount(&path, &request)
                .await
                .context("Error enabling")?;
            let shown = args.plugin_name.as_deref().unwrap_or(&args.engine_type);
            println!("Success! Enabled the {shown} secrets engine at: {path}");
        }
        SecretsCommand::Disable { path } => {
            let path = with_trailing_slash(path.trim_start_matches('/'));
            client
                .disable_mount(&path)
                .await
                .with_context(|| format!("Error disabling secrets engine at {path}"))?;
            println!("Success! Disabled the secrets engine (if it existed) at: {path}");
        }
        SecretsCommand::List(args) => {
            let mounts = client
                .list_mounts()
                .await
                .context("Error listing secrets engines")?;
            match global.format {
                f @ (Format::Json | Format::Yaml) => print_data(f, &mounts)?,
                Format::Table => println!("{}", mounts_table(&mounts, args.detailed)),
            }
        }
        SecretsCommand::Tune(args) => {
            let path = with_trailing_slash(args.path.trim_start_matches('/'));
            let request = TuneMount {
                default_lease_ttl: args.default_lease_ttl,
                max_lease_ttl: args.max_lease_ttl,
                description: args.description,
                options: args.options.into_iter().collect(),
                allowed_managed_keys: args
                    .allowed_managed_keys
                    .map(|keys| keys.into_iter().filter(|k| !k.is_empty()).collect()),
            };
            client
                .tune_mount(&path, &request)
                .await
                .with_context(|| format!("Error tuning secrets engine {path}"))?;
            println!("Success! Tuned the secrets engine at: {path}");
        }
    }
    Ok(EXIT_OK)
}

/// Mount path and request body for `secrets enable`, with vault's rules: the path defaults to
/// the type, `kv-v2` means `kv` with `version=2`, `-version=N` sets the `version` option.
pub(crate) fn enable_request(args: &EnableArgs) -> (String, EnableMount) {
    let default_path = args.plugin_name.as_deref().unwrap_or(&args.engine_type);
    let path = with_trailing_slash(
        args.path
            .as_deref()
            .unwrap_or(default_path)
            .trim_start_matches('/'),
    );
    let mut options: BTreeMap<String, String> = args.options.iter().cloned().collect();
    if let Some(version) = args.version {
        options.insert("version".to_owned(), version.to_string());
    }
    let mut mount_type = args.engine_type.clone();
    if mount_type == "kv-v2" {
        mount_type = "kv".to_owned();
        options.insert("version".to_owned(), "2".to_owned());
    }
    let request = EnableMount {
        mount_type,
        description: args.description.clone(),
        config: MountConfigInput {
            default_lease_ttl: args.default_lease_ttl.clone(),
            max_lease_ttl: args.max_lease_ttl.clone(),
            force_no_cache: args.force_no_cache,
            allowed_managed_keys: args.allowed_managed_keys.clone(),
        },
        options,
        local: args.local,
        seal_wrap: args.seal_wrap,
        external_entropy_access: args.external_entropy_access,
        plugin_name: args.plugin_name.clone(),
    };
    (path, request)
}

/// The `secrets list` table; `detailed` adds vault's `-detailed` columns.
pub(crate) fn mounts_table(mounts: &BTreeMap<String, MountOutput>, detailed: bool) -> Table {
    if !detailed {
        let mut table = Table::with_header(["Path", "Type", "Accessor", "Description"]);
        for (path, m) in mounts {
            table.row([path.as_str(), &m.mount_type, &m.accessor, &m.description]);
        }
        return table;
    }
    // Vault has no such column; Coffer adds it only when a mount uses managed keys, so the
    // table is vault's otherwise.
    let managed = mounts
        .values()
        .any(|m| !m.config.allowed_managed_keys.is_empty());
    let mut header = vec![
        "Path",
        "Plugin",
        "Accessor",
        "Default TTL",
        "Max TTL",
        "Force No Cache",
        "Replication",
        "Seal Wrap",
        "External Entropy Access",
        "Options",
        "Description",
        "UUID",
    ];
    if managed {
        header.push("Allowed Managed Keys");
    }
    let mut table = Table::with_header(header);
    let ttl = |secs: u64| {
        if secs == 0 {
            "system".to_owned()
        } else {
            secs.to_string()
        }
    };
    for (path, m) in mounts {
        let options = m.options.as_ref().map_or_else(
            || "map[]".to_owned(),
            |o| go_value(&serde_json::Value::Object(o.clone().into_iter().collect())),
        );
        let mut row = vec![
            path.clone(),
            m.mount_type.clone(),
            m.accessor.clone(),
            ttl(m.config.default_lease_ttl),
            ttl(m.config.max_lease_ttl),
            m.config.force_no_cache.to_string(),
            if m.local { "local" } else { "replicated" }.to_owned(),
            m.seal_wrap.to_string(),
            m.external_entropy_access.to_string(),
            options,
            m.description.clone(),
            m.uuid.clone(),
        ];
        if managed {
            row.push(format!("[{}]", m.config.allowed_managed_keys.join(" ")));
        }
        table.row(row);
    }
    table
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::{Cli, Command};

    fn enable_args(args: &[&str]) -> EnableArgs {
        match Cli::parse_argv(&[&["coffer", "secrets", "enable"], args].concat()).command {
            Command::Secrets(SecretsCommand::Enable(args)) => args,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn enable_defaults_the_path_to_the_type() {
        let (path, request) = enable_request(&enable_args(&["transit"]));
        assert_eq!(path, "transit/");
        assert_eq!(request.mount_type, "transit");
    }

    #[test]
    fn kv_v2_type_means_kv_with_version_two() {
        let (path, request) = enable_request(&enable_args(&["-path=secret", "kv-v2"]));
        assert_eq!(path, "secret/");
        assert_eq!(request.mount_type, "kv");
        assert_eq!(
            request.options.get("version").map(String::as_str),
            Some("2")
        );
    }

    #[test]
    fn seal_wrap_and_entropy_flags_reach_the_request() {
        let (path, request) = enable_request(&enable_args(&[
            "-path=kv-seal-wrapped",
            "-seal-wrap",
            "-external-entropy-access",
            "-version=2",
            "-description=wrapped",
            "-default-lease-ttl=30m",
            "kv",
        ]));
        assert_eq!(path, "kv-seal-wrapped/");
        assert!(request.seal_wrap && request.external_entropy_access && !request.local);
        assert_eq!(
            request.options.get("version").map(String::as_str),
            Some("2")
        );
        assert_eq!(request.description.as_deref(), Some("wrapped"));
        assert_eq!(request.config.default_lease_ttl.as_deref(), Some("30m"));
    }

    #[test]
    fn explicit_false_boolean_flag_is_honoured() {
        let (_, request) = enable_request(&enable_args(&["-seal-wrap=false", "kv"]));
        assert!(!request.seal_wrap);
    }

    fn mounts() -> BTreeMap<String, MountOutput> {
        serde_json::from_value(json!({
            "cubbyhole/": {"type": "cubbyhole", "accessor": "cubbyhole_a4084622",
                "description": "per-token private secret storage", "local": true,
                "config": {"default_lease_ttl": 0, "max_lease_ttl": 0}, "options": null,
                "uuid": "u1"},
            "transit/": {"type": "transit", "accessor": "transit_88cd3066", "description": "",
                "external_entropy_access": true, "seal_wrap": false,
                "config": {"default_lease_ttl": 3600, "max_lease_ttl": 0},
                "options": {"version": "2"}, "uuid": "u2"}
        }))
        .expect("mounts")
    }

    #[test]
    fn plain_list_shows_path_type_accessor_description() {
        let rendered = mounts_table(&mounts(), false).render();
        let lines: Vec<&str> = rendered.lines().collect();
        assert_eq!(
            lines[0],
            "Path          Type         Accessor              Description"
        );
        assert_eq!(
            lines[1],
            "----          ----         --------              -----------"
        );
        assert_eq!(
            lines[3],
            "transit/      transit      transit_88cd3066      n/a"
        );
    }

    #[test]
    fn detailed_list_adds_ttl_replication_seal_wrap_entropy_options_uuid() {
        let rendered = mounts_table(&mounts(), true).render();
        let header: Vec<&str> = rendered
            .lines()
            .next()
            .unwrap_or_default()
            .split("    ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(
            header,
            [
                "Path",
                "Plugin",
                "Accessor",
                "Default TTL",
                "Max TTL",
                "Force No Cache",
                "Replication",
                "Seal Wrap",
                "External Entropy Access",
                "Options",
                "Description",
                "UUID"
            ]
        );
        let transit = rendered
            .lines()
            .find(|l| l.starts_with("transit/"))
            .unwrap_or_default();
        let cells: Vec<&str> = transit.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "transit/",
                "transit",
                "transit_88cd3066",
                "3600",
                "system",
                "false",
                "replicated",
                "false",
                "true",
                "map[version:2]",
                "n/a",
                "u2"
            ]
        );
        assert!(rendered.contains("cubbyhole/    cubbyhole    cubbyhole_a4084622    system"));
        assert!(
            rendered
                .lines()
                .any(|l| l.starts_with("cubbyhole/") && l.contains("local"))
        );
    }
}
