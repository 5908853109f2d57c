//! The node harness: a [`Core`] over a given backend with the Shamir seal or a
//! given auto seal and the default engines, and the init / data /
//! generate-root / re-wrap steps many node tests take. [`crate::auth_node`]
//! builds on it for tests that act as tokens.

use crate::engines::default_factories;
use crate::soft_seal::SoftSeal;
use base64::Engine as _;
use coffer_core::ceremony::InitParams;
use coffer_core::clock::SystemClock;
use coffer_core::engine::{Operation, Request};
use coffer_core::seal::{NodeSeal, RewrapStatus, Seal, ShamirSeal};
use coffer_core::storage::SharedBackend;
use coffer_core::{Core, CoreOptions};
use coffer_crypto::{Entropy, OsEntropy, SecretBytes};
use std::sync::Arc;
use std::time::Duration;

/// The options of a test node on `backend`: the Shamir seal when `seal` is
/// `None`, else that auto seal; no migration,
/// the default engines, the system clock. Change a field with
/// `CoreOptions { migration_from, ..node_options(..) }`.
pub fn node_options(backend: SharedBackend, seal: Option<Arc<dyn Seal>>) -> CoreOptions {
    let entropy: Arc<dyn Entropy> = Arc::new(OsEntropy::new());
    let seal = match seal {
        Some(s) => NodeSeal::Auto(s),
        None => NodeSeal::Shamir(Arc::new(ShamirSeal::new(entropy.clone()))),
    };
    CoreOptions {
        backend,
        seal,
        migration_from: None,
        entropy,
        system_entropy: None,
        clock: Arc::new(SystemClock),
        factories: default_factories(),
        cluster_name: None,
        raw_storage_endpoint: false,
        ha: None,
        managed_keys: None,
    }
}

/// A new, uninitialised Shamir node on `backend`.
pub fn shamir_node(backend: SharedBackend) -> Arc<Core> {
    Core::new(node_options(backend, None))
}

/// A new, uninitialised node on `backend` auto-unsealed by `seal`.
pub fn auto_node(backend: SharedBackend, seal: Arc<SoftSeal>) -> Arc<Core> {
    Core::new(node_options(backend, Some(seal)))
}

/// A key share in base64, as `sys/unseal` takes it.
pub fn b64(k: &SecretBytes) -> String {
    base64::engine::general_purpose::STANDARD.encode(k.expose())
}

/// Init parameters for a Shamir node: `shares` unseal keys, `threshold` of them needed.
pub fn shamir_params(shares: u32, threshold: u32) -> InitParams {
    InitParams {
        secret_shares: shares,
        secret_threshold: threshold,
        ..InitParams::default()
    }
}

/// Init parameters for an auto-unseal node: `shares` recovery keys,
/// `threshold` of them needed.
pub fn recovery_params(shares: u32, threshold: u32) -> InitParams {
    InitParams {
        recovery_shares: shares,
        recovery_threshold: threshold,
        ..InitParams::default()
    }
}

/// Initialises a Shamir node with 3 shares / threshold 2 and unseals it with
/// the first two; returns the keys (base64) and the root token.
pub async fn shamir_init_and_unseal(core: &Arc<Core>) -> (Vec<String>, String) {
    let init = core.initialize(shamir_params(3, 2)).await.expect("init");
    let keys: Vec<String> = init.keys.iter().map(b64).collect();
    for k in &keys[..2] {
        core.submit_unseal_key(k).await.expect("unseal");
    }
    assert!(!core.is_sealed(), "still sealed");
    (keys, init.root_token.to_string())
}

/// Mounts `kv/` and writes `kv/a` = {"v": "1"}.
pub async fn write_data(core: &Arc<Core>, token: &str) {
    core.handle(
        Request::new(Operation::Update, "sys/mounts/kv")
            .with_data(serde_json::json!({"type": "kv"})),
        Some(token),
    )
    .await
    .expect("mount");
    core.handle(
        Request::new(Operation::Update, "kv/a").with_data(serde_json::json!({"v": "1"})),
        Some(token),
    )
    .await
    .expect("write");
}

/// The node is unsealed and `kv/a` reads back as written by [`write_data`].
pub async fn assert_data(core: &Arc<Core>, token: &str) {
    assert!(!core.is_sealed(), "node is sealed");
    let r = core
        .handle(Request::new(Operation::Read, "kv/a"), Some(token))
        .await
        .expect("read")
        .expect("present");
    assert_eq!(r.data.expect("data")["v"], "1");
}

/// Runs a whole generate-root with `keys`: Ok once a token came out, else the
/// attempt is cancelled and the error (or "not complete") returned.
pub async fn generate_root_with(core: &Core, keys: &[String]) -> Result<(), String> {
    let start = core.generate_root_start(None, None).await.expect("start");
    for k in keys {
        match core.generate_root_update(k, &start.nonce).await {
            Ok(s) if s.complete => return Ok(()),
            Ok(_) => {}
            Err(e) => {
                core.generate_root_cancel();
                return Err(e.to_string());
            }
        }
    }
    core.generate_root_cancel();
    Err("not complete".to_owned())
}

/// [`generate_root_with`]: true when a token came out.
pub async fn generate_root_works(core: &Core, keys: &[String]) -> bool {
    generate_root_with(core, keys).await.is_ok()
}

/// Waits (at most 10 s) until no seal re-wrap pass is running, and returns
/// its final status.
pub async fn wait_for_rewrap(core: &Core) -> RewrapStatus {
    for _ in 0..1000 {
        let status = core.rewrap_status();
        if !status.is_running {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("seal re-wrap still running after 10 s");
}
