//! Output formats and the vault-style rendering of values and logical responses.

use clap::ValueEnum;
use coffer_client::Secret;
use serde::Serialize;
use serde_json::Value;

use crate::table::Table;

/// `-format=table|json|yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum Format {
    /// Human-readable tables.
    #[default]
    Table,
    /// The server's JSON, pretty-printed.
    Json,
    /// The same data as `json`, in YAML.
    Yaml,
}

impl Format {
    /// Whether the output is data for scripts (`json`, `yaml`) rather than
    /// a table for people.
    pub(crate) fn is_data(self) -> bool {
        self != Format::Table
    }
}

/// Prints `value` on stdout as data: YAML for `-format=yaml`, indented JSON
/// otherwise (callers print tables themselves).
pub(crate) fn print_data(format: Format, value: &impl Serialize) -> anyhow::Result<()> {
    if format == Format::Yaml {
        print!("{}", serde_yaml_ng::to_string(value)?);
    } else {
        println!("{}", serde_json::to_string_pretty(value)?);
    }
    Ok(())
}

/// Renders a JSON value the way Go's `%v` renders what vault decoded: `<nil>`, `[a b]`,
/// `map[k:v]`, strings without quotes.
pub(crate) fn go_value(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_value).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", go_value(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// A list of strings as Go's `%q` prints it: `["a" "b"]`.
pub(crate) fn go_quoted_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Seconds as vault prints durations (Go's form without its zero parts): `768h`, `1h30m`,
/// `1h1s`, `45s`, `0s`.
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds == 0 {
        return "0s".to_owned();
    }
    let sign = if seconds < 0 { "-" } else { "" };
    let total = seconds.unsigned_abs();
    let (hours, minutes, secs) = (total / 3600, (total % 3600) / 60, total % 60);
    let mut out = String::from(sign);
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if secs > 0 {
        out.push_str(&format!("{secs}s"));
    }
    out
}

/// The Key/Value table vault prints for a logical response: lease fields, auth fields, then the
/// data keys in sorted order. `None` when there is nothing to show.
pub(crate) fn secret_table(secret: &Secret) -> Option<Table> {
    let mut table = Table::key_value();
    if let Some(info) = &secret.wrap_info {
        for (k, v) in wrap_fields(info) {
            table.pair(k, v);
        }
        return Some(table);
    }
    if secret.lease_duration > 0 {
        if secret.lease_id.is_empty() {
            table.pair("refresh_interval", human_duration(secret.lease_duration));
        } else {
            table
                .pair("lease_id", secret.lease_id.as_str())
                .pair("lease_duration", human_duration(secret.lease_duration))
                .pair("lease_renewable", secret.renewable.to_string());
        }
    }
    if let Some(auth) = &secret.auth {
        let duration = if auth.lease_duration == 0 {
            "∞".to_owned()
        } else {
            human_duration(auth.lease_duration)
        };
        table
            .pair("token", auth.client_token.as_str())
            .pair("token_accessor", auth.accessor.as_str())
            .pair("token_duration", duration)
            .pair("token_renewable", auth.renewable.to_string())
            .pair("token_policies", go_quoted_list(&auth.token_policies))
            .pair(
                "identity_policies",
                go_quoted_list(auth.identity_policies.as_deref().unwrap_or_default()),
            )
            .pair("policies", go_quoted_list(&auth.policies));
        if let Some(Value::Object(meta)) = &auth.metadata {
            for (k, v) in meta {
                table.pair(&format!("token_meta_{k}"), go_value(v));
            }
        }
    }
    if let Some(data) = &secret.data {
        for (k, v) in data {
            table.pair(k, data_value(k, v));
        }
    }
    (!table.is_empty()).then_some(table)
}

/// A data value as vault's tables show it: whole seconds under a key that names a duration
/// (`ttl`, `creation_ttl`, `period`, ...) as `768h`, anything else as Go's `%v`.
fn data_value(key: &str, value: &Value) -> String {
    match value.as_i64() {
        Some(seconds) if looks_like_duration(key) => human_duration(seconds),
        _ => go_value(value),
    }
}

