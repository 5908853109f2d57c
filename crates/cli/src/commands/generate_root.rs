//! `coffer operator generate-root`: mint a new root token from a quorum of unseal keys (recovery
//! keys with an auto seal; the server decides which), as `vault operator generate-root` does.
//!
//! The modes, in vault's order of precedence: `-generate-otp`, `-decode`, `-cancel`, `-init`,
//! `-status`, and otherwise submitting one key share. The new token comes back XORed with a
//! one-time password (OTP) and base64-encoded; `-decode` with the OTP reveals it.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use clap::{ArgAction, Args};
use coffer_client::{
    Client, DEFAULT_OTP_LENGTH, GenerateRootStatus, SecretString, decode_root_token,
};
use serde_json::{Value, json};

use super::{EXIT_ERROR, EXIT_OK, api_error, prompt};
use crate::cli::GlobalArgs;
use crate::context;
use crate::flags::go_bool;
use crate::format::{Format, print_data, wrap_at_length};
use crate::table::Table;

/// `operator generate-root` flags and the optional key share.
#[derive(Debug, Args)]
pub(crate) struct GenerateRootArgs {
    /// An unseal key share (a recovery key share with an auto seal); prompted for without echo
    /// when omitted, read from stdin when "-".
    pub(crate) key: Option<String>,
    /// Start a root token generation (the server generates the OTP unless -otp is given).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) init: bool,
    /// Cancel the root token generation in progress, discarding the keys submitted so far.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) cancel: bool,
    /// Print the status of the current attempt without submitting a key.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) status: bool,
    /// Decode this encoded token (with -otp) and print the root token; "-" reads it from stdin.
    #[arg(long, value_name = "ENCODED")]
    pub(crate) decode: Option<String>,
    /// Print a fresh random OTP of the length the server expects, for -init -otp=...
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) generate_otp: bool,
    /// The OTP to start the attempt with (-init), or to decode the token with (-decode).
    #[arg(long, value_name = "OTP")]
    pub(crate) otp: Option<String>,
    /// File holding an OpenPGP public key (binary, or base64 of binary: `gpg --export KEYID`)
    /// to encrypt the new root token to, instead of an OTP (-init).
    #[arg(long, value_name = "FILE")]
    pub(crate) pgp_key: Option<String>,
    /// Nonce of the attempt (read from the server's status when omitted).
    #[arg(long, value_name = "NONCE")]
    pub(crate) nonce: Option<String>,
    /// Not supported: Coffer has no disaster-recovery replication.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) dr_token: bool,
    /// Not supported: Coffer has no recovery mode.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) recovery_token: bool,
}

/// Runs `operator generate-root`.
pub(crate) async fn run(args: GenerateRootArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    refuse_unsupported(&args)?;
    if args.generate_otp {
        let client = context::client(global)?;
        return generate_otp(&client, global.format).await;
    }
    if let Some(encoded) = &args.decode {
        return decode(encoded, args.otp.as_deref(), global.format);
    }
    let client = context::client(global)?;
    if args.cancel {
        if let Err(e) = client.generate_root_cancel().await {
            return Ok(api_error("Error canceling root token generation", &e));
        }
        println!("Success! Root token generation canceled (if it was started)");
        return Ok(EXIT_OK);
    }
    if args.init {
        let otp = args.otp.map(SecretString::new);
        let pgp_key = args.pgp_key.as_deref().map(read_pgp_key).transpose()?;
        return match client
            .generate_root_init(otp.as_ref(), pgp_key.as_deref())
            .await
        {
            Ok(mut status) => {
                if otp.is_some() {
                    // Coffer's server echoes a caller-supplied OTP; vault's sends none back.
                    // Either way it was not "generated for you", and is not printed again.
                    status.otp = SecretString::default();
                }
                print_status(&status, global.format)
            }
            Err(e) => Ok(api_error("Error initializing root generation", &e)),
        };
    }
    if args.status {
        return match client.generate_root_status().await {
            Ok(status) => print_status(&status, global.format),
            Err(e) => Ok(api_error("Error getting root generation status", &e)),
        };
    }
    provide(&client, args.key, args.nonce, global.format).await
}

