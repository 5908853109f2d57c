//! The policy store: ACL policies kept in the barrier under
//! `sys/policy/<name>`, parsed once and cached, and the merged [`Acl`] of
//! every policy set tokens carry, cached too.
//!
//! Writes and deletes bump a generation counter and empty both caches; a
//! reader that loaded something before a write only caches it when the
//! generation is unchanged, so a stale policy never outlives the write that
//! replaced it. Sealing empties the caches. `default` is stored at first
//! unseal (from [`DEFAULT_POLICY_TEXT`]) and may be edited, never deleted;
//! `root` is built in and can be neither.

use crate::error::{CoreError, CoreResult};
use crate::policy::{
    Acl, DEFAULT_POLICY, DEFAULT_POLICY_TEXT, Policy, RESPONSE_WRAPPING_POLICY, ROOT_POLICY,
    is_assignable, is_deletable, is_writable, normalize_name, response_wrapping_policy,
};
use crate::storage::view::View;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Where policies live in the barrier.
pub(crate) const POLICY_STORE_PREFIX: &str = "sys/policy/";

/// Cached entries beyond which a cache starts over (policy sets are few in
/// practice; this only bounds memory against odd workloads).
const CACHE_LIMIT: usize = 4096;

/// A policy as stored.
#[derive(Debug, Serialize, Deserialize)]
struct StoredPolicy {
    name: String,
    policy: String,
}

/// Stores, parses and caches ACL policies, and builds the ACLs of tokens.
#[derive(Debug)]
pub(crate) struct PolicyStore {
    view: View,
    /// Parsed policies by name; `None` caches "does not exist".
    policies: RwLock<HashMap<String, Option<Arc<Policy>>>>,
    /// ACLs by policy set (the sorted names, joined).
    acls: RwLock<HashMap<String, Arc<Acl>>>,
    generation: AtomicU64,
    root: Arc<Acl>,
    /// The fixed policy of wrapping tokens (never stored).
    response_wrapping: Option<Arc<Policy>>,
}

impl PolicyStore {
    /// A store over `view` (the core passes `sys/policy/`).
    pub(crate) fn new(view: View) -> Self {
        Self {
            view,
            policies: RwLock::new(HashMap::new()),
            acls: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            root: Arc::new(Acl::root()),
            response_wrapping: response_wrapping_policy().ok().map(Arc::new),
        }
    }

    /// Empties the caches (on seal).
    pub(crate) fn clear(&self) {
        self.invalidate();
    }

    /// Stores the shipped `default` policy unless one exists (first unseal).
    pub(crate) async fn ensure_default(&self) -> CoreResult<()> {
        if self.view.get(DEFAULT_POLICY).await?.is_none() {
            self.put(DEFAULT_POLICY, DEFAULT_POLICY_TEXT).await?;
        }
        Ok(())
    }

