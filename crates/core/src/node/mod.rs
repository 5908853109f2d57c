//! `Core`: one Coffer node's state machine (uninitialised → sealed →
//! unsealed) and the entry point for logical requests (`request::handle`):
//! token, then the ACL check and routing to `sys/`, `auth/token/` or a
//! mounted engine (`request::plan`), with the request audited before its
//! handler runs and after (`audit::trail`).

mod histogram;
pub(crate) mod jobs;
pub mod metrics;
mod setup;
pub(crate) mod state;

use crate::audit::devices::AuditDevices;
use crate::ceremony::Ceremonies;
use crate::clock::Clock;
use crate::engine::EngineFactory;
use crate::error::{CoreError, CoreResult};
use crate::ha::HaOptions;
use crate::ha::election::Ha;
use crate::ha::fence::{Fence, FencedBackend};
use crate::login::lockout::{LOCKED_USERS_PREFIX, UserLockouts};
use crate::managed_keys::ManagedKeyProvider;
use crate::mount::router::RouterTable;
use crate::policy::store::{POLICY_STORE_PREFIX, PolicyStore};
use crate::quota::Quotas;
use crate::seal::rewrap::RewrapStatus;
use crate::seal::wrap::{SealWrapper, WrapRule};
use crate::seal::{NodeSeal, Seal, ShamirSeal};
use crate::storage::SharedBackend;
use crate::storage::barrier::Barrier;
use crate::storage::view::View;
use crate::sys::rotate::AutoRotation;
use crate::token::expiration::{LEASE_STORE_PREFIX, Leases};
use crate::token::{TOKEN_SEAL_WRAPPED, TOKEN_STORE_PREFIX, TokenStore};
use crate::wrapping::key::{WRAPPING_KEY_PREFIX, WRAPPING_SEAL_WRAPPED, WrappingKey};
use coffer_crypto::Entropy;
use jobs::Jobs;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

/// Cluster identity, created at init and stored in the barrier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// `cluster_name` (config, or `vault-cluster-<hex>`).
    pub name: String,
    /// `cluster_id` (a UUID).
    pub id: String,
}

pub(crate) const CLUSTER_INFO_PATH: &str = "core/cluster/local/info";

/// How the node is built.
pub struct CoreOptions {
    /// Physical storage.
    pub backend: SharedBackend,
    /// The seal that protects the root key.
    pub seal: NodeSeal,
    /// The old seal of a migration away from an auto-unseal seal: the seal
    /// stanza marked `disabled = "true"`, which still unwraps the stored keys
    /// until `sys/unseal` with `migrate` has moved them to `seal`. `None`
    /// otherwise; a migration away from Shamir needs no object here (the
    /// unseal keys entered with `migrate` are the old seal).
    pub migration_from: Option<Arc<dyn Seal>>,
    /// Randomness for critical security parameters: root key, keyring
    /// terms, recovery key, unseal/recovery shares, root tokens, and keys of
    /// mounts with `external_entropy_access`. With `entropy "seal"` this is
    /// the augmented handle (OS CSPRNG mixed with HSM randomness).
    pub entropy: Arc<dyn Entropy>,
    /// Set exactly when `entropy` is augmented with a seal's randomness: the
    /// OS CSPRNG, used for barrier nonces and by mounts without
    /// `external_entropy_access` (as Vault gives plain mounts system
    /// entropy), so the data path keeps working while the HSM is away.
    /// `None`: `entropy` serves everything and mounts asking for
    /// `external_entropy_access` are refused.
    pub system_entropy: Option<Arc<dyn Entropy>>,
    /// Wall-clock time.
    pub clock: Arc<dyn Clock>,
    /// Engine types that can be mounted.
    pub factories: Vec<Arc<dyn EngineFactory>>,
    /// `cluster_name` from the config, if any.
    pub cluster_name: Option<String>,
    /// `raw_storage_endpoint` from the config: whether `sys/raw` answers.
    pub raw_storage_endpoint: bool,
    /// HA settings when the storage is shared (`ha_enabled`); `None`: this
    /// node is alone and active whenever it is unsealed.
    pub ha: Option<HaOptions>,
    /// Reaches managed keys (`sys/managed-keys`); `None`: they are refused
    /// as not supported.
    pub managed_keys: Option<Arc<dyn ManagedKeyProvider>>,
}