/// Flags of vault's that name features Coffer does not have: refused before any request.
fn refuse_unsupported(args: &GenerateRootArgs) -> anyhow::Result<()> {
    if args
        .pgp_key
        .as_deref()
        .is_some_and(|k| k.starts_with("keybase:"))
    {
        bail!(
            "-pgp-key=keybase:... is not supported: export the key with \
             \"gpg --export KEYID > key.gpg\" and pass -pgp-key=key.gpg"
        );
    }
    if args.dr_token {
        bail!("-dr-token is not supported: Coffer has no disaster-recovery replication.");
    }
    if args.recovery_token {
        bail!("-recovery-token is not supported: Coffer has no recovery mode.");
    }
    Ok(())
}

/// The `-pgp-key` file as the API takes it: base64 of the binary key. The file may hold the
/// binary key or its base64 (vault accepts both); an ASCII-armoured key is refused with the
/// command that makes a usable one.
fn read_pgp_key(path: &str) -> anyhow::Result<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let bytes = std::fs::read(path).with_context(|| format!("Error reading -pgp-key {path}"))?;
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("-----BEGIN PGP") {
        bail!(
            "-pgp-key {path} is ASCII-armoured; give the binary key instead: \
             gpg --export KEYID > key.gpg"
        );
    }
    let trimmed = text.trim();
    if !trimmed.is_empty() && STANDARD.decode(trimmed).is_ok() {
        return Ok(trimmed.to_owned());
    }
    Ok(STANDARD.encode(&bytes))
}

async fn generate_otp(client: &Client, format: Format) -> anyhow::Result<u8> {
    let status = match client.generate_root_status().await {
        Ok(status) => status,
        Err(e) => return Ok(api_error("Error getting root generation status", &e)),
    };
    let length = if status.otp_length == 0 {
        DEFAULT_OTP_LENGTH
    } else {
        status.otp_length
    };
    let otp = coffer_client::generate_otp(length)?;
    match format {
        Format::Table => println!("{}", otp.expose()),
        f @ (Format::Json | Format::Yaml) => {
            print_data(f, &json!({ "otp": otp.expose(), "otp_length": length }))?
        }
    }
    Ok(EXIT_OK)
}

