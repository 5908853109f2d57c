//! Rate-limit quotas, as Vault's `sys/quotas/rate-limit`: a quota names a
//! path (empty for every request, a mount such as `secret/` or
//! `auth/userpass/`, or a path under a mount, exact or ending in `*`) and
//! a rate per interval, enforced per client address on this node. The most
//! specific quota decides: an exact path, then the longest prefix, then the
//! global one. `sys/quotas/config` lists exempt paths (health, seal status,
//! unseal and root generation by default) and turns on the
//! `X-Ratelimit-*` response headers.
//!
//! Quotas are stored in the barrier and held in memory while the node is
//! unsealed and active; the HTTP layer asks [`Core::check_rate_limit`]
//! before anything else happens to a request.

pub(crate) mod limiter;

pub use limiter::Decision;

use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::storage::view::View;
use limiter::Limiter;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Where quotas are stored (in the barrier), one record per name.
pub(crate) const QUOTA_PREFIX: &str = "core/quotas/rate-limit/";
/// Where `sys/quotas/config` is stored.
pub(crate) const CONFIG_PATH: &str = "core/quotas/config";

/// Paths no quota applies to unless `sys/quotas/config` says otherwise
/// (Vault's defaults): an operator locked out by a quota can still unseal
/// and make a root token.
pub(crate) const DEFAULT_EXEMPT_PATHS: &[&str] = &[
    "sys/generate-recovery-token/attempt",
    "sys/generate-recovery-token/update",
    "sys/generate-root/attempt",
    "sys/generate-root/update",
    "sys/health",
    "sys/seal-status",
    "sys/unseal",
];

/// One stored rate-limit quota.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RateLimitQuota {
    pub(crate) name: String,
    /// `""`, a mount (`secret/`), or a path under one, maybe ending in `*`.
    pub(crate) path: String,
    /// Requests allowed per interval.
    pub(crate) rate: f64,
    pub(crate) interval_secs: u64,
    /// 0: no blocking.
    pub(crate) block_interval_secs: u64,
    pub(crate) inheritable: bool,
}

/// `sys/quotas/config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QuotaConfig {
    pub(crate) rate_limit_exempt_paths: Vec<String>,
    pub(crate) enable_rate_limit_response_headers: bool,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            rate_limit_exempt_paths: DEFAULT_EXEMPT_PATHS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            enable_rate_limit_response_headers: false,
        }
    }
}

/// A quota in force, with its buckets and refusal count.
#[derive(Debug)]
struct Active {
    quota: RateLimitQuota,
    limiter: Limiter,
    refused: AtomicU64,
}

impl Active {
    fn new(quota: RateLimitQuota) -> Self {
        let limiter = Limiter::new(
            quota.rate,
            Duration::from_secs(quota.interval_secs.max(1)),
            Duration::from_secs(quota.block_interval_secs),
        );
        Self {
            quota,
            limiter,
            refused: AtomicU64::new(0),
        }
    }

    /// How well this quota's path covers `path`: `None` when it does not
    /// apply; a longer match is more specific, an exact one most.
    fn specificity(&self, path: &str) -> Option<(bool, usize)> {
        let q = self.quota.path.as_str();
        if let Some(prefix) = q.strip_suffix('*') {
            return path.starts_with(prefix).then_some((false, prefix.len()));
        }
        if q.is_empty() || q.ends_with('/') {
            let under = path.starts_with(q) || path == q.trim_end_matches('/');
            return under.then_some((false, q.len()));
        }
        (path == q).then_some((true, q.len()))
    }
}

/// What the quotas say about one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimited {
    /// The quota that decided.
    pub quota: String,
    /// Its rate (requests per interval), for `X-Ratelimit-Limit`.
    pub limit: f64,
    /// Allowed (with what is left) or refused (with when to retry).
    pub decision: Decision,
    /// Whether to send the `X-Ratelimit-*` headers on allowed answers.
    pub headers: bool,
}

#[derive(Debug, Default)]
struct Loaded {
    quotas: Vec<Arc<Active>>,
    config: QuotaConfig,
}

/// The node's quotas while it serves.
#[derive(Debug, Default)]
pub(crate) struct Quotas {
    loaded: RwLock<Arc<Loaded>>,
    /// One change at a time: each stores a record, then installs the set.
    changes: tokio::sync::Mutex<()>,
}

impl Quotas {
    fn loaded(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, loaded: Loaded) {
        *self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(loaded);
    }

    /// Forgets every quota (at seal and step-down): nothing is limited.
    pub(crate) fn clear(&self) {
        self.replace(Loaded::default());
    }

    pub(crate) fn config(&self) -> QuotaConfig {
        self.loaded().config.clone()
    }

