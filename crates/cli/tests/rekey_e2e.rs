//! End-to-end: `sys/rekey-recovery-key` on a `coffer server` with the pkcs11
//! seal on a real SoftHSM2 token (harness in `common`). The attempt is
//! started and fed with the `coffer write` command; the nonce and the new
//! keys are read with the client, because `write` prints only the `data` of
//! a logical response and these raw endpoints answer at the top level.

mod common;

use coffer_client::Method;
use common::*;
use serde_json::{Value, json};

/// Sends one raw request; returns status and body.
fn raw(addr: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
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
        let r = client
            .raw(method, path, &[], body.as_ref())
            .await
            .expect("request");
        (r.status, r.body.unwrap_or_default())
    })
}

/// A whole generate-root with `keys`; true when a token came out.
fn generate_root_works(addr: &str, keys: &[String]) -> bool {
    let (_, start) = raw(
        addr,
        Method::Put,
        "sys/generate-root/attempt",
        Some(json!({})),
    );
    let nonce = start["nonce"].as_str().expect("nonce").to_owned();
    let mut complete = false;
    for k in keys {
        let (status, body) = raw(
            addr,
            Method::Put,
            "sys/generate-root/update",
            Some(json!({"key": k, "nonce": nonce})),
        );
        if status != 200 {
            break;
        }
        if body["complete"] == true {
            complete = true;
            break;
        }
    }
    raw(addr, Method::Delete, "sys/generate-root/attempt", None);
    complete
}

#[test]
fn recovery_keys_rekeyed_3_of_2_to_5_of_3_on_softhsm_survive_a_restart() {
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
            "-recovery-shares=3",
            "-recovery-threshold=2",
        ],
    );
    let init_text = text(&init);
    assert!(init.status.success(), "{init_text}");
    let token = field(&init_text, "Initial Root Token:")[0].to_owned();
    let old: Vec<String> = (1..=3)
        .map(|i| field(&init_text, &format!("Recovery Key {i}:"))[0].to_owned())
        .collect();
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

    let start = coffer(
        &addr,
        None,
        &[
            "write",
            "sys/rekey-recovery-key/init",
            "secret_shares=5",
            "secret_threshold=3",
        ],
    );
    assert!(start.status.success(), "{}", text(&start));
    let (status, attempt) = raw(&addr, Method::Get, "sys/rekey-recovery-key/init", None);
    assert_eq!(status, 200, "{attempt}");
    assert_eq!(
        (
            attempt["started"].clone(),
            attempt["n"].clone(),
            attempt["t"].clone(),
            attempt["required"].clone()
        ),
        (json!(true), json!(5), json!(3), json!(2)),
        "{attempt}"
    );
    let nonce = attempt["nonce"].as_str().expect("nonce").to_owned();
    let first = coffer(
        &addr,
        None,
        &[
            "write",
            "sys/rekey-recovery-key/update",
            &format!("key={}", old[0]),
            &format!("nonce={nonce}"),
        ],
    );
    assert!(first.status.success(), "{}", text(&first));
    let (status, done) = raw(
        &addr,
        Method::Put,
        "sys/rekey-recovery-key/update",
        Some(json!({"key": old[2], "nonce": nonce})),
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["complete"], true, "{done}");
    let new: Vec<String> = done["keys_base64"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k.as_str().expect("str").to_owned())
        .collect();
    assert_eq!(new.len(), 5);

    let status = text(&coffer(&addr, None, &["status"]));
    assert_eq!(field(&status, "Total Recovery Shares"), ["5"], "{status}");
    assert_eq!(field(&status, "Threshold"), ["3"], "{status}");
    assert!(
        !generate_root_works(&addr, &old),
        "old recovery keys are retired"
    );
    assert!(generate_root_works(&addr, &new[..3]));
    stop(server);

    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
    wait_unsealed(&addr);
    assert!(
        generate_root_works(&addr, &new[2..]),
        "the HSM-wrapped new recovery key is read back after a restart"
    );
    let kv = coffer(&addr, Some(&token), &["kv", "get", "-field=v", "kv/a"]);
    assert_eq!(String::from_utf8_lossy(&kv.stdout).trim(), "1");
    stop(server);
}
