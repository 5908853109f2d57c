//! The token store. Tokens are never stored: only their HMAC-SHA256 under a
//! per-cluster salt (`sys/token/salt`), so a storage dump reveals no usable
//! token. Entries are cached in memory while unsealed.
//!
//! Layout under `sys/token/`:
//!
//! | key | value |
//! |---|---|
//! | `salt` | the HMAC key (seal-wrapped with an HSM seal) |
//! | `id/<hash>` | the [`TokenEntry`] |
//! | `accessor/<accessor>` | the hash: the accessor index |
//! | `parent/<parent hash>/<child hash>` | empty: the revocation tree |
//! | `roles/<name>` | token roles (`role`) |
//!
//! Whether a stored token may still be used (expiry, exhausted uses, an
//! ancestor gone or expired) is decided at every resolution with the core's
//! [`Clock`], and only there; the core revokes what [`Resolution::Invalid`]
//! names. A token that expires also has a lease (`expiration`), which the
//! store writes before the token, moves when a renewal moves the expiry and
//! deletes after it: the expiration manager's sweep uses it to revoke
//! expired tokens that nobody presents any more.

pub(crate) mod backend;
pub mod cidr;
pub(crate) mod create;
pub(crate) mod expiration;
mod params;
mod presented;
mod revoke;
pub(crate) mod role;
mod tidy;
pub(crate) mod ttl;

pub use backend::route_patterns;
pub use params::{TokenParams, TokenParamsInput};
pub use presented::{Authenticated, PresentedToken};

use crate::clock::Clock;
use crate::error::{CoreError, CoreResult};
use crate::storage::view::View;
use crate::token::expiration::{LeaseRecord, Leases, token_lease_id};
use crate::ttl::Ttl;
use coffer_crypto::hash::HmacKey;
use coffer_crypto::{Entropy, SecretBytes};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

const SALT_KEY: &str = "salt";
/// Where the token store lives in the barrier.
pub const TOKEN_STORE_PREFIX: &str = "sys/token/";
/// Token-store values that are critical security parameters, seal-wrapped
/// with an HSM seal: the salt, which is the HMAC key of every token hash.
pub const TOKEN_SEAL_WRAPPED: &[&str] = &[SALT_KEY];
/// Length of the random part of a service token (`hvs.` + this many chars).
pub const TOKEN_RANDOM_LEN: usize = 24;
/// Total length of a service token, which is also the generate-root OTP length.
pub const TOKEN_LEN: usize = 4 + TOKEN_RANDOM_LEN;
/// Length of an accessor.
pub const ACCESSOR_LEN: usize = 24;
/// How long a token out of uses is left to the request that took its last
/// use (which revokes it when done) before tidy revokes it instead.
pub const SPENT_GRACE_SECS: u64 = 60;

/// What the store knows about a token. Times are unix seconds, durations
/// seconds; fields added after the first release default when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// Non-secret handle for the token.
    pub accessor: String,
    /// Attached policies, sorted (`["root"]` for root tokens).
    pub policies: Vec<String>,
    /// Human-readable origin (`root`, `token`, `token-<display_name>`).
    pub display_name: String,
    /// Creation (issue) time.
    pub creation_time: u64,
    /// Path that created it (`auth/token/create`, `auth/token/root`).
    pub path: String,
    /// Free-form metadata.
    pub meta: BTreeMap<String, String>,
    /// The salted hash of the parent; `None` for an orphan.
    #[serde(default)]
    pub parent: Option<String>,
    /// TTL given at creation (`creation_ttl`); 0 for a token that never expires.
    #[serde(default)]
    pub ttl: Ttl,
    /// Hard limit on the lifetime from creation; 0 for none.
    #[serde(default)]
    pub explicit_max_ttl: Ttl,
    /// Period of a periodic token (every renewal resets the TTL to it); 0 for none.
    #[serde(default)]
    pub period: Ttl,
    /// Whether the token may be renewed.
    #[serde(default)]
    pub renewable: bool,
    /// Uses left; 0 for unlimited.
    #[serde(default)]
    pub num_uses: u64,
    /// Set when the last use was taken: the token is being revoked.
    #[serde(default)]
    pub exhausted: bool,
    /// When the last use was taken (unix seconds); tidy leaves a spent
    /// token to the request that spent it for [`SPENT_GRACE_SECS`].
    #[serde(default)]
    pub exhausted_at: Option<u64>,
    /// When it expires; `None` for never.
    #[serde(default)]
    pub expire_time: Option<u64>,
    /// When it was last renewed.
    #[serde(default)]
    pub last_renewal_time: Option<u64>,
    /// The token role it was created against, if any.
    #[serde(default)]
    pub role: String,
    /// CIDR blocks the token may be used from (`token_bound_cidrs` of the
    /// role or auth method that issued it); empty for anywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_cidrs: Vec<String>,
}

