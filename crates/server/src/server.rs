//! Wiring: config → storage, seal, core, listeners; `-dev` mode; signals.
//! The only place where configuration turns into objects.

use crate::banner;
use crate::cluster;
use crate::config::{self, Config, ListenerConfig, StorageConfig, TlsMinVersion};
use crate::engines;
use crate::http::{self, AppState, DEFAULT_MAX_REQUEST_SIZE};
use crate::listener::{ListenerSpec, RunningListener};
use crate::logging::{self, LogControl};
use crate::seal_setup::{self, SealSetup};
use crate::tls::{MinTlsVersion, TlsFiles};
use anyhow::Context as _;
use coffer_core::CoreError;
use coffer_core::ceremony::InitParams;
use coffer_core::clock::SystemClock;
use coffer_core::engine::{Operation, Request};
use coffer_core::ha::{HaLock, HaOptions};
use coffer_core::storage::{SharedBackend, StorageError};
use coffer_core::{Core, CoreOptions};
use coffer_crypto::{Entropy, OsEntropy};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};
use zeroize::Zeroizing;

/// Command-line options of `coffer server`.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `-config` files or directories.
    pub config_paths: Vec<PathBuf>,
    /// `-dev`: in-memory, initialised, unsealed.
    pub dev: bool,
    /// `-dev-root-token-id`.
    pub dev_root_token_id: Option<String>,
    /// `-dev-listen-address` (default `127.0.0.1:8200`).
    pub dev_listen_address: Option<String>,
    /// `-log-level`, overriding the config.
    pub log_level: Option<String>,
}

/// Credentials a `-dev` server prints once.
pub struct DevCredentials {
    /// The single unseal key (base64).
    pub unseal_key: Zeroizing<String>,
    /// The root token.
    pub root_token: Zeroizing<String>,
}

/// A started server.
pub struct Server {
    /// The node.
    pub core: Arc<Core>,
    listeners: Vec<RunningListener>,
    hsm_banner: Vec<(String, String)>,
    hsm_random: Option<Arc<coffer_seal_pkcs11::HsmRandom>>,
}

/// How long in-flight requests may take to finish on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

