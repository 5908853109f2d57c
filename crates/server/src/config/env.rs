//! Environment overrides, applied in one place ([`apply`]); the environment
//! wins over the files, as in Vault.
//!
//! The process environment is read once, at the edge ([`Env::from_process`] in
//! `load`); everything else takes an [`Env`] value, so tests control it.
//!
//! Which pkcs11 seal the `VAULT_HSM_*` variables describe: the enabled pkcs11
//! seal, else the (single) disabled one. During a pkcs11 → pkcs11 migration
//! they describe the new seal only; the old one must be fully written in its
//! stanza, because overriding its key label would strand the old blobs.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroizing;

use super::draft::Draft;
use super::error::ConfigError;
use super::seal::{self, HsmPin, OaepHash, Pkcs11Draft, SealDraft};
use super::storage::{PG_CONNECTION_URL_ENV, StorageConfig};
use super::value;

/// The environment variables config loading looks at (`VAULT_*`), captured once.
/// Values are zeroed on drop (one of them is the PIN); `Debug` shows names only.
#[derive(Default)]
pub struct Env {
    vars: BTreeMap<String, Zeroizing<String>>,
}

impl Env {
    /// Captures the `VAULT_*` variables of this process (non-UTF-8 ones are skipped).
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars_os().filter_map(|(k, v)| {
            let key = k.into_string().ok()?;
            key.starts_with("VAULT_").then_some(())?;
            Some((key, v.into_string().ok()?))
        }))
    }

    /// An environment made of the given `(name, value)` pairs (for tests and embedding).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), Zeroizing::new(v.into())))
                .collect(),
        }
    }

    /// An empty environment.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The value of `name`; empty counts as unset (Vault checks `!= ""`).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Applies every environment override to the merged file config.
pub(crate) fn apply(draft: &mut Draft, env: &Env) -> Result<(), ConfigError> {
    if let Some(addr) = env.get("VAULT_API_ADDR") {
        draft.api_addr = Some(addr.to_owned());
    }
    if let Some(addr) = env.get("VAULT_CLUSTER_ADDR") {
        draft.cluster_addr = Some(addr.to_owned());
    }
    match env.get("VAULT_SEAL_TYPE") {
        None | Some("shamir") => {}
        Some("pkcs11") => {
            let has_pkcs11 = draft
                .seals
                .iter()
                .any(|s| matches!(s, SealDraft::Pkcs11(_)));
            if !has_pkcs11 {
                if env.get("VAULT_HSM_LIB").is_none() {
                    return Err(ConfigError::Env {
                        var: "VAULT_SEAL_TYPE".to_owned(),
                        message: "\"pkcs11\" needs VAULT_HSM_LIB (or a seal \"pkcs11\" stanza)"
                            .to_owned(),
                    });
                }
                draft.seals.push(SealDraft::Pkcs11(Box::default()));
            }
        }
        Some(other) => {
            return Err(ConfigError::Env {
                var: "VAULT_SEAL_TYPE".to_owned(),
                message: format!(
                    "\"{other}\" is not supported (expected \"pkcs11\" or \"shamir\")"
                ),
            });
        }
    }
    if let Some(target) = pkcs11_target(&mut draft.seals) {
        apply_hsm(target, env)?;
    }
    // As in Vault, the variable wins over the file's connection_url; it only
    // applies to a postgresql storage stanza.
    if let Some(url) = env.get(PG_CONNECTION_URL_ENV)
        && let Some((StorageConfig::Postgresql { connection_url, .. }, _)) = &mut draft.storage
    {
        *connection_url = coffer_storage_postgresql::ConnectionUrl::new(url);
    }
    Ok(())
}