/// One Coffer node.
pub struct Core {
    pub(crate) barrier: Arc<Barrier>,
    pub(crate) seal: Arc<dyn Seal>,
    pub(crate) shamir: Option<Arc<ShamirSeal>>,
    pub(crate) migration_from: Option<Arc<dyn Seal>>,
    pub(crate) entropy: Arc<dyn Entropy>,
    /// OS randomness for non-CSP draws (the same object as `entropy` when
    /// augmentation is off).
    pub(crate) system_entropy: Arc<dyn Entropy>,
    /// Whether `entropy` mixes in a seal's randomness (`entropy "seal"`).
    pub(crate) augmented: bool,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) factories: BTreeMap<&'static str, Arc<dyn EngineFactory>>,
    pub(crate) router: RwLock<Arc<RouterTable>>,
    pub(crate) mount_changes: tokio::sync::Mutex<()>,
    pub(crate) managed_keys: Option<Arc<dyn ManagedKeyProvider>>,
    /// The seal-state lock; taken only through `state`'s guards.
    state: tokio::sync::RwLock<()>,
    pub(crate) tokens: TokenStore,
    /// The key that signs response-wrapping tokens (loaded while unsealed).
    pub(crate) wrapping_key: WrappingKey,
    /// The leases of expiring tokens (shared with the token store).
    pub(crate) leases: Arc<Leases>,
    pub(crate) policies: PolicyStore,
    /// Failed-login counts and stored locks of every auth mount.
    pub(crate) lockouts: UserLockouts,
    /// Unseal, generate-root and rekey attempts in progress.
    pub(crate) ceremonies: Ceremonies,
    pub(crate) cluster: RwLock<Option<ClusterInfo>>,
    pub(crate) cluster_name: Option<String>,
    pub(crate) raw_storage_endpoint: bool,
    pub(crate) ha: Option<Ha>,
    /// The HA cluster's TLS identity while unsealed (HA nodes only).
    pub(crate) cluster_tls: RwLock<Option<Arc<coffer_crypto::cluster_cert::ClusterCert>>>,
    pub(crate) rewrap: Mutex<RewrapStatus>,
    /// Audit table and broker (empty while sealed).
    pub(crate) audit: AuditDevices,
    /// Automatic keyring rotation (`sys/rotate/config`).
    pub(crate) rotation: AutoRotation,
    /// Tidies and mount deletions running after their request answered.
    pub(crate) jobs: Jobs,
    /// Rate-limit quotas in force (empty while sealed or standing by).
    pub(crate) quotas: Quotas,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("seal", &self.seal.kind())
            .field("sealed", &self.barrier.is_sealed())
            .finish()
    }
}