    pub(crate) fn get(&self, name: &str) -> Option<RateLimitQuota> {
        self.loaded()
            .quotas
            .iter()
            .find(|a| a.quota.name == name)
            .map(|a| a.quota.clone())
    }

    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .loaded()
            .quotas
            .iter()
            .map(|a| a.quota.name.clone())
            .collect();
        names.sort();
        names
    }

    /// Installs `quotas` and `config`; quotas whose settings did not change
    /// keep their buckets (a client's spent tokens stay spent).
    pub(crate) fn install(&self, quotas: Vec<RateLimitQuota>, config: QuotaConfig) {
        let old = self.loaded();
        let quotas = quotas
            .into_iter()
            .map(|q| {
                old.quotas
                    .iter()
                    .find(|a| a.quota == q)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Active::new(q)))
            })
            .collect();
        self.replace(Loaded { quotas, config });
    }

    pub(crate) fn all(&self) -> Vec<RateLimitQuota> {
        self.loaded()
            .quotas
            .iter()
            .map(|a| a.quota.clone())
            .collect()
    }

    /// Refusals per quota since the node unsealed, for `sys/metrics`.
    pub(crate) fn refusals(&self) -> Vec<(String, u64)> {
        self.loaded()
            .quotas
            .iter()
            .map(|a| (a.quota.name.clone(), a.refused.load(Ordering::Relaxed)))
            .collect()
    }

    fn check(&self, path: &str, client: Option<IpAddr>, now: Instant) -> Option<RateLimited> {
        let loaded = self.loaded();
        if loaded.quotas.is_empty() || is_exempt(&loaded.config.rate_limit_exempt_paths, path) {
            return None;
        }
        let active = loaded
            .quotas
            .iter()
            .filter_map(|a| a.specificity(path).map(|s| (s, a)))
            .max_by_key(|(s, _)| *s)
            .map(|(_, a)| a)?;
        let decision = active.limiter.take(client, now);
        if matches!(decision, Decision::Refused { .. }) {
            active.refused.fetch_add(1, Ordering::Relaxed);
        }
        Some(RateLimited {
            quota: active.quota.name.clone(),
            limit: active.quota.rate,
            decision,
            headers: loaded.config.enable_rate_limit_response_headers,
        })
    }
}

/// Exempt: listed exactly, or under an entry ending in `*`.
fn is_exempt(exempt: &[String], path: &str) -> bool {
    let path = path.trim_end_matches('/');
    exempt.iter().any(|e| match e.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => e.trim_end_matches('/') == path,
    })
}

impl Core {
    /// The rate-limit verdict for a request to `path` (relative to `/v1/`)
    /// from `client`; `None` when no quota applies (none set, an exempt
    /// path, or a node that is sealed or standing by).
    pub fn check_rate_limit(&self, path: &str, client: Option<IpAddr>) -> Option<RateLimited> {
        self.quotas
            .check(path.trim_start_matches('/'), client, Instant::now())
    }

    /// Loads the quotas and their config (at the end of unseal).
    pub(crate) async fn load_quotas(&self) -> CoreResult<()> {
        let store = View::new(self.barrier.clone(), QUOTA_PREFIX);
        let mut quotas = Vec::new();
        for name in store.list("").await? {
            if let Some(q) = store.get_json::<RateLimitQuota>(&name).await? {
                quotas.push(q);
            }
        }
        let config = View::new(self.barrier.clone(), "")
            .get_json::<QuotaConfig>(CONFIG_PATH)
            .await?
            .unwrap_or_default();
        tracing::debug!(quotas = quotas.len(), "rate-limit quotas loaded");
        self.quotas.install(quotas, config);
        Ok(())
    }

    /// Checks that a quota's path is empty or under an existing mount or
    /// auth method; returns it normalised (a bare mount gets its `/`).
    pub(crate) fn quota_path(&self, path: &str) -> CoreResult<String> {
        let path = path.trim_start_matches('/');
        if path.is_empty() {
            return Ok(String::new());
        }
        if path.contains('*') && !path.ends_with('*') {
            return Err(CoreError::invalid(format!(
                "invalid quota path {path:?}: a glob (*) may only end the path"
            )));
        }
        let table = self.router_table();
        let bare = path.trim_end_matches('*');
        let mount = table
            .mounts
            .longest_match(bare)
            .or_else(|| table.auth.longest_match(bare))
            .ok_or_else(|| {
                CoreError::invalid(format!(
                    "invalid quota path {path:?}: no secrets engine or auth method is mounted \
                     there (list them with `coffer secrets list` / `coffer auth list`)"
                ))
            })?;
        Ok(if path == mount.path.trim_end_matches('/') {
            mount.path.clone()
        } else {
            path.to_owned()
        })
    }

