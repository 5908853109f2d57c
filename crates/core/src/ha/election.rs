//! The election: a standby's campaign for the lock, the active node's
//! renewals, promotion and stepping down.

use super::fence::{BootInstant, Fence};
use super::{Advertisement, HaOptions, HaStatus};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::storage::StorageError;
use crate::storage::view::View;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// A node's HA machinery.
pub(crate) struct Ha {
    opts: HaOptions,
    node_id: String,
    pub(crate) fence: Arc<Fence>,
    runtime: Mutex<Runtime>,
    step_down_requested: AtomicBool,
    /// Rouses the renewing task at once (a step-down request).
    wake: Arc<Notify>,
}

#[derive(Default)]
struct Runtime {
    role: Role,
    leader: Option<Advertisement>,
    campaign: Option<tokio::task::JoinHandle<()>>,
    /// The active term's renewing task: aborted at seal with the campaign
    /// (dropping the campaign only detaches it), so that no renewal takes
    /// the lock back after it was given up.
    renewals: Option<tokio::task::AbortHandle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Role {
    /// Sealed: not competing.
    #[default]
    Off,
    Standby,
    Active,
}

/// Why an active term ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TermEnd {
    /// `sys/step-down`: wait before competing again.
    Requested,
    /// The lease ran out or another node holds the lock.
    Lost,
    /// Taking over failed (storage, audit device, ...): wait before
    /// competing again, so that a healthy node can take over.
    Failed,
    /// Sealed meanwhile: the seal cleaned up.
    Sealed,
}

/// Where active nodes publish how to reach them (in the barrier).
const LEADER_PREFIX: &str = "core/leader/";

/// How long giving the lock up may take before it is left to lapse.
const RELEASE_PATIENCE: Duration = Duration::from_secs(2);

impl Ha {
    pub(crate) fn new(opts: HaOptions, fence: Arc<Fence>) -> Self {
        Self {
            node_id: opts.node_id.clone(),
            opts,
            fence,
            runtime: Mutex::new(Runtime::default()),
            step_down_requested: AtomicBool::new(false),
            wake: Arc::new(Notify::new()),
        }
    }

    fn runtime(&self) -> std::sync::MutexGuard<'_, Runtime> {
        self.runtime
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn role(&self) -> Role {
        self.runtime().role
    }

    /// Active, and sure of it: the lease has not run out (whatever the
    /// renewing task is doing).
    fn serving(&self) -> bool {
        self.role() == Role::Active && !self.fence.lapsed()
    }

    fn set_role(&self, role: Role, leader: Option<Advertisement>) {
        let mut rt = self.runtime();
        rt.role = role;
        rt.leader = leader;
    }

    /// The renewal deadline for a lease whose request left at `sent`: the
    /// lock's clock starts the TTL no earlier than that, and a tenth of the
    /// TTL covers clock-rate differences.
    fn deadline(&self, sent: Option<BootInstant>) -> Option<BootInstant> {
        sent.map(|t| t + self.opts.lock_ttl - self.opts.lock_ttl / 10)
    }
}

impl Core {
    /// This node's place in the cluster.
    pub fn ha_status(&self) -> HaStatus {
        let Some(ha) = &self.ha else {
            return HaStatus {
                enabled: false,
                is_self: false,
                standby: false,
                leader_address: String::new(),
                leader_cluster_address: String::new(),
                active_time: None,
            };
        };
        let serving = ha.serving();
        let rt = ha.runtime();
        // An active node whose lease ran out no longer knows who is active
        // (most likely someone else by now): it names no one.
        let stale = rt.role == Role::Active && !serving;
        let leader = rt.leader.clone().filter(|_| !stale);
        HaStatus {
            enabled: true,
            is_self: serving,
            standby: rt.role == Role::Standby || stale,
            leader_address: leader
                .as_ref()
                .map(|l| l.api_addr.clone())
                .unwrap_or_default(),
            leader_cluster_address: leader
                .as_ref()
                .map(|l| l.cluster_addr.clone())
                .unwrap_or_default(),
            active_time: leader.map(|l| UNIX_EPOCH + Duration::from_secs(l.active_since)),
        }
    }

    /// The HA lock's lease (`None` without HA): how long a lapsed active
    /// node can keep the others waiting.
    pub fn ha_lock_ttl(&self) -> Option<Duration> {
        self.ha.as_ref().map(|ha| ha.opts.lock_ttl)
    }

    /// `Standby` when this node is an HA standby, or an active node whose
    /// lease has run out before it noticed: logical requests go to the
    /// active node.
    pub(crate) fn refuse_if_standby(&self) -> CoreResult<()> {
        match &self.ha {
            Some(ha) if !ha.serving() => Err(CoreError::Standby),
            _ => Ok(()),
        }
    }

