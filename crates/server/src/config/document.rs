//! One config file after parsing: attributes and blocks, each with the line it
//! sits on, whichever syntax (HCL or JSON) it came from. Stanza decoders read it
//! through [`Fields`], which rejects unknown fields up front (our equivalent of
//! serde's `deny_unknown_fields`, but with a line number in the error).
//!
//! Why not serde straight into structs: hcl-rs' serde path drops positions,
//! turns repeated blocks into arrays and bare numbers into `"${0}"` templates.
//! hcl-rs re-exports hcl-edit, whose tree keeps byte spans, so we walk that.

use std::path::Path;
use std::time::Duration;

use super::error::{ConfigError, Location};
use super::value::{self, Value};

/// The attributes and blocks of a file or of a block, in source order.
#[derive(Default)]
pub(crate) struct Body {
    /// `key = value` lines.
    pub(crate) attrs: Vec<Attr>,
    /// `ident "label" { ... }` stanzas.
    pub(crate) blocks: Vec<Block>,
}

/// `key = value`, with the position of `key`.
pub(crate) struct Attr {
    pub(crate) key: String,
    pub(crate) value: Value,
    pub(crate) at: Location,
}

/// `ident "label" ... { body }`, with the position of `ident`.
pub(crate) struct Block {
    pub(crate) ident: String,
    pub(crate) labels: Vec<String>,
    pub(crate) body: Body,
    pub(crate) at: Location,
}

impl Block {
    /// `seal "pkcs11"`: how messages name this stanza.
    pub(crate) fn title(&self) -> String {
        let mut title = self.ident.clone();
        for label in &self.labels {
            title.push_str(&format!(" \"{label}\""));
        }
        title
    }

    /// The single label of a `kind "label" { }` stanza, or an error naming the stanza.
    pub(crate) fn single_label(&self, example: &str) -> Result<&str, ConfigError> {
        match self.labels.as_slice() {
            [label] => Ok(label),
            _ => Err(ConfigError::invalid_at(
                &self.at,
                format!("{} needs exactly one label, e.g. {example}", self.title()),
            )),
        }
    }
}

/// 1-based line of a byte offset in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// A location in `file` from a byte offset.
pub(crate) fn location(file: &Path, text: &str, offset: usize) -> Location {
    Location {
        file: file.to_path_buf(),
        line: line_of(text, offset),
    }
}

/// The fields of one stanza, checked against the names it accepts. Typed getters
/// take a field out and convert it; conversion errors carry file, line, stanza
/// and field.
pub(crate) struct Fields {
    context: String,
    at: Location,
    attrs: Vec<Attr>,
}

impl Fields {
    /// Checks `body` against `known` (unknown names and nested blocks are errors).
    pub(crate) fn new(
        context: String,
        at: Location,
        body: Body,
        known: &[&str],
    ) -> Result<Self, ConfigError> {
        if let Some(attr) = body.attrs.iter().find(|a| !known.contains(&a.key.as_str())) {
            return Err(ConfigError::UnknownField {
                at: attr.at.clone(),
                context,
                field: attr.key.clone(),
                hint: Some(expected_names(known)),
            });
        }
        if let Some(block) = body.blocks.first() {
            return Err(ConfigError::UnknownField {
                at: block.at.clone(),
                context,
                field: block.ident.clone(),
                hint: Some(format!("no nested blocks here; {}", expected_names(known))),
            });
        }
        Ok(Self {
            context,
            at,
            attrs: body.attrs,
        })
    }

    /// The stanza's own position (for "missing field" errors).
    pub(crate) fn at(&self) -> &Location {
        &self.at
    }

    /// The stanza's name for messages, e.g. `listener "tcp"`.
    pub(crate) fn context(&self) -> &str {
        &self.context
    }

    fn take(&mut self, name: &str) -> Option<Attr> {
        let index = self.attrs.iter().position(|a| a.key == name)?;
        Some(self.attrs.swap_remove(index))
    }

    /// Takes field `name` and converts it with `convert`; its message is
    /// reported against the field's line.
    pub(crate) fn convert<T>(
        &mut self,
        name: &str,
        convert: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(attr) = self.take(name) else {
            return Ok(None);
        };
        convert(&attr.value)
            .map(Some)
            .map_err(|message| ConfigError::invalid_value(&attr.at, &self.context, name, message))
    }

    /// A string field; an empty string counts as unset (Vault's documented default
    /// for optional labels is `""`).
    pub(crate) fn string(&mut self, name: &str) -> Result<Option<String>, ConfigError> {
        Ok(self
            .convert(name, value::to_string)?
            .filter(|s| !s.is_empty()))
    }

    /// A boolean field, bare or quoted.
    pub(crate) fn bool(&mut self, name: &str) -> Result<Option<bool>, ConfigError> {
        self.convert(name, value::to_bool)
    }

    /// An unsigned integer field, bare or quoted, decimal or 0x-hex.
    pub(crate) fn u64(&mut self, name: &str) -> Result<Option<u64>, ConfigError> {
        self.convert(name, value::to_u64)
    }

    /// A duration field (`"768h"`, `"1h30m"`, seconds) with its position, which
    /// later checks (default vs max TTL) point at.
    pub(crate) fn duration_at(
        &mut self,
        name: &str,
    ) -> Result<Option<(Duration, Location)>, ConfigError> {
        let Some(attr) = self.take(name) else {
            return Ok(None);
        };
        let duration = value::to_duration(&attr.value)
            .map_err(|m| ConfigError::invalid_value(&attr.at, &self.context, name, m))?;
        Ok(Some((duration, attr.at)))
    }

    /// A string field parsed by `parse` (enums, hex ids); messages from `parse`
    /// are reported against the field.
    pub(crate) fn parsed<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.convert(name, |v| value::to_string(v).and_then(|s| parse(&s)))
    }

    /// A string field with its position, for checks made after decoding.
    pub(crate) fn string_at(
        &mut self,
        name: &str,
    ) -> Result<Option<(String, Location)>, ConfigError> {
        let Some(attr) = self.take(name) else {
            return Ok(None);
        };
        let text = value::to_string(&attr.value)
            .map_err(|m| ConfigError::invalid_value(&attr.at, &self.context, name, m))?;
        Ok(Some((text, attr.at)).filter(|(s, _)| !s.is_empty()))
    }
}

fn expected_names(known: &[&str]) -> String {
    if known.is_empty() {
        "this stanza takes no fields".to_owned()
    } else {
        format!("expected one of: {}", known.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_count_from_one() {
        let text = "a\nb\nc";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 2), 2);
        assert_eq!(line_of(text, 4), 3);
        assert_eq!(line_of(text, 99), 3);
    }
}
