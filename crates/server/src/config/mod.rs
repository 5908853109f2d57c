//! The typed configuration of `coffer server -config=FILE`.
//!
//! Operators write Vault's HCL (`storage`, `listener "tcp"`, `seal "pkcs11"`,
//! `entropy "seal"`, `ui`, `disable_mlock`, ...); `config/example.hcl` documents
//! every field. The flow is: files → [`document`] trees with line numbers (HCL via
//! hcl-edit's spans, JSON via serde_json) → per-file drafts → merged draft →
//! environment overrides (`env.rs`, `VAULT_HSM_*` win over files) → checks →
//! [`Config`]. Only `load` touches the process environment and the file system.
//!
//! Every error names the file and line (syntax errors also the column) and the
//! stanza and field, e.g. `config.hcl:12: listener "tcp": unknown field "adress"`.
//! Certificate files and the PKCS#11 module are only named here, never opened.

mod document;
mod draft;
mod entropy;
mod env;
mod error;
mod hcl_syntax;
mod json_syntax;
mod kms_library;
mod listener;
mod log_level;
mod sanitized;
mod seal;
mod storage;
mod value;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

pub use draft::DEFAULT_LEASE_TTL;
pub use entropy::{EntropyConfig, EntropyMode};
pub use env::Env;
pub use error::{ConfigError, Location};
pub use kms_library::KmsLibraryConfig;
pub use listener::{
    DEFAULT_ADDRESS, DEFAULT_MAX_CONCURRENT_REQUESTS, DEFAULT_MAX_REQUEST_SIZE, ForwardedFor,
    ListenerConfig, TlsMinVersion,
};
pub use log_level::LogLevel;
pub use seal::{HsmPin, OaepHash, Pkcs11SealConfig, SealConfig, ShamirSealConfig};
pub use storage::{DEFAULT_EMBEDDED_PATH, StorageConfig};
pub use value::parse_u64;

use draft::Draft;

/// The whole server configuration, defaults applied and checked.
/// `Debug` is safe to log: the PIN prints as `[redacted]`.
#[derive(Debug)]
pub struct Config {
    /// Storage backend; embedded at [`DEFAULT_EMBEDDED_PATH`] when no stanza is given.
    pub storage: StorageConfig,
    /// HTTP listeners, in file order; at least one.
    pub listeners: Vec<ListenerConfig>,
    /// Seal stanzas in file order: none (Shamir), one, or two during a migration
    /// (exactly one of them disabled).
    pub seals: Vec<SealConfig>,
    /// `entropy "seal"`; present only with an enabled non-Shamir seal.
    pub entropy: Option<EntropyConfig>,
    /// `kms_library "pkcs11"` stanzas: the modules managed keys may use.
    pub kms_libraries: Vec<KmsLibraryConfig>,
    /// Serve the web UI at `/ui/`.
    pub ui: bool,
    /// Skip `mlockall` (needed in some containers).
    pub disable_mlock: bool,
    /// Serve `sys/raw` (read and list the stored form of values; sudo).
    pub raw_storage_endpoint: bool,
    /// HA without the cluster listener: standbys redirect clients to the
    /// active node instead of forwarding their requests.
    pub disable_clustering: bool,
    /// Address clients are redirected to (`VAULT_API_ADDR` wins).
    pub api_addr: Option<String>,
    /// Address for cluster traffic (`VAULT_CLUSTER_ADDR` wins).
    pub cluster_addr: Option<String>,
    /// Cluster name shown in status output.
    pub cluster_name: Option<String>,
    /// Log verbosity; default `info`.
    pub log_level: LogLevel,
    /// Lease TTL when a request asks for none; default 768h.
    pub default_lease_ttl: Duration,
    /// Upper bound for any lease TTL; default 768h.
    pub max_lease_ttl: Duration,
}

