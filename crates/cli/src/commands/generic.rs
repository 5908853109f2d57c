//! `coffer read | write | list | delete PATH`: raw access to any API path, as `vault` offers.

use anyhow::Context as _;
use std::io::IsTerminal;

use anyhow::{anyhow, bail};
use clap::{ArgAction, Args};
use coffer_client::{Client, Secret, SecretAuth};
use serde_json::Value;

use super::{EXIT_OK, EXIT_SEALED_OR_MISSING};
use crate::api_path::{sanitize, with_trailing_slash};
use crate::cli::GlobalArgs;
use crate::context;
use crate::data;
use crate::flags::go_bool;
use crate::format::{Format, go_value, print_data, print_secret, print_warnings, wrap_fields};
use crate::table::Table;

/// `read` arguments.
#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    /// Print only this field of the data.
    #[arg(long)]
    pub(crate) field: Option<String>,
    /// API path (relative to /v1/).
    pub(crate) path: String,
    /// Query parameters `k=v`.
    pub(crate) data: Vec<String>,
}

/// `write` arguments.
#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    /// Allow writing with no data.
    #[arg(short = 'f', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) force: bool,
    /// Print only this field of the response data.
    #[arg(long)]
    pub(crate) field: Option<String>,
    /// API path (relative to /v1/).
    pub(crate) path: String,
    /// Data: `k=v`, `k=@file`, `k=-`, `@file.json` or `-` (JSON on stdin). Values are strings.
    pub(crate) data: Vec<String>,
}

/// `delete` arguments.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// API path (relative to /v1/).
    pub(crate) path: String,
    /// Query parameters `k=v`.
    pub(crate) data: Vec<String>,
}

/// A command that takes only a path.
#[derive(Debug, Args)]
pub(crate) struct PathArgs {
    /// API path (relative to /v1/).
    pub(crate) path: String,
}

/// `read PATH [k=v ...]`; exit 2 when nothing is there.
pub(crate) async fn read(args: ReadArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    let path = sanitize(&args.path);
    let query = query_pairs(&args.data)?;
    let Some(secret) = read_existing(&client, &path, &as_query(&query)).await? else {
        return Ok(EXIT_SEALED_OR_MISSING);
    };
    print_result(&secret, args.field.as_deref(), global.format)
}

/// `write PATH [data ...]`.
pub(crate) async fn write(args: WriteArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    let path = sanitize(&args.path);
    let body = data::parse(&args.data, &mut std::io::stdin().lock())?;
    if body.is_empty() && !args.force {
        bail!("Must supply data or use -force");
    }
    let secret = client
        .write(&path, &Value::Object(body))
        .await
        .with_context(|| format!("Error writing data to {path}"))?;
    match secret {
        Some(secret) if has_content(&secret) => {
            print_result(&secret, args.field.as_deref(), global.format)
        }
        _ => {
            println!("Success! Data written to: {path}");
            Ok(EXIT_OK)
        }
    }
}

/// `list PATH`; exit 2 when there are no keys.
pub(crate) async fn list(args: PathArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    let path = with_trailing_slash(&sanitize(&args.path));
    list_path(&client, &path, global.format).await
}

/// `delete PATH`.
pub(crate) async fn delete(args: DeleteArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    let path = sanitize(&args.path);
    let query = query_pairs(&args.data)?;
    let raw = client
        .raw(
            coffer_client::Method::Delete,
            &path,
            &as_query(&query),
            None,
        )
        .await
        .with_context(|| format!("Error deleting {path}"))?;
    let secret = raw
        .into_secret()
        .with_context(|| format!("Error deleting {path}"))?;
    match secret {
        Some(secret) if has_content(&secret) => {
            print_secret(&secret, global.format).map(|()| EXIT_OK)
        }
        _ => {
            println!("Success! Data deleted (if it existed) at: {path}");
            Ok(EXIT_OK)
        }
    }
}

/// Reads `path`; `None` when nothing is there, after saying so on stderr as vault does.
pub(crate) async fn read_existing(
    client: &Client,
    path: &str,
    query: &[(&str, &str)],
) -> anyhow::Result<Option<Secret>> {
    let secret = client
        .read_with_query(path, query)
        .await
        .with_context(|| format!("Error reading {path}"))?;
    if secret.is_none() {
        eprintln!("No value found at {path}");
    }
    Ok(secret)
}

/// Lists `path` and prints the keys; exit 2 when there are none.
pub(crate) async fn list_path(client: &Client, path: &str, format: Format) -> anyhow::Result<u8> {
    let secret = client
        .list(path)
        .await
        .with_context(|| format!("Error listing {path}"))?;
    print_list(secret.as_ref(), path, format)
}

/// Prints a list response (`Keys` table) or reports that nothing is there (exit 2).
fn print_list(secret: Option<&Secret>, path: &str, format: Format) -> anyhow::Result<u8> {
    let keys = secret
        .and_then(|s| s.data_field("keys"))
        .and_then(Value::as_array);
    let Some(keys) = keys.filter(|k| !k.is_empty()) else {
        eprintln!("No value found at {path}");
        return Ok(EXIT_SEALED_OR_MISSING);
    };
    match format {
        f @ (Format::Json | Format::Yaml) => print_data(f, keys)?,
        Format::Table => {
            let mut table = Table::with_header(["Keys"]);
            for key in keys {
                table.row([go_value(key)]);
            }
            println!("{table}");
            if let Some(secret) = secret {
                print_warnings(secret);
            }
        }
    }
    Ok(EXIT_OK)
}

