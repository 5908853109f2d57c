//! A config as read from files, before env overrides and cross-stanza checks:
//! top-level decoding of one file, merging of several files, and the final
//! validation that turns the merged draft into a [`Config`].
//!
//! Merge rule (as Vault): later files override scalar fields; listener and seal
//! stanzas accumulate; storage and entropy may each appear only once overall.

use std::path::Path;
use std::time::Duration;

use super::Config;
use super::document::{Body, Fields};
use super::entropy::{self, EntropyConfig};
use super::error::{ConfigError, Location};
use super::kms_library::{self, KmsLibraryConfig};
use super::listener::{self, ListenerConfig};
use super::log_level::LogLevel;
use super::seal::{self, SealConfig, SealDraft};
use super::storage::{self, StorageConfig};

/// Lease TTL used when `default_lease_ttl` / `max_lease_ttl` are not set (768h, as Vault).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(768 * 3600);

/// Top-level stanza names (blocks).
pub(crate) const STANZAS: &[&str] = &["storage", "listener", "seal", "entropy", "kms_library"];

const TOP_LEVEL_FIELDS: &[&str] = &[
    "ui",
    "disable_mlock",
    "raw_storage_endpoint",
    "disable_clustering",
    "api_addr",
    "cluster_addr",
    "cluster_name",
    "log_level",
    "default_lease_ttl",
    "max_lease_ttl",
];

/// Everything one or more files said, positions kept for later errors.
#[derive(Default)]
pub(crate) struct Draft {
    pub(crate) storage: Option<(StorageConfig, Location)>,
    pub(crate) listeners: Vec<(ListenerConfig, Location)>,
    pub(crate) seals: Vec<SealDraft>,
    pub(crate) entropy: Option<(EntropyConfig, Location)>,
    pub(crate) kms_libraries: Vec<(KmsLibraryConfig, Location)>,
    pub(crate) ui: Option<bool>,
    pub(crate) disable_mlock: Option<bool>,
    pub(crate) raw_storage_endpoint: Option<bool>,
    pub(crate) disable_clustering: Option<bool>,
    pub(crate) api_addr: Option<String>,
    pub(crate) cluster_addr: Option<String>,
    pub(crate) cluster_name: Option<String>,
    pub(crate) log_level: Option<LogLevel>,
    pub(crate) default_lease_ttl: Option<(Duration, Location)>,
    pub(crate) max_lease_ttl: Option<(Duration, Location)>,
}

impl Draft {
    /// Decodes the top level of one parsed file.
    pub(crate) fn from_body(file: &Path, body: Body) -> Result<Self, ConfigError> {
        let Body { attrs, blocks } = body;
        if let Some(attr) = attrs.iter().find(|a| STANZAS.contains(&a.key.as_str())) {
            return Err(ConfigError::invalid_at(
                &attr.at,
                format!("{0} must be a stanza: {0} \"TYPE\" {{ ... }}", attr.key),
            ));
        }
        let top = Location {
            file: file.to_path_buf(),
            line: 1,
        };
        let mut f = Fields::new(
            String::new(),
            top,
            Body {
                attrs,
                blocks: Vec::new(),
            },
            TOP_LEVEL_FIELDS,
        )?;
        let mut draft = Draft {
            ui: f.bool("ui")?,
            disable_mlock: f.bool("disable_mlock")?,
            raw_storage_endpoint: f.bool("raw_storage_endpoint")?,
            disable_clustering: f.bool("disable_clustering")?,
            api_addr: f.string("api_addr")?,
            cluster_addr: f.string("cluster_addr")?,
            cluster_name: f.string("cluster_name")?,
            log_level: f.parsed("log_level", LogLevel::parse)?,
            ..Draft::default()
        };
        draft.default_lease_ttl = f.duration_at("default_lease_ttl")?;
        draft.max_lease_ttl = f.duration_at("max_lease_ttl")?;

        let mut single = Draft::default();
        for block in blocks {
            match block.ident.as_str() {
                "storage" => single.storage = Some(storage::decode(block)?),
                "listener" => single.listeners.push(listener::decode(block)?),
                "seal" => single.seals.push(seal::decode(block)?),
                "entropy" => single.entropy = Some(entropy::decode(block)?),
                "kms_library" => single.kms_libraries.push(kms_library::decode(block)?),
                other => {
                    let hint = if other == "backend" {
                        " (\"backend\" is Vault's old name; write storage \"TYPE\" { ... })"
                    } else {
                        " (expected storage, listener, seal, entropy or kms_library)"
                    };
                    return Err(ConfigError::invalid_at(
                        &block.at,
                        format!("unknown stanza \"{other}\"{hint}"),
                    ));
                }
            }
            // Merging stanza by stanza catches a second storage/entropy in the same file.
            draft.merge(std::mem::take(&mut single))?;
        }
        Ok(draft)
    }