/// vault's rule for which response keys hold durations in seconds.
fn looks_like_duration(key: &str) -> bool {
    ["period", "ttl", "duration"]
        .iter()
        .any(|word| key == *word || key.ends_with(&format!("_{word}")))
        || key == "lease_max"
        || key == "ttl_max"
}

/// A Key/Value table of a JSON object's fields (sorted), as vault's `OutputData` prints.
pub(crate) fn map_table(map: &serde_json::Map<String, Value>) -> Table {
    let mut table = Table::key_value();
    for (k, v) in map {
        table.pair(k, data_value(k, v));
    }
    table
}

/// Prints the server's warnings on stderr, as vault does after a response.
pub(crate) fn print_warnings(secret: &Secret) {
    if secret.warnings().is_empty() {
        return;
    }
    eprintln!();
    eprintln!("WARNING! The following warnings were returned from the server:");
    for warning in secret.warnings() {
        eprintln!();
        eprintln!("  * {warning}");
    }
}

/// Prints a logical response in the chosen format.
pub(crate) fn print_secret(secret: &Secret, format: Format) -> anyhow::Result<()> {
    match format {
        f @ (Format::Json | Format::Yaml) => print_data(f, secret),
        Format::Table => {
            if let Some(table) = secret_table(secret) {
                println!("{table}");
            }
            print_warnings(secret);
            Ok(())
        }
    }
}

