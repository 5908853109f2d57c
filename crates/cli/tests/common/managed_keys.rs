//! Helpers of the managed key tests: a server with a `kms_library` for the
//! token under test, and the CLI calls they repeat.

use super::*;
use coffer_testkit::token::PIN;
use serde_json::Value;

/// A server with the pkcs11 seal and `kms_library "pkcs11" { name = "hsm" }`
/// for the same module; returns it, its address and a root token.
pub(crate) fn server(hsm: &Hsm) -> (std::process::Child, String, String) {
    let seal = hsm.pkcs11_stanza("  key_label = \"seal-key\"\n  generate_key = \"true\"\n");
    let kms = format!(
        "kms_library \"pkcs11\" {{\n  name = \"HSM\"\n  library = \"{}\"\n}}\n",
        module()
    );
    let (config, addr) = hsm.write_config(&format!("{seal}{kms}"));
    let server = hsm.serve(&config, &addr);
    let (root, _) = init_auto(&addr, 1, 1);
    (server, addr, root)
}

pub(crate) fn write_key(
    addr: &str,
    token: &str,
    name: &str,
    hsm: &Hsm,
    fields: &[&str],
) -> std::process::Output {
    let path = format!("sys/managed-keys/pkcs11/{name}");
    let label = format!("token_label={}", hsm.label);
    let pin = format!("pin={PIN}");
    let mut args = vec![
        "write",
        path.as_str(),
        "library=hsm",
        label.as_str(),
        pin.as_str(),
    ];
    args.extend_from_slice(fields);
    coffer(addr, Some(token), &args)
}

pub(crate) fn test_sign(
    addr: &str,
    token: &str,
    name: &str,
    fields: &[&str],
) -> std::process::Output {
    let path = format!("sys/managed-keys/pkcs11/{name}/test/sign");
    let mut args = vec!["write", "-f", path.as_str()];
    args.extend_from_slice(fields);
    coffer(addr, Some(token), &args)
}

pub(crate) fn read_json(addr: &str, token: &str, path: &str) -> Value {
    let out = ok(&coffer(addr, Some(token), &["read", "-format=json", path]));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// What pkcs11-tool says about the token's objects.
pub(crate) fn token_objects(hsm: &Hsm) -> String {
    pkcs11_tool(hsm, &["--list-objects"])
}

/// `coffer write -format=json PATH ARGS`: the answer's `data`.
pub(crate) fn write_data(addr: &str, token: &str, path: &str, args: &[&str]) -> Value {
    let mut all = vec!["write", "-format=json", path];
    all.extend_from_slice(args);
    let out = ok(&coffer(addr, Some(token), &all));
    serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{e}: {out}"))["data"].clone()
}
