//! The evaluator: the policies of one token, merged, answering requests.
//!
//! Building ([`Acl::new`]): rules with the same pattern, across all policies,
//! merge into one — capabilities unite, `deny` on either side wins (and drops
//! the parameter constraints), the lower non-zero wrapping TTL bound wins, and
//! parameter constraints merge as [`ParameterRules::merge`] says. Rules with
//! different patterns never merge.
//!
//! Evaluating ([`Acl::check`]): one rule decides a request. An exact pattern
//! equal to the path wins; otherwise the matching wildcard rule of highest
//! [`Priority`](super::Priority) — among the longest matching plain prefix
//! glob and every matching `+` pattern — wins. A `deny` elsewhere does not
//! matter: a lower-priority `secret/*` deny does not override an exact
//! `secret/foo` grant (the same holds in Vault).
//!
//! LIST requests end in `/` (`secret/foo/`). As in Vault, an exact rule for the
//! path without its slash also applies, and wildcard candidates are drawn from
//! both spellings; then the most specific `deny` wins if it outranks the most
//! specific rule granting `list` (current Vault's fix for list bypasses).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::Value;

use super::capability::{Capabilities, Capability};
use super::decision::{AclOperation, AclRequest, Decision, Reason};
use super::error::PolicyError;
use super::parameters::ParameterRules;
use super::pattern::PathPattern;
use super::rules::{PathRule, Policy};

/// The merged policies of a token. Build it once per token (or per policy
/// change) and evaluate many requests against it.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    root: bool,
    exact: HashMap<String, MergedRule>,
    /// Prefix globs and `+` patterns, in pattern order.
    wildcard: Vec<MergedRule>,
    /// The plain prefix globs among `wildcard`, by index, longest prefix first.
    prefixes: Vec<usize>,
}

/// All rules of one pattern, merged.
#[derive(Debug, Clone)]
struct MergedRule {
    pattern: PathPattern,
    capabilities: Capabilities,
    parameters: ParameterRules,
    min_wrapping_ttl: Option<Duration>,
    max_wrapping_ttl: Option<Duration>,
    /// Which policy contributed which capabilities, for `granting_policies`.
    grants: Vec<(String, Capabilities)>,
}

impl Acl {
    /// Merges `policies` (those of one token, `default` included when it
    /// applies). Templated rules (`{{identity...}}`) are skipped: there are no
    /// identities to fill them. The root policy must come alone.
    pub fn new<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> Result<Self, PolicyError> {
        let policies: Vec<&Policy> = policies.into_iter().collect();
        if policies.iter().any(|p| p.is_root()) {
            return if policies.len() == 1 {
                Ok(Self::root())
            } else {
                Err(PolicyError::RootWithOthers)
            };
        }
        let mut merged: BTreeMap<String, MergedRule> = BTreeMap::new();
        for policy in policies {
            for rule in policy.rules() {
                if rule.pattern.is_templated() {
                    continue;
                }
                match merged.get_mut(rule.pattern.as_str()) {
                    Some(existing) => existing.merge(rule, policy.name()),
                    None => {
                        merged.insert(
                            rule.pattern.as_str().to_owned(),
                            MergedRule::new(rule, policy.name()),
                        );
                    }
                }
            }
        }
        let mut acl = Self::default();
        for (raw, rule) in merged {
            if rule.pattern.is_exact() {
                acl.exact.insert(raw, rule);
            } else {
                acl.wildcard.push(rule);
            }
        }
        acl.prefixes = (0..acl.wildcard.len())
            .filter(|i| acl.wildcard[*i].is_plain_prefix())
            .collect();
        acl.prefixes
            .sort_by_key(|i| std::cmp::Reverse(acl.wildcard[*i].pattern.as_str().len()));
        Ok(acl)
    }

    /// The ACL of a root token: everything is allowed, sudo included.
    pub fn root() -> Self {
        Self {
            root: true,
            ..Self::default()
        }
    }

    /// Whether this is a root ACL.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// Checks `operation` on `path` with request `data` (a JSON object or
    /// `Null`), without response wrapping. See [`Acl::check`].
    pub fn allowed(&self, operation: AclOperation, path: &str, data: &Value) -> Decision {
        self.check(&AclRequest::new(operation, path, data))
    }

