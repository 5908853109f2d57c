//! End-to-end: `coffer operator generate-root` and `coffer operator rekey` against a real
//! `coffer server`, with the Shamir seal and with the pkcs11 seal on a real SoftHSM2 token
//! (harness in `common`). Everything an operator would type goes through the CLI; tables are
//! read the way a person reads them.

mod common;

use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;

/// The value of the table row `key` (`Key    value`, columns split by 2+ spaces).
fn row(out: &str, key: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let (k, v) = l.split_once("  ")?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// `coffer ARGS` with `input` on stdin, as keys are piped in scripts.
fn coffer_stdin(addr: &str, args: &[&str], input: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .env("VAULT_ADDR", addr)
        .env("HOME", std::env::temp_dir())
        .env_remove("VAULT_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn coffer");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn gen_root(addr: &str, args: &[&str]) -> Output {
    coffer(addr, None, &[&["operator", "generate-root"], args].concat())
}

fn rekey(addr: &str, args: &[&str]) -> Output {
    coffer(addr, None, &[&["operator", "rekey"], args].concat())
}

/// A Shamir node, initialised with `shares`/`threshold` and unsealed; returns the server, its
/// address, the root token and the unseal keys.
fn shamir_node(
    hsm: &Hsm,
    shares: u8,
    threshold: u8,
) -> (std::process::Child, String, String, Vec<String>) {
    let (config, addr) = hsm.write_config("");
    let server = hsm.serve(&config, &addr);
    let (token, keys) = init_shamir(&addr, shares, threshold);
    for k in &keys[..usize::from(threshold)] {
        ok(&coffer(&addr, None, &["operator", "unseal", k]));
    }
    (server, addr, token, keys)
}

/// A pkcs11 node on SoftHSM2, initialised with recovery keys (it unseals itself).
fn pkcs11_node(
    hsm: &Hsm,
    shares: u8,
    threshold: u8,
) -> (std::process::Child, String, String, Vec<String>) {
    let (config, addr) =
        hsm.config("  key_label = \"coffer-root-key\"\n  generate_key = \"true\"\n");
    let server = hsm.serve(&config, &addr);
    let (token, keys) = init_auto(&addr, shares, threshold);
    (server, addr, token, keys)
}

/// The whole flow as an operator runs it: `-init`, one `generate-root KEY` per key (the nonce
/// read from the status), `-decode` with the OTP; returns the new root token.
fn generate_root_cli(addr: &str, keys: &[String]) -> String {
    let started = gen_root(addr, &["-init"]);
    let out = ok(&started);
    let otp = row(&stdout(&started), "OTP").unwrap_or_else(|| panic!("no OTP row: {out}"));
    let mut last = String::new();
    for k in keys {
        last = ok(&gen_root(addr, &[k]));
    }
    assert_eq!(row(&last, "Complete").as_deref(), Some("true"), "{last}");
    let encoded = row(&last, "Encoded Token").unwrap_or_else(|| panic!("{last}"));
    let decoded = gen_root(
        addr,
        &[&format!("-decode={encoded}"), &format!("-otp={otp}")],
    );
    ok(&decoded);
    stdout(&decoded).trim().to_owned()
}

/// True when `token` may read `sys/mounts` (a root token can).
fn token_works(addr: &str, token: &str) -> bool {
    coffer(addr, Some(token), &["read", "sys/mounts"])
        .status
        .success()
}

/// `key` with its last byte flipped: well-formed, same participant number, wrong value.
fn corrupt(key: &str) -> String {
    let mut raw = B64.decode(key).expect("base64 key");
    *raw.last_mut().expect("byte") ^= 0x5a;
    B64.encode(raw)
}

#[test]
fn shamir_generate_root_with_the_cli_mints_a_root_token_that_works() {
    let hsm = Hsm::new();
    let (server, addr, _, keys) = shamir_node(&hsm, 3, 2);

    let idle = gen_root(&addr, &["-status"]);
    let idle_out = ok(&idle);
    assert_eq!(row(&idle_out, "Started").as_deref(), Some("false"));
    assert_eq!(row(&idle_out, "Progress").as_deref(), Some("0/2"));
    assert_eq!(row(&idle_out, "OTP Length").as_deref(), Some("28"));

    let early = gen_root(&addr, &[&keys[0]]);
    assert_eq!(early.status.code(), Some(1), "{}", text(&early));
    assert!(
        stderr(&early).contains("No root generation is in progress"),
        "{}",
        text(&early)
    );

    let started = gen_root(&addr, &["-init"]);
    ok(&started);
    let table = stdout(&started);
    assert!(
        stderr(&started).contains("A One-Time-Password has been generated for you"),
        "{}",
        text(&started)
    );
    let otp = row(&table, "OTP").expect("OTP row");
    assert_eq!(otp.len(), 28, "{table}");
    let nonce = row(&table, "Nonce").expect("nonce");
    assert_eq!(row(&table, "Progress").as_deref(), Some("0/2"), "{table}");

    let twice = gen_root(&addr, &["-init"]);
    assert_eq!(twice.status.code(), Some(2), "{}", text(&twice));
    assert!(
        stderr(&twice).contains("Error initializing root generation"),
        "{}",
        text(&twice)
    );

    let first = ok(&gen_root(&addr, &[&format!("-nonce={nonce}"), &keys[0]]));
    assert_eq!(row(&first, "Progress").as_deref(), Some("1/2"), "{first}");
    assert_eq!(row(&first, "Complete").as_deref(), Some("false"), "{first}");
    assert_eq!(row(&first, "Encoded Token"), None, "{first}");

    let done = coffer_stdin(
        &addr,
        &["operator", "generate-root", "-"],
        &format!("{}\n", keys[2]),
    );
    let done_out = ok(&done);
    assert_eq!(
        row(&done_out, "Complete").as_deref(),
        Some("true"),
        "{done_out}"
    );
    let encoded = row(&done_out, "Encoded Token").expect("encoded token");

    let decoded = gen_root(
        &addr,
        &[&format!("-decode={encoded}"), &format!("-otp={otp}")],
    );
    let token = stdout(&decoded).trim().to_owned();
    assert!(token.starts_with("hvs."), "{}", text(&decoded));
    assert!(
        token_works(&addr, &token),
        "the new root token reads sys/mounts"
    );
    assert!(!token_works(&addr, "hvs.not-a-token"));

    let as_json = gen_root(
        &addr,
        &[
            "-format=json",
            &format!("-decode={encoded}"),
            &format!("-otp={otp}"),
        ],
    );
    assert_eq!(json(&as_json)["token"], token.as_str());

    let piped = coffer_stdin(
        &addr,
        &[
            "operator",
            "generate-root",
            "-decode=-",
            &format!("-otp={otp}"),
        ],
        &format!("{encoded}\n"),
    );
    assert_eq!(stdout(&piped).trim(), token, "{}", text(&piped));
    stop(server);
}

#[test]
fn a_caller_supplied_otp_from_generate_otp_decodes_the_token_and_json_output_works() {
    let hsm = Hsm::new();
    let (server, addr, _, keys) = shamir_node(&hsm, 2, 2);

    let otp = stdout(&gen_root(&addr, &["-generate-otp"]))
        .trim()
        .to_owned();
    assert_eq!(otp.len(), 28, "{otp}");
    assert!(otp.bytes().all(|c| c.is_ascii_alphanumeric()), "{otp}");
    let otp_json = json(&gen_root(&addr, &["-generate-otp", "-format=json"]));
    assert_eq!(otp_json["otp_length"], 28, "{otp_json}");

    let started = gen_root(&addr, &["-init", &format!("-otp={otp}"), "-format=json"]);
    let attempt = json(&started);
    assert_eq!(attempt["started"], true, "{attempt}");
    assert_eq!(
        attempt["otp"], "",
        "a given OTP is not shown as generated: {attempt}"
    );
    assert_eq!(attempt["required"], 2, "{attempt}");

    let first = json(&gen_root(&addr, &["-format=json", &keys[0]]));
    assert_eq!(
        (first["progress"].clone(), first["complete"].clone()),
        (serde_json::json!(1), serde_json::json!(false)),
        "{first}"
    );
    let done = json(&gen_root(&addr, &["-format=json", &keys[1]]));
    assert_eq!(done["complete"], true, "{done}");
    let encoded = done["encoded_token"].as_str().expect("encoded").to_owned();

    let token = stdout(&gen_root(
        &addr,
        &[&format!("-decode={encoded}"), &format!("-otp={otp}")],
    ))
    .trim()
    .to_owned();
    assert!(token_works(&addr, &token), "{token}");

    let short = gen_root(&addr, &[&format!("-decode={encoded}"), "-otp=short"]);
    assert_eq!(short.status.code(), Some(1), "{}", text(&short));
    assert!(
        stderr(&short).contains("Error decoding root token"),
        "{}",
        text(&short)
    );
    stop(server);
}

#[test]
fn pkcs11_seal_generates_a_root_token_from_recovery_keys() {
    let hsm = Hsm::new();
    let (server, addr, _, recovery) = pkcs11_node(&hsm, 3, 2);

    let status = ok(&gen_root(&addr, &["-status"]));
    assert_eq!(row(&status, "Progress").as_deref(), Some("0/2"), "{status}");

    let token = generate_root_cli(&addr, &recovery[1..]);
    assert!(token.starts_with("hvs."), "{token}");
    assert!(token_works(&addr, &token));
    stop(server);
}

#[test]
fn wrong_keys_fail_with_exit_2_and_the_servers_reason_without_echoing_the_key() {
    let hsm = Hsm::new();
    let (server, addr, _, keys) = shamir_node(&hsm, 3, 2);
    ok(&gen_root(&addr, &["-init"]));

    let garbage = gen_root(&addr, &["not-a-key"]);
    assert_eq!(garbage.status.code(), Some(2), "{}", text(&garbage));
    let err = stderr(&garbage);
    assert!(err.contains("Error posting unseal key"), "{err}");
    assert!(err.contains("valid hex or base64"), "{err}");
    assert!(
        !err.contains("not-a-key"),
        "keys never appear in errors: {err}"
    );

    ok(&gen_root(&addr, &[&keys[0]]));
    let wrong = corrupt(&keys[1]);
    let failed = gen_root(&addr, &[&wrong]);
    assert_eq!(failed.status.code(), Some(2), "{}", text(&failed));
    let err = stderr(&failed);
    assert!(
        err.contains("root generation failed, the attempt was cancelled"),
        "{err}"
    );
    assert!(!err.contains(&wrong), "{err}");
    let after = ok(&gen_root(&addr, &["-status"]));
    assert_eq!(row(&after, "Started").as_deref(), Some("false"), "{after}");

    ok(&rekey(
        &addr,
        &["-init", "-key-shares=3", "-key-threshold=2"],
    ));
    ok(&rekey(&addr, &[&keys[0]]));
    let failed = rekey(&addr, &[&corrupt(&keys[1])]);
    assert_eq!(failed.status.code(), Some(2), "{}", text(&failed));
    assert!(
        stderr(&failed).contains("rekey failed, progress was reset"),
        "{}",
        text(&failed)
    );
    let after = ok(&rekey(&addr, &["-status"]));
    assert_eq!(
        row(&after, "Rekey Progress").as_deref(),
        Some("0/2"),
        "{after}"
    );
    stop(server);
}

#[test]
fn shamir_rekey_replaces_the_unseal_keys_old_ones_stop_working_new_ones_unseal() {
    let hsm = Hsm::new();
    let (server, addr, token, old) = shamir_node(&hsm, 3, 2);
    enable_kv(&addr, &token, "kv");
    kv_put(&addr, &token, "kv/a", "v=kept");

    let started = rekey(&addr, &["-init", "-key-shares=4", "-key-threshold=3"]);
    let table = ok(&started);
    assert!(
        stderr(&started).contains("WARNING! If you lose the keys"),
        "{table}"
    );
    assert_eq!(row(&table, "Started").as_deref(), Some("true"), "{table}");
    assert_eq!(row(&table, "New Shares").as_deref(), Some("4"), "{table}");
    assert_eq!(
        row(&table, "New Threshold").as_deref(),
        Some("3"),
        "{table}"
    );
    assert_eq!(
        row(&table, "Rekey Progress").as_deref(),
        Some("0/2"),
        "{table}"
    );
    let status = ok(&rekey(&addr, &["-status"]));
    assert_eq!(row(&status, "Nonce"), row(&table, "Nonce"), "{status}");

    let first = ok(&rekey(&addr, &[&old[0]]));
    assert_eq!(
        row(&first, "Rekey Progress").as_deref(),
        Some("1/2"),
        "{first}"
    );
    let done = rekey(&addr, &[&old[2]]);
    let done_out = ok(&done);
    let new: Vec<String> = (1..=4)
        .map(|i| {
            field(&stdout(&done), &format!("Key {i}:"))
                .first()
                .unwrap_or_else(|| panic!("no Key {i}: {done_out}"))
                .to_string()
        })
        .collect();
    assert!(
        done_out.contains("Coffer rekeyed with 4 key shares and a key threshold of 3"),
        "{done_out}"
    );
    assert_eq!(
        field(&done_out, "Operation nonce:"),
        [row(&table, "Nonce").expect("nonce")]
    );

    let status = text(&coffer(&addr, None, &["status"]));
    assert_eq!(field(&status, "Total Shares"), ["4"], "{status}");
    assert_eq!(field(&status, "Threshold"), ["3"], "{status}");

    ok(&coffer(&addr, Some(&token), &["operator", "seal"]));
    for k in &old {
        let _ = coffer(&addr, None, &["operator", "unseal", k]);
    }
    assert_eq!(
        coffer(&addr, None, &["status"]).status.code(),
        Some(2),
        "the old unseal keys no longer unseal"
    );
    ok(&coffer(&addr, None, &["operator", "unseal", "-reset"]));
    for k in &new[1..] {
        ok(&coffer(&addr, None, &["operator", "unseal", k]));
    }
    assert_eq!(coffer(&addr, None, &["status"]).status.code(), Some(0));
    let got = coffer(&addr, Some(&token), &["kv", "get", "-field=v", "kv/a"]);
    assert_eq!(stdout(&got).trim(), "kept", "{}", text(&got));
    stop(server);
}

#[test]
fn recovery_keys_rekey_with_target_recovery_on_softhsm() {
    let hsm = Hsm::new();
    let (server, addr, _, old) = pkcs11_node(&hsm, 3, 2);

    let barrier = rekey(&addr, &["-init"]);
    assert_eq!(barrier.status.code(), Some(2), "{}", text(&barrier));
    assert!(
        stderr(&barrier).contains("sys/rekey-recovery-key"),
        "the server points at the recovery target: {}",
        text(&barrier)
    );

    let started = json(&rekey(
        &addr,
        &[
            "-target=recovery",
            "-init",
            "-key-shares=5",
            "-key-threshold=3",
            "-format=json",
        ],
    ));
    assert_eq!(
        (
            started["started"].clone(),
            started["n"].clone(),
            started["t"].clone(),
            started["required"].clone()
        ),
        (
            serde_json::json!(true),
            serde_json::json!(5),
            serde_json::json!(3),
            serde_json::json!(2)
        ),
        "{started}"
    );
    let progress = json(&rekey(
        &addr,
        &["-target=recovery", "-format=json", &old[0]],
    ));
    assert_eq!(progress["progress"], 1, "{progress}");
    let done = json(&rekey(
        &addr,
        &["-target=recovery", "-format=json", &old[1]],
    ));
    assert_eq!(done["complete"], true, "{done}");
    let new: Vec<String> = done["keys_base64"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k.as_str().expect("key").to_owned())
        .collect();
    assert_eq!(new.len(), 5, "{done}");

    let status = text(&coffer(&addr, None, &["status"]));
    assert_eq!(field(&status, "Total Recovery Shares"), ["5"], "{status}");

    ok(&gen_root(&addr, &["-init"]));
    ok(&gen_root(&addr, &[&old[0]]));
    ok(&gen_root(&addr, &[&old[1]]));
    let refused = gen_root(&addr, &[&old[2]]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "old recovery keys are retired: {}",
        text(&refused)
    );
    let token = generate_root_cli(&addr, &new[2..]);
    assert!(token_works(&addr, &token), "{token}");
    stop(server);
}

#[test]
fn cancel_discards_a_rekey_or_root_generation_in_progress() {
    let hsm = Hsm::new();
    let (server, addr, _, keys) = shamir_node(&hsm, 3, 2);

    let started = ok(&rekey(
        &addr,
        &["-init", "-key-shares=2", "-key-threshold=2"],
    ));
    ok(&rekey(&addr, &[&keys[0]]));
    let wrong_nonce = rekey(&addr, &["-cancel", "-nonce=not-the-nonce"]);
    assert_eq!(wrong_nonce.status.code(), Some(2), "{}", text(&wrong_nonce));
    assert!(stderr(&wrong_nonce).contains("Error canceling rekey"));
    let nonce = row(&started, "Nonce").expect("nonce");
    let canceled = ok(&rekey(&addr, &["-cancel", &format!("-nonce={nonce}")]));
    assert!(
        canceled.contains("Success! Canceled rekeying (if it was started)"),
        "{canceled}"
    );
    let status = ok(&rekey(&addr, &["-status"]));
    assert_eq!(
        row(&status, "Started").as_deref(),
        Some("false"),
        "{status}"
    );
    let orphan = rekey(&addr, &[&keys[1]]);
    assert_eq!(orphan.status.code(), Some(1), "{}", text(&orphan));
    assert!(
        stderr(&orphan).contains("No rekey is in progress"),
        "{}",
        text(&orphan)
    );
    assert!(
        ok(&rekey(&addr, &["-cancel"])).contains("Success!"),
        "cancelling nothing succeeds, as in vault"
    );

    let own_otp = "0123456789abcdefghijABCDEFGH";
    let started = gen_root(&addr, &["-init", &format!("-otp={own_otp}")]);
    let table = ok(&started);
    assert_eq!(
        row(&table, "OTP"),
        None,
        "a given OTP is not printed: {table}"
    );
    assert!(!stderr(&started).contains("generated for you"), "{table}");
    ok(&gen_root(&addr, &[&keys[0]]));
    let canceled = ok(&gen_root(&addr, &["-cancel"]));
    assert!(
        canceled.contains("Success! Root token generation canceled (if it was started)"),
        "{canceled}"
    );
    let status = ok(&gen_root(&addr, &["-status"]));
    assert_eq!(
        row(&status, "Started").as_deref(),
        Some("false"),
        "{status}"
    );
    assert_eq!(row(&status, "Progress").as_deref(), Some("0/2"), "{status}");

    let unsupported = rekey(&addr, &["-init", "-verify"]);
    assert_eq!(unsupported.status.code(), Some(1));
    assert!(stderr(&unsupported).contains("-verify is not supported"));
    let unsupported = gen_root(&addr, &["-init", "-pgp-key=keybase:someone"]);
    assert_eq!(unsupported.status.code(), Some(1));
    assert!(stderr(&unsupported).contains("-pgp-key=keybase:... is not supported"));
    stop(server);
}