/// Prints one field (`-field`) or the whole response.
pub(crate) fn print_result(
    secret: &Secret,
    field: Option<&str>,
    format: Format,
) -> anyhow::Result<u8> {
    let Some(field) = field else {
        print_secret(secret, format)?;
        return Ok(EXIT_OK);
    };
    if let Some(info) = &secret.wrap_info {
        let (_, value) = wrap_fields(info)
            .into_iter()
            .find(|(k, _)| k.trim_end_matches(':') == field)
            .ok_or_else(|| anyhow!("Field \"{field}\" not present in the wrapped response"))?;
        return print_field(&Value::String(value), format);
    }
    if let Some(value) = secret
        .auth
        .as_ref()
        .and_then(|auth| auth_field(auth, field))
    {
        return print_field(&value, format);
    }
    let value = secret
        .data_field(field)
        .or_else(|| secret.data_field("data").and_then(|d| d.get(field)))
        .ok_or_else(|| anyhow!("Field \"{field}\" not present in secret"))?;
    print_field(value, format)
}

/// The `-field` names vault gives the auth block of a login or token response (the table's
/// row names; the duration stays in seconds, as vault prints it).
fn auth_field(auth: &SecretAuth, field: &str) -> Option<Value> {
    Some(match field {
        "token" => Value::from(auth.client_token.as_str()),
        "token_accessor" => Value::from(auth.accessor.as_str()),
        "token_duration" => Value::from(auth.lease_duration),
        "token_renewable" => Value::from(auth.renewable),
        "token_policies" => Value::from(auth.token_policies.clone()),
        "identity_policies" => Value::from(auth.identity_policies.clone().unwrap_or_default()),
        "policies" => Value::from(auth.policies.clone()),
        _ => return None,
    })
}

/// One `-field` value.
fn print_field(value: &Value, format: Format) -> anyhow::Result<u8> {
    match format {
        f @ (Format::Json | Format::Yaml) => print_data(f, value)?,
        // Scripts capture `-field` output, so no newline unless a person is looking (vault's rule).
        Format::Table if std::io::stdout().is_terminal() => println!("{}", go_value(value)),
        Format::Table => print!("{}", go_value(value)),
    }
    Ok(EXIT_OK)
}

fn has_content(secret: &Secret) -> bool {
    secret.data.as_ref().is_some_and(|d| !d.is_empty())
        || secret.auth.is_some()
        || secret.wrap_info.is_some()
        || !secret.warnings().is_empty()
}

fn query_pairs(args: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let data = data::parse(args, &mut std::io::stdin().lock())?;
    Ok(data
        .into_iter()
        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect())
}

/// Borrows `k=v` pairs in the form the client's query parameter takes.
fn as_query(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn response_with_only_empty_data_counts_as_no_content() {
        let empty: Secret = serde_json::from_value(json!({"data": {}})).expect("secret");
        assert!(!has_content(&empty));
        let full: Secret = serde_json::from_value(json!({"data": {"a": 1}})).expect("secret");
        assert!(has_content(&full));
    }

    #[test]
    fn list_without_keys_is_reported_as_missing() {
        let empty: Secret = serde_json::from_value(json!({"data": {"keys": []}})).expect("secret");
        assert_eq!(
            print_list(Some(&empty), "kv/", Format::Table).expect("list"),
            EXIT_SEALED_OR_MISSING
        );
        assert_eq!(
            print_list(None, "kv/", Format::Table).expect("list"),
            EXIT_SEALED_OR_MISSING
        );
    }

    #[test]
    fn auth_fields_are_named_as_in_the_table() {
        let secret: Secret = serde_json::from_value(json!({"auth": {
            "client_token": "s.t", "accessor": "acc", "lease_duration": 3600,
            "renewable": true, "policies": ["default", "ops"], "token_policies": ["ops"]
        }}))
        .expect("secret");
        let auth = secret.auth.as_ref().expect("auth");
        assert_eq!(auth_field(auth, "token"), Some(json!("s.t")));
        assert_eq!(auth_field(auth, "token_duration"), Some(json!(3600)));
        assert_eq!(
            auth_field(auth, "policies").map(|v| go_value(&v)),
            Some("[default ops]".to_owned())
        );
        assert_eq!(auth_field(auth, "identity_policies"), Some(json!([])));
        assert_eq!(auth_field(auth, "nope"), None);
        assert!(print_result(&secret, Some("nope"), Format::Table).is_err());
    }

    #[test]
    fn field_is_looked_up_in_nested_kv2_data_too() {
        let secret: Secret =
            serde_json::from_value(json!({"data": {"data": {"pw": "x"}, "metadata": {}}}))
                .expect("secret");
        assert_eq!(
            print_result(&secret, Some("pw"), Format::Table).expect("field"),
            EXIT_OK
        );
        assert!(print_result(&secret, Some("nope"), Format::Table).is_err());
    }
}