    /// Writes quota `name` as `change` makes it from the current one (if
    /// any), and puts the new set in force; one change at a time, so two
    /// updates of one quota cannot lose each other's fields.
    pub(crate) async fn store_quota(
        &self,
        name: &str,
        change: impl FnOnce(Option<RateLimitQuota>) -> CoreResult<RateLimitQuota>,
    ) -> CoreResult<RateLimitQuota> {
        let _one_at_a_time = self.quotas.changes.lock().await;
        let q = change(self.quotas.get(name))?;
        View::new(self.barrier.clone(), QUOTA_PREFIX)
            .put_json(&q.name, &q)
            .await?;
        let mut all: BTreeMap<String, RateLimitQuota> = self
            .quotas
            .all()
            .into_iter()
            .map(|q| (q.name.clone(), q))
            .collect();
        all.insert(q.name.clone(), q.clone());
        self.quotas
            .install(all.into_values().collect(), self.quotas.config());
        Ok(q)
    }

    /// Deletes quota `name` (absent is fine, as in Vault).
    pub(crate) async fn delete_quota(&self, name: &str) -> CoreResult<()> {
        let _one_at_a_time = self.quotas.changes.lock().await;
        View::new(self.barrier.clone(), QUOTA_PREFIX)
            .delete(name)
            .await?;
        let rest = self
            .quotas
            .all()
            .into_iter()
            .filter(|q| q.name != name)
            .collect();
        self.quotas.install(rest, self.quotas.config());
        Ok(())
    }

    /// Writes `sys/quotas/config` and puts it in force.
    pub(crate) async fn store_quota_config(&self, config: QuotaConfig) -> CoreResult<()> {
        let _one_at_a_time = self.quotas.changes.lock().await;
        View::new(self.barrier.clone(), "")
            .put_json(CONFIG_PATH, &config)
            .await?;
        self.quotas.install(self.quotas.all(), config);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(name: &str, path: &str, rate: f64) -> RateLimitQuota {
        RateLimitQuota {
            name: name.to_owned(),
            path: path.to_owned(),
            rate,
            interval_secs: 1,
            block_interval_secs: 0,
            inheritable: false,
        }
    }

    fn decided_by(q: &Quotas, path: &str) -> Option<String> {
        q.check(path, None, Instant::now()).map(|r| r.quota)
    }

    #[test]
    fn the_most_specific_quota_decides() {
        let q = Quotas::default();
        q.install(
            vec![
                quota("global", "", 100.0),
                quota("kv", "secret/", 100.0),
                quota("team", "secret/data/team/*", 100.0),
                quota("one", "secret/data/team/db", 100.0),
            ],
            QuotaConfig::default(),
        );
        assert_eq!(decided_by(&q, "sys/mounts").as_deref(), Some("global"));
        assert_eq!(decided_by(&q, "secret/data/app").as_deref(), Some("kv"));
        assert_eq!(decided_by(&q, "secret").as_deref(), Some("kv"));
        assert_eq!(
            decided_by(&q, "secret/data/team/web").as_deref(),
            Some("team")
        );
        assert_eq!(
            decided_by(&q, "secret/data/team/db").as_deref(),
            Some("one")
        );
        assert_eq!(decided_by(&q, "sys/health"), None, "exempt by default");
    }

    #[test]
    fn exempt_paths_match_exactly_or_under_a_trailing_glob() {
        let exempt = vec!["sys/health".to_owned(), "sys/internal/*".to_owned()];
        assert!(is_exempt(&exempt, "sys/health"));
        assert!(is_exempt(&exempt, "sys/health/"));
        assert!(!is_exempt(&exempt, "sys/healthy"));
        assert!(is_exempt(&exempt, "sys/internal/ui/mounts"));
        assert!(!is_exempt(&exempt, "sys/mounts"));
    }

    #[test]
    fn unchanged_quotas_keep_their_buckets_when_another_one_changes() {
        let q = Quotas::default();
        q.install(vec![quota("kv", "secret/", 1.0)], QuotaConfig::default());
        let now = Instant::now();
        assert!(matches!(
            q.check("secret/x", None, now).map(|r| r.decision),
            Some(Decision::Allowed { .. })
        ));
        q.install(
            vec![quota("kv", "secret/", 1.0), quota("other", "sys/", 5.0)],
            QuotaConfig::default(),
        );
        assert!(matches!(
            q.check("secret/x", None, now).map(|r| r.decision),
            Some(Decision::Refused { .. })
        ));
        assert_eq!(
            q.refusals(),
            vec![("kv".to_owned(), 1), ("other".to_owned(), 0)]
        );
    }
}
