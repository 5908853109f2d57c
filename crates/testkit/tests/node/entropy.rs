//! Crate tier: entropy augmentation in the core. Critical security
//! parameters (root key, keyring terms, root tokens, the response-wrapping
//! signing key) and mounts with
//! `external_entropy_access` draw on the augmented handle; barrier nonces
//! and plain mounts on the OS CSPRNG. The external source here is a
//! deterministic fake that can be switched off; the HSM itself is exercised
//! end to end in the CLI tests.

use async_trait::async_trait;
use coffer_core::Ttl;
use coffer_core::engine::{Engine, EngineContext, EngineFactory, Operation, Request, Response};
use coffer_core::mount::MountEntry;
use coffer_core::{Core, CoreError, CoreOptions, CoreResult};
use coffer_crypto::{AugmentedEntropy, CryptoError, Entropy, ExternalRandom, OsEntropy};
use coffer_testkit::node::{node_options, shamir_init_and_unseal};
use coffer_testkit::storage::inmem;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// HMAC-SHA256(key, counter) blocks; errors like an unplugged token when down.
struct FakeHsm {
    counter: AtomicU64,
    bytes: AtomicU64,
    down: AtomicBool,
}

impl FakeHsm {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            counter: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            down: AtomicBool::new(false),
        })
    }
}

impl ExternalRandom for FakeHsm {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(CryptoError::Entropy(
                "C_GenerateRandom: pkcs11: 0xE0: CKR_TOKEN_NOT_PRESENT".to_owned(),
            ));
        }
        for block in buf.chunks_mut(32) {
            let n = self.counter.fetch_add(1, Ordering::SeqCst);
            let tag = coffer_crypto::hash::hmac_sha256(b"fake hsm", &n.to_be_bytes());
            block.copy_from_slice(&tag[..block.len()]);
        }
        self.bytes.fetch_add(buf.len() as u64, Ordering::SeqCst);
        Ok(())
    }
    fn name(&self) -> &'static str {
        "HSM"
    }
}

/// An engine that reports which entropy handle it was given and draws from it.
struct Probe;

#[async_trait]
impl Engine for Probe {
    async fn handle(&self, ctx: &EngineContext, _req: Request) -> CoreResult<Option<Response>> {
        let mut key = [0u8; 32];
        ctx.entropy.fill(&mut key)?;
        Ok(Some(Response::data(
            json!({"source": ctx.entropy.source()}),
        )))
    }
}

struct ProbeFactory;

impl EngineFactory for ProbeFactory {
    fn engine_type(&self) -> &'static str {
        "probe"
    }
    fn create(&self, _mount: &MountEntry) -> CoreResult<Arc<dyn Engine>> {
        Ok(Arc::new(Probe))
    }
}

/// A Shamir node with `csp` as its CSP handle; augmented when `system` is set.
fn node(csp: Arc<dyn Entropy>, system: Option<Arc<dyn Entropy>>) -> Arc<Core> {
    let mut opts = node_options(inmem(), None);
    opts.factories.push(Arc::new(ProbeFactory));
    Core::new(CoreOptions {
        entropy: csp,
        system_entropy: system,
        ..opts
    })
}

fn augmented_node(hsm: &Arc<FakeHsm>) -> Arc<Core> {
    let os: Arc<dyn Entropy> = Arc::new(OsEntropy::new());
    let augmented = Arc::new(AugmentedEntropy::new(os.clone(), hsm.clone()));
    node(augmented, Some(os))
}