impl TokenEntry {
    /// Whether the token has no parent.
    pub fn is_orphan(&self) -> bool {
        self.parent.is_none()
    }

    /// Whether the token is past its expiry at `now`.
    pub fn expired_at(&self, now: u64) -> bool {
        self.expire_time.is_some_and(|t| now >= t)
    }

    /// Time left at `now` (zero for a token that never expires).
    pub fn ttl_left(&self, now: u64) -> Ttl {
        Ttl::from_secs(self.expire_time.map_or(0, |t| t.saturating_sub(now)))
    }

    /// Whether a renewal can succeed at all: renewable and expiring.
    pub fn can_renew(&self) -> bool {
        self.renewable && self.expire_time.is_some()
    }
}

/// A token that was found: its salted id and entry.
#[derive(Debug, Clone)]
pub struct ResolvedToken {
    /// The salted hash, a stable non-secret id.
    pub id: String,
    /// The stored entry.
    pub entry: Arc<TokenEntry>,
}

/// The outcome of resolving a token.
#[derive(Debug)]
pub enum Resolution {
    /// Usable.
    Valid(ResolvedToken),
    /// Stored but unusable: expired, or an ancestor is gone or expired. The
    /// tree under `revoke` (this token or an ancestor) should be revoked.
    Invalid {
        /// Salted hash of the token whose tree to revoke.
        revoke: String,
    },
    /// Out of uses (it or an ancestor): refused. The request that took the
    /// last use revokes the tree under `revoke` when it is done, so a
    /// presentation must not (it could pull a wrapped response from under
    /// that request); the sweep and tidy do, for what a crash left.
    Spent {
        /// Salted hash of the token whose tree to revoke.
        revoke: String,
    },
    /// Never issued, or already revoked.
    Unknown,
}

/// What taking one use of a token left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// The token has no use limit.
    Unlimited,
    /// A use was taken and more are left.
    Counted,
    /// That was the last use: the token must be revoked once the request is done.
    Last,
}

/// Creates, stores (hashed) and resolves tokens.
pub struct TokenStore {
    view: View,
    clock: Arc<dyn Clock>,
    salt: RwLock<Option<Arc<HmacKey>>>,
    cache: RwLock<HashMap<String, Arc<TokenEntry>>>,
    /// Bumped by every change and removal of an entry: a reader only caches
    /// what it loaded from storage when no write happened meanwhile, so a
    /// revoked or renewed token never comes back stale from the cache.
    generation: AtomicU64,
    /// Serialises read-modify-write of entries (uses, renewals, revocation),
    /// so a renewal can never bring back a token revoked meanwhile.
    writes: tokio::sync::Mutex<()>,
    /// The leases of tokens that expire, kept in step with the entries.
    leases: Arc<Leases>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore").finish_non_exhaustive()
    }
}

impl TokenStore {
    /// A store over `view` (the core passes `sys/token/`) that keeps the
    /// leases of expiring tokens in `leases`.
    pub(crate) fn new(view: View, clock: Arc<dyn Clock>, leases: Arc<Leases>) -> Self {
        Self {
            view,
            clock,
            salt: RwLock::new(None),
            cache: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            writes: tokio::sync::Mutex::new(()),
            leases,
        }
    }

