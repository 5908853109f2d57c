//! Path patterns (`secret/foo`, `secret/*`, `secret/+/teamb`, `secret/+/x*`)
//! and their priority when several match one request path.
//!
//! - A trailing `*` makes the pattern a prefix match (`secret/zip-*` matches
//!   `secret/zip-zap/zong`). A `*` anywhere else is rejected: Vault would treat
//!   it literally, which is never what the author meant.
//! - A `+` that is a whole segment matches exactly one segment (any text,
//!   even empty, without `/`). A `+` inside a segment is literal, as in Vault.
//! - `+*` is rejected (Vault rejects it too).
//! - A pattern holding `{{...}}` is templated (identity templating); it parses,
//!   but the ACL skips it until Coffer has identities to fill it with.
//!
//! Priority follows <https://developer.hashicorp.com/vault/docs/concepts/policies#policy-syntax>;
//! see [`Priority`].

use std::cmp::Ordering;
use std::fmt;

/// A validated path pattern of a `path "..."` stanza.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PathPattern {
    /// As written, minus one leading `/` (Vault strips it too).
    raw: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Kind {
    /// No wildcard: the request path must be equal.
    Exact,
    /// Trailing `*` and no `+` segment: the request path must start with `prefix`.
    Prefix { prefix: String },
    /// At least one `+` segment, maybe a trailing `*`.
    Segments {
        /// The pattern split on `/`, trailing `*` removed.
        parts: Vec<String>,
        /// Whether the pattern ended in `*`.
        glob: bool,
        /// Byte offset of the first `+` segment.
        first_wildcard: usize,
        /// How many `+` segments.
        wildcards: usize,
    },
}

impl PathPattern {
    /// Validates a pattern as written in a policy. The error is a plain
    /// message; the caller adds policy name and line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw = text.strip_prefix('/').unwrap_or(text);
        if raw.is_empty() {
            return Err("the path must not be empty (use \"*\" to match every path)".to_owned());
        }
        if raw.contains("+*") {
            return Err(
                "\"+*\" is not a valid wildcard: write \"+/*\" (a segment, then anything) or \"*\""
                    .to_owned(),
            );
        }
        let body = raw.strip_suffix('*').unwrap_or(raw);
        if body.contains('*') {
            return Err(
                "\"*\" is only a glob as the last character of a path; use \"+\" for one \
                 path segment"
                    .to_owned(),
            );
        }
        let glob = body.len() != raw.len();
        let parts: Vec<String> = body.split('/').map(str::to_owned).collect();
        let wildcards = parts.iter().filter(|p| *p == "+").count();
        let kind = if wildcards > 0 {
            Kind::Segments {
                first_wildcard: first_wildcard_offset(&parts),
                parts,
                glob,
                wildcards,
            }
        } else if glob {
            Kind::Prefix {
                prefix: body.to_owned(),
            }
        } else {
            Kind::Exact
        };
        Ok(Self {
            raw: raw.to_owned(),
            kind,
        })
    }

    /// The pattern as written (without a leading `/`).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether the pattern has no wildcard at all.
    pub fn is_exact(&self) -> bool {
        matches!(self.kind, Kind::Exact)
    }

    /// Whether the pattern is a plain prefix glob (trailing `*`, no `+` segment).
    pub fn is_prefix_glob(&self) -> bool {
        matches!(self.kind, Kind::Prefix { .. })
    }

    /// Whether the pattern holds identity templating (`{{identity.entity.id}}`).
    pub fn is_templated(&self) -> bool {
        self.raw.contains("{{") && self.raw.contains("}}")
    }

    /// Whether `path` (no leading `/`) is matched by this pattern.
    pub fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.raw,
            Kind::Prefix { prefix } => path.starts_with(prefix.as_str()),
            Kind::Segments { parts, glob, .. } => segments_match(parts, *glob, path),
        }
    }

    /// The pattern's rank among wildcard patterns; `None` for an exact
    /// pattern, which outranks every wildcard match.
    pub fn priority(&self) -> Option<Priority<'_>> {
        match &self.kind {
            Kind::Exact => None,
            Kind::Prefix { prefix } => Some(Priority {
                first_wildcard: prefix.len(),
                glob: true,
                wildcards: 0,
                stem: prefix,
            }),
            Kind::Segments {
                glob,
                first_wildcard,
                wildcards,
                ..
            } => Some(Priority {
                first_wildcard: *first_wildcard,
                glob: *glob,
                wildcards: *wildcards,
                stem: self.raw.strip_suffix('*').unwrap_or(&self.raw),
            }),
        }
    }
}

impl fmt::Debug for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PathPattern({:?})", self.raw)
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// How specific a wildcard pattern is. `Ord`: greater means higher priority.
///
/// Vault's documented rules, for two patterns P1 and P2 that both match:
/// 1. if the first wildcard (`+`) or glob (`*`) occurs earlier in P1, P1 is lower priority;
/// 2. if P1 ends in `*` and P2 doesn't, P1 is lower priority;
/// 3. if P1 has more `+` (wildcard) segments, P1 is lower priority;
/// 4. if P1 is shorter, it is lower priority;
/// 5. if P1 is smaller lexicographically, it is lower priority.
///
/// Lengths and the lexicographic tie-break use the pattern without its
/// trailing `*`, as Vault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority<'a> {
    first_wildcard: usize,
    glob: bool,
    wildcards: usize,
    stem: &'a str,
}

