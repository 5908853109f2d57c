//! The token store. Tokens are never stored: only their HMAC-SHA256 under a
//! per-cluster salt (`sys/token/salt`), so a storage dump reveals no usable
//! token. Lookups are cached in memory while unsealed.

use crate::clock::Clock;
use crate::error::{CoreError, CoreResult};
use crate::view::View;
use coffer_crypto::hash::hmac_sha256;
use coffer_crypto::{Entropy, SecretBytes};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::UNIX_EPOCH;
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

/// What the store knows about a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenEntry {
    /// Non-secret handle for the token.
    pub accessor: String,
    /// Attached policies (`root` for root tokens).
    pub policies: Vec<String>,
    /// Human-readable origin (`root`, `token`).
    pub display_name: String,
    /// Creation time, unix seconds.
    pub creation_time: u64,
    /// Path that created it (`auth/token/root`).
    pub path: String,
    /// Free-form metadata.
    pub meta: BTreeMap<String, String>,
    /// Whether the token has no parent.
    pub orphan: bool,
}

/// A token that was found: its salted id and entry.
#[derive(Debug, Clone)]
pub struct ResolvedToken {
    /// The salted hash, a stable non-secret id.
    pub id: String,
    /// The stored entry.
    pub entry: Arc<TokenEntry>,
}

/// Creates, stores (hashed) and resolves tokens.
#[derive(Debug)]
pub struct TokenStore {
    view: View,
    salt: RwLock<Option<Arc<SecretBytes>>>,
    cache: RwLock<HashMap<String, Arc<TokenEntry>>>,
}

impl TokenStore {
    /// A store over `view` (the core passes `sys/token/`).
    pub fn new(view: View) -> Self {
        Self {
            view,
            salt: RwLock::new(None),
            cache: RwLock::new(HashMap::new()),
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
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(salt));
        Ok(())
    }

    /// Forgets the salt and the cache (on seal).
    pub fn clear(&self) {
        *self
            .salt
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// The salted hash of a token.
    pub fn hash(&self, token: &str) -> CoreResult<String> {
        let salt = self
            .salt
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or(CoreError::Sealed)?;
        Ok(hex::encode(hmac_sha256(salt.expose(), token.as_bytes())))
    }

    /// Creates a root token; `id` lets `-dev-root-token-id` choose it.
    pub async fn create_root(
        &self,
        entropy: &dyn Entropy,
        clock: &dyn Clock,
        id: Option<&str>,
    ) -> CoreResult<Zeroizing<String>> {
        let token = match id {
            Some(id) if !id.is_empty() => Zeroizing::new(id.to_owned()),
            _ => generate_token(entropy)?,
        };
        let entry = TokenEntry {
            accessor: random_base62(entropy, 24)?.to_string(),
            policies: vec!["root".to_owned()],
            display_name: "root".to_owned(),
            creation_time: clock
                .now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            path: "auth/token/root".to_owned(),
            meta: BTreeMap::new(),
            orphan: true,
        };
        let hash = self.hash(&token)?;
        self.view.put_json(&format!("id/{hash}"), &entry).await?;
        self.view
            .put(&format!("accessor/{}", entry.accessor), hash.as_bytes())
            .await?;
        Ok(token)
    }

    /// Resolves a presented token; `None` when unknown.
    pub async fn lookup(&self, token: &str) -> CoreResult<Option<ResolvedToken>> {
        if token.is_empty() {
            return Ok(None);
        }
        let id = self.hash(token)?;
        let cached = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned();
        if let Some(entry) = cached {
            return Ok(Some(ResolvedToken { id, entry }));
        }
        let Some(entry) = self
            .view
            .get_json::<TokenEntry>(&format!("id/{id}"))
            .await?
        else {
            return Ok(None);
        };
        let entry = Arc::new(entry);
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone(), entry.clone());
        Ok(Some(ResolvedToken { id, entry }))
    }
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
