//! Weakly-typed request fields, as Vault's framework accepts them: the
//! `vault` CLI sends every value as a string (`"true"`, `"5"`, `"1h"`), hvac
//! sends JSON `null` for unset options. Use with `#[serde(default,
//! deserialize_with = "...")]` on `Option<_>` fields. Durations need none
//! of these: [`crate::Ttl`] parses every form itself.

use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use serde_json::Value;

/// `true`/`false`, `"true"`/`"false"`/`"1"`/`"0"`, or null.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" => Ok(Some(true)),
            "false" | "0" | "f" | "" => Ok(Some(false)),
            _ => Err(D::Error::custom(format!("cannot parse {s:?} as a boolean"))),
        },
        Some(Value::Number(n)) => Ok(Some(n.as_u64() != Some(0))),
        Some(other) => Err(D::Error::custom(format!("expected a boolean, got {other}"))),
    }
}

/// A non-negative integer, as a number or a decimal string, or null.
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected a non-negative integer, got {n}"))),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => {
            s.trim().parse().map(Some).map_err(|_| {
                D::Error::custom(format!("cannot parse {s:?} as a non-negative integer"))
            })
        }
        Some(other) => Err(D::Error::custom(format!(
            "expected an integer, got {other}"
        ))),
    }
}

/// A list of strings: a JSON array of strings, or one comma-separated string
/// (`"a,b"`, as the `vault` CLI sends `policies=a,b`), or null. Items are
/// trimmed and empty ones dropped.
pub fn opt_string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let items: Vec<String> = match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.split(',').map(str::to_owned).collect(),
        Some(Value::Array(values)) => values
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(D::Error::custom(format!(
                    "expected a list of strings, got an item {other}"
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(D::Error::custom(format!(
                "expected a list of strings, got {other}"
            )));
        }
    };
    Ok(Some(
        items
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    ))
}

/// A map of strings (`meta`): a JSON object whose values are strings, or
/// null. Numbers and booleans are taken as their text, as Vault's weak
/// decoding does.
pub fn opt_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::collections::BTreeMap<String, String>>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                Value::Number(n) => Ok((k, n.to_string())),
                Value::Bool(b) => Ok((k, b.to_string())),
                _ => Err(D::Error::custom(format!(
                    "the value of {k:?} must be a string"
                ))),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(other) => Err(D::Error::custom(format!(
            "expected a map of strings, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "opt_u64")]
        n: Option<u64>,
    }

    fn parse(v: Value) -> Result<Body, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn cli_strings_and_json_types_both_parse() {
        let a = parse(serde_json::json!({"b": "true", "n": "5"})).expect("strings");
        assert_eq!((a.b, a.n), (Some(true), Some(5)));
        let b = parse(serde_json::json!({"b": false, "n": 7})).expect("json types");
        assert_eq!((b.b, b.n), (Some(false), Some(7)));
        let c = parse(serde_json::json!({"b": null, "n": null})).expect("nulls");
        assert_eq!((c.b, c.n), (None, None));
    }

    #[test]
    fn bad_values_name_the_problem() {
        let e = parse(serde_json::json!({"n": "abc"}))
            .err()
            .expect("error")
            .to_string();
        assert!(e.contains("\"abc\""), "{e}");
        assert!(parse(serde_json::json!({"n": -1})).is_err());
        assert!(parse(serde_json::json!({"b": "maybe"})).is_err());
    }

    #[derive(Deserialize)]
    struct Lists {
        #[serde(default, deserialize_with = "opt_string_list")]
        l: Option<Vec<String>>,
        #[serde(default, deserialize_with = "opt_string_map")]
        m: Option<std::collections::BTreeMap<String, String>>,
    }

    #[test]
    fn string_lists_come_as_arrays_or_comma_strings() {
        let a: Lists =
            serde_json::from_value(serde_json::json!({"l": "a, b,,c", "m": {"k": "v", "n": 1}}))
                .expect("comma string");
        assert_eq!(a.l, Some(vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(a.m.expect("map")["n"], "1");
        let b: Lists = serde_json::from_value(serde_json::json!({"l": ["x", " y "], "m": null}))
            .expect("array");
        assert_eq!(b.l, Some(vec!["x".into(), "y".into()]));
        assert!(b.m.is_none());
        assert!(serde_json::from_value::<Lists>(serde_json::json!({"l": [1]})).is_err());
        assert!(serde_json::from_value::<Lists>(serde_json::json!({"m": {"k": []}})).is_err());
    }
}