impl Server {
    /// Builds the node and starts every listener.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        let ha_addresses = ha_addresses(config)?;
        let entropy: Arc<dyn Entropy> = Arc::new(OsEntropy::new());
        let node_id = node_id(entropy.as_ref())?;
        let (backend, ha_lock) = open_storage(&config.storage, &node_id).await?;
        let ha_cluster_addr = ha_addresses.as_ref().map(|(_, c)| c.clone());
        let ha = match (ha_lock, ha_addresses) {
            (Some(lock), Some((api_addr, cluster_addr))) => {
                tracing::info!(node_id = %node_id, api_addr = %api_addr, cluster_addr = %cluster_addr, "HA enabled");
                let mut ha = HaOptions::new(lock, node_id, api_addr, cluster_addr);
                if let Some(ttl) = config.storage.ha_lock_ttl() {
                    ha.lock_ttl = ttl;
                }
                Some(ha)
            }
            _ => None,
        };
        let SealSetup {
            seal,
            migration_from,
            banner: hsm_banner,
            details: hsm_details,
            augmentation,
        } = seal_setup::build(config, entropy.clone()).await?;
        // With augmentation, CSPs draw on the augmented handle and the OS
        // CSPRNG stays for nonces and plain mounts; without, one OS handle.
        let (csp_entropy, system_entropy, hsm_random) = match augmentation {
            Some(a) => (a.entropy as Arc<dyn Entropy>, Some(entropy), Some(a.source)),
            None => (entropy, None, None),
        };
        let core = Core::new(CoreOptions {
            backend,
            seal,
            migration_from,
            entropy: csp_entropy,
            system_entropy,
            clock: Arc::new(SystemClock),
            factories: engines::factories(),
            cluster_name: config.cluster_name.clone(),
            raw_storage_endpoint: config.raw_storage_endpoint,
            ha,
            managed_keys: Some(Arc::new(coffer_seal_pkcs11::Pkcs11KeyProvider::new(
                config
                    .kms_libraries
                    .iter()
                    .map(|k| (k.name.clone(), k.library.clone())),
            ))),
        });
        report_seal_migration(&core, config).await?;
        let forwarder = match (&ha_cluster_addr, config.disable_clustering) {
            (Some(cluster_addr), false) => {
                let forwarder = Arc::new(cluster::Forwarder::default());
                let cluster_state = AppState {
                    cluster: true,
                    ..AppState::new(core.clone(), DEFAULT_MAX_REQUEST_SIZE)
                };
                let bind = config
                    .listeners
                    .iter()
                    .find_map(|l| l.cluster_address.clone())
                    .unwrap_or_else(|| cluster::bind_address(cluster_addr));
                cluster::watch_listener(
                    core.clone(),
                    bind,
                    http::router(cluster_state, false),
                    forwarder.clone(),
                );
                Some(forwarder)
            }
            _ => None,
        };
        let config_state = Arc::new(config.sanitized());
        let seal_details = Arc::new(hsm_details);
        let mut listeners = Vec::new();
        for l in &config.listeners {
            let admission = (l.max_concurrent_requests > 0)
                .then(|| http::admission::Admission::new(l.max_concurrent_requests));
            let state = AppState {
                forwarder: forwarder.clone(),
                config_state: config_state.clone(),
                seal_details: seal_details.clone(),
                admission,
                forwarded_for: l.x_forwarded_for.clone().map(Arc::new),
                ..AppState::new(core.clone(), l.max_request_size)
            };
            let app = http::router(state, config.ui);
            listeners.push(RunningListener::start(&listener_spec(l), app)?);
        }
        if config.ui && !http::ui_built_in() {
            tracing::warn!(
                "ui = true, but this binary was built without the web UI (ui/dist was missing); \
                 /ui/ answers 501: run scripts/build-ui, then build coffer again"
            );
        }
        Ok(Self {
            core,
            listeners,
            hsm_banner,
            hsm_random,
        })
    }

    /// `C_GenerateRandom` calls and bytes drawn for entropy augmentation;
    /// `None` without an `entropy "seal"` stanza.
    pub fn hsm_random_stats(&self) -> Option<coffer_seal_pkcs11::RandomStats> {
        self.hsm_random.as_ref().map(|r| r.stats())
    }

    /// Bound addresses, with whether each speaks TLS.
    pub fn addresses(&self) -> Vec<(SocketAddr, bool)> {
        self.listeners
            .iter()
            .map(|l| (l.local_addr, l.is_tls()))
            .collect()
    }

    /// Initialises (1 share), unseals and mounts `secret/` as KV v2, like `vault server -dev`.
    pub async fn setup_dev(&self, root_token_id: Option<String>) -> anyhow::Result<DevCredentials> {
        use base64::Engine as _;
        let result = self
            .core
            .initialize(InitParams {
                secret_shares: 1,
                secret_threshold: 1,
                root_token_id,
                ..InitParams::default()
            })
            .await
            .context("initialising the dev server")?;
        let key = result.keys.first().context("init returned no unseal key")?;
        let unseal_key =
            Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(key.expose()));
        self.core
            .submit_unseal_key(&unseal_key)
            .await
            .context("unsealing the dev server")?;
        let mount =
            Request::new(Operation::Update, "sys/mounts/secret").with_data(serde_json::json!({
                "type": "kv",
                "options": {"version": "2"},
                "description": "key/value secret storage",
            }));
        self.core
            .handle(mount, Some(result.root_token.as_str()))
            .await
            .context("mounting secret/ in dev mode")?;
        Ok(DevCredentials {
            unseal_key,
            root_token: result.root_token,
        })
    }

    /// Re-reads TLS certificates of every TLS listener.
    pub fn reload_tls(&self) {
        for l in &self.listeners {
            match l.reload_tls() {
                Ok(()) if l.is_tls() => {
                    tracing::info!(addr = %l.local_addr, "TLS certificate reloaded")
                }
                Ok(()) => {}
                Err(e) => {
                    tracing::error!(addr = %l.local_addr, error = %format!("{e:#}"), "TLS reload failed; the previous certificate stays in use")
                }
            }
        }
    }

    /// Closes and reopens every audit file (after logrotate moved them). A
    /// device that cannot reopen refuses writes until its path opens again;
    /// with no other device, requests then fail (fail closed).
    pub fn reopen_audit_devices(&self) {
        let devices = self.core.audit_device_paths();
        if devices.is_empty() {
            return;
        }
        match self.core.reopen_audit_devices() {
            Ok(()) => tracing::info!(devices = %devices.join(", "), "audit devices reopened"),
            Err(e) => tracing::error!(error = %e, "reopening audit devices failed"),
        }
    }

    /// Stops listeners gracefully, all at once (so that the whole stop stays
    /// within one grace period, well inside the unit's `TimeoutStopSec=30`),
    /// and seals the node (keys leave memory).
    pub async fn shutdown(self) {
        let mut stopping = tokio::task::JoinSet::new();
        for l in self.listeners {
            stopping.spawn(l.shutdown(SHUTDOWN_GRACE));
        }
        while stopping.join_next().await.is_some() {}
        self.core.seal_now().await;
    }
}

