//! What the caller asks an [`Acl`](super::Acl) and what it answers.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::capability::Capability;
use super::error::echo;
use super::parameters::ParameterViolation;
use crate::engine::Operation;

/// The operation an ACL check is for. Unlike [`Operation`], it tells create
/// from update: Vault checks `create` when a write targets something that does
/// not exist yet, `update` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AclOperation {
    /// Write to a target that does not exist yet.
    Create,
    /// GET.
    Read,
    /// Write to an existing target (or to a route with no existence notion).
    Update,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// LIST.
    List,
}

impl AclOperation {
    /// Maps a router operation; `target_exists` decides create vs update for
    /// writes (pass `true` for routes that do not distinguish them).
    pub fn for_request(op: Operation, target_exists: bool) -> Self {
        match op {
            Operation::Update if !target_exists => Self::Create,
            other => other.into(),
        }
    }

    /// The capability the operation needs.
    pub fn capability(self) -> Capability {
        match self {
            Self::Create => Capability::Create,
            Self::Read => Capability::Read,
            Self::Update => Capability::Update,
            Self::Patch => Capability::Patch,
            Self::Delete => Capability::Delete,
            Self::List => Capability::List,
        }
    }

    /// Whether request parameters are held against the rule's parameter
    /// constraints for this operation (as in Vault: not for list or delete).
    pub(super) fn checks_parameters(self) -> bool {
        !matches!(self, Self::List | Self::Delete)
    }
}

impl From<Operation> for AclOperation {
    /// Update stays update; use [`AclOperation::for_request`] to get create.
    fn from(op: Operation) -> Self {
        match op {
            Operation::Read => Self::Read,
            Operation::Update => Self::Update,
            Operation::Patch => Self::Patch,
            Operation::Delete => Self::Delete,
            Operation::List => Self::List,
        }
    }
}

/// One request to authorise.
#[derive(Debug, Clone, Copy)]
pub struct AclRequest<'a> {
    /// What is being done.
    pub operation: AclOperation,
    /// The full request path (`secret/data/app`, `sys/mounts/x`), no leading `/`
    /// needed. List paths conventionally end in `/`.
    pub path: &'a str,
    /// The request data: a JSON object, or `Null` for none.
    pub data: &'a Value,
    /// The response-wrapping TTL the client asked for (`X-Vault-Wrap-TTL`).
    pub wrap_ttl: Option<Duration>,
}

impl<'a> AclRequest<'a> {
    /// A request without response wrapping.
    pub fn new(operation: AclOperation, path: &'a str, data: &'a Value) -> Self {
        Self {
            operation,
            path,
            data,
            wrap_ttl: None,
        }
    }

    /// The same request, asking for a wrapped response with `ttl`.
    pub fn wrapped(self, ttl: Duration) -> Self {
        Self {
            wrap_ttl: Some(ttl),
            ..self
        }
    }
}

/// An ACL's answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Whether the token is root (everything is allowed, `sudo` included).
    pub root: bool,
    /// Whether the rule that matched grants `sudo` (always for root). Callers
    /// serving a root-protected path must require it; see [`Decision::require_sudo`].
    pub sudo: bool,
    /// The capabilities of the rule that matched, as `sys/capabilities` names
    /// them (sorted; `["deny"]` when none; `["root"]` for root).
    pub capabilities: Vec<String>,
    /// The pattern of the rule that matched, when one did.
    pub matched: Option<String>,
    /// The policies whose rule for that pattern grants the needed capability.
    pub granting_policies: Vec<String>,
    /// The matched rule's `min_wrapping_ttl`.
    pub min_wrapping_ttl: Option<Duration>,
    /// The matched rule's `max_wrapping_ttl`.
    pub max_wrapping_ttl: Option<Duration>,
    /// Why, for logs (never holds a parameter value).
    pub reason: Reason,
}

impl Decision {
    /// For a root-protected path: denies an allowed decision whose rule lacks
    /// `sudo`. Root tokens pass.
    pub fn require_sudo(mut self) -> Self {
        if self.allowed && !self.sudo {
            self.allowed = false;
            self.reason = Reason::SudoRequired;
        }
        self
    }

    /// [`Decision::require_sudo`] when `required`, unchanged otherwise.
    pub fn require_sudo_if(self, required: bool) -> Self {
        if required { self.require_sudo() } else { self }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.allowed { "allowed" } else { "denied" })?;
        if let Some(pattern) = &self.matched {
            write!(f, " by path {pattern:?}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Why a [`Decision`] came out as it did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The token is root.
    Root,
    /// The matched rule grants the operation and its constraints hold.
    Granted,
    /// No rule of any policy matches the path (deny by default).
    NoMatchingRule,
    /// The matched rule is `deny`.
    ExplicitDeny,
    /// The matched rule lacks the capability the operation needs.
    MissingCapability(Capability),
    /// The rule demands a wrapped response and none was requested.
    WrappingRequired,
    /// The requested wrapping TTL is below the rule's `min_wrapping_ttl`.
    WrappingTtlTooShort,
    /// The requested wrapping TTL is above the rule's `max_wrapping_ttl`.
    WrappingTtlTooLong,
    /// Merged rules ended up with `max_wrapping_ttl` below `min_wrapping_ttl`.
    WrappingBoundsConflict,
    /// A parameter constraint failed.
    Parameter(ParameterViolation),
    /// The path is root-protected and the rule lacks `sudo`.
    SudoRequired,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => f.write_str("root token"),
            Self::Granted => f.write_str("granted"),
            Self::NoMatchingRule => f.write_str("no policy rule matches the path"),
            Self::ExplicitDeny => f.write_str("the rule denies the path"),
            Self::MissingCapability(cap) => write!(f, "the rule lacks the \"{cap}\" capability"),
            Self::WrappingRequired => f.write_str("the rule requires a wrapped response"),
            Self::WrappingTtlTooShort => {
                f.write_str("the wrapping TTL is below the rule's min_wrapping_ttl")
            }
            Self::WrappingTtlTooLong => {
                f.write_str("the wrapping TTL is above the rule's max_wrapping_ttl")
            }
            Self::WrappingBoundsConflict => {
                f.write_str("merged rules set max_wrapping_ttl below min_wrapping_ttl")
            }
            Self::Parameter(ParameterViolation::MissingRequired(name)) => {
                write!(f, "required parameter {} is missing", echo(name))
            }
            Self::Parameter(ParameterViolation::Denied(name)) => {
                write!(f, "parameter {} is denied", echo(name))
            }
            Self::Parameter(ParameterViolation::NotAllowed(name)) => {
                write!(f, "parameter {} or its value is not allowed", echo(name))
            }
            Self::SudoRequired => f.write_str("the path is root-protected and needs sudo"),
        }
    }
}
