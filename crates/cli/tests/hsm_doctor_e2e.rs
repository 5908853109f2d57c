//! End-to-end: `coffer hsm doctor` against a real token (SoftHSM2, or the
//! module in COFFER_TEST_PKCS11_MODULE), a file that is no PKCS#11 module, a
//! module that crashes in C_Initialize (a C fixture built here), and a token
//! that hangs (p11-kit remoting a stopped server). The stanza it prints is
//! fed to a real server, which must start and auto-unseal with it.

mod common;

use coffer_testkit::token::{PIN, TokenKind};
use common::p11kit::{Remote, client_module};
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `coffer hsm doctor -format=json ARGS` with the token's environment
/// and `pin` (if any) in VAULT_HSM_PIN; returns the exit code and report.
fn doctor(hsm: &Hsm, pin: Option<&str>, args: &[&str]) -> (i32, Value) {
    let out = doctor_raw(hsm, pin, &[&["-format=json"], args].concat());
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor printed no JSON ({e}):\n{}", text(&out)));
    (out.status.code().expect("exit code"), report)
}

fn doctor_raw(hsm: &Hsm, pin: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_coffer"));
    c.args(["hsm", "doctor"])
        .args(args)
        .envs([hsm.env()])
        .env_remove("VAULT_HSM_PIN")
        .stdin(Stdio::null());
    if let Some(pin) = pin {
        c.env("VAULT_HSM_PIN", pin);
    }
    c.output().expect("run coffer hsm doctor")
}

fn findings<'a>(report: &'a Value, section: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["section"] == section)
        .collect()
}

fn failed<'a>(report: &'a Value, section: &str) -> &'a Value {
    findings(report, section)
        .into_iter()
        .find(|f| f["status"] == "fail")
        .unwrap_or_else(|| panic!("no failure in {section}: {report:#}"))
}

/// The finding `check` of `section`.
fn check<'a>(report: &'a Value, section: &str, check: &str) -> &'a Value {
    findings(report, section)
        .into_iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {section}/{check} finding: {report:#}"))
}

/// A finding's `detail` or `remedy` text.
fn says<'a>(finding: &'a Value, field: &str) -> &'a str {
    finding[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field}: {finding:#}"))
}

fn token_args(hsm: &Hsm) -> Vec<String> {
    vec![
        format!("-lib={}", module()),
        format!("-token-label={}", hsm.label),
    ]
}

