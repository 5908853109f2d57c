//! The path of a secret inside a mount, checked once at the edge so that
//! storage never sees a key it would reject (empty, `.`/`..` or empty
//! segments, NUL).

use coffer_core::{CoreError, CoreResult};
use std::fmt;

/// A valid secret path: non-empty, `/`-separated, every segment non-empty
/// and neither `.` nor `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPath(String);

impl KeyPath {
    /// Checks `raw`; an empty path is Vault's "missing path".
    pub(crate) fn parse(raw: &str) -> CoreResult<Self> {
        if raw.is_empty() {
            return Err(CoreError::invalid("missing path"));
        }
        if let Some(reason) = bad_segments(raw) {
            return Err(CoreError::invalid(format!(
                "invalid path {raw:?}: {reason}"
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The path as stored.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Turns a list request's path into a storage prefix (empty, or ending in
/// `/`). `None` when the path cannot name a folder, which lists as empty.
pub(crate) fn list_prefix(raw: &str) -> Option<String> {
    let trimmed = raw.strip_suffix('/').unwrap_or(raw);
    if trimmed.is_empty() {
        return Some(String::new());
    }
    if bad_segments(trimmed).is_some() {
        return None;
    }
    Some(format!("{trimmed}/"))
}

fn bad_segments(raw: &str) -> Option<&'static str> {
    if raw.contains('\0') {
        return Some("contains a NUL character");
    }
    raw.split('/').find_map(|seg| match seg {
        "" => Some("contains an empty segment (leading, trailing or double '/')"),
        "." | ".." => Some("contains a '.' or '..' segment"),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_nested_paths_are_accepted() {
        assert_eq!(
            KeyPath::parse("team/app/db").expect("valid").as_str(),
            "team/app/db"
        );
    }

    #[test]
    fn empty_path_is_missing_path() {
        let err = KeyPath::parse("").expect_err("empty");
        assert_eq!(err.to_string(), "missing path");
    }

    #[test]
    fn empty_and_dot_segments_are_rejected() {
        for raw in ["a//b", "a/", "/a", "a/../b", ".", "a\0b"] {
            assert!(KeyPath::parse(raw).is_err(), "{raw:?} must be rejected");
        }
    }

    #[test]
    fn list_prefixes_gain_a_trailing_slash() {
        assert_eq!(list_prefix("").as_deref(), Some(""));
        assert_eq!(list_prefix("a").as_deref(), Some("a/"));
        assert_eq!(list_prefix("a/b/").as_deref(), Some("a/b/"));
        assert_eq!(list_prefix("a//b"), None);
    }
}
