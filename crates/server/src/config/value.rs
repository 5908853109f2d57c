//! Lenient scalars: Vault writes every seal value as a string (`slot = "0"`,
//! `generate_key = "true"`, `mechanism = "0x0009"`), operators also write bare
//! numbers and booleans. Both spellings mean the same thing here.
//!
//! The `parse_*` functions work on text (file strings and environment variables
//! alike); the `to_*` functions accept any attribute value. Errors are plain
//! messages; the caller adds file, line and field.

use std::time::Duration;

/// An attribute value as written in a config file, reduced to what config
/// fields can hold. Deliberately not `Debug`: a value may be the PIN.
pub(crate) enum Value {
    /// A quoted string (or a literal-only heredoc).
    Str(String),
    /// An integer literal; wide enough for both `u64` and negative `i64`.
    Int(i128),
    /// A number with a fraction or exponent.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// A list (`["a", "b"]`), for the few fields that take one.
    List(Vec<Value>),
    /// Anything else (array, object, expression); `kind` names it for messages.
    Other {
        /// e.g. "an array", "an object", "an expression".
        kind: &'static str,
    },
}

impl Value {
    fn describe(&self) -> String {
        match self {
            Value::Str(_) => "a string".to_owned(),
            Value::Int(i) => format!("the number {i}"),
            Value::Float(f) => format!("the number {f}"),
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Null => "null".to_owned(),
            Value::List(_) => "a list".to_owned(),
            Value::Other { kind } => (*kind).to_owned(),
        }
    }
}

/// Any scalar as text: strings as they are, numbers and booleans in their usual
/// spelling (so `key_label = 7` is the label "7").
pub(crate) fn to_string(value: &Value) -> Result<String, String> {
    match value {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(f.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expected a string, got {}", other.describe())),
    }
}

/// A list of strings: a list of scalars, or one comma-separated string
/// (Vault takes both for its list fields). Items are trimmed; empty ones dropped.
pub(crate) fn to_string_list(value: &Value) -> Result<Vec<String>, String> {
    let items = match value {
        Value::List(items) => items.iter().map(to_string).collect::<Result<Vec<_>, _>>()?,
        Value::Str(s) => s.split(',').map(str::to_owned).collect(),
        other => {
            return Err(format!(
                "expected a list or a comma-separated string, got {}",
                other.describe()
            ));
        }
    };
    Ok(items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

/// `true`/`false`, bare or quoted (plus Go's `strconv.ParseBool` spellings,
/// which Vault accepts: `1`, `t`, `TRUE`, `0`, `f`, `False`, ...).
pub(crate) fn to_bool(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Str(s) => parse_bool(s),
        Value::Int(0) => Ok(false),
        Value::Int(1) => Ok(true),
        other => Err(format!("expected true or false, got {}", other.describe())),
    }
}

/// A non-negative integer, bare or quoted, decimal or `0x`-hex.
pub(crate) fn to_u64(value: &Value) -> Result<u64, String> {
    match value {
        Value::Int(i) => u64::try_from(*i)
            .map_err(|_| format!("{i} is out of range (expected 0 to {})", u64::MAX)),
        Value::Str(s) => parse_u64(s),
        other => Err(format!(
            "expected a number (decimal or 0x-hex), got {}",
            other.describe()
        )),
    }
}

/// A duration: integer seconds (bare or quoted) or Go-style text (`768h`, `1h30m`, `90s`).
pub(crate) fn to_duration(value: &Value) -> Result<Duration, String> {
    match value {
        Value::Int(i) => u64::try_from(*i)
            .map(Duration::from_secs)
            .map_err(|_| format!("{i} is not a valid duration (must not be negative)")),
        Value::Str(s) => parse_duration(s),
        other => Err(format!(
            "expected a duration such as \"768h\", \"1h30m\" or seconds, got {}",
            other.describe()
        )),
    }
}

/// Text to bool, with the spellings of Go's `strconv.ParseBool`.
pub(crate) fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim() {
        "true" | "True" | "TRUE" | "t" | "T" | "1" => Ok(true),
        "false" | "False" | "FALSE" | "f" | "F" | "0" => Ok(false),
        other => Err(format!(
            "\"{other}\" is not a boolean (expected true or false)"
        )),
    }
}

/// Text to u64: decimal, or hex with a `0x`/`0X` prefix (as `mechanism` and
/// `slot` are written).
pub fn parse_u64(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse::<u64>(),
    };
    parsed.map_err(|_| format!("\"{t}\" is not a number (expected decimal or 0x-hex)"))
}

/// Text to duration: all digits means seconds, otherwise humantime syntax, which
/// covers Go's `h`/`m`/`s`/`ms` units written together (`1h30m`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("\"{t}\" is too large a number of seconds"));
    }
    humantime::parse_duration(t).map_err(|_| {
        format!("\"{t}\" is not a duration (expected e.g. \"768h\", \"1h30m\", \"90s\" or seconds)")
    })
}

/// Hex text (`0x3333...` or bare hex) to bytes, e.g. a PKCS#11 `CKA_ID`.
pub(crate) fn parse_hex_bytes(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if digits.is_empty() {
        return Err("empty hex string (expected e.g. \"0x3333\")".to_owned());
    }
    hex::decode(digits).map_err(|_| {
        format!(
            "\"{t}\" is not a hex string (expected an even number of hex digits, e.g. \"0x3333\")"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_bare_booleans_mean_the_same() {
        assert_eq!(to_bool(&Value::Str("true".into())), Ok(true));
        assert_eq!(to_bool(&Value::Bool(true)), Ok(true));
        assert_eq!(to_bool(&Value::Str("false".into())), Ok(false));
        assert_eq!(to_bool(&Value::Bool(false)), Ok(false));
    }

    #[test]
    fn numbers_parse_from_decimal_hex_and_bare_literals() {
        assert_eq!(to_u64(&Value::Str("0x0009".into())), Ok(9));
        assert_eq!(
            to_u64(&Value::Str("2305843009213693953".into())),
            Ok(0x2000_0000_0000_0001)
        );
        assert_eq!(to_u64(&Value::Int(4231)), Ok(4231));
    }

    #[test]
    fn bad_hex_number_says_what_is_expected() {
        let err = to_u64(&Value::Str("0xZZ".into())).unwrap_err();
        assert_eq!(err, "\"0xZZ\" is not a number (expected decimal or 0x-hex)");
        assert!(to_u64(&Value::Int(-1)).is_err());
    }

    #[test]
    fn durations_accept_go_style_text_and_seconds() {
        assert_eq!(parse_duration("768h"), Ok(Duration::from_secs(768 * 3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(to_duration(&Value::Int(60)), Ok(Duration::from_secs(60)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn hex_ids_decode_with_or_without_prefix() {
        assert_eq!(parse_hex_bytes("0x3334"), Ok(vec![0x33, 0x34]));
        assert_eq!(parse_hex_bytes("abcd"), Ok(vec![0xab, 0xcd]));
        assert!(parse_hex_bytes("0x123").is_err());
    }

    #[test]
    fn string_errors_never_echo_the_value() {
        let err = to_string(&Value::Other { kind: "an array" }).unwrap_err();
        assert_eq!(err, "expected a string, got an array");
    }
}
