//! End-to-end: `sys/rekey-recovery-key` on a `coffer server` with the pkcs11
//! seal on a real SoftHSM2 token (harness in `common`). The attempt is
//! started and fed with the `coffer write` command; the nonce and the new
//! keys are read with the client, because `write` prints only the `data` of
//! a logical response and these raw endpoints answer at the top level.

mod common;

use coffer_client::Method;
use common::*;
use serde_json::json;

#[test]
fn recovery_keys_rekeyed_3_of_2_to_5_of_3_on_softhsm_survive_a_restart() {
    let hsm = Hsm::new();
    let (config, addr) = hsm.config("  key_label = \"root-key\"\n  generate_key = \"true\"\n");
    let server = hsm.serve(&config, &addr);
    let (token, old) = init_auto(&addr, 3, 2);
    enable_kv(&addr, &token, "kv");
    kv_put(&addr, &token, "kv/a", "v=1");

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
        !generate_root_with(&addr, &old).complete(),
        "old recovery keys are retired"
    );
    assert!(generate_root_with(&addr, &new[..3]).complete());
    stop(server);

    let server = hsm.serve(&config, &addr);
    wait_unsealed(&addr);
    assert!(
        generate_root_with(&addr, &new[2..]).complete(),
        "the HSM-wrapped new recovery key is read back after a restart"
    );
    let kv = coffer(&addr, Some(&token), &["kv", "get", "-field=v", "kv/a"]);
    assert_eq!(String::from_utf8_lossy(&kv.stdout).trim(), "1");
    stop(server);
}
