//! Capabilities: what a path rule permits, and the set type rules carry.
//!
//! `deny` is special: a rule that lists it holds `deny` alone, whatever else the
//! list named, and wins over every other capability of the same pattern.

use std::fmt;

/// One capability of a path rule, named as Vault names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Write data where none exists yet (POST/PUT on a new target).
    Create,
    /// GET.
    Read,
    /// POST/PUT on an existing target.
    Update,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// LIST (or GET `?list=true`).
    List,
    /// Use root-protected paths (in addition to the operation's capability).
    Sudo,
    /// Refuse everything on the pattern; wins over every other capability.
    Deny,
    /// Subscribe to events (Vault 1.13+).
    Subscribe,
    /// Recover from a snapshot (Vault 1.20+).
    Recover,
}

impl Capability {
    /// Every capability, in the order Vault reports them.
    pub const ALL: [Capability; 10] = [
        Capability::Create,
        Capability::Read,
        Capability::Update,
        Capability::Patch,
        Capability::Delete,
        Capability::List,
        Capability::Sudo,
        Capability::Deny,
        Capability::Subscribe,
        Capability::Recover,
    ];

    /// Vault's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Read => "read",
            Self::Update => "update",
            Self::Patch => "patch",
            Self::Delete => "delete",
            Self::List => "list",
            Self::Sudo => "sudo",
            Self::Deny => "deny",
            Self::Subscribe => "subscribe",
            Self::Recover => "recover",
        }
    }

    /// Parses a Vault capability name (exact, lowercase, as Vault requires).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The names [`Capability::parse`] accepts, for error messages.
    pub(super) fn names() -> [&'static str; 10] {
        Self::ALL.map(Self::as_str)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of capabilities. Inserting [`Capability::Deny`] collapses the set to
/// `deny` alone, and nothing can be added to it afterwards.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u16);

impl Capabilities {
    /// The empty set (a rule that grants nothing, yet still shadows
    /// lower-priority rules for the paths it matches).
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The set holding `caps` (with the `deny` collapse applied).
    pub fn of(caps: &[Capability]) -> Self {
        let mut set = Self::empty();
        for cap in caps {
            set.insert(*cap);
        }
        set
    }

    /// Adds one capability; `deny` replaces everything and then absorbs the rest.
    pub fn insert(&mut self, cap: Capability) {
        if self.is_deny() {
            return;
        }
        if cap == Capability::Deny {
            self.0 = Capability::Deny.bit();
        } else {
            self.0 |= cap.bit();
        }
    }

    /// Union, as for two rules with the same pattern; `deny` on either side wins.
    pub fn union(self, other: Self) -> Self {
        if self.is_deny() || other.is_deny() {
            Self(Capability::Deny.bit())
        } else {
            Self(self.0 | other.0)
        }
    }

    /// Whether `cap` is in the set.
    pub fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// Whether the set is `deny`.
    pub fn is_deny(self) -> bool {
        self.contains(Capability::Deny)
    }

    /// Whether the set holds nothing at all.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, in [`Capability::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// The set as `sys/capabilities` reports it: names sorted alphabetically,
    /// and `["deny"]` for a deny or an empty set.
    pub fn to_names(self) -> Vec<String> {
        if self.is_deny() || self.is_empty() {
            return vec![Capability::Deny.as_str().to_owned()];
        }
        let mut names: Vec<String> = self.iter().map(|c| c.as_str().to_owned()).collect();
        names.sort();
        names
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// What the legacy `policy = "..."` form of a path rule means in capabilities.
pub(super) fn legacy_policy(word: &str) -> Option<&'static [Capability]> {
    use Capability::*;
    match word {
        "deny" => Some(&[Deny]),
        "read" => Some(&[Read, List]),
        "write" => Some(&[Create, Read, Update, Delete, List]),
        "sudo" => Some(&[Create, Read, Update, Delete, List, Sudo]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for cap in Capability::ALL {
            assert_eq!(Capability::parse(cap.as_str()), Some(cap));
        }
        assert_eq!(Capability::parse("READ"), None);
        assert_eq!(Capability::parse("root"), None);
    }

    #[test]
    fn deny_absorbs_everything_in_a_set() {
        let set = Capabilities::of(&[Capability::Read, Capability::Deny, Capability::Update]);
        assert!(set.is_deny());
        assert!(!set.contains(Capability::Read));
        assert!(!set.contains(Capability::Update));
        assert_eq!(set.to_names(), vec!["deny"]);
    }

    #[test]
    fn union_keeps_both_sides_unless_one_denies() {
        let a = Capabilities::of(&[Capability::Read]);
        let b = Capabilities::of(&[Capability::List, Capability::Sudo]);
        assert_eq!(a.union(b).to_names(), vec!["list", "read", "sudo"]);
        let deny = Capabilities::of(&[Capability::Deny]);
        assert!(a.union(deny).is_deny());
        assert!(deny.union(a).is_deny());
    }

    #[test]
    fn an_empty_set_reports_as_deny() {
        assert_eq!(Capabilities::empty().to_names(), vec!["deny"]);
    }

    #[test]
    fn legacy_policy_words_map_as_vault_documents() {
        let write = Capabilities::of(legacy_policy("write").unwrap_or(&[]));
        assert_eq!(
            write.to_names(),
            vec!["create", "delete", "list", "read", "update"]
        );
        let read = Capabilities::of(legacy_policy("read").unwrap_or(&[]));
        assert_eq!(read.to_names(), vec!["list", "read"]);
        assert!(legacy_policy("admin").is_none());
    }
}
