//! JSON policy text → [`Entry`] tree. Vault accepts JSON policies because its
//! HCL1 parser reads JSON: `{"path": {"secret/*": {"capabilities": ["read"]}}}`.
//!
//! serde_json keeps no positions, so each key's line is found by searching the
//! text for the quoted key, starting at its parent key. That is exact for
//! distinct keys and may point at an earlier sibling's key of the same name;
//! syntax errors carry serde_json's own line and column.

use serde_json::Value;

use super::error::PolicyError;
use super::tree::{Entry, Item, Lines, Node};

/// Whether `text` is a JSON policy rather than HCL (an HCL body never starts
/// with `{`).
pub(super) fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// Parses JSON `text` of policy `name` into entries.
pub(super) fn parse(name: &str, text: &str) -> Result<Vec<Entry>, PolicyError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        // serde_json appends " at line L column C"; the position goes first here.
        let full = e.to_string();
        let message = full
            .rfind(" at line ")
            .map_or(full.as_str(), |i| &full[..i])
            .to_owned();
        PolicyError::Syntax {
            policy: name.to_owned(),
            line: e.line(),
            column: e.column().max(1),
            message,
            hint: None,
        }
    })?;
    let finder = Finder {
        text,
        lines: Lines::new(text),
    };
    match convert(&finder, &value, 0) {
        Node::Map(entries) => Ok(entries),
        _ => Err(PolicyError::Invalid {
            policy: name.to_owned(),
            line: 1,
            context: String::new(),
            message: "a JSON policy must be an object: {\"path\": {\"secret/*\": {...}}}"
                .to_owned(),
        }),
    }
}

struct Finder<'a> {
    text: &'a str,
    lines: Lines,
}

impl Finder<'_> {
    /// Offset of `"key"` at or after `from`, or `from` when not found.
    fn key_offset(&self, key: &str, from: usize) -> usize {
        let quoted = serde_json::to_string(key).unwrap_or_default();
        self.text
            .get(from..)
            .and_then(|rest| rest.find(&quoted))
            .map_or(from, |i| from + i)
    }
}

/// `offset` is where the value's own key was found; children are searched after it.
fn convert(finder: &Finder<'_>, value: &Value, offset: usize) -> Node {
    match value {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Number(n) => Node::Number(n.clone()),
        Value::String(s) => Node::Str(s.clone()),
        Value::Array(items) => Node::List(
            items
                .iter()
                .map(|item| Item {
                    node: convert(finder, item, offset),
                    line: finder.lines.line(offset),
                })
                .collect(),
        ),
        Value::Object(map) => Node::Map(
            map.iter()
                .map(|(key, child)| {
                    let at = finder.key_offset(key, offset);
                    Entry {
                        key: key.clone(),
                        block: false,
                        labels: Vec::new(),
                        value: convert(finder, child, at),
                        line: finder.lines.line(at),
                    }
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_get_the_line_they_are_written_on() {
        let text = "{\n  \"path\": {\n    \"secret/*\": {\n      \"capabilities\": [\"read\"]\n    }\n  }\n}\n";
        let entries = parse("t", text).unwrap_or_default();
        assert_eq!((entries[0].key.as_str(), entries[0].line), ("path", 2));
        let Node::Map(paths) = &entries[0].value else {
            panic!("object expected");
        };
        assert_eq!((paths[0].key.as_str(), paths[0].line), ("secret/*", 3));
        let Node::Map(rule) = &paths[0].value else {
            panic!("object expected");
        };
        assert_eq!((rule[0].key.as_str(), rule[0].line), ("capabilities", 4));
    }

    #[test]
    fn syntax_errors_point_at_line_and_column() {
        let err = parse("t", "{\n  \"path\": {\n}\n")
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.starts_with("t:4:"), "{err}");
        assert!(!err.contains(" at line "), "{err}");
    }

    #[test]
    fn json_is_recognised_by_its_opening_brace() {
        assert!(looks_like_json("  \n{\"path\": {}}"));
        assert!(!looks_like_json("path \"a\" {}"));
    }
}