impl Config {
    /// The configuration of `coffer server -dev` (as Vault's dev mode): in-memory
    /// storage, one plain-HTTP listener on [`DEFAULT_ADDRESS`], Shamir seal, UI on,
    /// mlock off. Not read from any file.
    pub fn dev() -> Self {
        Self {
            storage: StorageConfig::Inmem,
            listeners: vec![ListenerConfig {
                address: DEFAULT_ADDRESS.to_owned(),
                tls_disable: true,
                tls_cert_file: None,
                tls_key_file: None,
                tls_min_version: TlsMinVersion::default(),
                max_request_size: DEFAULT_MAX_REQUEST_SIZE,
                max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
                cluster_address: None,
                x_forwarded_for: None,
            }],
            seals: Vec::new(),
            entropy: None,
            kms_libraries: Vec::new(),
            // As Vault's dev server: the web UI at /ui/.
            ui: true,
            disable_mlock: true,
            raw_storage_endpoint: false,
            disable_clustering: false,
            api_addr: None,
            cluster_addr: None,
            cluster_name: None,
            log_level: LogLevel::default(),
            default_lease_ttl: DEFAULT_LEASE_TTL,
            max_lease_ttl: DEFAULT_LEASE_TTL,
        }
    }

    /// The seal in use: the enabled seal stanza, `None` for the default Shamir seal.
    pub fn enabled_seal(&self) -> Option<&SealConfig> {
        self.seals.iter().find(|s| !s.disabled())
    }

    /// The old seal of a seal migration (the one with `disabled = "true"`).
    pub fn migration_source(&self) -> Option<&SealConfig> {
        self.seals.iter().find(|s| s.disabled())
    }
}

/// Loads the files and directories given by `-config` (in order), applying
/// overrides from the process environment. The only function here that reads
/// the environment.
pub fn load(paths: &[PathBuf]) -> Result<Config, ConfigError> {
    load_with_env(paths, &Env::from_process())
}

/// [`load`] with an explicit environment.
pub fn load_with_env(paths: &[PathBuf], env: &Env) -> Result<Config, ConfigError> {
    let mut merged = Draft::default();
    for file in config_files(paths)? {
        // The file may hold the PIN; wipe our copy of the text when done.
        let text =
            Zeroizing::new(
                fs::read_to_string(&file).map_err(|source| ConfigError::Read {
                    path: file.clone(),
                    source,
                })?,
            );
        merged.merge(parse_file(&file, &text)?)?;
    }
    env::apply(&mut merged, env)?;
    merged.finish()
}

/// Parses one config text as if read from `file` (`.json` → JSON, else HCL);
/// `file` is used for messages only.
pub fn parse(file: &Path, text: &str, env: &Env) -> Result<Config, ConfigError> {
    let mut draft = parse_file(file, text)?;
    env::apply(&mut draft, env)?;
    draft.finish()
}

/// The files `-config` arguments name, in load order: files as given; for a
/// directory, its `*.hcl` and `*.json` files sorted by name (not recursive).
pub fn config_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigError> {
    if paths.is_empty() {
        return Err(ConfigError::NoFiles { dir: None });
    }
    let mut files = Vec::new();
    for path in paths {
        let read_error = |source| ConfigError::Read {
            path: path.clone(),
            source,
        };
        if !fs::metadata(path).map_err(read_error)?.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        for entry in fs::read_dir(path).map_err(read_error)? {
            let entry_path = entry.map_err(read_error)?.path();
            let wanted = matches!(
                entry_path.extension().and_then(|e| e.to_str()),
                Some("hcl" | "json")
            );
            if wanted && entry_path.is_file() {
                found.push(entry_path);
            }
        }
        if found.is_empty() {
            return Err(ConfigError::NoFiles {
                dir: Some(path.clone()),
            });
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

fn parse_file(file: &Path, text: &str) -> Result<Draft, ConfigError> {
    let body = if file.extension().is_some_and(|e| e == "json") {
        json_syntax::parse(file, text, draft::STANZAS)?
    } else {
        hcl_syntax::parse(file, text)?
    };
    Draft::from_body(file, body)
}

#[cfg(test)]
mod tests;
