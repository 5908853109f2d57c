//! `coffer kv ...`: key/value secrets with vault's KV v1/v2 handling. The mount and version
//! come from `sys/internal/ui/mounts/<path>`; v2 paths get `data/`, `metadata/`, ... inserted.

use anyhow::Context as _;
use anyhow::bail;
use clap::{Args, Subcommand};
use coffer_client::{Client, Secret};
use serde_json::{Map, Value, json};

use super::generic::{list_path, print_result, read_existing};
use super::kv_path::KvTarget;
use super::{EXIT_OK, EXIT_SEALED_OR_MISSING};
use crate::api_path::sanitize;
use crate::cli::GlobalArgs;
use crate::context;
use crate::data;
use crate::format::{Format, print_data, print_map_section, print_path_section, print_warnings};

/// KV subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum KvCommand {
    /// Write a secret (a new version on v2).
    Put(PutArgs),
    /// Read a secret.
    Get(GetArgs),
    /// Delete a secret (v2: soft-delete the latest or the given versions).
    Delete(VersionedArgs),
    /// List keys under a path.
    List(PathArgs),
    /// Undelete versions (v2).
    Undelete(VersionedArgs),
    /// Permanently destroy versions (v2).
    Destroy(VersionedArgs),
    /// Read or delete a secret's metadata (v2).
    #[command(subcommand)]
    Metadata(MetadataCommand),
}

/// `kv metadata` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum MetadataCommand {
    /// Show metadata and every version's state.
    Get(PathArgs),
    /// Delete all versions and the metadata.
    Delete(PathArgs),
}

/// `kv put` arguments.
#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    /// Mount path; PATH is then relative to it.
    #[arg(long)]
    pub(crate) mount: Option<String>,
    /// Check-and-set: only write if the current version is N (0 = only if absent; -1 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) cas: Option<i64>,
    /// Secret path.
    pub(crate) path: String,
    /// Data: `k=v`, `k=@file`, `k=-`, or `-` for a JSON object on stdin.
    #[arg(required = true)]
    pub(crate) data: Vec<String>,
}

/// `kv get` arguments.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// Mount path; PATH is then relative to it.
    #[arg(long)]
    pub(crate) mount: Option<String>,
    /// Version to read (v2; default latest).
    #[arg(long)]
    pub(crate) version: Option<u32>,
    /// Print only this field.
    #[arg(long)]
    pub(crate) field: Option<String>,
    /// Secret path.
    pub(crate) path: String,
}

/// Arguments of commands that act on versions.
#[derive(Debug, Args)]
pub(crate) struct VersionedArgs {
    /// Mount path; PATH is then relative to it.
    #[arg(long)]
    pub(crate) mount: Option<String>,
    /// Versions, comma-separated or repeated (`-versions=1,2`).
    #[arg(long, value_delimiter = ',')]
    pub(crate) versions: Vec<u32>,
    /// Secret path.
    pub(crate) path: String,
}

/// Arguments of commands that take a mount and a path.
#[derive(Debug, Args)]
pub(crate) struct PathArgs {
    /// Mount path; PATH is then relative to it.
    #[arg(long)]
    pub(crate) mount: Option<String>,
    /// Secret path.
    pub(crate) path: String,
}

/// Runs a kv subcommand.
pub(crate) async fn run(command: KvCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    let format = global.format;
    match command {
        KvCommand::Put(args) => put(&client, args, format).await,
        KvCommand::Get(args) => get(&client, args, format).await,
        KvCommand::List(args) => {
            let target = resolve(&client, args.mount.as_deref(), &args.path).await?;
            list_path(&client, &target.list_path(), format).await
        }
        KvCommand::Delete(args) => delete(&client, args).await,
        KvCommand::Undelete(args) => versions_op(&client, args, "undelete").await,
        KvCommand::Destroy(args) => versions_op(&client, args, "destroy").await,
        KvCommand::Metadata(MetadataCommand::Get(args)) => {
            metadata_get(&client, args, format).await
        }
        KvCommand::Metadata(MetadataCommand::Delete(args)) => {
            let target = resolve_v2(
                &client,
                args.mount.as_deref(),
                &args.path,
                "metadata delete",
            )
            .await?;
            let path = target.api_path("metadata");
            client
                .delete(&path)
                .await
                .with_context(|| format!("Error deleting {path}"))?;
            println!("Success! Data deleted (if it existed) at: {path}");
            Ok(EXIT_OK)
        }
    }
}

