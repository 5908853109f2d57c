//! End-to-end: the HSM goes away (its SoftHSM2 token directory is moved
//! out) and comes back, under a running server and across a restart.
//! Nothing is restarted to recover and no data is lost.

mod common;

use common::*;
use std::path::PathBuf;

/// Moves the token's directory out of the token store and back.
struct Unplug {
    token: PathBuf,
    away: PathBuf,
}

impl Unplug {
    fn new(hsm: &Hsm) -> Self {
        let tokens = hsm.dir.path().join("tokens");
        let token = std::fs::read_dir(&tokens)
            .expect("tokens dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.is_dir())
            .expect("one token directory");
        Self {
            away: hsm.dir.path().join("unplugged-token"),
            token,
        }
    }
    fn pull(&self) {
        std::fs::rename(&self.token, &self.away).expect("unplug");
    }
    fn plug(&self) {
        std::fs::rename(&self.away, &self.token).expect("plug back");
    }
}

/// Runs a whole generate-root with one recovery key over the HTTP API;
/// returns the final update's status and body.
fn generate_root(addr: &str, recovery_key: &str) -> (u16, serde_json::Value) {
    use coffer_client::Method;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let addr = addr.to_owned();
        let cfg =
            coffer_client::Config::from_lookup(move |k| (k == "VAULT_ADDR").then(|| addr.clone()))
                .expect("client config");
        let client = coffer_client::Client::new(cfg).expect("client");
        let start = client
            .raw(
                Method::Put,
                "sys/generate-root/attempt",
                &[],
                Some(&serde_json::json!({})),
            )
            .await
            .expect("start");
        let nonce = start
            .body
            .as_ref()
            .and_then(|b| b["nonce"].as_str())
            .expect("nonce")
            .to_owned();
        let update = client
            .raw(
                Method::Put,
                "sys/generate-root/update",
                &[],
                Some(&serde_json::json!({"key": recovery_key, "nonce": nonce})),
            )
            .await
            .expect("update");
        let _ = client
            .raw(Method::Delete, "sys/generate-root/attempt", &[], None)
            .await;
        (update.status, update.body.unwrap_or_default())
    })
}

#[test]
fn token_removed_mid_run_fails_hsm_operations_with_the_code_and_recovers_in_place() {
    let hsm = Hsm::new();
    let (config, addr) = hsm.config("  key_label = \"root-key\"\n  generate_key = \"true\"\n");
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
    let init = coffer(
        &addr,
        None,
        &[
            "operator",
            "init",
            "-recovery-shares=1",
            "-recovery-threshold=1",
        ],
    );
    let init_text = text(&init);
    let token = field(&init_text, "Initial Root Token:")[0].to_owned();
    let recovery = field(&init_text, "Recovery Key 1:")[0].to_owned();
    assert!(
        coffer(
            &addr,
            Some(&token),
            &["secrets", "enable", "-path=kv", "kv"]
        )
        .status
        .success()
    );
    assert!(
        coffer(&addr, Some(&token), &["kv", "put", "kv/a", "v=1"])
            .status
            .success()
    );

    let unplug = Unplug::new(&hsm);
    unplug.pull();
    let kv = coffer(&addr, Some(&token), &["kv", "get", "-field=v", "kv/a"]);
    assert_eq!(
        String::from_utf8_lossy(&kv.stdout).trim(),
        "1",
        "KV needs no HSM: {}",
        text(&kv)
    );
    assert!(
        coffer(&addr, Some(&token), &["kv", "put", "kv/b", "v=2"])
            .status
            .success()
    );
    let (status, failed) = generate_root(&addr, &recovery);
    assert_ne!(status, 200, "generate-root needs the HSM: {failed}");
    assert!(
        failed.to_string().contains("CKR_"),
        "error keeps the PKCS#11 code: {failed}"
    );

    unplug.plug();
    let (status, ok) = generate_root(&addr, &recovery);
    assert_eq!(status, 200, "recovered without restart: {ok}");
    assert_eq!(ok["complete"], true);
    let kv = coffer(&addr, Some(&token), &["kv", "get", "-field=v", "kv/b"]);
    assert_eq!(String::from_utf8_lossy(&kv.stdout).trim(), "2");
    stop(server);
}

#[test]
fn server_started_while_the_token_is_away_exits_with_ckr_token_not_present_then_starts_once_back() {
    let hsm = Hsm::new();
    let (config, addr) = hsm.config("  key_label = \"root-key\"\n  generate_key = \"true\"\n");
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
    let init = coffer(
        &addr,
        None,
        &[
            "operator",
            "init",
            "-recovery-shares=1",
            "-recovery-threshold=1",
        ],
    );
    let token = field(&text(&init), "Initial Root Token:")[0].to_owned();
    assert!(
        coffer(
            &addr,
            Some(&token),
            &["secrets", "enable", "-path=kv", "kv"]
        )
        .status
        .success()
    );
    assert!(
        coffer(&addr, Some(&token), &["kv", "put", "kv/a", "v=1"])
            .status
            .success()
    );
    stop(server);

    let unplug = Unplug::new(&hsm);
    unplug.pull();
    let out = hsm.start(&config, PIN).wait_with_output().expect("wait");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "a seal that cannot open must stop startup: {all}"
    );
    assert!(
        all.contains("pkcs11: 0xE0: CKR_TOKEN_NOT_PRESENT"),
        "seed 002's error text: {all}"
    );

    unplug.plug();
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
    wait_unsealed(&addr);
    let kv = coffer(&addr, Some(&token), &["kv", "get", "-field=v", "kv/a"]);
    assert_eq!(
        String::from_utf8_lossy(&kv.stdout).trim(),
        "1",
        "no data lost"
    );
    stop(server);
}