    /// After the barrier opened: serve (one node alone), or stand by and
    /// compete for the lock (HA). Called with the seal state held.
    pub(crate) async fn start_serving(self: &Arc<Self>) -> CoreResult<()> {
        match &self.ha {
            None => self.activate().await,
            Some(ha) => {
                ha.fence.close();
                ha.set_role(Role::Standby, None);
                self.load_cluster_identity().await;
                if let Err(e) = self.load_cluster_tls().await {
                    tracing::warn!(error = %e, "could not load the cluster TLS identity; requests will be redirected, not forwarded");
                }
                tracing::info!("entering standby mode");
                let campaign = tokio::spawn(campaign(Arc::downgrade(self)));
                if let Some(old) = ha.runtime().campaign.replace(campaign) {
                    old.abort();
                }
                Ok(())
            }
        }
    }

    /// At seal: stop competing, give the lock up if held, and let the
    /// sealed node's own writes (init, unseal) through again.
    pub(crate) fn stop_ha(&self) {
        let Some(ha) = &self.ha else { return };
        let was = {
            let mut rt = ha.runtime();
            if let Some(task) = rt.campaign.take() {
                task.abort();
            }
            if let Some(task) = rt.renewals.take() {
                task.abort();
            }
            rt.leader = None;
            std::mem::replace(&mut rt.role, Role::Off)
        };
        ha.fence.close();
        if was != Role::Off {
            // Whatever the role: the lock may have been taken just now.
            let lock = ha.opts.lock.clone();
            let node_id = ha.node_id.clone();
            tokio::spawn(async move {
                if let Err(e) = lock.release(&node_id).await {
                    tracing::warn!(error = %e, "could not release the HA lock at seal; it lapses by itself");
                }
            });
        }
    }

    /// Takes the HA lock for a ceremony of a sealed node that writes (init,
    /// seal migration), so that it cannot write while another node is
    /// active. No-op without HA.
    pub(crate) async fn hold_ha_lock_for(&self, what: &str) -> CoreResult<()> {
        let Some(ha) = &self.ha else {
            return Ok(());
        };
        let value = ha.node_id.clone();
        let sent = BootInstant::now();
        let taken = tokio::time::timeout(
            ha.opts.lock_ttl,
            ha.opts.lock.acquire(&ha.node_id, &value, ha.opts.lock_ttl),
        )
        .await
        .map_err(|_| {
            CoreError::Storage(StorageError::Unavailable {
                op: "lock",
                key: "HA lock".to_owned(),
                cause: "no answer within the lock's lease".to_owned(),
            })
        })??;
        if !taken {
            return Err(CoreError::PreconditionFailed(format!(
                "another node holds the HA lock (it is active), so this node cannot run {what}: \
                 run it with the other nodes stopped or sealed"
            )));
        }
        ha.fence.open_until(ha.deadline(sent));
        Ok(())
    }

    /// Gives the HA lock up and waits (briefly) for the storage to confirm,
    /// so that at a seal or shutdown another node takes over at once
    /// instead of after the lease.
    pub(crate) async fn release_ha_lock(&self) {
        if let Some(ha) = &self.ha {
            release(ha).await;
        }
    }

    /// `sys/step-down`: the active node gives the lock up and stands by.
    /// (The API reaches it through the request path, with its policy check;
    /// this is the embedding's way.)
    pub fn request_step_down(&self) -> CoreResult<()> {
        let Some(ha) = &self.ha else {
            return Err(CoreError::invalid(
                "this node is not part of an HA cluster (its storage has ha_enabled off), so \
                 there is nothing to step down from",
            ));
        };
        if ha.role() != Role::Active {
            return Err(CoreError::Standby);
        }
        ha.step_down_requested.store(true, Ordering::SeqCst);
        ha.wake.notify_one();
        Ok(())
    }