/// Finds mount and version, as `vault kv` does before every command.
async fn resolve(client: &Client, mount: Option<&str>, path: &str) -> anyhow::Result<KvTarget> {
    let probe = mount.map_or_else(|| sanitize(path), sanitize);
    let found = client.kv_mount(&probe).await?;
    let mount_path = if found.path.is_empty() {
        mount.map(sanitize).unwrap_or_default()
    } else {
        found.path
    };
    Ok(KvTarget::new(mount, path, &mount_path, found.version))
}

async fn resolve_v2(
    client: &Client,
    mount: Option<&str>,
    path: &str,
    what: &str,
) -> anyhow::Result<KvTarget> {
    let target = resolve(client, mount, path).await?;
    if target.version != 2 {
        bail!("{what} is not supported on KV version 1 mounts");
    }
    Ok(target)
}

async fn put(client: &Client, args: PutArgs, format: Format) -> anyhow::Result<u8> {
    let target = resolve(client, args.mount.as_deref(), &args.path).await?;
    let data = data::parse(&args.data, &mut std::io::stdin().lock())?;
    if data.is_empty() {
        bail!("Must supply data");
    }
    let path = target.api_path("data");
    let body = put_body(&target, data, args.cas);
    let secret = client
        .write(&path, &body)
        .await
        .with_context(|| format!("Error writing data to {path}"))?;
    let Some(secret) = secret else {
        println!("Success! Data written to: {path}");
        return Ok(EXIT_OK);
    };
    if format.is_data() {
        print_data(format, &secret)?;
        return Ok(EXIT_OK);
    }
    if target.version == 2 {
        print_path_section("Secret Path", &path);
        if let Some(meta) = &secret.data {
            print_map_section("Metadata", meta);
        }
    } else {
        println!("Success! Data written to: {path}");
    }
    print_warnings(&secret);
    Ok(EXIT_OK)
}

/// The write body: v2 wraps the data as `{"data": ..., "options": {"cas": N}}`.
pub(crate) fn put_body(target: &KvTarget, data: Map<String, Value>, cas: Option<i64>) -> Value {
    if target.version != 2 {
        return Value::Object(data);
    }
    let mut body = json!({ "data": data });
    if let Some(cas) = cas.filter(|c| *c >= 0) {
        body["options"] = json!({ "cas": cas });
    }
    body
}

async fn get(client: &Client, args: GetArgs, format: Format) -> anyhow::Result<u8> {
    let target = resolve(client, args.mount.as_deref(), &args.path).await?;
    let path = target.api_path("data");
    let version = args.version.map(|v| v.to_string());
    let query: Vec<(&str, &str)> = version.iter().map(|v| ("version", v.as_str())).collect();
    let Some(secret) = read_existing(client, &path, &query).await? else {
        return Ok(EXIT_SEALED_OR_MISSING);
    };
    if args.field.is_some() || format.is_data() {
        return print_result(&secret, args.field.as_deref(), format);
    }
    print_get(&target, &path, &secret);
    Ok(EXIT_OK)
}

/// `kv get` table output: v2 prints path, metadata and data sections; v1 the data section
/// alone (`=== Data ===` over a Key/Value table, as vault prints it).
fn print_get(target: &KvTarget, path: &str, secret: &Secret) {
    let empty = Map::new();
    if target.version != 2 {
        print_map_section("Data", secret.data.as_ref().unwrap_or(&empty));
        print_warnings(secret);
        return;
    }
    print_path_section("Secret Path", path);
    if let Some(Value::Object(meta)) = secret.data_field("metadata") {
        print_map_section("Metadata", meta);
    }
    match secret.data_field("data") {
        Some(Value::Object(data)) => {
            println!();
            print_map_section("Data", data);
        }
        _ => eprintln!("\nNo data: this version is deleted or destroyed."),
    }
    print_warnings(secret);
}

async fn delete(client: &Client, args: VersionedArgs) -> anyhow::Result<u8> {
    let target = resolve(client, args.mount.as_deref(), &args.path).await?;
    let path = if target.version == 2 && !args.versions.is_empty() {
        let path = target.api_path("delete");
        client
            .write(&path, &json!({ "versions": args.versions }))
            .await
            .with_context(|| format!("Error deleting {path}"))?;
        path
    } else {
        let path = target.api_path("data");
        client
            .delete(&path)
            .await
            .with_context(|| format!("Error deleting {path}"))?;
        path
    };
    println!("Success! Data deleted (if it existed) at: {path}");
    Ok(EXIT_OK)
}

