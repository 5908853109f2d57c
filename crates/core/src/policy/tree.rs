//! A policy text after syntax, before meaning: keys, labels and values, each
//! with its line. HCL ([`super::hcl_syntax`]) and JSON ([`super::json_syntax`])
//! both produce it, so [`super::decode`] checks keys and values once.
//!
//! `path "secret/*" { capabilities = ["read"] }` becomes an [`Entry`] with key
//! `path`, label `secret/*` and a [`Node::Map`] value; the JSON spelling
//! `{"path": {"secret/*": {...}}}` becomes an entry `path` whose map holds an
//! entry `secret/*`. The decoder accepts both shapes.

use serde_json::Number;

/// `key "label" ... = value` or `key "label" { ... }`, with the line of `key`.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) key: String,
    /// Whether this is an HCL block (`key "label" { }`) rather than a value.
    pub(super) block: bool,
    pub(super) labels: Vec<String>,
    pub(super) value: Node,
    pub(super) line: usize,
}

/// A value, reduced to what policies can hold.
#[derive(Debug)]
pub(super) enum Node {
    Str(String),
    Number(Number),
    Bool(bool),
    Null,
    /// A list; each item keeps its own line.
    List(Vec<Item>),
    /// An object or a block body.
    Map(Vec<Entry>),
    /// Something policies never hold (an expression, an interpolation);
    /// the text says what, for messages.
    Unsupported(&'static str),
}

/// A list element with its line.
#[derive(Debug)]
pub(super) struct Item {
    pub(super) node: Node,
    pub(super) line: usize,
}

impl Node {
    /// How messages describe the kind of value found.
    pub(super) fn describe(&self) -> &'static str {
        match self {
            Node::Str(_) => "a string",
            Node::Number(_) => "a number",
            Node::Bool(_) => "a boolean",
            Node::Null => "null",
            Node::List(_) => "a list",
            Node::Map(_) => "an object",
            Node::Unsupported(what) => what,
        }
    }
}

/// Byte offset → 1-based line number.
pub(super) struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub(super) fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { starts }
    }

    pub(super) fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines() {
        let lines = Lines::new("ab\ncd\n\nef");
        assert_eq!(lines.line(0), 1);
        assert_eq!(lines.line(2), 1);
        assert_eq!(lines.line(3), 2);
        assert_eq!(lines.line(6), 3);
        assert_eq!(lines.line(7), 4);
        assert_eq!(lines.line(100), 4);
    }
}