/// `coffer server`: load config, start, serve until SIGTERM/SIGINT; SIGHUP
/// reloads the log level and TLS certificates and reopens audit files.
pub async fn run(opts: ServerOptions) -> anyhow::Result<()> {
    // Before the configuration (which may hold the HSM PIN) is read.
    crate::mlock::forbid_dumps()?;
    let config = if opts.dev {
        dev_config(&opts)
    } else {
        if opts.config_paths.is_empty() {
            anyhow::bail!(
                "no configuration given: use -config=FILE (or a directory), or -dev for a throwaway in-memory server"
            );
        }
        config::load(&opts.config_paths)?
    };
    let level = opts
        .log_level
        .clone()
        .unwrap_or_else(|| config.log_level.as_str().to_owned());
    let log = logging::init(&level)?;
    if !config.disable_mlock {
        crate::mlock::lock_memory()?;
    }
    let server = Server::start(&config).await?;
    let auto_unseal = tokio::spawn(auto_unseal(server.core.clone()));
    let dev = if opts.dev {
        Some(server.setup_dev(opts.dev_root_token_id.clone()).await?)
    } else {
        None
    };
    println!("{}", banner::render(&banner_rows(&config, &server, &level)));
    if let Some(creds) = &dev {
        print_dev_notice(&server, creds);
    }
    // Listening for signals before systemd hears READY=1: a stop or reload
    // sent the moment `systemctl start` returns is then never lost.
    let signals = Signals::install()?;
    crate::systemd::ready();
    let systemd_status = crate::systemd::watch(server.core.clone());
    wait_for_signals(signals, &server, &log, &opts, &level).await;
    tracing::info!("shutting down");
    crate::systemd::stopping();
    systemd_status.abort();
    auto_unseal.abort();
    server.shutdown().await;
    Ok(())
}

/// Says at startup whether a seal migration is pending, and refuses to
/// start when the stored keys need a seal the configuration lacks.
async fn report_seal_migration(core: &Core, config: &Config) -> anyhow::Result<()> {
    let pending = match core.seal_migration().await {
        Ok(p) => p,
        Err(CoreError::Storage(StorageError::Unavailable { cause, .. })) => {
            // Checked again at unseal, which waits for the storage too.
            tracing::warn!(cause = %cause, "storage unreachable at start-up; the seal configuration is checked once it answers");
            return Ok(());
        }
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context("checking the stored seal against the configured seal"));
        }
    };
    match (pending, config.migration_source()) {
        (Some(m), _) => tracing::warn!(
            from = %m.from,
            to = m.to,
            "seal migration pending: the node stays sealed until {} of the {} keys are entered with `coffer operator unseal -migrate`",
            m.threshold,
            m.key_kind()
        ),
        (None, Some(old)) => tracing::warn!(
            "seal \"{}\" is marked disabled = \"true\", but no seal migration is pending (the {} seal is in use); remove the disabled stanza",
            old.kind(),
            core.seal().kind()
        ),
        (None, None) => {}
    }
    Ok(())
}

/// With an auto-unseal seal, unseals from the stored keys at start, and keeps
/// trying while the seal cannot answer (HSM unreachable) so the node unseals
/// by itself once it comes back. A node started before its (shared) storage
/// was initialised keeps looking, so that HA nodes unseal once any of them
/// was initialised. A Shamir node returns at once.
async fn auto_unseal(core: Arc<Core>) {
    let mut delay = Duration::from_secs(1);
    loop {
        if !core.is_sealed() {
            return;
        }
        match core.unseal_with_stored_keys().await {
            Ok(true) => return,
            Ok(false) if !core.seal().stored_keys() => return,
            Ok(false) => match core.is_initialized().await {
                Ok(false) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Ok(true) => return,
                Err(e) => {
                    tracing::error!(error = %e, retry_in_secs = delay.as_secs(), "cannot tell whether storage is initialised; the node stays sealed");
                }
            },
            Err(e) => {
                tracing::error!(error = %e, retry_in_secs = delay.as_secs(), "unseal with stored keys failed; the node stays sealed");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// The signals `coffer server` answers: SIGTERM and SIGINT stop it, SIGHUP
/// reloads. Once installed, they no longer kill the process by default.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
        })
    }
}