/// The pkcs11 seal `VAULT_HSM_*` describes: the enabled one, else a disabled one.
fn pkcs11_target(seals: &mut [SealDraft]) -> Option<&mut Pkcs11Draft> {
    let index = seals
        .iter()
        .position(|s| matches!(s, SealDraft::Pkcs11(p) if !p.disabled))
        .or_else(|| seals.iter().position(|s| matches!(s, SealDraft::Pkcs11(_))))?;
    match seals.get_mut(index) {
        Some(SealDraft::Pkcs11(p)) => Some(p),
        _ => None,
    }
}

fn apply_hsm(p: &mut Pkcs11Draft, env: &Env) -> Result<(), ConfigError> {
    let text = |s: &str| Ok::<_, String>(s.to_owned());
    set(env, "VAULT_HSM_LIB", &mut p.lib, text)?;
    set(env, "VAULT_HSM_SLOT", &mut p.slot, value::parse_u64)?;
    set(env, "VAULT_HSM_TOKEN_LABEL", &mut p.token_label, text)?;
    set(env, "VAULT_HSM_PIN", &mut p.pin, |s| {
        Ok(HsmPin::new(s.to_owned()))
    })?;
    set(env, "VAULT_HSM_KEY_LABEL", &mut p.key_label, text)?;
    set(
        env,
        "VAULT_HSM_DEFAULT_KEY_LABEL",
        &mut p.default_key_label,
        text,
    )?;
    set(
        env,
        "VAULT_HSM_KEY_ID",
        &mut p.key_id,
        value::parse_hex_bytes,
    )?;
    set(env, "VAULT_HSM_HMAC_KEY_LABEL", &mut p.hmac_key_label, text)?;
    set(
        env,
        "VAULT_HSM_HMAC_DEFAULT_KEY_LABEL",
        &mut p.default_hmac_key_label,
        text,
    )?;
    set(
        env,
        "VAULT_HSM_HMAC_KEY_ID",
        &mut p.hmac_key_id,
        value::parse_hex_bytes,
    )?;
    set(
        env,
        "VAULT_HSM_MECHANISM",
        &mut p.mechanism,
        value::parse_u64,
    )?;
    set(
        env,
        "VAULT_HSM_HMAC_MECHANISM",
        &mut p.hmac_mechanism,
        value::parse_u64,
    )?;
    set(
        env,
        "VAULT_HSM_GENERATE_KEY",
        &mut p.generate_key,
        value::parse_bool,
    )?;
    set(
        env,
        "VAULT_HSM_FORCE_RW_SESSION",
        &mut p.force_rw_session,
        value::parse_bool,
    )?;
    set(env, "VAULT_HSM_MAX_PARALLEL", &mut p.max_parallel, |s| {
        value::parse_u64(s).and_then(seal::parse_max_parallel)
    })?;
    set(
        env,
        "VAULT_HSM_RSA_ENCRYPT_LOCAL",
        &mut p.rsa_encrypt_local,
        value::parse_bool,
    )?;
    set(
        env,
        "VAULT_HSM_RSA_OAEP_HASH",
        &mut p.rsa_oaep_hash,
        OaepHash::parse,
    )?;
    Ok(())
}

/// Overrides `slot` with the parsed value of `var` when it is set.
fn set<T>(
    env: &Env,
    var: &str,
    slot: &mut Option<T>,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<(), ConfigError> {
    if let Some(text) = env.get(var) {
        *slot = Some(parse(text).map_err(|message| ConfigError::Env {
            var: var.to_owned(),
            message,
        })?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_variables_count_as_unset() {
        let env = Env::from_pairs([("VAULT_HSM_SLOT", ""), ("VAULT_HSM_LIB", "/x.so")]);
        assert_eq!(env.get("VAULT_HSM_SLOT"), None);
        assert_eq!(env.get("VAULT_HSM_LIB"), Some("/x.so"));
    }

    #[test]
    fn env_debug_shows_names_but_not_values() {
        let env = Env::from_pairs([("VAULT_HSM_PIN", "hunter2")]);
        let shown = format!("{env:?}");
        assert!(shown.contains("VAULT_HSM_PIN"));
        assert!(!shown.contains("hunter2"));
    }
}