async fn versions_op(client: &Client, args: VersionedArgs, op: &str) -> anyhow::Result<u8> {
    if args.versions.is_empty() {
        bail!("No versions provided, use the \"-versions\" flag to specify the version to {op}.");
    }
    let target = resolve_v2(client, args.mount.as_deref(), &args.path, op).await?;
    let path = target.api_path(op);
    client
        .write(&path, &json!({ "versions": args.versions }))
        .await
        .with_context(|| format!("Error writing data to {path}"))?;
    println!("Success! Data written to: {path}");
    Ok(EXIT_OK)
}

async fn metadata_get(client: &Client, args: PathArgs, format: Format) -> anyhow::Result<u8> {
    let target = resolve_v2(client, args.mount.as_deref(), &args.path, "metadata get").await?;
    let path = target.api_path("metadata");
    let Some(secret) = read_existing(client, &path, &[]).await? else {
        return Ok(EXIT_SEALED_OR_MISSING);
    };
    if format.is_data() {
        print_data(format, &secret)?;
        return Ok(EXIT_OK);
    }
    let mut meta = secret.data.clone().unwrap_or_default();
    let versions = meta.remove("versions");
    print_path_section("Metadata Path", &path);
    print_map_section("Metadata", &meta);
    if let Some(Value::Object(versions)) = versions {
        let mut numbered: Vec<(u64, &Value)> = versions
            .iter()
            .filter_map(|(k, v)| k.parse().ok().map(|n| (n, v)))
            .collect();
        numbered.sort_by_key(|(n, _)| *n);
        for (n, version) in numbered {
            if let Value::Object(fields) = version {
                println!();
                print_map_section(&format!("Version {n}"), fields);
            }
        }
    }
    print_warnings(&secret);
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::cli::{Cli, Command};

    fn kv(args: &[&str]) -> KvCommand {
        match Cli::parse_argv(&[&["coffer", "kv"], args].concat()).command {
            Command::Kv(command) => command,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn versions_flag_accepts_comma_lists_and_repeats() {
        let KvCommand::Destroy(args) =
            kv(&["destroy", "-versions=1,2", "-versions", "5", "secret/x"])
        else {
            panic!("not destroy");
        };
        assert_eq!(args.versions, [1, 2, 5]);
        assert_eq!(args.path, "secret/x");
    }

    #[test]
    fn put_parses_mount_cas_and_data() {
        let KvCommand::Put(args) = kv(&["put", "-mount=secret", "-cas=0", "creds", "a=b", "c=@f"])
        else {
            panic!("not put");
        };
        assert_eq!(args.mount.as_deref(), Some("secret"));
        assert_eq!(args.cas, Some(0));
        assert_eq!(args.data, ["a=b", "c=@f"]);
    }

    #[test]
    fn put_accepts_negative_cas_meaning_off() {
        let KvCommand::Put(args) = kv(&["put", "-cas=-1", "secret/x", "a=b"]) else {
            panic!("not put");
        };
        assert_eq!(args.cas, Some(-1));
    }

    #[test]
    fn get_parses_version_and_field() {
        let KvCommand::Get(args) = kv(&["get", "-version=3", "-field=password", "secret/x"]) else {
            panic!("not get");
        };
        assert_eq!(
            (args.version, args.field.as_deref()),
            (Some(3), Some("password"))
        );
    }

    #[test]
    fn metadata_get_is_a_nested_subcommand() {
        assert!(matches!(
            kv(&["metadata", "get", "secret/x"]),
            KvCommand::Metadata(MetadataCommand::Get(_))
        ));
    }

    #[test]
    fn v2_put_body_wraps_data_and_sets_cas_only_when_non_negative() {
        let target = KvTarget::new(None, "secret/x", "secret/", 2);
        let data: Map<String, Value> = [("a".to_owned(), json!("b"))].into_iter().collect();
        assert_eq!(
            put_body(&target, data.clone(), Some(0)),
            json!({"data": {"a": "b"}, "options": {"cas": 0}})
        );
        assert_eq!(
            put_body(&target, data.clone(), Some(-1)),
            json!({"data": {"a": "b"}})
        );
        let v1 = KvTarget::new(None, "kv/x", "kv/", 1);
        assert_eq!(put_body(&v1, data, Some(3)), json!({"a": "b"}));
    }
}