async fn wait_for_signals(
    mut signals: Signals,
    server: &Server,
    log: &LogControl,
    opts: &ServerOptions,
    level: &str,
) {
    loop {
        tokio::select! {
            _ = signals.term.recv() => return,
            _ = signals.int.recv() => return,
            _ = signals.hup.recv() => {
                tracing::info!("SIGHUP received: reloading log level and TLS certificates, reopening audit files");
                let new_level = if opts.dev || opts.log_level.is_some() {
                    level.to_owned()
                } else {
                    match config::load(&opts.config_paths) {
                        Ok(c) => c.log_level.as_str().to_owned(),
                        Err(e) => {
                            tracing::error!(error = %e, "configuration reload failed; keeping the running settings");
                            level.to_owned()
                        }
                    }
                };
                if let Err(e) = log.set_level(&new_level) {
                    tracing::error!(error = %e, "log level not changed");
                }
                server.reload_tls();
                server.reopen_audit_devices();
            }
        }
    }
}

/// The storage backend, and its HA election lock when the stanza enables HA
/// (the backend's writes then need `node_id` to hold that lock).
async fn open_storage(
    storage: &StorageConfig,
    node_id: &str,
) -> anyhow::Result<(SharedBackend, Option<Arc<dyn HaLock>>)> {
    Ok(match storage {
        StorageConfig::Inmem => (Arc::new(coffer_storage_inmem::InmemBackend::new()), None),
        StorageConfig::Embedded { path } => (
            Arc::new(
                coffer_storage_embedded::EmbeddedBackend::open(path)
                    .await
                    .with_context(|| format!("opening embedded storage at {}", path.display()))?,
            ),
            None,
        ),
        StorageConfig::File { path } => (
            Arc::new(
                coffer_storage_file::FileBackend::new(path)
                    .with_context(|| format!("opening file storage at {}", path.display()))?,
            ),
            None,
        ),
        StorageConfig::Postgresql {
            connection_url,
            table,
            max_parallel,
            ha_enabled,
            ha_table,
            max_connect_retries,
            ..
        } => {
            let mut pg = coffer_storage_postgresql::PostgresConfig::new(connection_url.clone());
            pg.table.clone_from(table);
            pg.max_parallel = *max_parallel;
            pg.ha_enabled = *ha_enabled;
            pg.ha_table.clone_from(ha_table);
            pg.max_connect_retries = *max_connect_retries;
            let backend = coffer_storage_postgresql::PostgresBackend::open_waiting(&pg)
                .await
                .context("opening postgresql storage")?
                .fenced_by(node_id);
            let lock = backend.ha_lock().map(|l| l as Arc<dyn HaLock>);
            (Arc::new(backend), lock)
        }
    })
}

/// With `ha_enabled`: the node's `api_addr` (required: standbys send
/// clients there) and `cluster_addr` (default: the API host on the next
/// port, as Vault's). Checked before storage is opened.
fn ha_addresses(config: &Config) -> anyhow::Result<Option<(String, String)>> {
    if !matches!(
        config.storage,
        StorageConfig::Postgresql {
            ha_enabled: true,
            ..
        }
    ) {
        return Ok(None);
    }
    let Some(api_addr) = config.api_addr.clone() else {
        anyhow::bail!(
            "storage ha_enabled needs api_addr (or VAULT_API_ADDR): the address clients use to \
             reach this node, which standbys send them to, e.g. api_addr = \"https://10.0.0.5:8200\""
        );
    };
    let cluster_addr = match &config.cluster_addr {
        Some(c) => c.clone(),
        None => default_cluster_addr(&api_addr)?,
    };
    Ok(Some((api_addr, cluster_addr)))
}

/// This process's identity in the HA lock (fresh at every start).
fn node_id(entropy: &dyn Entropy) -> anyhow::Result<String> {
    let mut id = [0u8; 16];
    entropy
        .fill(&mut id)
        .context("drawing this node's HA identity")?;
    Ok(uuid::Builder::from_random_bytes(id).into_uuid().to_string())
}