    /// Folds a later file into this one.
    pub(crate) fn merge(&mut self, later: Draft) -> Result<(), ConfigError> {
        if let Some((storage, at)) = later.storage {
            if let Some((_, first)) = &self.storage {
                return Err(ConfigError::invalid_at(
                    &at,
                    format!(
                        "second storage stanza (the first is at {first}); configure one storage backend"
                    ),
                ));
            }
            self.storage = Some((storage, at));
        }
        if let Some((entropy, at)) = later.entropy {
            if let Some((_, first)) = &self.entropy {
                return Err(ConfigError::invalid_at(
                    &at,
                    format!("second entropy stanza (the first is at {first})"),
                ));
            }
            self.entropy = Some((entropy, at));
        }
        self.listeners.extend(later.listeners);
        self.seals.extend(later.seals);
        self.kms_libraries.extend(later.kms_libraries);
        override_with(&mut self.ui, later.ui);
        override_with(&mut self.disable_mlock, later.disable_mlock);
        override_with(&mut self.raw_storage_endpoint, later.raw_storage_endpoint);
        override_with(&mut self.disable_clustering, later.disable_clustering);
        override_with(&mut self.api_addr, later.api_addr);
        override_with(&mut self.cluster_addr, later.cluster_addr);
        override_with(&mut self.cluster_name, later.cluster_name);
        override_with(&mut self.log_level, later.log_level);
        override_with(&mut self.default_lease_ttl, later.default_lease_ttl);
        override_with(&mut self.max_lease_ttl, later.max_lease_ttl);
        Ok(())
    }

    /// Applies defaults and the rules that span stanzas.
    pub(crate) fn finish(self) -> Result<Config, ConfigError> {
        // Stanza-level errors (with a line) come before whole-config ones.
        if let Some((storage, at)) = &self.storage {
            storage::check(storage, at)?;
        }
        check_seal_set(&self.seals)?;
        kms_library::check_unique(&self.kms_libraries)?;
        let seals: Vec<SealConfig> = self
            .seals
            .into_iter()
            .map(seal::finish)
            .collect::<Result<_, _>>()?;
        if let Some((_, at)) = &self.entropy
            && !seals.iter().any(|s| !s.disabled() && !s.is_shamir())
        {
            return Err(ConfigError::invalid_at(
                at,
                "entropy \"seal\" needs a seal that supplies randomness (pkcs11); the shamir seal has none",
            ));
        }
        for (i, (listener, at)) in self.listeners.iter().enumerate() {
            if self.listeners[..i]
                .iter()
                .any(|(l, _)| l.address == listener.address)
            {
                return Err(ConfigError::invalid_at(
                    at,
                    format!(
                        "two listeners on {}; give each its own address",
                        listener.address
                    ),
                ));
            }
        }
        if self.listeners.is_empty() {
            return Err(ConfigError::Invalid {
                at: None,
                message: "no listener configured; add listener \"tcp\" { address = \"127.0.0.1:8200\" ... }"
                    .to_owned(),
            });
        }
        let default_lease_ttl = self
            .default_lease_ttl
            .as_ref()
            .map_or(DEFAULT_LEASE_TTL, |t| t.0);
        let max_lease_ttl = self
            .max_lease_ttl
            .as_ref()
            .map_or(DEFAULT_LEASE_TTL, |t| t.0);
        if default_lease_ttl > max_lease_ttl {
            let at = self
                .default_lease_ttl
                .as_ref()
                .or(self.max_lease_ttl.as_ref())
                .map(|t| t.1.clone());
            return Err(ConfigError::Invalid {
                at,
                message: format!(
                    "default_lease_ttl ({}) is longer than max_lease_ttl ({})",
                    humantime::format_duration(default_lease_ttl),
                    humantime::format_duration(max_lease_ttl),
                ),
            });
        }
        Ok(Config {
            storage: self.storage.map(|s| s.0).unwrap_or_default(),
            listeners: self.listeners.into_iter().map(|l| l.0).collect(),
            seals,
            entropy: self.entropy.map(|e| e.0),
            kms_libraries: self.kms_libraries.into_iter().map(|k| k.0).collect(),
            ui: self.ui.unwrap_or(false),
            disable_mlock: self.disable_mlock.unwrap_or(false),
            raw_storage_endpoint: self.raw_storage_endpoint.unwrap_or(false),
            disable_clustering: self.disable_clustering.unwrap_or(false),
            api_addr: self.api_addr,
            cluster_addr: self.cluster_addr,
            cluster_name: self.cluster_name,
            log_level: self.log_level.unwrap_or_default(),
            default_lease_ttl,
            max_lease_ttl,
        })
    }
}

/// One seal, or two during a migration (exactly one of them disabled).
fn check_seal_set(seals: &[SealDraft]) -> Result<(), ConfigError> {
    let at_or_none = |s: &SealDraft| s.at().cloned();
    match seals {
        [] | [_] => Ok(()),
        [a, b] => match (a.disabled(), b.disabled()) {
            (false, true) | (true, false) => Ok(()),
            (false, false) => Err(ConfigError::Invalid {
                at: at_or_none(b),
                message: format!(
                    "two enabled seals (\"{}\" and \"{}\"); to migrate, mark the old one disabled = \"true\"",
                    a.kind(),
                    b.kind()
                ),
            }),
            (true, true) => Err(ConfigError::Invalid {
                at: at_or_none(b),
                message: "both seals are disabled; the new seal of a migration must stay enabled".to_owned(),
            }),
        },
        [_, _, third, ..] => Err(ConfigError::Invalid {
            at: at_or_none(third),
            message: "more than two seal stanzas; a migration needs only the new seal and the disabled old one"
                .to_owned(),
        }),
    }
}

fn override_with<T>(slot: &mut Option<T>, later: Option<T>) {
    if later.is_some() {
        *slot = later;
    }
}
