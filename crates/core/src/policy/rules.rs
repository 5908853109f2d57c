//! A parsed policy: its name, its text, and its path rules.

use std::time::Duration;

use super::capability::Capabilities;
use super::error::PolicyError;
use super::parameters::ParameterRules;
use super::pattern::PathPattern;
use super::{decode, hcl_syntax, json_syntax};

/// One named ACL policy, parsed. Cheap to clone; build an [`Acl`](super::Acl)
/// from the policies of a token to evaluate requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    name: String,
    text: String,
    rules: Vec<PathRule>,
    root: bool,
}

/// One `path "..." { ... }` stanza.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    /// The path pattern.
    pub pattern: PathPattern,
    /// What the rule grants (or `deny`).
    pub capabilities: Capabilities,
    /// `required_parameters`, `allowed_parameters`, `denied_parameters`.
    pub parameters: ParameterRules,
    /// `min_wrapping_ttl`: responses must be wrapped with at least this TTL.
    pub min_wrapping_ttl: Option<Duration>,
    /// `max_wrapping_ttl`: responses must be wrapped with at most this TTL.
    pub max_wrapping_ttl: Option<Duration>,
    /// `subscribe_event_types`, kept for the events API (not evaluated here).
    pub subscribe_event_types: Vec<String>,
    /// The line of the `path` key in the policy text.
    pub line: usize,
}

impl Policy {
    /// Parses a policy written in HCL or JSON (JSON when the text starts with
    /// `{`). `name` is normalised as Vault stores names (trimmed, lowercase) and
    /// stands in for a file name in error messages. The name `root` is refused:
    /// the root policy is built in ([`Policy::root`]).
    pub fn parse(name: &str, text: &str) -> Result<Self, PolicyError> {
        let name = normalize_name(name);
        if name == super::ROOT_POLICY {
            return Err(PolicyError::Reserved(name));
        }
        let entries = if json_syntax::looks_like_json(text) {
            json_syntax::parse(&name, text)?
        } else {
            hcl_syntax::parse(&name, text)?
        };
        let rules = decode::rules(&name, entries)?;
        Ok(Self {
            name,
            text: text.to_owned(),
            rules,
            root: false,
        })
    }

    /// The built-in `root` policy: every capability on every path, including
    /// sudo. It has no text and no rules; an [`Acl`](super::Acl) holding it
    /// short-circuits every check.
    pub fn root() -> Self {
        Self {
            name: super::ROOT_POLICY.to_owned(),
            text: String::new(),
            rules: Vec::new(),
            root: true,
        }
    }

    /// The normalised name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text as it was written (what `sys/policies/acl/:name` returns).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The path rules, in text order.
    pub fn rules(&self) -> &[PathRule] {
        &self.rules
    }

    /// Whether this is the built-in root policy.
    pub fn is_root(&self) -> bool {
        self.root
    }
}

/// A policy name as Vault stores it: surrounding whitespace removed, lowercase.
pub fn normalize_name(name: &str) -> String {
    name.trim().to_lowercase()
}