/// `https://<api host>:<api port + 1>`.
fn default_cluster_addr(api_addr: &str) -> anyhow::Result<String> {
    let url: axum::http::Uri = api_addr
        .parse()
        .with_context(|| format!("api_addr {api_addr:?} is not a URL"))?;
    let host = url
        .host()
        .with_context(|| format!("api_addr {api_addr:?} has no host"))?;
    let port = match (url.port_u16(), url.scheme_str()) {
        (Some(p), _) => p,
        (None, Some("https")) => 443,
        (None, Some("http")) => 80,
        _ => anyhow::bail!("api_addr {api_addr:?} has no port"),
    };
    let next = port
        .checked_add(1)
        .with_context(|| format!("api_addr {api_addr:?}: no port after {port} for cluster_addr"))?;
    Ok(format!("https://{host}:{next}"))
}

fn listener_spec(l: &ListenerConfig) -> ListenerSpec {
    ListenerSpec {
        address: l.address.clone(),
        tls: if l.tls_disable {
            None
        } else {
            Some(TlsFiles {
                cert_file: l.tls_cert_file.clone().unwrap_or_default(),
                key_file: l.tls_key_file.clone().unwrap_or_default(),
                min_version: match l.tls_min_version {
                    TlsMinVersion::Tls12 => MinTlsVersion::Tls12,
                    TlsMinVersion::Tls13 => MinTlsVersion::Tls13,
                },
            })
        },
    }
}

fn dev_config(opts: &ServerOptions) -> Config {
    let mut c = Config::dev();
    if let Some(addr) = &opts.dev_listen_address
        && let Some(l) = c.listeners.first_mut()
    {
        l.address = addr.clone();
    }
    c
}

fn banner_rows(config: &Config, server: &Server, level: &str) -> Vec<(String, String)> {
    let mut rows = server.hsm_banner.clone();
    let api = config.api_addr.clone().unwrap_or_else(|| {
        server
            .addresses()
            .first()
            .map(|(a, tls)| format!("{}://{a}", if *tls { "https" } else { "http" }))
            .unwrap_or_default()
    });
    rows.push(("Api Address".to_owned(), api));
    if let Some(c) = &config.cluster_addr {
        rows.push(("Cluster Address".to_owned(), c.clone()));
    }
    for (i, (addr, tls)) in server.addresses().iter().enumerate() {
        rows.push((
            format!("Listener {}", i + 1),
            format!(
                "tcp (addr: \"{addr}\", max_request_size: \"{}\", tls: \"{}\")",
                config.listeners.get(i).map_or(0, |l| l.max_request_size),
                if *tls { "enabled" } else { "disabled" }
            ),
        ));
    }
    rows.push(("Log Level".to_owned(), level.to_owned()));
    rows.push((
        "Mlock".to_owned(),
        format!("supported: true, enabled: {}", !config.disable_mlock),
    ));
    rows.push(("Recovery Mode".to_owned(), "false".to_owned()));
    rows.push(("Seal Type".to_owned(), server.core.seal().kind().to_owned()));
    rows.push(("Storage".to_owned(), server.core.storage_kind().to_owned()));
    rows.push(("Version".to_owned(), crate::version_line()));
    rows
}

fn print_dev_notice(server: &Server, creds: &DevCredentials) {
    let addr = server
        .addresses()
        .first()
        .map(|(a, _)| format!("http://{a}"))
        .unwrap_or_default();
    println!(
        "WARNING! dev mode is enabled! Coffer runs entirely in memory, starts\n\
         unsealed with a single unseal key, and loses everything on exit.\n\
         Never use dev mode in production.\n\n\
         You may need to set the following environment variables:\n\n    \
         $ export VAULT_ADDR='{addr}'\n\n\
         The unseal key and root token are displayed below in case you want to\n\
         seal/unseal Coffer or re-authenticate.\n\n\
         Unseal Key: {}\n\
         Root Token: {}\n",
        creds.unseal_key.as_str(),
        creds.root_token.as_str()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cluster_addr_is_the_api_host_on_the_next_port() {
        let d = |a: &str| default_cluster_addr(a).expect(a);
        assert_eq!(d("http://10.0.0.5:8200"), "https://10.0.0.5:8201");
        assert_eq!(
            d("https://vault.example.com"),
            "https://vault.example.com:444"
        );
        assert_eq!(d("http://[::1]:8200"), "https://[::1]:8201");
        assert!(default_cluster_addr("not a url").is_err());
    }
}
