//! Coffer's key/value secrets engines: `kv` version 1 (one value per path),
//! `kv` version 2 (versioned secrets with metadata, check-and-set, soft
//! delete and destroy) and `cubbyhole` (per-token private storage), all
//! speaking Vault's wire shapes.
//!
//! Engines see only their mount's `View`, the `Clock` and the `Entropy`
//! handle from `EngineContext`; this crate must never depend on the server,
//! a storage backend, the barrier or another engine.

mod cubbyhole;
mod fields;
mod key_path;
mod v1;
mod v2;

use coffer_core::engine::{Engine, EngineFactory};
use coffer_core::mount::MountEntry;
use coffer_core::{CoreError, CoreResult};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The mount option that selects the KV version.
const VERSION_OPTION: &str = "version";

/// Makes `kv` engines; the mount option `version` (`"1"`, the default, or
/// `"2"`) picks the flavour.
#[derive(Debug, Default, Clone, Copy)]
pub struct KvFactory;

impl KvFactory {
    /// A factory for the `kv` type.
    pub fn new() -> Self {
        Self
    }
}

impl EngineFactory for KvFactory {
    fn engine_type(&self) -> &'static str {
        "kv"
    }

    fn create(&self, mount: &MountEntry) -> CoreResult<Arc<dyn Engine>> {
        match KvVersion::from_options(&mount.options)? {
            KvVersion::V1 => Ok(Arc::new(v1::KvV1::shared())),
            KvVersion::V2 => Ok(Arc::new(v2::KvV2::new())),
        }
    }

    fn normalize_options(
        &self,
        mut options: BTreeMap<String, String>,
    ) -> CoreResult<BTreeMap<String, String>> {
        let version = KvVersion::from_options(&options)?;
        options.insert(VERSION_OPTION.to_owned(), version.as_str().to_owned());
        Ok(options)
    }
}

/// Makes `cubbyhole` engines: KV v1 semantics over storage private to the
/// calling token.
#[derive(Debug, Default, Clone, Copy)]
pub struct CubbyholeFactory;

impl CubbyholeFactory {
    /// A factory for the `cubbyhole` type.
    pub fn new() -> Self {
        Self
    }
}

impl EngineFactory for CubbyholeFactory {
    fn engine_type(&self) -> &'static str {
        "cubbyhole"
    }

    fn create(&self, _mount: &MountEntry) -> CoreResult<Arc<dyn Engine>> {
        Ok(Arc::new(v1::KvV1::per_token()))
    }
}

/// The two KV flavours a `kv` mount can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KvVersion {
    V1,
    V2,
}

impl KvVersion {
    /// Reads `version` from mount options; absent or empty means 1.
    fn from_options(options: &BTreeMap<String, String>) -> CoreResult<Self> {
        match options.get(VERSION_OPTION).map(|v| v.trim()) {
            None | Some("" | "1") => Ok(Self::V1),
            Some("2") => Ok(Self::V2),
            Some(other) => Err(CoreError::invalid(format!(
                "unknown kv version {other:?}: expected \"1\" or \"2\""
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "1",
            Self::V2 => "2",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn absent_version_normalises_to_one() {
        let out = KvFactory.normalize_options(opts(&[])).expect("normalise");
        assert_eq!(out.get("version").map(String::as_str), Some("1"));
    }

    #[test]
    fn version_two_is_kept_and_other_options_survive() {
        let out = KvFactory
            .normalize_options(opts(&[("version", "2"), ("other", "x")]))
            .expect("normalise");
        assert_eq!(out, opts(&[("version", "2"), ("other", "x")]));
    }

    #[test]
    fn unknown_version_is_rejected() {
        let err = KvFactory
            .normalize_options(opts(&[("version", "3")]))
            .expect_err("must reject");
        assert!(matches!(err, CoreError::InvalidRequest(m) if m.contains("unknown kv version")));
    }
}