    /// Decides one request: finds the rule for the path, then checks, in
    /// Vault's order, `deny`, the operation's capability, the wrapping TTL
    /// bounds, and (except for list and delete) the parameter constraints.
    /// Root-protected paths additionally need [`Decision::require_sudo`].
    ///
    /// The path must be the canonical one the router dispatches on (cleaned of
    /// `//`, `.` and `..` the same way); the ACL only strips leading `/`.
    pub fn check(&self, request: &AclRequest<'_>) -> Decision {
        if self.root {
            return root_decision();
        }
        let path = request.path.trim_start_matches('/');
        let op = request.operation;
        let Some(rule) = self.select(path, op == AclOperation::List) else {
            return Decision {
                allowed: false,
                root: false,
                sudo: false,
                capabilities: Capabilities::empty().to_names(),
                matched: None,
                granting_policies: Vec::new(),
                min_wrapping_ttl: None,
                max_wrapping_ttl: None,
                reason: Reason::NoMatchingRule,
            };
        };
        let caps = rule.capabilities;
        let mut decision = Decision {
            allowed: false,
            root: false,
            sudo: caps.contains(Capability::Sudo),
            capabilities: caps.to_names(),
            matched: Some(rule.pattern.as_str().to_owned()),
            granting_policies: Vec::new(),
            min_wrapping_ttl: rule.min_wrapping_ttl,
            max_wrapping_ttl: rule.max_wrapping_ttl,
            reason: Reason::Granted,
        };
        let needed = op.capability();
        if caps.is_deny() {
            decision.reason = Reason::ExplicitDeny;
            return decision;
        }
        if !caps.contains(needed) {
            decision.reason = Reason::MissingCapability(needed);
            return decision;
        }
        decision.granting_policies = rule.granting(needed);
        if let Err(reason) = rule.check_wrapping(request.wrap_ttl) {
            decision.reason = reason;
            return decision;
        }
        if op.checks_parameters()
            && let Err(violation) = rule.parameters.check(request.data)
        {
            decision.reason = Reason::Parameter(violation);
            return decision;
        }
        decision.allowed = true;
        decision
    }

    /// The capabilities on `path`, as `sys/capabilities(-self)` reports them:
    /// `["root"]` for root, `["deny"]` when no rule matches or the rule grants
    /// nothing, else the sorted names. Like Vault, the rule is chosen as for a
    /// LIST request (so `secret/foo/` also sees a `secret/foo` rule).
    pub fn capabilities(&self, path: &str) -> Vec<String> {
        if self.root {
            return vec![super::ROOT_POLICY.to_owned()];
        }
        let path = path.trim_start_matches('/');
        self.select(path, true)
            .map_or_else(Capabilities::empty, |r| r.capabilities)
            .to_names()
    }

    /// Whether some rule grants anything but `deny` on `prefix` or on a path
    /// under it: Vault's test for showing a mount to a token in
    /// `sys/internal/ui/mounts`. Always true for root.
    pub fn has_access_under(&self, prefix: &str) -> bool {
        if self.root {
            return true;
        }
        let prefix = prefix.trim_start_matches('/');
        let grants = |r: &MergedRule| !r.capabilities.is_deny() && !r.capabilities.is_empty();
        if self.select(prefix, true).is_some_and(grants) {
            return true;
        }
        let exact = self
            .exact
            .iter()
            .any(|(path, r)| path.starts_with(prefix) && grants(r));
        exact
            || self.wildcard.iter().any(|r| {
                let text = r.pattern.as_str();
                let head = text.split(['+', '*']).next().unwrap_or_default();
                grants(r)
                    && (head.starts_with(prefix)
                        || (text.contains('+') && prefix.starts_with(head)))
            })
    }

    /// The rule that decides `path`.
    fn select(&self, path: &str, list: bool) -> Option<&MergedRule> {
        if let Some(rule) = self.exact.get(path) {
            return Some(rule);
        }
        if !list {
            return self.candidates(path).max_by(|a, b| a.rank(b));
        }
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        if let Some(rule) = self.exact.get(trimmed) {
            return Some(rule);
        }
        if trimmed.len() == path.len() {
            return self.candidates(path).max_by(|a, b| a.rank(b));
        }
        let all: Vec<&MergedRule> = self
            .candidates(trimmed)
            .chain(self.candidates(path))
            .collect();
        let best = |keep: &dyn Fn(&MergedRule) -> bool| {
            all.iter()
                .copied()
                .filter(|r| keep(r))
                .max_by(|a, b| a.rank(b))
        };
        let best_deny = best(&|r| r.capabilities.is_deny());
        let best_list = best(&|r| r.capabilities.contains(Capability::List));
        match (best_deny, best_list) {
            (Some(deny), Some(list)) if list.rank(deny) == Ordering::Less => Some(deny),
            (Some(deny), None) => Some(deny),
            (_, Some(list)) => Some(list),
            (None, None) => best(&|_| true),
        }
    }

