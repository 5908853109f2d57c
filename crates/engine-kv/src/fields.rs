//! KV-specific weakly typed request fields, in the spirit of
//! `coffer_core::engine::field` (which covers booleans, integers and durations):
//! version lists (`[1, 2]`, `"1,2"`, `3`) and string maps whose values the
//! CLI or a script may send as numbers or booleans.

use coffer_core::Ttl;
use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use serde_json::Value;
use std::collections::BTreeMap;

/// A list of version numbers: a JSON array of numbers or decimal strings, a
/// comma-separated string, or a single number. Null is the empty list.
pub(crate) fn version_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    let parsed: Result<Vec<u64>, String> = match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(version_number).collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| version_number(&Value::String(p.to_owned())))
            .collect(),
        Some(single @ Value::Number(_)) => version_number(&single).map(|v| vec![v]),
        Some(other) => Err(format!("expected a list of versions, got {other}")),
    };
    parsed.map_err(D::Error::custom)
}

/// A map of strings to strings (`custom_metadata`); numbers and booleans are
/// turned into their text, as Vault's weak decoding does. Null is absent.
pub(crate) fn opt_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    let Some(map) = opt_object(d)? else {
        return Ok(None);
    };
    map.into_iter()
        .map(|(k, v)| match weak_string(&v) {
            Some(s) => Ok((k, s)),
            None => Err(D::Error::custom(format!(
                "value of {k:?} must be a string, got {v}"
            ))),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Like [`opt_string_map`], but a `null` value is kept as `None` (a JSON merge
/// patch uses it to remove that entry).
pub(crate) fn opt_string_patch<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, Option<String>>>, D::Error> {
    let Some(map) = opt_object(d)? else {
        return Ok(None);
    };
    map.into_iter()
        .map(|(k, v)| match (&v, weak_string(&v)) {
            (Value::Null, _) => Ok((k, None)),
            (_, Some(s)) => Ok((k, Some(s))),
            (_, None) => Err(D::Error::custom(format!(
                "value of {k:?} must be a string, got {v}"
            ))),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// The advisory TTL a KV v1 secret carries in its `ttl` (or legacy `lease`)
/// field; unparsable values are ignored, as in Vault.
pub(crate) fn stored_ttl(ttl: &Value) -> Option<Ttl> {
    match ttl {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .map(Ttl::from_secs),
        Value::String(s) => Ttl::parse(s).ok(),
        _ => None,
    }
}

fn version_number(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("version must be a non-negative integer, got {n}")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("cannot parse {s:?} as a version number")),
        other => Err(format!("version must be an integer, got {other}")),
    }
}

fn opt_object<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Map<String, Value>>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(D::Error::custom(format!("expected an object, got {other}"))),
    }
}

fn weak_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "version_list")]
        versions: Vec<u64>,
        #[serde(default, deserialize_with = "opt_string_map")]
        meta: Option<BTreeMap<String, String>>,
        #[serde(default, deserialize_with = "opt_string_patch")]
        patch: Option<BTreeMap<String, Option<String>>>,
    }

    fn parse(v: Value) -> Result<Body, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn versions_accept_arrays_strings_and_single_numbers() {
        assert_eq!(
            parse(json!({"versions": [1, "2"]}))
                .expect("array")
                .versions,
            [1, 2]
        );
        assert_eq!(
            parse(json!({"versions": "1, 3"})).expect("csv").versions,
            [1, 3]
        );
        assert_eq!(parse(json!({"versions": 4})).expect("single").versions, [4]);
        assert!(
            parse(json!({"versions": null}))
                .expect("null")
                .versions
                .is_empty()
        );
        assert!(parse(json!({})).expect("absent").versions.is_empty());
    }

    #[test]
    fn negative_or_garbage_versions_are_rejected() {
        assert!(parse(json!({"versions": [-1]})).is_err());
        assert!(parse(json!({"versions": "x"})).is_err());
        assert!(parse(json!({"versions": {"a": 1}})).is_err());
    }

    #[test]
    fn string_maps_stringify_scalars_and_reject_structures() {
        let b = parse(json!({"meta": {"a": "x", "n": 5, "b": true}})).expect("map");
        let m = b.meta.expect("present");
        assert_eq!(m["n"], "5");
        assert_eq!(m["b"], "true");
        assert!(parse(json!({"meta": {"a": [1]}})).is_err());
        assert!(parse(json!({"meta": "a=b"})).is_err());
    }

    #[test]
    fn patch_maps_keep_nulls_as_removals() {
        let p = parse(json!({"patch": {"gone": null, "kept": "v"}}))
            .expect("patch")
            .patch;
        let p = p.expect("present");
        assert_eq!(p["gone"], None);
        assert_eq!(p["kept"].as_deref(), Some("v"));
    }

    #[test]
    fn stored_ttl_reads_numbers_and_duration_strings() {
        let s = |n| Some(Ttl::from_secs(n));
        assert_eq!(stored_ttl(&json!(90)), s(90));
        assert_eq!(stored_ttl(&json!("1h")), s(3600));
        assert_eq!(stored_ttl(&json!("30")), s(30));
        assert_eq!(stored_ttl(&json!("soon")), None);
        assert_eq!(stored_ttl(&json!(-5)), None);
    }
}