impl Ord for Priority<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.first_wildcard
            .cmp(&other.first_wildcard)
            .then_with(|| other.glob.cmp(&self.glob))
            .then_with(|| other.wildcards.cmp(&self.wildcards))
            .then_with(|| self.stem.len().cmp(&other.stem.len()))
            .then_with(|| self.stem.cmp(other.stem))
    }
}

impl PartialOrd for Priority<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn first_wildcard_offset(parts: &[String]) -> usize {
    let mut offset = 0;
    for part in parts {
        if part == "+" {
            return offset;
        }
        offset += part.len() + 1;
    }
    offset
}

fn segments_match(parts: &[String], glob: bool, path: &str) -> bool {
    let path_parts: Vec<&str> = path.split('/').collect();
    if path_parts.len() < parts.len() || (!glob && path_parts.len() != parts.len()) {
        return false;
    }
    let last = parts.len() - 1;
    parts
        .iter()
        .zip(&path_parts)
        .enumerate()
        .all(|(i, (want, got))| {
            want == "+" || want == got || (glob && i == last && got.starts_with(want.as_str()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> PathPattern {
        match PathPattern::parse(text) {
            Ok(p) => p,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn exact_pattern_matches_only_itself() {
        // The documentation's example: "secret/foo" is not "secret/food" or "secret/foo/bar".
        let p = pattern("secret/foo");
        assert!(p.matches("secret/foo"));
        assert!(!p.matches("secret/food"));
        assert!(!p.matches("secret/foo/bar"));
        assert!(p.priority().is_none());
    }

    #[test]
    fn trailing_glob_is_a_plain_prefix_match() {
        let p = pattern("secret/bar/*");
        assert!(p.matches("secret/bar/zip"));
        assert!(p.matches("secret/bar/zip/zap"));
        assert!(!p.matches("secret/bars/zip"));
        let p = pattern("secret/zip-*");
        assert!(p.matches("secret/zip-zap"));
        assert!(p.matches("secret/zip-zap/zong"));
        assert!(!p.matches("secret/zip/zap"));
        assert!(pattern("*").matches("anything/at/all"));
    }

    #[test]
    fn plus_matches_exactly_one_segment_anywhere() {
        let p = pattern("secret/+/teamb");
        assert!(p.matches("secret/foo/teamb"));
        assert!(!p.matches("secret/foo/bar/teamb"));
        assert!(!p.matches("secret/foo/teamb/x"));
        let p = pattern("secret/+/+/teamb");
        assert!(p.matches("secret/foo/bar/teamb"));
        assert!(p.matches("secret/bar/foo/teamb"));
        assert!(!p.matches("secret/foo/teamb"));
        let p = pattern("+/config");
        assert!(p.matches("kv/config"));
        assert!(!p.matches("config"));
        let p = pattern("secret/+");
        assert!(p.matches("secret/x"));
        assert!(!p.matches("secret/x/"));
    }

    #[test]
    fn plus_with_trailing_glob_extends_the_last_segment() {
        let p = pattern("secret/+/foo*");
        assert!(p.matches("secret/a/foo"));
        assert!(p.matches("secret/a/foobar"));
        assert!(p.matches("secret/a/foo/deeper/still"));
        assert!(!p.matches("secret/a/fo"));
        assert!(!p.matches("secret/a"));
        let p = pattern("secret/+/*");
        assert!(p.matches("secret/a/"));
        assert!(p.matches("secret/a/b/c"));
        assert!(!p.matches("secret/a"));
    }

    #[test]
    fn plus_inside_a_segment_is_literal() {
        let p = pattern("secret/a+b");
        assert!(p.is_exact());
        assert!(p.matches("secret/a+b"));
        assert!(!p.matches("secret/axb"));
    }

    #[test]
    fn leading_slash_is_dropped() {
        assert_eq!(pattern("/secret/foo").as_str(), "secret/foo");
        assert!(pattern("/secret/*").matches("secret/x"));
    }

    #[test]
    fn misplaced_wildcards_are_rejected_with_advice() {
        for bad in ["secret/*/foo", "secret/+*", "+*", "a*b*"] {
            let err = PathPattern::parse(bad).err().unwrap_or_default();
            assert!(!err.is_empty(), "{bad} should be rejected");
        }
        let err = PathPattern::parse("secret/*/x").err().unwrap_or_default();
        assert!(err.contains("last character"), "{err}");
        assert!(PathPattern::parse("").is_err());
        assert!(PathPattern::parse("/").is_err());
    }

    #[test]
    fn templated_patterns_are_recognised() {
        assert!(pattern("identity/entity/id/{{identity.entity.id}}").is_templated());
        assert!(!pattern("secret/{literal").is_templated());
    }
}