    /// Loads everything from storage (possibly changed by the previous
    /// active), with the lock held, and serves. Returns false (standing by
    /// again) when that fails.
    async fn promote(self: &Arc<Self>, ha: &Ha, since: u64) -> bool {
        let _exclusive = self.changing_seal_state().await;
        if self.barrier.is_sealed() {
            return false;
        }
        let loaded = async {
            self.barrier.reload_keyring().await?;
            self.activate().await?;
            let cluster_id = self.cluster().map(|c| c.id).unwrap_or_default();
            if let Err(e) = self.ensure_cluster_tls(&cluster_id).await {
                // Without it standbys redirect instead of forwarding: worse,
                // but no reason to leave the cluster without an active node.
                tracing::error!(error = %e, "cannot load or make the cluster TLS identity; standbys will redirect clients instead of forwarding");
            }
            self.publish_advertisement(ha, since).await?;
            if ha.fence.lapsed() {
                return Err(CoreError::Internal(
                    "the HA lock's lease ran out while taking over (storage too slow?)".to_owned(),
                ));
            }
            Ok(())
        }
        .await;
        match loaded {
            Ok(()) => {
                let me = self.advertisement(ha, since);
                ha.set_role(Role::Active, Some(me));
                tracing::info!("acquired the HA lock; this node is now the active node");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "could not take over as the active node; standing by");
                self.forget_served_state();
                ha.fence.close();
                ha.set_role(Role::Standby, None);
                false
            }
        }
    }

    /// Ends an active term: no more writes, forget what was loaded.
    async fn demote(&self, ha: &Ha, end: TermEnd) {
        ha.fence.close();
        let _exclusive = self.changing_seal_state().await;
        if self.barrier.is_sealed() || ha.role() != Role::Active {
            return;
        }
        self.forget_served_state();
        self.load_cluster_identity().await;
        ha.set_role(Role::Standby, None);
        match end {
            TermEnd::Requested => tracing::info!("stepped down on request; entering standby mode"),
            _ => tracing::warn!("lost the HA lock; stepped down, entering standby mode"),
        }
    }

    /// Writes where this node can be reached, in the barrier under its node
    /// id, and removes the entries of earlier active nodes.
    async fn publish_advertisement(&self, ha: &Ha, since: u64) -> CoreResult<()> {
        let view = View::new(self.barrier.clone(), LEADER_PREFIX);
        for old in view.list("").await? {
            if old != ha.node_id {
                view.delete(&old).await?;
            }
        }
        view.put_json(&ha.node_id, &self.advertisement(ha, since))
            .await
    }

    /// The advertisement of the node whose id the lock holds; `None` when
    /// the id is not a node's (or that node has not published it yet).
    async fn read_advertisement(&self, node_id: &str) -> Option<Advertisement> {
        if node_id.is_empty() || node_id.contains('/') {
            return None;
        }
        View::new(self.barrier.clone(), LEADER_PREFIX)
            .get_json::<Advertisement>(node_id)
            .await
            .ok()
            .flatten()
            .filter(|a| a.node_id == node_id)
    }

    fn advertisement(&self, ha: &Ha, since: u64) -> Advertisement {
        Advertisement {
            node_id: ha.node_id.clone(),
            api_addr: ha.opts.api_addr.clone(),
            cluster_addr: ha.opts.cluster_addr.clone(),
            active_since: since,
        }
    }
}

/// What a campaign round came to.
enum Round {
    /// Not the active node: look again after this long.
    Wait(Duration),
    /// Took the lock and serves until the renewing task ends the term.
    Serving(tokio::task::JoinHandle<TermEnd>),
    /// Took the lock but could not take over.
    Failed,
}

/// A standby's loop: try the lock; on success serve until the term ends;
/// otherwise note who is active and try again later. After a term ended by
/// request or failure it only watches who is active for a while, so that
/// another node takes over. Ends when the node is sealed (the task is
/// aborted) or dropped; it never keeps the node alive (through a term
/// included).
async fn campaign(node: Weak<Core>) {
    let mut last_error = String::new();
    let mut compete_from = Instant::now();
    loop {
        let round = {
            let Some(core) = node.upgrade() else { return };
            let Some(ha) = core.ha.as_ref() else { return };
            if Instant::now() < compete_from {
                core.note_active_node(ha).await;
                Round::Wait(ha.opts.retry_interval)
            } else {
                core.campaign_round(ha, &mut last_error).await
            }
        };
        let end = match round {
            Round::Wait(pause) => {
                tokio::time::sleep(pause).await;
                continue;
            }
            Round::Serving(renewals) => renewals.await.unwrap_or(TermEnd::Lost),
            Round::Failed => TermEnd::Failed,
        };
        if end == TermEnd::Sealed {
            return;
        }
        let Some(core) = node.upgrade() else { return };
        let Some(ha) = core.ha.as_ref() else { return };
        core.demote(ha, end).await;
        release(ha).await;
        compete_from = Instant::now()
            + match end {
                TermEnd::Lost => ha.opts.retry_interval,
                // Let another node take over.
                _ => ha.opts.step_down_backoff,
            };
    }
}