fn args<'a>(owned: &'a [String], more: &[&'a str]) -> Vec<&'a str> {
    owned
        .iter()
        .map(String::as_str)
        .chain(more.iter().copied())
        .collect()
}

#[test]
fn creates_no_key_unless_asked_and_its_stanza_auto_unseals_a_real_server() {
    let hsm = Hsm::new();
    let base = token_args(&hsm);
    let (code, report) = doctor(&hsm, Some(PIN), &args(&base, &["-key-label=doctor-root"]));
    assert_eq!(code, 2, "{report:#}");
    let missing = failed(&report, "keys");
    assert!(
        says(missing, "detail").contains("no object labelled \"doctor-root\""),
        "{missing:#}"
    );
    assert!(says(missing, "remedy").contains("-generate-key"));
    // Nothing was created: a second look still finds no key.
    let (code, _) = doctor(&hsm, Some(PIN), &args(&base, &["-key-label=doctor-root"]));
    assert_eq!(code, 2);

    let (code, report) = doctor(
        &hsm,
        Some(PIN),
        &args(&base, &["-key-label=doctor-root", "-generate-key"]),
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["result"], "ok");
    for section in [
        "module",
        "token",
        "login",
        "mechanisms",
        "keys",
        "round trip",
        "rng",
    ] {
        assert!(
            !findings(&report, section).is_empty(),
            "no {section} findings: {report:#}"
        );
    }
    let stanza = &report["stanza"];
    assert_eq!(stanza["proven"], true, "{report:#}");
    let hcl = stanza["hcl"].as_str().expect("hcl");
    assert!(hcl.contains("key_label      = \"doctor-root\""), "{hcl}");
    assert!(hcl.contains("entropy \"seal\""), "{hcl}");
    assert!(
        !hcl.contains(PIN),
        "the PIN never appears in the stanza: {hcl}"
    );

    // The key exists now: without -generate-key the doctor is satisfied too.
    // -mechanism takes decimal as the stanza does (4231 = 0x1087, AES-GCM).
    let (code, report) = doctor(
        &hsm,
        Some(PIN),
        &args(&base, &["-key-label=doctor-root", "-mechanism=4231"]),
    );
    assert_eq!(code, 0, "{report:#}");

    // The stanza as printed starts a server that initialises and auto-unseals.
    let (config, addr) = hsm.write_config(hcl);
    let server = hsm.serve(&config, &addr);
    init_auto(&addr, 1, 1);
    let log = stop(server);
    let server = hsm.serve(&config, &addr);
    wait_unsealed(&addr);
    stop(server);
    assert!(log.contains("pkcs11 seal ready"), "{log}");
}

#[test]
fn config_mode_checks_the_servers_stanza_with_the_pin_from_the_environment() {
    let hsm = Hsm::new();
    let (config, _) = hsm.config("  key_label = \"cfg-root\"\n  generate_key = \"true\"\n");
    let cfg = format!("-config={}", config.display());
    let (code, report) = doctor(&hsm, Some(PIN), &[&cfg, "-generate-key"]);
    assert_eq!(code, 0, "{report:#}");
    let hcl = report["stanza"]["hcl"].as_str().expect("hcl");
    assert!(hcl.contains("key_label      = \"cfg-root\""), "{hcl}");
    assert!(
        hcl.contains(&format!("token_label    = \"{}\"", hsm.label)),
        "{hcl}"
    );

    // A wrong PIN in the environment wins over the file and is named with its code.
    let (code, report) = doctor(&hsm, Some("98765"), &[&cfg]);
    assert_eq!(code, 2, "{report:#}");
    let login = failed(&report, "login");
    assert!(
        says(login, "detail").contains("CKR_PIN_INCORRECT"),
        "{login:#}"
    );
    assert!(says(login, "remedy").contains("VAULT_HSM_PIN"), "{login:#}");
}

#[test]
fn without_a_pin_it_checks_what_it_can_and_warns() {
    let hsm = Hsm::new();
    let base = token_args(&hsm);
    let (code, report) = doctor(&hsm, None, &args(&base, &["-key-label=k"]));
    assert_eq!(code, 1, "{report:#}");
    let login = &findings(&report, "login")[0];
    assert_eq!(login["status"], "warn", "{report:#}");
    assert!(findings(&report, "keys").is_empty(), "{report:#}");
    assert_eq!(findings(&report, "rng")[0]["status"], "ok", "{report:#}");
    assert_eq!(report["stanza"]["proven"], false);
    let hcl = report["stanza"]["hcl"].as_str().expect("hcl");
    assert!(
        hcl.contains("# generate_key = \"true\"   # if no key has this label yet"),
        "keys were not checked, so the stanza cannot know: {hcl}"
    );
}

#[test]
fn a_missing_token_label_lists_the_tokens_the_module_sees() {
    let hsm = Hsm::new();
    let (code, report) = doctor(
        &hsm,
        Some(PIN),
        &[&format!("-lib={}", module()), "-token-label=no-such-token"],
    );
    assert_eq!(code, 2, "{report:#}");
    let f = failed(&report, "token");
    let detail = says(f, "detail");
    assert!(
        detail.contains("no token labelled \"no-such-token\""),
        "{detail}"
    );
    assert!(detail.contains(&format!("\"{}\"", hsm.label)), "{detail}");
}

#[test]
fn duplicate_labels_fail_and_an_extractable_key_is_a_warning() {
    let hsm = Hsm::new();
    let base = token_args(&hsm);
    // AES keys made by hand: two sharing a label, one that may leave the HSM.
    for (label, id, flag) in [
        ("twin", "01", "--sensitive"),
        ("twin", "02", "--sensitive"),
        ("leaky", "03", "--extractable"),
    ] {
        let key = [
            "--keygen",
            "--key-type",
            "AES:32",
            "--label",
            label,
            "--id",
            id,
            flag,
        ];
        pkcs11_tool(&hsm, &key);
    }

    let (code, report) = doctor(&hsm, Some(PIN), &args(&base, &["-key-label=twin"]));
    assert_eq!(code, 2, "{report:#}");
    let dup = failed(&report, "keys");
    assert!(says(dup, "detail").contains("2 objects"), "{dup:#}");
    assert!(says(dup, "remedy").contains("key_id"), "{dup:#}");

    let (code, report) = doctor(&hsm, Some(PIN), &args(&base, &["-key-label=leaky"]));
    assert_eq!(code, 1, "{report:#}");
    let warn = findings(&report, "keys")
        .into_iter()
        .find(|f| f["status"] == "warn")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert!(says(warn, "detail").contains("extractable"), "{warn:#}");
    // It still works, so the round trip passes and proves the stanza.
    assert_eq!(report["stanza"]["proven"], true, "{report:#}");
}

#[test]
fn the_table_names_each_section_the_stanza_and_the_verdict() {
    let hsm = Hsm::new();
    let base = token_args(&hsm);
    let out = doctor_raw(
        &hsm,
        Some(PIN),
        &args(&base, &["-key-label=t", "-generate-key"]),
    );
    let t = ok(&out);
    for line in [
        "HSM doctor: ",
        "\nmodule\n",
        "\nmechanisms\n",
        "CKM_AES_GCM",
        "RSA-OAEP hashes",
        "A seal stanza that works with this token (proven by a wrap/unwrap round trip):",
        "Result: usable: every check passed (exit 0)",
    ] {
        assert!(t.contains(line), "{line:?} missing from:\n{t}");
    }
}

#[test]
fn a_file_that_is_not_a_pkcs11_module_fails_at_load_and_names_the_symbol() {
    let hsm = Hsm::new();
    let (code, report) = doctor(&hsm, None, &["-lib=/usr/lib/x86_64-linux-gnu/libz.so.1"]);
    assert_eq!(code, 2, "{report:#}");
    let f = failed(&report, "module");
    assert!(says(f, "detail").contains("C_GetFunctionList"), "{f:#}");
    let (code, report) = doctor(&hsm, None, &["-lib=/nonexistent/libvendor.so"]);
    assert_eq!(code, 2);
    assert!(
        failed(&report, "module")["detail"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/libvendor.so")
    );
}

/// Builds `tests/fixtures/crashing_pkcs11.c` into `dir`.
fn crashing_module(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crashing_pkcs11.c");
    let lib = dir.join("libcrashing_pkcs11.so");
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .output()
        .expect("cc (the C compiler Rust links with)");
    assert!(out.status.success(), "cc: {}", text(&out));
    lib
}

#[test]
fn a_module_that_crashes_in_c_initialize_is_reported_with_its_signal() {
    let hsm = Hsm::new();
    let lib = crashing_module(hsm.dir.path());
    let started = Instant::now();
    let (code, report) = doctor(&hsm, Some(PIN), &[&format!("-lib={}", lib.display())]);
    assert_eq!(code, 2, "{report:#}");
    let f = failed(&report, "crash");
    assert_eq!(f["check"], "C_Initialize", "{f:#}");
    assert!(says(f, "detail").contains("SIGSEGV"), "{f:#}");
    assert!(
        says(f, "detail").contains("FX: connecting to the HSM..."),
        "what the module printed is shown: {f:#}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_token_that_hangs_is_reported_within_the_timeout() {
    let hsm = Hsm::new();
    let remote = Remote::start(&hsm);
    remote.signal_server("-STOP");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["hsm", "doctor", "-format=json", "-timeout=2s"])
        .arg(format!("-lib={}", client_module()))
        .env("P11_KIT_SERVER_ADDRESS", remote.address())
        .env("VAULT_HSM_PIN", PIN)
        .stdin(Stdio::null())
        .output()
        .expect("run doctor");
    let took = started.elapsed();
    drop(remote);
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(out.status.code(), Some(2), "{report:#}");
    let f = failed(&report, "hang");
    assert!(says(f, "detail").contains("within 2 s"), "{f:#}");
    assert!(took < Duration::from_secs(10), "the doctor took {took:?}");
}

#[test]
fn rsa_oaep_hashes_are_tried_and_one_the_token_lacks_fails_naming_one_that_works() {
    let hsm = Hsm::new();
    let base = token_args(&hsm);
    let (code, report) = doctor(
        &hsm,
        Some(PIN),
        &args(
            &base,
            &[
                "-key-label=rsa-root",
                "-mechanism=0x0009",
                "-rsa-oaep-hash=sha256",
                "-generate-key",
            ],
        ),
    );
    let hashes = check(&report, "mechanisms", "RSA-OAEP hashes");
    let hcl = report["stanza"]["hcl"].as_str().expect("a stanza");
    let settings = says(check(&report, "mechanisms", "settings that work"), "detail").to_owned();
    assert!(
        settings.contains("mechanism = \"0x1087\" (AES-GCM)"),
        "{settings}"
    );
    match TokenKind::under_test() {
        // SoftHSM 2.6 does RSA-OAEP with SHA-1 only.
        TokenKind::SoftHsm2 => {
            assert_eq!(code, 2, "{report:#}");
            assert_eq!(hashes["status"], "fail", "{hashes:#}");
            assert!(
                says(hashes, "detail").contains("sha256: pkcs11: 0x07: CKR_ARGUMENTS_BAD"),
                "{hashes:#}"
            );
            assert!(says(hashes, "remedy").contains("\"sha1\""), "{hashes:#}");
            assert!(hcl.contains("rsa_oaep_hash  = \"sha1\""), "{hcl}");
            assert!(
                settings.ends_with("with rsa_oaep_hash = \"sha1\""),
                "{settings}"
            );
        }
        TokenKind::Kryoptic => {
            assert_eq!(code, 0, "{report:#}");
            assert_eq!(hashes["status"], "ok", "{hashes:#}");
            assert!(hcl.contains("rsa_oaep_hash  = \"sha256\""), "{hcl}");
            assert!(
                settings.contains("\"sha1\" | \"sha224\" | \"sha256\""),
                "{settings}"
            );
            assert_eq!(report["stanza"]["proven"], true);
        }
    }
}
