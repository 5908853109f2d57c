//! Request fields as Vault's framework accepts them, beyond what
//! `coffer_core::engine::field` covers: strings that a script may send as numbers,
//! base64 payloads, `batch_input` arrays and key names.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_core::{CoreError, CoreResult};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::Value;

/// A string; numbers and booleans become their text (Vault's weak
/// decoding), `null` is absent.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(D::Error::custom(format!(
            "expected a string, got {}",
            json_kind(&other)
        ))),
    }
}

/// The JSON type of a value, for errors that must not echo request data.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Most items one `batch_input` may hold: bounds the work one request can
/// ask for (a 32 MiB body could otherwise carry a million RSA operations).
pub(crate) const MAX_BATCH_ITEMS: usize = 10_000;

/// `batch_input`: a JSON array of objects, or absent/`null`. Any other shape,
/// or an item of the wrong shape, fails the whole request (as in Vault).
pub(crate) fn opt_batch<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.len() > MAX_BATCH_ITEMS => {
            Err(D::Error::custom(format!(
                "batch_input has {} items; at most {MAX_BATCH_ITEMS} are allowed per request",
                items.len()
            )))
        }
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                if !item.is_object() {
                    return Err(D::Error::custom(format!(
                        "[{i}] expected a map, got {}",
                        json_kind(&item)
                    )));
                }
                serde_json::from_value(item).map_err(|e| D::Error::custom(format!("[{i}]: {e}")))
            })
            .collect::<Result<Vec<T>, _>>()
            .map(Some),
        Some(other) => Err(D::Error::custom(format!(
            "batch_input must be an array, got {}",
            json_kind(&other)
        ))),
    }
}

/// Decodes the base64 `field`; the error names the field.
pub(crate) fn b64_decode(field: &str, value: &str) -> CoreResult<Vec<u8>> {
    STANDARD
        .decode(value)
        .map_err(|_| CoreError::invalid(format!("unable to decode {field} as base64")))
}

/// Decodes an optional base64 field; absent or empty is empty.
pub(crate) fn b64_opt(field: &str, value: Option<&str>) -> CoreResult<Vec<u8>> {
    match value {
        None | Some("") => Ok(Vec::new()),
        Some(v) => b64_decode(field, v),
    }
}

/// Checks a key name against Vault's `GenericNameRegex`
/// (`\w(([\w-.@]+)?\w)?`); other names have no route, as in Vault.
pub(crate) fn key_name(name: &str) -> CoreResult<&str> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let inner = |c: char| word(c) || matches!(c, '-' | '.' | '@');
    let ok = match (name.chars().next(), name.chars().last()) {
        (Some(first), Some(last)) => word(first) && word(last) && name.chars().all(inner),
        _ => false,
    };
    if ok {
        Ok(name)
    } else {
        Err(CoreError::UnsupportedPath(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "opt_batch")]
        batch_input: Option<Vec<Item>>,
    }

    #[derive(Deserialize)]
    struct Item {
        #[serde(default, deserialize_with = "opt_string")]
        plaintext: Option<String>,
    }

    #[test]
    fn weak_strings_and_batches_parse() {
        let b: Body = serde_json::from_value(
            serde_json::json!({"s": 5, "batch_input": [{"plaintext": "x"}, {}]}),
        )
        .expect("parse");
        assert_eq!(b.s.as_deref(), Some("5"));
        let items = b.batch_input.expect("batch");
        assert_eq!(items[0].plaintext.as_deref(), Some("x"));
        assert!(items[1].plaintext.is_none());
        let none: Body =
            serde_json::from_value(serde_json::json!({"batch_input": null})).expect("null");
        assert!(none.batch_input.is_none());
        assert!(serde_json::from_value::<Body>(serde_json::json!({"batch_input": "x"})).is_err());
        assert!(serde_json::from_value::<Body>(serde_json::json!({"batch_input": [1]})).is_err());
    }

    #[test]
    fn key_names_follow_vaults_pattern() {
        for ok in ["a", "my-key", "k.v@x_1", "A9"] {
            assert!(key_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "a b", "a/b", "é"] {
            assert!(key_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_base64_names_the_field() {
        let e = b64_decode("plaintext", "!!")
            .expect_err("error")
            .to_string();
        assert!(e.starts_with("unable to decode plaintext as base64"), "{e}");
        assert!(b64_opt("context", None).expect("empty").is_empty());
    }
}