    /// The policy `name`, if it exists (`root` has no stored text: `None`).
    pub(crate) async fn get(&self, name: &str) -> CoreResult<Option<Arc<Policy>>> {
        let name = normalize_name(name);
        if !is_storable_name(&name) {
            return Ok(None);
        }
        let cached = read(&self.policies).get(&name).cloned();
        if let Some(hit) = cached {
            return Ok(hit);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let loaded = match self.view.get_json::<StoredPolicy>(&name).await? {
            Some(stored) => Some(Arc::new(Policy::parse(&name, &stored.policy).map_err(
                |e| {
                    // Stored text was checked when written; failing here means
                    // the parser changed. Deny rather than guess.
                    tracing::error!(policy = %name, error = %e, "stored policy no longer parses");
                    CoreError::Internal(format!("stored policy {name:?} does not parse"))
                },
            )?)),
            None => None,
        };
        let mut cache = write(&self.policies);
        if self.generation.load(Ordering::SeqCst) == generation {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(name, loaded.clone());
        }
        Ok(loaded)
    }

    /// Parses and stores a policy. Refuses `root` (and the internal
    /// `response-wrapping`); the text may be base64-encoded, as Vault accepts.
    pub(crate) async fn put(&self, name: &str, text: &str) -> CoreResult<()> {
        let name = check_name(name)?;
        if !is_writable(&name) {
            return Err(CoreError::invalid(format!("cannot update {name:?} policy")));
        }
        let text = decode_text(text);
        if text.trim().is_empty() {
            return Err(CoreError::invalid(
                "'policy' parameter not supplied or empty",
            ));
        }
        let parsed = Policy::parse(&name, &text)?;
        self.view
            .put_json(
                &name,
                &StoredPolicy {
                    name: name.clone(),
                    policy: parsed.text().to_owned(),
                },
            )
            .await?;
        self.invalidate();
        tracing::info!(policy = %name, "policy written");
        Ok(())
    }

    /// Deletes a policy; `default` and `root` are refused. Deleting a policy
    /// that does not exist succeeds.
    pub(crate) async fn delete(&self, name: &str) -> CoreResult<()> {
        let name = check_name(name)?;
        if !is_deletable(&name) {
            return Err(CoreError::invalid(format!("cannot delete {name:?} policy")));
        }
        self.view.delete(&name).await?;
        self.invalidate();
        tracing::info!(policy = %name, "policy deleted");
        Ok(())
    }

    /// The names of all ACL policies, `root` included, sorted.
    pub(crate) async fn list(&self) -> CoreResult<Vec<String>> {
        let mut names: Vec<String> = self
            .view
            .list("")
            .await?
            .into_iter()
            .filter(|n| !n.ends_with('/') && is_assignable(n))
            .collect();
        names.push(ROOT_POLICY.to_owned());
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The ACL of a token carrying `policies`. Names without a stored policy
    /// grant nothing (as in Vault); `root` must come alone. Any error
    /// (storage, a stored policy that no longer parses, `root` mixed with
    /// others) is returned, and the caller denies.
    pub(crate) async fn acl(&self, policies: &[String]) -> CoreResult<Arc<Acl>> {
        if policies.len() == 1 && policies[0] == ROOT_POLICY {
            return Ok(self.root.clone());
        }
        let mut names: Vec<String> = policies.iter().map(|p| normalize_name(p)).collect();
        names.sort();
        names.dedup();
        let key = names.join("\n");
        if let Some(acl) = read(&self.acls).get(&key).cloned() {
            return Ok(acl);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let mut parsed = Vec::with_capacity(names.len());
        for name in &names {
            if name == ROOT_POLICY {
                parsed.push(Arc::new(Policy::root()));
            } else if name == RESPONSE_WRAPPING_POLICY {
                let fixed = self.response_wrapping.clone().ok_or_else(|| {
                    CoreError::Internal("the response-wrapping policy does not parse".to_owned())
                })?;
                parsed.push(fixed);
            } else if let Some(p) = self.get(name).await? {
                parsed.push(p);
            }
        }
        let acl = Arc::new(Acl::new(parsed.iter().map(Arc::as_ref))?);
        let mut cache = write(&self.acls);
        if self.generation.load(Ordering::SeqCst) == generation {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key, acl.clone());
        }
        Ok(acl)
    }

    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        write(&self.policies).clear();
        write(&self.acls).clear();
    }
}

/// A policy name as stored, or why it cannot be one.
fn check_name(name: &str) -> CoreResult<String> {
    let name = normalize_name(name);
    if name.is_empty() {
        return Err(CoreError::invalid("missing policy name"));
    }
    if !is_storable_name(&name) {
        return Err(CoreError::invalid(format!(
            "invalid policy name {name:?}: it may not contain '/' or control characters, or be \
             '.' or '..'"
        )));
    }
    Ok(name)
}

fn is_storable_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

/// Vault accepts the policy text base64-encoded: use the decoded text when
/// the whole value is valid base64 of UTF-8 (policy text itself never is).
fn decode_text(text: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| text.to_owned())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_policy_text_is_decoded_and_plain_text_kept() {
        let text = "path \"a/*\" {\n  capabilities = [\"read\"]\n}\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        assert_eq!(decode_text(&encoded), text);
        assert_eq!(decode_text(text), text);
    }

    #[test]
    fn policy_names_are_normalised_and_checked() {
        assert_eq!(check_name(" Dev ").expect("name"), "dev");
        assert!(check_name("").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("..").is_err());
    }
}