/// A wrapped response's rows, as vault prints them (`-field` accepts the
/// same names): the wrapping token, its accessor, TTL, creation time and
/// path, and the wrapped token's accessor when there is one.
pub(crate) fn wrap_fields(info: &Value) -> Vec<(&'static str, String)> {
    let text = |k: &str| {
        info.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let ttl = info.get("ttl").and_then(Value::as_i64).unwrap_or_default();
    let mut rows = vec![
        ("wrapping_token:", text("token")),
        ("wrapping_accessor:", text("accessor")),
        ("wrapping_token_ttl:", human_duration(ttl)),
        ("wrapping_token_creation_time:", text("creation_time")),
        ("wrapping_token_creation_path:", text("creation_path")),
    ];
    let wrapped = text("wrapped_accessor");
    if !wrapped.is_empty() {
        rows.push(("wrapped_accessor:", wrapped));
    }
    rows
}

/// Width vault wraps its explanatory messages at (`wrapAtLength`).
const WRAP_WIDTH: usize = 80;

/// vault's `wrapAtLength`: greedy word wrap at 80 columns; existing line breaks are kept and a
/// word longer than the width gets a line of its own.
pub(crate) fn wrap_at_length(text: &str) -> String {
    text.split('\n')
        .map(|paragraph| {
            let mut lines: Vec<String> = Vec::new();
            let mut line = String::new();
            for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
                if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > WRAP_WIDTH
                {
                    lines.push(std::mem::take(&mut line));
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(word);
            }
            lines.push(line);
            lines.join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// vault's `padEqualSigns`: a section title centred in `=` signs, e.g. `====== Data ======`.
fn section_title(title: &str, total_len: usize) -> String {
    let mut signs = total_len.saturating_sub(title.chars().count() + 2);
    if signs == 0 {
        signs = 4;
    }
    if !signs.is_multiple_of(2) {
        signs += 1;
    }
    let side = "=".repeat(signs / 2);
    format!("{side} {title} {side}")
}

/// vault's `getHeaderForMap`: the title width follows the longest key plus `    Value`.
fn section_title_for_map(title: &str, map: &serde_json::Map<String, Value>) -> String {
    let longest = map.keys().map(|k| k.chars().count()).max().unwrap_or(0);
    section_title(title, longest + 4 + 5)
}

/// Prints a titled section holding only `path`, then a blank line (`vault kv`'s path header).
pub(crate) fn print_path_section(title: &str, path: &str) {
    println!("{}", section_title(title, path.chars().count()));
    println!("{path}\n");
}

/// Prints a titled Key/Value section of a JSON object's fields (`vault kv`'s sections).
pub(crate) fn print_map_section(title: &str, map: &serde_json::Map<String, Value>) {
    println!("{}", section_title_for_map(title, map));
    println!("{}", map_table(map));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_render_like_go_percent_v() {
        assert_eq!(go_value(&json!(null)), "<nil>");
        assert_eq!(go_value(&json!("s")), "s");
        assert_eq!(go_value(&json!([1, "a"])), "[1 a]");
        assert_eq!(
            go_value(&json!({"version": "2", "a": true})),
            "map[a:true version:2]"
        );
        assert_eq!(go_value(&json!({})), "map[]");
    }

    #[test]
    fn durations_render_like_vault() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(2_764_800), "768h");
        assert_eq!(human_duration(5400), "1h30m");
        assert_eq!(human_duration(90), "1m30s");
        assert_eq!(human_duration(3601), "1h1s");
        assert_eq!(human_duration(3660), "1h1m");
        assert_eq!(human_duration(45), "45s");
    }

    #[test]
    fn section_titles_match_vault_kv_get() {
        let data = json!({"password": "x"});
        let meta = json!({"created_time": 1, "custom_metadata": 1, "deletion_time": 1,
                          "destroyed": 1, "version": 1});
        let short = json!({"foo": "x"});
        let title = |t: &str, v: &Value| section_title_for_map(t, v.as_object().expect("object"));
        assert_eq!(title("Data", &data), "====== Data ======");
        assert_eq!(title("Data", &short), "=== Data ===");
        assert_eq!(title("Metadata", &meta), "======= Metadata =======");
    }

    #[test]
    fn secret_table_shows_refresh_interval_then_sorted_data() {
        let secret: Secret = serde_json::from_value(json!({
            "lease_duration": 2_764_800, "data": {"zeta": "z", "alpha": {"k": "v"}}
        }))
        .expect("secret");
        let rendered = secret_table(&secret).expect("table").render();
        let keys: Vec<&str> = rendered
            .lines()
            .skip(2)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(keys, ["refresh_interval", "alpha", "zeta"]);
        assert!(rendered.contains("map[k:v]"), "{rendered}");
        assert!(rendered.contains("768h"), "{rendered}");
    }

    #[test]
    fn long_messages_wrap_at_eighty_columns_on_word_boundaries() {
        let text = "word ".repeat(40);
        let wrapped = wrap_at_length(text.trim_end());
        assert!(wrapped.lines().all(|l| l.len() <= 80), "{wrapped}");
        assert_eq!(wrapped.lines().next(), Some("word ".repeat(16).trim_end()));
        assert_eq!(wrapped.replace('\n', " "), text.trim_end());
        assert_eq!(wrap_at_length("a\n\nb"), "a\n\nb");
        let long = "x".repeat(100);
        assert_eq!(
            wrap_at_length(&format!("a {long} b")),
            format!("a\n{long}\nb")
        );
    }

    #[test]
    fn duration_keys_in_data_print_as_durations() {
        let secret: Secret = serde_json::from_value(json!({"data": {
            "ttl": 2_764_799, "creation_ttl": 2_764_800, "explicit_max_ttl": 0, "period": 60,
            "num_uses": 3, "token_duration": "1h", "issue_time": "2024-01-01T00:00:00Z"
        }}))
        .expect("secret");
        let rendered = secret_table(&secret).expect("table").render();
        for line in [
            "ttl                 767h59m59s",
            "creation_ttl        768h",
            "explicit_max_ttl    0s",
            "period              1m",
            "num_uses            3",
            "token_duration      1h",
        ] {
            assert!(rendered.contains(line), "{line:?} in\n{rendered}");
        }
    }

    #[test]
    fn empty_response_has_no_table() {
        assert!(secret_table(&Secret::default()).is_none());
    }

    #[test]
    fn root_token_auth_shows_infinite_duration_and_quoted_policies() {
        let secret: Secret = serde_json::from_value(json!({
            "auth": {"client_token": "t", "accessor": "a", "policies": ["root"],
                     "token_policies": ["root"], "lease_duration": 0}
        }))
        .expect("secret");
        let rendered = secret_table(&secret).expect("table").render();
        assert!(rendered.contains("token_duration       ∞"), "{rendered}");
        assert!(
            rendered.contains(r#"token_policies       ["root"]"#),
            "{rendered}"
        );
    }
}
