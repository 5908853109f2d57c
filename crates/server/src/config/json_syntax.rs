//! JSON text → [`Body`], for `-config` files ending in `.json` (hcl-rs does not
//! read JSON). Vault's JSON shape for stanzas is `{"seal": {"pkcs11": {...}}}`,
//! with a list wherever a stanza repeats: `{"listener": [{"tcp": {...}}, ...]}`
//! or `{"listener": {"tcp": [{...}, {...}]}}`.
//!
//! serde_json keeps no positions, so lines are found by searching the source
//! text for the quoted key, starting from the enclosing key's position. That is
//! exact for distinct keys and may point at the first of two same-named keys
//! (e.g. `address` in the second of two listeners); syntax errors carry
//! serde_json's own line and column.

use std::path::Path;

use serde_json::Value as Json;

use super::document::{Attr, Block, Body, location};
use super::error::ConfigError;
use super::value::Value;

/// Parses JSON `text` (read from `file`); top-level keys named in `block_idents`
/// are stanzas, everything else is an attribute.
pub(crate) fn parse(file: &Path, text: &str, block_idents: &[&str]) -> Result<Body, ConfigError> {
    let json: Json = serde_json::from_str(text).map_err(|e| {
        // serde_json appends " at line L column C"; we print the position first.
        let full = e.to_string();
        let message = full
            .rfind(" at line ")
            .map_or(full.as_str(), |i| &full[..i])
            .to_owned();
        ConfigError::Syntax {
            file: file.to_path_buf(),
            line: e.line(),
            column: e.column().max(1),
            message,
            hint: None,
        }
    })?;
    let Json::Object(top) = json else {
        return Err(ConfigError::invalid_at(
            &location(file, text, 0),
            "a JSON config must be an object: { \"storage\": {...}, \"listener\": {...} }",
        ));
    };
    let mut body = Body::default();
    for (key, value) in &top {
        let key_offset = find_key(text, key, 0);
        if block_idents.contains(&key.as_str()) {
            push_blocks(file, text, key, key_offset, value, &mut body.blocks)?;
        } else {
            body.attrs.push(Attr {
                key: key.clone(),
                value: convert_value(value),
                at: location(file, text, key_offset),
            });
        }
    }
    Ok(body)
}

/// `{"label": {..}}`, `{"label": [{..}, {..}]}` or `[{"label": {..}}, ...]`.
fn push_blocks(
    file: &Path,
    text: &str,
    ident: &str,
    offset: usize,
    value: &Json,
    out: &mut Vec<Block>,
) -> Result<(), ConfigError> {
    let shape_error = || {
        ConfigError::invalid_at(
            &location(file, text, offset),
            format!(
                "\"{ident}\" must map a type to its settings, e.g. {{\"{ident}\": {{\"TYPE\": {{...}}}}}}"
            ),
        )
    };
    match value {
        Json::Array(items) => {
            for item in items {
                push_blocks(file, text, ident, offset, item, out)?;
            }
        }
        Json::Object(labels) => {
            for (label, settings) in labels {
                let label_offset = find_key(text, label, offset);
                let bodies: Vec<&Json> = match settings {
                    Json::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for settings in bodies {
                    let Json::Object(fields) = settings else {
                        return Err(shape_error());
                    };
                    let mut body = Body::default();
                    for (field, value) in fields {
                        body.attrs.push(Attr {
                            key: field.clone(),
                            value: convert_value(value),
                            at: location(file, text, find_key(text, field, label_offset)),
                        });
                    }
                    out.push(Block {
                        ident: ident.to_owned(),
                        labels: vec![label.clone()],
                        body,
                        at: location(file, text, label_offset),
                    });
                }
            }
        }
        _ => return Err(shape_error()),
    }
    Ok(())
}

fn convert_value(value: &Json) -> Value {
    match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::Int(i128::from(u))
            } else if let Some(i) = n.as_i64() {
                Value::Int(i128::from(i))
            } else {
                n.as_f64()
                    .map_or(Value::Other { kind: "a number" }, Value::Float)
            }
        }
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::List(items.iter().map(convert_value).collect()),
        Json::Object(_) => Value::Other { kind: "an object" },
    }
}

/// Byte offset of `"key"` used as an object key (followed by `:`) at or after
/// `from`; `from` itself when not found.
fn find_key(text: &str, key: &str, from: usize) -> usize {
    let Ok(quoted) = serde_json::to_string(key) else {
        return from;
    };
    let mut start = from.min(text.len());
    while let Some(found) = text.get(start..).and_then(|rest| rest.find(&quoted)) {
        let at = start + found;
        let after = at + quoted.len();
        if text
            .get(after..)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
        {
            return at;
        }
        start = after;
    }
    from
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTS: &[&str] = &["storage", "listener", "seal", "entropy"];

    #[test]
    fn stanzas_in_both_list_shapes_become_blocks() {
        let text = r#"{
  "listener": [{"tcp": {"address": "127.0.0.1:8200"}}, {"tcp": {"address": "127.0.0.1:8300"}}],
  "seal": {"pkcs11": [{"lib": "/a"}, {"lib": "/b", "disabled": "true"}]},
  "ui": true
}"#;
        let body = parse(Path::new("c.json"), text, IDENTS).unwrap_or_default();
        assert_eq!(body.blocks.len(), 4);
        assert_eq!(body.attrs.len(), 1);
        assert_eq!(body.attrs[0].at.line, 4);
        assert_eq!(body.blocks[2].at.line, 3);
    }

    #[test]
    fn json_syntax_errors_carry_line_and_column() {
        let err = parse(
            Path::new("c.json"),
            "{\n  \"ui\": true,\n  \"x\" 1\n}",
            IDENTS,
        )
        .err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(text, "c.json:3:7: syntax error: expected `:`");
    }
}