async fn mount(
    core: &Arc<Core>,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> CoreResult<()> {
    core.handle(
        Request::new(Operation::Update, format!("sys/mounts/{path}")).with_data(body),
        Some(token),
    )
    .await
    .map(|_| ())
}

async fn probe(core: &Arc<Core>, token: &str, path: &str) -> CoreResult<String> {
    let r = core
        .handle(Request::new(Operation::Read, path), Some(token))
        .await?
        .expect("probe answers");
    Ok(r.data.expect("data")["source"]
        .as_str()
        .expect("source")
        .to_owned())
}

#[tokio::test]
async fn external_entropy_access_without_augmentation_is_refused_naming_the_entropy_stanza() {
    let core = node(Arc::new(OsEntropy::new()), None);
    let (_, token) = shamir_init_and_unseal(&core).await;
    let err = mount(
        &core,
        &token,
        "p",
        json!({"type": "probe", "external_entropy_access": true}),
    )
    .await
    .expect_err("refused");
    assert!(matches!(err, CoreError::InvalidRequest(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("entropy \"seal\""), "{msg}");
    assert!(!msg.contains("not supported yet"), "{msg}");
}

#[tokio::test]
async fn init_draws_on_the_external_source_and_mounts_get_the_handle_they_asked_for() {
    let hsm = FakeHsm::new();
    let core = augmented_node(&hsm);
    let (_, token) = shamir_init_and_unseal(&core).await;
    assert!(
        hsm.bytes.load(Ordering::SeqCst) > 0,
        "root key, keyring and root token draw HSM randomness"
    );
    mount(
        &core,
        &token,
        "ext",
        json!({"type": "probe", "external_entropy_access": true}),
    )
    .await
    .expect("allowed with augmentation");
    mount(&core, &token, "plain", json!({"type": "probe"}))
        .await
        .expect("plain mount");
    assert_eq!(probe(&core, &token, "ext/x").await.expect("ext"), "seal");
    assert_eq!(probe(&core, &token, "plain/x").await.expect("plain"), "os");
    let mounts = core
        .handle(Request::new(Operation::Read, "sys/mounts"), Some(&token))
        .await
        .expect("list")
        .expect("mounts");
    let data = mounts.data.expect("data");
    assert_eq!(data["ext/"]["external_entropy_access"], true);
    assert_eq!(data["plain/"]["external_entropy_access"], false);
}

#[tokio::test]
async fn with_the_source_down_key_generation_fails_closed_while_data_keeps_flowing() {
    let hsm = FakeHsm::new();
    let core = augmented_node(&hsm);
    let (_, token) = shamir_init_and_unseal(&core).await;
    mount(
        &core,
        &token,
        "ext",
        json!({"type": "probe", "external_entropy_access": true}),
    )
    .await
    .expect("mount ext");
    mount(&core, &token, "kv", json!({"type": "kv"}))
        .await
        .expect("mount kv");

    hsm.down.store(true, Ordering::SeqCst);
    // Buffered bytes were fetched while the source worked; drain them.
    let mut failed = None;
    for _ in 0..=coffer_crypto::augmented::CHUNK / 32 {
        if let Err(e) = core
            .handle(Request::new(Operation::Update, "sys/rotate"), Some(&token))
            .await
        {
            failed = Some(e);
            break;
        }
    }
    let err = failed.expect("sys/rotate fails once the buffer is spent");
    assert!(err.to_string().contains("CKR_TOKEN_NOT_PRESENT"), "{err}");
    let err = probe(&core, &token, "ext/x").await.expect_err("ext keygen");
    assert!(err.to_string().contains("never falls back"), "{err}");

    core.new_uuid().expect("request ids use the OS CSPRNG");
    core.handle(
        Request::new(Operation::Update, "kv/a").with_data(json!({"v": "1"})),
        Some(&token),
    )
    .await
    .expect("writes use OS nonces");
    let r = core
        .handle(Request::new(Operation::Read, "kv/a"), Some(&token))
        .await
        .expect("read")
        .expect("present");
    assert_eq!(r.data.expect("data")["v"], "1");

    hsm.down.store(false, Ordering::SeqCst);
    core.handle(Request::new(Operation::Update, "sys/rotate"), Some(&token))
        .await
        .expect("rotate works again");
    assert_eq!(probe(&core, &token, "ext/x").await.expect("ext"), "seal");
}

/// A CSP handle that counts the bytes drawn from it and can be switched off.
struct Counting {
    bytes: AtomicU64,
    down: AtomicBool,
    os: OsEntropy,
}

impl Entropy for Counting {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(CryptoError::Entropy("source down".to_owned()));
        }
        self.bytes.fetch_add(buf.len() as u64, Ordering::SeqCst);
        self.os.fill(buf)
    }
    fn source(&self) -> &'static str {
        "seal"
    }
}

