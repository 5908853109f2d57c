//! `backup/:name` and `restore[/:name]`: a key's whole state (configuration,
//! live and archived versions) as one base64 JSON document. Needs
//! `exportable` and `allow_plaintext_backup`, as Vault; the document is
//! Coffer's own format, restorable only into Coffer.

use crate::backend::{Params, Transit};
use crate::fields::{b64_decode, key_name, opt_string};
use crate::keyring::{KeyRing, b64};
use crate::stored::{StoredArchive, StoredPolicy, StoredPolicyRef, VersionEvent};
use coffer_core::clock::rfc3339;
use coffer_core::engine::field::opt_bool;
use coffer_core::engine::{EngineContext, Request, Response};
use coffer_core::{CoreError, CoreResult};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

#[derive(Serialize)]
struct BackupRef<'a> {
    policy: StoredPolicyRef<'a>,
    archived_keys: &'a StoredArchive,
}

#[derive(Deserialize)]
struct Backup {
    policy: StoredPolicy,
    #[serde(default)]
    archived_keys: StoredArchive,
}

/// `GET backup/:name`.
pub(crate) async fn backup(
    t: &Transit,
    ctx: &EngineContext,
    name: &str,
) -> CoreResult<Option<Response>> {
    let _guard = t.keys.lock(name).await;
    let Some(ring) = t.keys.get_locked(&ctx.view, name).await? else {
        return Err(CoreError::invalid(format!("key {name:?} not found")));
    };
    if ring.config.key_type == crate::key_type::KeyType::ManagedKey {
        return Err(crate::managed::refused("a backup of the key"));
    }
    if !ring.config.exportable {
        return Err(CoreError::invalid("exporting is disallowed on the policy"));
    }
    if !ring.config.allow_plaintext_backup {
        return Err(CoreError::invalid(
            "plaintext backup is disallowed on the policy",
        ));
    }
    let mut cfg = ring.config.clone();
    cfg.backup_info = Some(VersionEvent {
        time: rfc3339(ctx.clock.now()),
        version: cfg.latest_version,
    });
    let saved = t.keys.save(&ctx.view, ring.with_config(cfg)).await?;
    let archive = t.keys.load_archive(&ctx.view, name).await?;
    let doc = Zeroizing::new(
        serde_json::to_vec(&BackupRef {
            policy: saved.to_stored(),
            archived_keys: &archive,
        })
        .map_err(|e| CoreError::Internal(format!("cannot encode backup: {e}")))?,
    );
    Ok(Some(Response::data(json!({ "backup": b64(&doc) }))))
}

#[derive(Deserialize)]
struct RestoreBody {
    #[serde(default, deserialize_with = "opt_string")]
    backup: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    force: Option<bool>,
}

/// `POST restore[/:name]`.
pub(crate) async fn restore(
    t: &Transit,
    ctx: &EngineContext,
    req: &Request,
    params: &Params,
) -> CoreResult<Option<Response>> {
    let body: RestoreBody = req.parse()?;
    let Some(encoded) = body.backup.as_deref().filter(|b| !b.is_empty()) else {
        return Err(CoreError::invalid("'backup' must be supplied"));
    };
    let raw = Zeroizing::new(b64_decode("backup", encoded)?);
    let mut doc: Backup = serde_json::from_slice(&raw)
        .map_err(|e| CoreError::invalid(format!("invalid backup: {e}")))?;
    let name = params
        .get("name")
        .cloned()
        .or(body.name.filter(|n| !n.is_empty()))
        .unwrap_or_else(|| doc.policy.config.name.clone());
    key_name(&name).map_err(|_| CoreError::invalid(format!("invalid key name {name:?}")))?;
    check_consistent(&doc)?;
    let _guard = t.keys.lock(&name).await;
    if !body.force.unwrap_or(false) && t.keys.get_locked(&ctx.view, &name).await?.is_some() {
        return Err(CoreError::invalid(format!("key {name:?} already exists")));
    }
    doc.policy.config.name.clone_from(&name);
    doc.policy.config.restore_info = Some(VersionEvent {
        time: rfc3339(ctx.clock.now()),
        version: doc.policy.config.latest_version,
    });
    // Prepare before writing anything: material that does not load must not
    // replace a working key.
    let ring = KeyRing::from_stored(doc.policy)?;
    t.keys
        .save_archive(&ctx.view, &name, &doc.archived_keys)
        .await?;
    t.keys.save(&ctx.view, ring).await?;
    Ok(None)
}

/// Rejects documents whose versions contradict their configuration.
fn check_consistent(doc: &Backup) -> CoreResult<()> {
    let c = &doc.policy.config;
    let bad = |why: &str| Err(CoreError::invalid(format!("invalid backup: {why}")));
    if c.latest_version == 0 || c.min_decryption_version == 0 {
        return bad("version numbers start at 1");
    }
    if c.min_decryption_version > c.latest_version {
        return bad("min_decryption_version is above latest_version");
    }
    let live_ok =
        (c.min_decryption_version..=c.latest_version).all(|n| doc.policy.keys.contains_key(&n));
    if !live_ok || doc.policy.keys.len() as u64 != c.latest_version - c.min_decryption_version + 1 {
        return bad("live versions do not match min_decryption_version..=latest_version");
    }
    if doc
        .archived_keys
        .keys
        .keys()
        .any(|n| *n >= c.min_decryption_version || *n < c.min_available_version)
    {
        return bad("archived versions are outside min_available_version..min_decryption_version");
    }
    Ok(())
}
