//! Vault's ACL policy language: parser and evaluator. Pure: no storage, no
//! HTTP; the policy store and `sys/policies/acl` sit on top of it.
//!
//! ```text
//! text (HCL or JSON) ─► Policy::parse ─► Policy { rules }      (one per name)
//! token's policies   ─► Acl::new      ─► Acl (merged by pattern)
//! request            ─► Acl::check    ─► Decision { allowed, capabilities, sudo, reason, ... }
//! ```
//!
//! Behaviour follows Vault's documentation,
//! <https://developer.hashicorp.com/vault/docs/concepts/policies>:
//! - policies are deny by default; `deny` wins over every capability of the
//!   same pattern;
//! - the same pattern in several policies → union of capabilities; different
//!   patterns → only the highest-priority matching rule applies;
//! - priority between matching patterns P1, P2 (section "Policy syntax"):
//!   1. if the first wildcard (`+`) or glob (`*`) occurs earlier in P1, P1 is lower priority;
//!   2. if P1 ends in `*` and P2 doesn't, P1 is lower priority;
//!   3. if P1 has more `+` (wildcard) segments, P1 is lower priority;
//!   4. if P1 is shorter, it is lower priority;
//!   5. if P1 is smaller lexicographically, it is lower priority;
//!
//!   and an exact pattern beats every wildcard ([`Priority`]);
//! - parameter constraints and wrapping TTL bounds (sections "Parameter
//!   constraints", "Required response wrapping TTLs"): see [`ParameterRules`]
//!   and [`Acl::check`];
//! - root-protected paths ("Root protected API endpoints"): [`is_root_protected`].
//!
//! Where the docs are silent, behaviour follows current Vault releases
//! (hashicorp/vault `vault/policy.go`, `vault/acl.go`, read for facts only):
//! merge rules, LIST trailing-slash handling, element-wise matching of list and
//! comma-separated values. Deliberate differences: a `*` that is not the last
//! character, and a non-empty value list on the `"*"` parameter key, are
//! errors instead of being silently literal/ignored; Enterprise-only keys
//! (`control_group`, `mfa_methods`) are errors instead of ignored; templated
//! paths are skipped (no identities yet).

mod acl;
mod builtin;
mod capability;
mod decision;
mod decode;
mod error;
mod hcl_syntax;
mod json_syntax;
mod parameters;
mod pattern;
mod root_paths;
mod rules;
pub(crate) mod store;
mod tree;

pub use acl::Acl;
pub use builtin::{
    DEFAULT_POLICY, DEFAULT_POLICY_TEXT, RESPONSE_WRAPPING_POLICY, ROOT_POLICY, default_policy,
    is_assignable, is_deletable, is_writable, response_wrapping_policy,
};
pub use capability::{Capabilities, Capability};
pub use decision::{AclOperation, AclRequest, Decision, Reason};
pub use error::PolicyError;
pub use parameters::{ParameterRules, ParameterValue, ParameterViolation, glob_match};
pub use pattern::{PathPattern, Priority};
pub use root_paths::{ROOT_PROTECTED_PATHS, is_root_protected};
pub use rules::{PathRule, Policy, normalize_name};

#[cfg(test)]
mod tests;
