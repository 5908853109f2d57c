//! Why a policy text could not be turned into a [`Policy`](super::Policy), or
//! a set of policies into an [`Acl`](super::Acl).
//!
//! Messages follow the config loader's `FILE:LINE:` style with the policy name
//! in place of the file: `dev:3: path "secret/*": unknown capability "raed"
//! (did you mean "read"?)`. They name keys, capabilities and path patterns
//! (policies are not secret) but never echo parameter *values*, and anything
//! echoed is cut short so a pasted blob cannot flood a log line.

use crate::error::CoreError;

/// The longest user-supplied word an error message repeats.
const ECHO_LIMIT: usize = 64;

/// A policy that does not parse or does not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The text is neither valid HCL nor valid JSON.
    #[error("{policy}:{line}:{column}: syntax error: {message}{}", hint_suffix(.hint))]
    Syntax {
        /// The policy name, standing in for a file name.
        policy: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message, without the offending source line.
        message: String,
        /// What the author most likely has to change.
        hint: Option<String>,
    },

    /// Valid syntax, but a key, value or pattern the policy language rejects.
    #[error("{policy}:{line}: {}{message}", context_prefix(.context))]
    Invalid {
        /// The policy name.
        policy: String,
        /// 1-based line of the offending key.
        line: usize,
        /// The enclosing stanza, e.g. `path "secret/*"`; empty at top level.
        context: String,
        /// What is wrong, and what would be accepted.
        message: String,
    },

    /// A built-in name that user text may not take (`root`); Vault's wording.
    #[error("cannot update \"{0}\" policy")]
    Reserved(String),

    /// `root` was combined with other policies when building an ACL; Vault
    /// refuses that too (a root token carries `root` alone).
    #[error("the root policy cannot be combined with other policies")]
    RootWithOthers,
}

impl From<PolicyError> for CoreError {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::RootWithOthers => CoreError::Internal(e.to_string()),
            PolicyError::Reserved(_) => CoreError::InvalidRequest(e.to_string()),
            other => CoreError::InvalidRequest(format!("failed to parse policy: {other}")),
        }
    }
}

/// `text` quoted for a message, cut at [`ECHO_LIMIT`] characters.
pub(super) fn echo(text: &str) -> String {
    if text.chars().count() <= ECHO_LIMIT {
        format!("{text:?}")
    } else {
        let cut: String = text.chars().take(ECHO_LIMIT).collect();
        format!("{cut:?}...")
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to
/// be a likely typo (`capabilites` → `capabilities`).
pub(super) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&word, c), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance: Levenshtein plus adjacent swaps, so
/// `raed` is one edit from `read`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
}

fn context_prefix(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!("{context}: ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_words_are_cut_when_echoed() {
        let long = "x".repeat(500);
        let shown = echo(&long);
        assert!(shown.len() < 80, "{shown}");
        assert!(shown.ends_with("..."));
        assert_eq!(echo("read"), "\"read\"");
    }

    #[test]
    fn typos_get_a_suggestion_and_nonsense_does_not() {
        let caps = ["create", "read", "update", "capabilities"];
        assert_eq!(did_you_mean("raed", &caps), Some("read"));
        assert_eq!(did_you_mean("capabilites", &caps), Some("capabilities"));
        assert_eq!(did_you_mean("Update", &caps), Some("update"));
        assert_eq!(did_you_mean("frobnicate", &caps), None);
    }

    #[test]
    fn core_error_keeps_the_position() {
        let e = PolicyError::Invalid {
            policy: "dev".into(),
            line: 3,
            context: "path \"a\"".into(),
            message: "boom".into(),
        };
        let core: CoreError = e.into();
        assert_eq!(
            core.to_string(),
            "failed to parse policy: dev:3: path \"a\": boom"
        );
    }
}