impl Core {
    /// A sealed node over the given storage and seal.
    pub fn new(opts: CoreOptions) -> Arc<Self> {
        let augmented = opts.system_entropy.is_some();
        let system_entropy = opts.system_entropy.unwrap_or_else(|| opts.entropy.clone());
        let seal = opts.seal.seal();
        let wrapper = Arc::new(SealWrapper::new(seal.clone(), opts.migration_from.clone()));
        let core_rule = |wrapped: &'static [&'static str]| {
            if wrapper.active() {
                WrapRule::Prefixes(wrapped)
            } else {
                WrapRule::Nothing
            }
        };
        let token_rule = core_rule(TOKEN_SEAL_WRAPPED);
        let wrapping_key_rule = core_rule(WRAPPING_SEAL_WRAPPED);
        let (backend, ha) = match opts.ha {
            None => (opts.backend, None),
            Some(ha) => {
                let fence = Arc::new(Fence::new());
                let fenced: SharedBackend =
                    Arc::new(FencedBackend::new(opts.backend, fence.clone()));
                (fenced, Some(Ha::new(ha, fence)))
            }
        };
        let barrier = Arc::new(
            Barrier::new(backend, opts.entropy.clone())
                .with_nonce_entropy(system_entropy.clone())
                .with_seal_wrap(wrapper),
        );
        let leases = Arc::new(Leases::new(View::new(barrier.clone(), LEASE_STORE_PREFIX)));
        let tokens = TokenStore::new(
            View::new(barrier.clone(), TOKEN_STORE_PREFIX).with_wrap_rule(token_rule),
            opts.clock.clone(),
            leases.clone(),
        );
        let wrapping_key = WrappingKey::new(
            View::new(barrier.clone(), WRAPPING_KEY_PREFIX).with_wrap_rule(wrapping_key_rule),
        );
        let policies = PolicyStore::new(View::new(barrier.clone(), POLICY_STORE_PREFIX));
        let lockouts = UserLockouts::new(View::new(barrier.clone(), LOCKED_USERS_PREFIX));
        Arc::new(Self {
            barrier,
            shamir: opts.seal.shamir(),
            seal,
            migration_from: opts.migration_from,
            entropy: opts.entropy,
            system_entropy,
            augmented,
            clock: opts.clock,
            factories: opts
                .factories
                .into_iter()
                .map(|f| (f.engine_type(), f))
                .collect(),
            router: RwLock::new(Arc::new(RouterTable::default())),
            mount_changes: tokio::sync::Mutex::new(()),
            managed_keys: opts.managed_keys,
            state: tokio::sync::RwLock::new(()),
            tokens,
            wrapping_key,
            leases,
            policies,
            lockouts,
            ceremonies: Ceremonies::default(),
            cluster: RwLock::new(None),
            cluster_name: opts.cluster_name,
            raw_storage_endpoint: opts.raw_storage_endpoint,
            ha,
            cluster_tls: RwLock::new(None),
            rewrap: Mutex::new(RewrapStatus::default()),
            audit: AuditDevices::new(),
            rotation: AutoRotation::default(),
            jobs: Jobs::default(),
            quotas: Quotas::default(),
        })
    }

    /// The storage type (`sys/seal-status` `storage_type`).
    pub fn storage_kind(&self) -> &'static str {
        self.barrier.backend().kind()
    }

    /// The seal in use.
    pub fn seal(&self) -> &Arc<dyn Seal> {
        &self.seal
    }

    /// Whether the barrier is sealed.
    pub fn is_sealed(&self) -> bool {
        self.barrier.is_sealed()
    }

    /// Whether `sys/init` has completed.
    pub async fn is_initialized(&self) -> CoreResult<bool> {
        self.barrier.is_initialized().await
    }

    /// Cluster name and id, known only while unsealed.
    pub fn cluster(&self) -> Option<ClusterInfo> {
        self.cluster
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs long, many-step work (auth method removal, tidies) on its own
    /// task, so that a client that gives up waiting does not cancel it
    /// half-way: the request still waits for, and answers with, the outcome;
    /// without a client the work carries on to the end. Each step checks the
    /// barrier itself, so a seal in between stops it with `Sealed`. Its
    /// storage writes count as the request's own (see [`crate::ha::detached`]).
    pub(crate) async fn run_detached<T, Fut>(
        self: &Arc<Self>,
        what: &'static str,
        work: impl FnOnce(Arc<Core>) -> Fut,
    ) -> CoreResult<T>
    where
        T: Send + 'static,
        Fut: std::future::Future<Output = CoreResult<T>> + Send + 'static,
    {
        let core = Arc::clone(self);
        crate::ha::detached(work(core))
            .await
            .map_err(|e| CoreError::Internal(format!("{what} stopped unexpectedly: {e}")))?
    }

    pub(crate) fn router_table(&self) -> Arc<RouterTable> {
        self.router
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_router_table(&self, table: RouterTable) {
        *self
            .router
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(table);
    }
}

impl Core {
    /// A random UUID (request ids, ceremony nonces, device and key ids),
    /// from the thread's CSPRNG (ChaCha seeded from the OS; see
    /// `rand::thread_rng`): identifiers, never key material.
    pub fn new_uuid(&self) -> CoreResult<String> {
        let mut bytes = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
        let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
        Ok(uuid
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            .to_owned())
    }
}