#[tokio::test]
async fn approle_ids_come_from_the_mounts_entropy_handle() {
    let csp = Arc::new(Counting {
        bytes: AtomicU64::new(0),
        down: AtomicBool::new(false),
        os: OsEntropy::new(),
    });
    let core = node(csp.clone(), Some(Arc::new(OsEntropy::new())));
    let (_, token) = shamir_init_and_unseal(&core).await;
    let call = |op: Operation, path: &str, body: serde_json::Value| {
        let core = core.clone();
        let token = token.clone();
        let path = path.to_owned();
        async move {
            core.handle(Request::new(op, path).with_data(body), Some(&token))
                .await
        }
    };
    call(
        Operation::Update,
        "sys/auth/ext",
        json!({"type": "approle", "external_entropy_access": true}),
    )
    .await
    .expect("ext approle");
    call(
        Operation::Update,
        "sys/auth/plain",
        json!({"type": "approle"}),
    )
    .await
    .expect("plain approle");
    let mut drawn = Vec::new();
    for mount in ["ext", "plain"] {
        let before = csp.bytes.load(Ordering::SeqCst);
        call(
            Operation::Update,
            &format!("auth/{mount}/role/r"),
            json!({}),
        )
        .await
        .expect("role");
        call(
            Operation::Update,
            &format!("auth/{mount}/role/r/secret-id"),
            json!({}),
        )
        .await
        .expect("secret id");
        drawn.push(csp.bytes.load(Ordering::SeqCst) - before);
    }
    // Role id (16), salt (32), secret id (16) and its accessor (16).
    assert_eq!(
        drawn,
        vec![80, 0],
        "ext mount draws CSP entropy, plain mount none"
    );
    // Without the source, new secret ids fail closed on the ext mount only.
    csp.down.store(true, Ordering::SeqCst);
    assert!(
        call(Operation::Update, "auth/ext/role/r/secret-id", json!({}))
            .await
            .is_err()
    );
    call(Operation::Update, "auth/plain/role/r/secret-id", json!({}))
        .await
        .expect("plain keeps working");
}

/// A handle that refuses draws of one size and serves the rest from the OS.
struct RefusesSize {
    size: usize,
    os: OsEntropy,
}

impl Entropy for RefusesSize {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        if buf.len() == self.size {
            return Err(CryptoError::Entropy(format!(
                "draw of {} bytes refused",
                self.size
            )));
        }
        self.os.fill(buf)
    }
    fn source(&self) -> &'static str {
        "seal"
    }
}

/// The size of one P-521 private scalar draw (521 bits).
const P521_DRAW: usize = 66;

#[tokio::test]
async fn the_wrapping_key_is_drawn_from_the_csp_handle_not_the_system_one() {
    let refusing = || {
        Arc::new(RefusesSize {
            size: P521_DRAW,
            os: OsEntropy::new(),
        })
    };
    // The CSP handle cannot make a P-521 scalar: init fails closed, naming it.
    let core = node(refusing(), Some(Arc::new(OsEntropy::new())));
    let err = core
        .initialize(coffer_testkit::node::shamir_params(3, 2))
        .await
        .expect_err("no wrapping key without the CSP handle");
    assert!(
        err.to_string().contains("draw of 66 bytes refused"),
        "{err}"
    );

    // The system handle cannot, but is never asked: wrapping works.
    let core = node(Arc::new(OsEntropy::new()), Some(refusing()));
    let (_, token) = shamir_init_and_unseal(&core).await;
    let mut req = Request::new(Operation::Update, "sys/wrapping/wrap").with_data(json!({"k": "v"}));
    req.wrap_ttl = Some(Ttl::from_secs(60));
    let wrapped = core.handle(req, Some(&token)).await.expect("wrap");
    assert!(wrapped.and_then(|r| r.wrap_info).is_some(), "wrapped");
}