    /// Loads the salt, creating it on first use. Called after unseal.
    pub async fn load(&self, entropy: &dyn Entropy) -> CoreResult<()> {
        let salt = match self.view.get(SALT_KEY).await? {
            Some(s) => SecretBytes::from_slice(&s),
            None => {
                let fresh = SecretBytes::new(coffer_crypto::entropy::random_bytes(entropy, 32)?);
                self.view.put(SALT_KEY, fresh.expose()).await?;
                fresh
            }
        };
        *self
            .salt
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Arc::new(HmacKey::new(salt.expose())));
        Ok(())
    }

    /// Forgets the salt and the cache (on seal).
    pub fn clear(&self) {
        *self
            .salt
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        self.cache_mut().clear();
    }

    /// The salted hash of a token.
    pub fn hash(&self, token: &str) -> CoreResult<String> {
        let salt = self
            .salt
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or(CoreError::Sealed)?;
        Ok(coffer_crypto::hash::to_hex(&salt.sign(&[token.as_bytes()])))
    }

    /// The current time in unix seconds, from the store's clock.
    pub fn now(&self) -> u64 {
        unix_secs(self.clock.now())
    }

    /// Creates a root token; `id` lets `-dev-root-token-id` choose it.
    pub async fn create_root(
        &self,
        entropy: &dyn Entropy,
        id: Option<&str>,
    ) -> CoreResult<Zeroizing<String>> {
        let token = match id {
            Some(id) if !id.is_empty() => Zeroizing::new(id.to_owned()),
            _ => generate_token(entropy)?,
        };
        let entry = TokenEntry {
            accessor: random_base62(entropy, ACCESSOR_LEN)?.to_string(),
            policies: vec![crate::policy::ROOT_POLICY.to_owned()],
            display_name: "root".to_owned(),
            creation_time: self.now(),
            path: "auth/token/root".to_owned(),
            ..TokenEntry::default()
        };
        self.insert(&token, entry).await?;
        Ok(token)
    }

    /// Stores a new token, with its lease when it expires. Every token is
    /// created through here. Refuses a token that already exists (a chosen
    /// `id` colliding with an existing one).
    pub(crate) async fn insert(&self, token: &str, entry: TokenEntry) -> CoreResult<ResolvedToken> {
        let id = self.hash(token)?;
        let _w = self.writes.lock().await;
        if self.view.get(&id_key(&id)).await?.is_some() {
            return Err(CoreError::invalid(
                "cannot create a token with a duplicate ID",
            ));
        }
        // The lease first: a failure in between leaves a lease whose token
        // is missing (dropped by the sweep), never an expiring token that no
        // sweep would find.
        if let Some(lease) = LeaseRecord::for_token(&id, &entry) {
            self.leases.put(&lease).await?;
        }
        self.view.put_json(&id_key(&id), &entry).await?;
        self.view
            .put(&accessor_key(&entry.accessor), id.as_bytes())
            .await?;
        if let Some(parent) = &entry.parent {
            self.view.put(&child_key(parent, &id), b"").await?;
        }
        let entry = Arc::new(entry);
        self.cache_mut().insert(id.clone(), entry.clone());
        Ok(ResolvedToken { id, entry })
    }

    /// Resolves a presented token. The token is hashed and the hash looked
    /// up, so no secret is ever compared byte by byte.
    pub async fn resolve(&self, token: &str) -> CoreResult<Resolution> {
        if token.is_empty() {
            return Ok(Resolution::Unknown);
        }
        let id = self.hash(token)?;
        self.resolve_id(&id).await
    }

    /// Resolves a token by its salted hash.
    pub async fn resolve_id(&self, id: &str) -> CoreResult<Resolution> {
        let Some(entry) = self.entry(id).await? else {
            return Ok(Resolution::Unknown);
        };
        let now = self.now();
        if entry.exhausted {
            return Ok(Resolution::Spent {
                revoke: id.to_owned(),
            });
        }
        if entry.expired_at(now) {
            return Ok(Resolution::Invalid {
                revoke: id.to_owned(),
            });
        }
        let mut parent = entry.parent.clone();
        while let Some(p) = parent {
            match self.entry(&p).await? {
                None => {
                    return Ok(Resolution::Invalid {
                        revoke: id.to_owned(),
                    });
                }
                Some(pe) if pe.exhausted => return Ok(Resolution::Spent { revoke: p }),
                Some(pe) if pe.expired_at(now) => {
                    return Ok(Resolution::Invalid { revoke: p });
                }
                Some(pe) => parent = pe.parent.clone(),
            }
        }
        Ok(Resolution::Valid(ResolvedToken {
            id: id.to_owned(),
            entry,
        }))
    }

    /// The salted hash behind an accessor, if the accessor is known.
    pub(crate) async fn id_for_accessor(&self, accessor: &str) -> CoreResult<Option<String>> {
        if !is_accessor(accessor) {
            return Ok(None);
        }
        Ok(self
            .view
            .get(&accessor_key(accessor))
            .await?
            .and_then(|b| String::from_utf8(b.to_vec()).ok()))
    }

    /// Every accessor (`LIST auth/token/accessors`).
    pub(crate) async fn accessors(&self) -> CoreResult<Vec<String>> {
        self.view.list("accessor/").await
    }

    /// The salted hashes of a token's direct children.
    pub(crate) async fn children(&self, id: &str) -> CoreResult<Vec<String>> {
        Ok(self
            .view
            .list(&format!("parent/{id}/"))
            .await?
            .into_iter()
            .filter(|c| !c.ends_with('/'))
            .collect())
    }

    /// Takes one use of a token with a use limit; returns what is left and
    /// the token as it now stands (uses counted down).
    pub(crate) async fn use_once(
        &self,
        token: &ResolvedToken,
    ) -> CoreResult<(TokenUse, ResolvedToken)> {
        if token.entry.num_uses == 0 {
            return Ok((TokenUse::Unlimited, token.clone()));
        }
        let mut used = TokenUse::Counted;
        let now_secs = self.now();
        // Boxed: most tokens have no use limit, and the write's state would
        // otherwise be part of every request's future.
        let entry = Box::pin(self.modify(&token.id, |e| {
            if e.exhausted {
                return Err(CoreError::PermissionDenied);
            }
            e.num_uses = e.num_uses.saturating_sub(1);
            if e.num_uses == 0 {
                e.exhausted = true;
                e.exhausted_at = Some(now_secs);
                used = TokenUse::Last;
            }
            Ok(())
        }))
        .await
        .map_err(|e| match e {
            CoreError::InvalidRequest(_) => CoreError::PermissionDenied,
            other => other,
        })?;
        let now = ResolvedToken {
            id: token.id.clone(),
            entry,
        };
        Ok((used, now))
    }

    /// Changes a stored entry under the write lock, reading it fresh from
    /// storage; fails with "token not found" when it is gone.
    pub(crate) async fn modify(
        &self,
        id: &str,
        change: impl FnOnce(&mut TokenEntry) -> CoreResult<()>,
    ) -> CoreResult<Arc<TokenEntry>> {
        let _w = self.writes.lock().await;
        let mut entry = self
            .view
            .get_json::<TokenEntry>(&id_key(id))
            .await?
            .ok_or_else(|| CoreError::invalid("token not found"))?;
        let old_parent = entry.parent.clone();
        let old_expiry = entry.expire_time;
        change(&mut entry)?;
        self.view.put_json(&id_key(id), &entry).await?;
        let entry = Arc::new(entry);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache_mut().insert(id.to_owned(), entry.clone());
        if old_parent != entry.parent
            && let Some(p) = old_parent
        {
            self.view.delete(&child_key(&p, id)).await?;
        }
        if old_expiry != entry.expire_time
            && let Some(lease) = LeaseRecord::for_token(id, &entry)
            && let Err(e) = self.leases.renewed(&lease).await
        {
            // The entry decides; a stale lease only makes the sweep look
            // early, find the token renewed, and reschedule it.
            tracing::warn!(error = %e, "moving a renewed token's lease failed");
        }
        Ok(entry)
    }

    /// Deletes one token: its entry first (from then on it is refused), then
    /// its lease, its accessor, its link under its parent and links to
    /// children (revoking or re-parenting the children themselves is the
    /// caller's business; a child whose parent entry is gone is refused
    /// anyway). Returns what was stored.
    pub(crate) async fn remove(&self, id: &str) -> CoreResult<Option<TokenEntry>> {
        let _w = self.writes.lock().await;
        let Some(entry) = self.view.get_json::<TokenEntry>(&id_key(id)).await? else {
            return Ok(None);
        };
        self.view.delete(&id_key(id)).await?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache_mut().remove(id);
        self.leases.delete(&token_lease_id(&entry.path, id)).await?;
        self.view.delete(&accessor_key(&entry.accessor)).await?;
        if let Some(p) = &entry.parent {
            self.view.delete(&child_key(p, id)).await?;
        }
        // Children revoked before this call took their links along; what is
        // left points at entries that are gone.
        for dangling in self.view.list(&format!("parent/{id}/")).await? {
            self.view.delete(&child_key(id, &dangling)).await?;
        }
        Ok(Some(entry))
    }

    /// The store's view, for token roles.
    pub(crate) fn view(&self) -> &View {
        &self.view
    }

    /// The salted hashes of every stored token (`auth/token/tidy`).
    pub(crate) async fn ids(&self) -> CoreResult<Vec<String>> {
        Ok(self
            .view
            .list("id/")
            .await?
            .into_iter()
            .filter(|id| !id.ends_with('/'))
            .collect())
    }

    /// The salted hashes that have children links (`auth/token/tidy`).
    pub(crate) async fn parent_ids(&self) -> CoreResult<Vec<String>> {
        Ok(self
            .view
            .list("parent/")
            .await?
            .into_iter()
            .filter_map(|p| p.strip_suffix('/').map(str::to_owned))
            .collect())
    }

    /// Deletes the accessor index entry `accessor` if the token it names is
    /// gone (what an interrupted revocation leaves); returns whether it did.
    pub(crate) async fn drop_dangling_accessor(&self, accessor: &str) -> CoreResult<bool> {
        let _w = self.writes.lock().await;
        let Some(id) = self.id_for_accessor(accessor).await? else {
            return Ok(false);
        };
        if self.view.get(&id_key(&id)).await?.is_some() {
            return Ok(false);
        }
        self.view.delete(&accessor_key(accessor)).await?;
        Ok(true)
    }

    /// Deletes the link from `parent` to `child` if the child is gone;
    /// returns whether it did.
    pub(crate) async fn drop_dangling_child(&self, parent: &str, child: &str) -> CoreResult<bool> {
        let _w = self.writes.lock().await;
        if self.view.get(&id_key(child)).await?.is_some() {
            return Ok(false);
        }
        self.view.delete(&child_key(parent, child)).await?;
        Ok(true)
    }

    /// The entry of `id`, from the cache or storage, whether usable or not.
    pub(crate) async fn entry(&self, id: &str) -> CoreResult<Option<Arc<TokenEntry>>> {
        let cached = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned();
        if let Some(entry) = cached {
            return Ok(Some(entry));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let Some(entry) = self.view.get_json::<TokenEntry>(&id_key(id)).await? else {
            return Ok(None);
        };
        let entry = Arc::new(entry);
        let mut cache = self.cache_mut();
        if self.generation.load(Ordering::SeqCst) == generation {
            cache.insert(id.to_owned(), entry.clone());
        }
        Ok(Some(entry))
    }

    fn cache_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<TokenEntry>>> {
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Unix seconds of `t` (0 before the epoch).
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whether `s` can be an accessor: base62 only, so it is safe as a storage key.
pub fn is_accessor(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn id_key(id: &str) -> String {
    format!("id/{id}")
}

fn accessor_key(accessor: &str) -> String {
    format!("accessor/{accessor}")
}

fn child_key(parent: &str, child: &str) -> String {
    format!("parent/{parent}/{child}")
}

/// A new service token: `hvs.` followed by 24 base62 characters.
pub fn generate_token(entropy: &dyn Entropy) -> CoreResult<Zeroizing<String>> {
    let mut t = Zeroizing::new(String::from("hvs."));
    t.push_str(&random_base62(entropy, TOKEN_RANDOM_LEN)?);
    Ok(t)
}

/// `n` characters from `[0-9A-Za-z]`, unbiased (rejection sampling).
pub fn random_base62(entropy: &dyn Entropy, n: usize) -> CoreResult<Zeroizing<String>> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = Zeroizing::new(String::with_capacity(n));
    let mut buf = Zeroizing::new([0u8; 64]);
    while out.len() < n {
        entropy.fill(buf.as_mut_slice())?;
        for &b in buf.iter() {
            // 248 = 4 * 62: values above it would bias the modulo.
            if b < 248 && out.len() < n {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_ttl_left_follow_the_expire_time() {
        let e = TokenEntry {
            expire_time: Some(100),
            renewable: true,
            ..TokenEntry::default()
        };
        assert!(!e.expired_at(99));
        assert!(e.expired_at(100));
        assert_eq!(e.ttl_left(40), Ttl::from_secs(60));
        assert_eq!(e.ttl_left(140), Ttl::ZERO);
        assert!(e.can_renew());
        let forever = TokenEntry::default();
        assert!(!forever.expired_at(u64::MAX));
        assert!(!forever.can_renew());
    }

    #[test]
    fn entries_stored_before_token_auth_still_load() {
        let old = r#"{"accessor":"abc","policies":["root"],"display_name":"root",
            "creation_time":1,"path":"auth/token/root","meta":{},"orphan":true}"#;
        let e: TokenEntry = serde_json::from_str(old).expect("old entry");
        assert!(e.is_orphan());
        assert_eq!(e.policies, ["root"]);
        assert_eq!(e.expire_time, None);
    }

    #[test]
    fn accessors_are_plain_base62() {
        assert!(is_accessor("AbC123"));
        assert!(!is_accessor(""));
        assert!(!is_accessor("../salt"));
        assert!(!is_accessor("a/b"));
    }
}