    /// The wildcard rules that may decide `path`: the longest matching plain
    /// prefix glob (shorter ones can never outrank it) and every matching `+`
    /// pattern.
    fn candidates<'a, 'p>(
        &'a self,
        path: &'p str,
    ) -> impl Iterator<Item = &'a MergedRule> + use<'a, 'p> {
        let longest_prefix = self
            .prefixes
            .iter()
            .map(|i| &self.wildcard[*i])
            .find(|r| r.pattern.matches(path));
        let segments = self
            .wildcard
            .iter()
            .filter(move |r| !r.is_plain_prefix() && r.pattern.matches(path));
        longest_prefix.into_iter().chain(segments)
    }
}

impl MergedRule {
    fn new(rule: &PathRule, policy: &str) -> Self {
        Self {
            pattern: rule.pattern.clone(),
            capabilities: rule.capabilities,
            parameters: rule.parameters.clone(),
            min_wrapping_ttl: rule.min_wrapping_ttl,
            max_wrapping_ttl: rule.max_wrapping_ttl,
            grants: vec![(policy.to_owned(), rule.capabilities)],
        }
    }

    fn merge(&mut self, rule: &PathRule, policy: &str) {
        if self.capabilities.is_deny() {
            return;
        }
        self.grants.push((policy.to_owned(), rule.capabilities));
        if rule.capabilities.is_deny() {
            self.capabilities = rule.capabilities;
            self.parameters.allowed.clear();
            self.parameters.denied.clear();
            return;
        }
        self.capabilities = self.capabilities.union(rule.capabilities);
        self.min_wrapping_ttl = lower(self.min_wrapping_ttl, rule.min_wrapping_ttl);
        self.max_wrapping_ttl = lower(self.max_wrapping_ttl, rule.max_wrapping_ttl);
        self.parameters.merge(&rule.parameters);
    }

    fn is_plain_prefix(&self) -> bool {
        self.pattern.is_prefix_glob()
    }

    /// Ordering by priority; an exact pattern (never a candidate) ranks highest.
    fn rank(&self, other: &Self) -> Ordering {
        match (self.pattern.priority(), other.pattern.priority()) {
            (Some(a), Some(b)) => a.cmp(&b),
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (None, None) => Ordering::Equal,
        }
    }

    fn granting(&self, cap: Capability) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (name, caps) in &self.grants {
            if caps.contains(cap) && !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// Vault's wrapping checks: any bound makes wrapping mandatory.
    fn check_wrapping(&self, requested: Option<Duration>) -> Result<(), Reason> {
        let requested = requested.filter(|ttl| !ttl.is_zero());
        if let Some(max) = self.max_wrapping_ttl {
            match requested {
                None => return Err(Reason::WrappingRequired),
                Some(ttl) if ttl > max => return Err(Reason::WrappingTtlTooLong),
                Some(_) => {}
            }
        }
        if let Some(min) = self.min_wrapping_ttl {
            match requested {
                None => return Err(Reason::WrappingRequired),
                Some(ttl) if ttl < min => return Err(Reason::WrappingTtlTooShort),
                Some(_) => {}
            }
        }
        match (self.min_wrapping_ttl, self.max_wrapping_ttl) {
            (Some(min), Some(max)) if max < min => Err(Reason::WrappingBoundsConflict),
            _ => Ok(()),
        }
    }
}

/// The lower of two optional bounds, an unset one not counting.
fn lower(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn root_decision() -> Decision {
    Decision {
        allowed: true,
        root: true,
        sudo: true,
        capabilities: vec![super::ROOT_POLICY.to_owned()],
        matched: None,
        granting_policies: vec![super::ROOT_POLICY.to_owned()],
        min_wrapping_ttl: None,
        max_wrapping_ttl: None,
        reason: Reason::Root,
    }
}