/// Decodes locally: the encoding is fixed (unpadded base64 of token XOR OTP), so unlike vault
/// no request is made and a server that is down or sealed does not stop it.
fn decode(encoded: &str, otp: Option<&str>, format: Format) -> anyhow::Result<u8> {
    if encoded.is_empty() {
        bail!("Missing encoded value: use -decode=<string> to supply it");
    }
    let Some(otp) = otp.filter(|o| !o.is_empty()) else {
        bail!("Missing otp: use -otp to supply it");
    };
    let encoded = if encoded == "-" {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .context("Failed to read from stdin")?;
        if buf.trim().is_empty() {
            bail!(
                "Missing encoded value. When using -decode=\"-\" value must be passed via stdin."
            );
        }
        buf
    } else {
        encoded.to_owned()
    };
    let token = match decode_root_token(&encoded, otp) {
        Ok(token) => token,
        Err(e) => {
            eprintln!("Error decoding root token: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    match format {
        Format::Table => println!("{}", token.expose()),
        f @ (Format::Json | Format::Yaml) => print_data(f, &json!({ "token": token.expose() }))?,
    }
    Ok(EXIT_OK)
}

async fn provide(
    client: &Client,
    key: Option<String>,
    nonce: Option<String>,
    format: Format,
) -> anyhow::Result<u8> {
    let status = match client.generate_root_status().await {
        Ok(status) => status,
        Err(e) => return Ok(api_error("Error getting root generation status", &e)),
    };
    if !status.started {
        eprintln!(
            "{}",
            wrap_at_length(
                "No root generation is in progress. Start a root generation by running \
                 \"coffer operator generate-root -init\"."
            )
        );
        eprintln!(
            "{}",
            wrap_at_length(&format!(
                "If starting root generation using the OTP method and generating your own \
                 OTP, the length of the OTP string needs to be {} characters in length.",
                status.otp_length
            ))
        );
        return Ok(EXIT_ERROR);
    }
    let nonce = nonce.filter(|n| !n.is_empty()).unwrap_or(status.nonce);
    if key.is_none() && prompt::interactive() {
        eprintln!("Operation nonce: {nonce}");
    }
    let key = prompt::key_share(key, "Unseal Key (will be hidden): ")?;
    match client.generate_root_update(&key, &nonce).await {
        Ok(status) => print_status(&status, format),
        Err(e) => Ok(api_error("Error posting unseal key", &e)),
    }
}

fn print_status(status: &GenerateRootStatus, format: Format) -> anyhow::Result<u8> {
    match format {
        f @ (Format::Json | Format::Yaml) => print_data(f, &status_json(status))?,
        Format::Table => {
            if !status.otp.is_empty() {
                eprintln!(
                    "{}",
                    wrap_at_length(
                        "A One-Time-Password has been generated for you and is shown in the \
                         OTP field. You will need this value to decode the resulting root \
                         token, so keep it safe."
                    )
                );
            }
            println!("{}", status_table(status));
        }
    }
    Ok(EXIT_OK)
}

/// vault's `GenerateRootStatusResponse` as JSON.
fn status_json(status: &GenerateRootStatus) -> Value {
    json!({
        "nonce": status.nonce,
        "started": status.started,
        "progress": status.progress,
        "required": status.required,
        "complete": status.complete,
        "encoded_token": status.encoded_token,
        "encoded_root_token": status.encoded_root_token,
        "pgp_fingerprint": status.pgp_fingerprint,
        "otp": status.otp.expose(),
        "otp_length": status.otp_length,
    })
}

/// vault's header-less two-column status: progress as `n/required`, the encoded token once
/// complete, the OTP only in the answer that generated it.
fn status_table(status: &GenerateRootStatus) -> Table {
    let mut table = Table::default();
    table
        .pair("Nonce", status.nonce.as_str())
        .pair("Started", status.started.to_string())
        .pair(
            "Progress",
            format!("{}/{}", status.progress, status.required),
        )
        .pair("Complete", status.complete.to_string());
    if !status.pgp_fingerprint.is_empty() {
        table.pair("PGP Fingerprint", status.pgp_fingerprint.as_str());
    }
    if !status.encoded_token.is_empty() {
        table.pair("Encoded Token", status.encoded_token.as_str());
    } else if !status.encoded_root_token.is_empty() {
        table.pair("Encoded Root Token", status.encoded_root_token.as_str());
    }
    if !status.otp.is_empty() {
        table.pair("OTP", status.otp.expose());
    }
    if status.otp_length != 0 {
        table.pair("OTP Length", status.otp_length.to_string());
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use crate::commands::operator::OperatorCommand;

    fn args(argv: &[&str]) -> GenerateRootArgs {
        let cli = Cli::parse_argv(&[&["coffer", "operator", "generate-root"], argv].concat());
        match cli.command {
            Command::Operator(OperatorCommand::GenerateRoot(args)) => args,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn status(value: Value) -> GenerateRootStatus {
        serde_json::from_value(value).expect("status")
    }

    #[test]
    fn vault_spelled_flags_parse() {
        let a = args(&["-init", "-otp=abc"]);
        assert!(a.init && !a.cancel && !a.status);
        assert_eq!(a.otp.as_deref(), Some("abc"));
        let a = args(&["-decode=ZW5j", "-otp", "abc"]);
        assert_eq!(a.decode.as_deref(), Some("ZW5j"));
        let a = args(&["-nonce=n-1", "key-share"]);
        assert_eq!(
            (a.nonce.as_deref(), a.key.as_deref()),
            (Some("n-1"), Some("key-share"))
        );
        assert!(args(&["-generate-otp"]).generate_otp);
        assert!(args(&["-status=true"]).status);
        assert!(!args(&["-cancel=false"]).cancel);
    }

    #[test]
    fn keybase_keys_dr_and_recovery_tokens_are_refused_as_not_supported() {
        for argv in [
            &["-init", "-pgp-key=keybase:someone"][..],
            &["-init", "-dr-token"],
            &["-recovery-token", "-status"],
        ] {
            let err = refuse_unsupported(&args(argv)).expect_err("refused");
            assert!(err.to_string().contains("not supported"), "{err}");
        }
        assert!(refuse_unsupported(&args(&["-init"])).is_ok());
        assert!(refuse_unsupported(&args(&["-init", "-pgp-key=key.gpg"])).is_ok());
    }

    #[test]
    fn pgp_key_files_are_sent_as_base64_of_the_binary_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let binary = dir.path().join("key.gpg");
        std::fs::write(&binary, [0x99u8, 0x01, 0xff, 0x00]).expect("write");
        assert_eq!(
            read_pgp_key(binary.to_str().expect("path")).expect("read"),
            "mQH/AA=="
        );
        let b64 = dir.path().join("key.b64");
        std::fs::write(&b64, "mQH/AA==\n").expect("write");
        assert_eq!(
            read_pgp_key(b64.to_str().expect("path")).expect("read"),
            "mQH/AA=="
        );
        let armored = dir.path().join("key.asc");
        std::fs::write(&armored, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n").expect("write");
        let err = read_pgp_key(armored.to_str().expect("path")).expect_err("armoured");
        assert!(err.to_string().contains("gpg --export"), "{err}");
    }

    #[test]
    fn decode_needs_an_encoded_value_and_an_otp() {
        let err = decode("", Some("otp"), Format::Table).expect_err("no value");
        assert!(err.to_string().contains("Missing encoded value"), "{err}");
        let err = decode("abc", None, Format::Table).expect_err("no otp");
        assert!(err.to_string().contains("Missing otp"), "{err}");
    }

    #[test]
    fn a_started_attempt_prints_vaults_rows_with_the_server_generated_otp() {
        let table = status_table(&status(json!({
            "started": true, "nonce": "n-1", "progress": 0, "required": 3,
            "complete": false, "otp": "OTPOTP", "otp_length": 28
        })))
        .render();
        assert_eq!(
            table,
            "Nonce         n-1\n\
             Started       true\n\
             Progress      0/3\n\
             Complete      false\n\
             OTP           OTPOTP\n\
             OTP Length    28"
        );
    }

    #[test]
    fn a_completed_attempt_prints_the_encoded_token_and_no_otp() {
        let table = status_table(&status(json!({
            "started": true, "nonce": "n-1", "progress": 2, "required": 2,
            "complete": true, "encoded_token": "ENC", "encoded_root_token": "ENC",
            "otp": "", "otp_length": 28
        })))
        .render();
        assert!(table.contains("Encoded Token    ENC"), "{table}");
        assert!(table.contains("Progress         2/2"), "{table}");
        assert!(!table.contains("OTP  "), "{table}");
        assert!(!table.contains("Encoded Root Token"), "{table}");
    }

    #[test]
    fn no_attempt_shows_an_empty_nonce_as_not_applicable() {
        let table = status_table(&status(json!({"required": 3, "otp_length": 28}))).render();
        assert!(table.starts_with("Nonce         n/a\n"), "{table}");
    }

    #[test]
    fn json_status_has_vaults_field_names() {
        let value = status_json(&status(json!({
            "started": true, "nonce": "n", "progress": 1, "required": 2, "otp": "o",
            "otp_length": 28
        })));
        for field in [
            "nonce",
            "started",
            "progress",
            "required",
            "complete",
            "encoded_token",
            "encoded_root_token",
            "pgp_fingerprint",
            "otp",
            "otp_length",
        ] {
            assert!(value.get(field).is_some(), "{field} missing from {value}");
        }
        assert_eq!(value["otp"], "o");
    }
}
