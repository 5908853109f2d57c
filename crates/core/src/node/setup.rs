//! What happens right after the barrier opens (at unseal, and at init with
//! the keyring still in memory only): load (or create, on first unseal) the
//! cluster identity, the token salt, the response-wrapping key and the
//! `default` policy; load the leases and the user locks; build the engines of
//! every mount and auth method and resume, in the background, deleting the
//! data of any whose removal was interrupted; open the audit devices; start a seal re-wrap pass if records
//! are stale, the lease sweep and the automatic keyring rotation checks. A failure here leaves the node sealed.

use crate::error::{CoreError, CoreResult};
use crate::mount::router::RouterTable;
use crate::mount::{AUTH_TABLE_PATH, MOUNT_TABLE_PATH, MountConfig, MountEntry, MountTable};
use crate::node::{CLUSTER_INFO_PATH, ClusterInfo, Core};
use crate::seal::ROOT_KEY_PATH;
use crate::storage::view::View;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

impl Core {
    /// Everything a node does to serve once its barrier is open (alone, or
    /// as the HA node that took the lock): `post_unseal`, then bring the
    /// stored keys to the current seal key (auto-unseal seals) or remove a
    /// recovery key an interrupted migration left behind (Shamir).
    pub(crate) async fn activate(self: &Arc<Self>) -> CoreResult<()> {
        self.post_unseal().await?;
        if self.seal.stored_keys() {
            let wrapped_root = self.stored_key_record(ROOT_KEY_PATH).await?;
            let root = self.barrier.root_key()?;
            self.upgrade_stored_keys(&wrapped_root, &root).await;
        } else {
            self.remove_stale_recovery_key().await;
        }
        Ok(())
    }

    /// Reads the cluster's name and id without creating them: a standby
    /// shows them in `sys/seal-status` as the active does.
    pub(crate) async fn load_cluster_identity(&self) {
        let system = View::new(self.barrier.clone(), "");
        if let Ok(Some(info)) = system.get_json::<ClusterInfo>(CLUSTER_INFO_PATH).await {
            *self
                .cluster
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(info);
        }
    }

    pub(crate) async fn post_unseal(self: &Arc<Self>) -> CoreResult<()> {
        let system = View::new(self.barrier.clone(), "");
        let cluster = match system.get_json::<ClusterInfo>(CLUSTER_INFO_PATH).await? {
            Some(c) => c,
            None => {
                let id = uuid::Builder::from_random_bytes(self.random_16()?).into_uuid();
                let info = ClusterInfo {
                    name: self.cluster_name.clone().unwrap_or_else(|| {
                        format!("vault-cluster-{}", &id.simple().to_string()[..8])
                    }),
                    id: id.to_string(),
                };
                system.put_json(CLUSTER_INFO_PATH, &info).await?;
                info
            }
        };
        self.tokens.load(self.entropy.as_ref()).await?;
        self.wrapping_key.load(self.entropy.as_ref()).await?;
        self.leases.load().await?;
        self.lockouts.load().await?;
        self.policies.ensure_default().await?;
        let mounts = match system.get_json::<MountTable>(MOUNT_TABLE_PATH).await? {
            Some(t) => t,
            None => {
                let t = self.default_mounts()?;
                system.put_json(MOUNT_TABLE_PATH, &t).await?;
                t
            }
        };
        let auth = system
            .get_json::<MountTable>(AUTH_TABLE_PATH)
            .await?
            .unwrap_or_default();
        let table = self.build_router(mounts.clone(), auth.clone())?;
        self.set_router_table(table);
        for prefix in &mounts.removing {
            tracing::warn!("the deletion of a disabled mount's data was interrupted: resuming it");
            self.start_removal(prefix.clone(), false);
        }
        for prefix in &auth.removing {
            tracing::warn!(
                "the deletion of a disabled auth method's data was interrupted: resuming it"
            );
            self.start_removal(prefix.clone(), true);
        }
        self.load_audit_devices().await?;
        self.load_quotas().await?;
        let mut all = mounts;
        all.entries.extend(auth.entries);
        self.after_unseal_seal_wrap(&all).await;
        *self
            .cluster
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cluster);
        self.start_lease_sweep();
        self.start_auto_rotation().await?;
        Ok(())
    }

    /// Builds engines for every mount; fails if a mount's type is unknown to
    /// this build (better sealed than serving a mount half-way). Engines of
    /// mounts that exist in the current table (same path and uuid) are kept,
    /// so their in-memory state (per-key write locks, caches) survives a
    /// change to another mount (a change of the mount's own options, such as
    /// a userpass lockout tuning, makes a new instance).
    pub(crate) fn build_router(
        &self,
        mounts: MountTable,
        auth: MountTable,
    ) -> CoreResult<RouterTable> {
        let current = self.router_table();
        let mut engines = HashMap::new();
        for m in mounts.entries.iter().chain(&auth.entries) {
            if m.engine_type == "system" {
                continue;
            }
            if let Some(existing) = current
                .route(&m.path)
                .filter(|r| {
                    r.mount.uuid == m.uuid && r.mount.path == m.path && r.mount.options == m.options
                })
                .and_then(|r| r.engine)
            {
                engines.insert(m.path.clone(), existing);
                continue;
            }
            let factory = self.factories.get(m.engine_type.as_str()).ok_or_else(|| {
                CoreError::Internal(format!(
                    "mount {} has engine type {:?}, which this build of coffer does not provide",
                    m.path, m.engine_type
                ))
            })?;
            engines.insert(m.path.clone(), factory.create(m)?);
        }
        Ok(RouterTable::new(mounts, auth, engines))
    }

    /// A new mount entry with fresh uuid and accessor.
    pub(crate) fn new_mount_entry(
        &self,
        path: &str,
        engine_type: &str,
        description: &str,
        options: BTreeMap<String, String>,
    ) -> CoreResult<MountEntry> {
        let uuid = uuid::Builder::from_random_bytes(self.random_16()?).into_uuid();
        let acc = self.random_16()?;
        Ok(MountEntry {
            path: path.to_owned(),
            engine_type: engine_type.to_owned(),
            description: description.to_owned(),
            accessor: format!("{engine_type}_{}", hex::encode(&acc[..4])),
            uuid: uuid.to_string(),
            config: MountConfig::default(),
            options,
            local: false,
            seal_wrap: false,
            external_entropy_access: false,
        })
    }

    fn default_mounts(&self) -> CoreResult<MountTable> {
        let mut cubbyhole = self.new_mount_entry(
            "cubbyhole/",
            "cubbyhole",
            "per-token private secret storage",
            BTreeMap::new(),
        )?;
        cubbyhole.local = true;
        let system = self.new_mount_entry(
            "sys/",
            "system",
            "system endpoints used for control, policy and debugging",
            BTreeMap::new(),
        )?;
        Ok(MountTable {
            entries: vec![cubbyhole, system],
            removing: Vec::new(),
        })
    }
}