impl Core {
    /// One try for the lock: on success take over (the renewals run from
    /// the moment it was taken, as the take-over may outlast a lease).
    async fn campaign_round(self: &Arc<Self>, ha: &Ha, last_error: &mut String) -> Round {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        // Only the node id goes into the lock: what standbys send clients to
        // is read from the barrier, which no one can forge.
        let value = ha.node_id.clone();
        let sent = BootInstant::now();
        let attempt = tokio::time::timeout(
            ha.opts.lock_ttl,
            ha.opts.lock.acquire(&ha.node_id, &value, ha.opts.lock_ttl),
        )
        .await
        .unwrap_or_else(|_| {
            Err(StorageError::Unavailable {
                op: "lock",
                key: "HA lock".to_owned(),
                cause: "no answer within the lock's lease".to_owned(),
            })
        });
        match attempt {
            Ok(true) => {
                last_error.clear();
                ha.fence.open_until(ha.deadline(sent));
                ha.step_down_requested.store(false, Ordering::SeqCst);
                let renewals = tokio::spawn(serve_term(Arc::downgrade(self), value));
                ha.runtime().renewals = Some(renewals.abort_handle());
                if self.promote(ha, since).await {
                    Round::Serving(renewals)
                } else {
                    renewals.abort();
                    Round::Failed
                }
            }
            Ok(false) => {
                last_error.clear();
                self.note_active_node(ha).await;
                Round::Wait(ha.opts.retry_interval)
            }
            Err(e) => {
                let message = e.to_string();
                if message != *last_error {
                    tracing::warn!(error = %message, "cannot reach the HA lock; retrying");
                    *last_error = message;
                }
                Round::Wait(ha.opts.retry_interval)
            }
        }
    }

    /// A standby notes which node is active (where to send clients), and
    /// picks up the cluster identity the first active node made. A lock
    /// still held in this node's own name (a term that just ended, before
    /// the release landed) names no one: a standby never sends clients to
    /// itself.
    async fn note_active_node(&self, ha: &Ha) {
        let leader = match ha.opts.lock.holder().await {
            Ok(Some(h)) if h.value != ha.node_id => self.read_advertisement(&h.value).await,
            _ => None,
        };
        if ha.role() == Role::Standby {
            // The identity first: once an active node is named, requests
            // are forwarded to it rather than redirected.
            if self.cluster_tls().is_none() {
                let _ = self.load_cluster_tls().await;
            }
            ha.set_role(Role::Standby, leader);
        }
    }
}

/// Gives the lock up, waiting at most a moment for the storage.
async fn release(ha: &Ha) {
    match tokio::time::timeout(RELEASE_PATIENCE, ha.opts.lock.release(&ha.node_id)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not release the HA lock; it lapses by itself")
        }
        Err(_) => tracing::warn!("releasing the HA lock timed out; it lapses by itself"),
    }
}

/// The active node's renewals, from the moment the lock was taken until
/// the lease is lost, a step-down is requested or the node is sealed. Each
/// renewal may take only until the lease runs out. Between renewals it
/// holds no reference to the node.
async fn serve_term(node: Weak<Core>, value: String) -> TermEnd {
    let Some((renew_every, retry, wake)) = node.upgrade().and_then(|c| {
        c.ha.as_ref().map(|ha| {
            (
                ha.opts.lock_ttl / 3,
                ha.opts.retry_interval,
                ha.wake.clone(),
            )
        })
    }) else {
        return TermEnd::Sealed;
    };
    let mut wait = renew_every;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
        }
        let Some(core) = node.upgrade() else {
            return TermEnd::Sealed;
        };
        let Some(ha) = core.ha.as_ref() else {
            return TermEnd::Sealed;
        };
        if core.barrier.is_sealed() {
            return TermEnd::Sealed;
        }
        if ha.step_down_requested.swap(false, Ordering::SeqCst) {
            return TermEnd::Requested;
        }
        let sent = BootInstant::now();
        let left = ha.fence.time_left();
        let renewed = tokio::time::timeout(
            left,
            ha.opts.lock.acquire(&ha.node_id, &value, ha.opts.lock_ttl),
        )
        .await;
        match renewed {
            Ok(Ok(true)) => {
                ha.fence.open_until(ha.deadline(sent));
                wait = renew_every;
            }
            Ok(Ok(false)) => {
                tracing::warn!("another node holds the HA lock; stepping down");
                return TermEnd::Lost;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not renew the HA lock; retrying");
                wait = retry.min(renew_every);
            }
            Err(_) => {}
        }
        if ha.fence.lapsed() {
            tracing::error!(
                "the HA lock's lease ran out before it could be renewed; stepping down"
            );
            return TermEnd::Lost;
        }
    }
}
