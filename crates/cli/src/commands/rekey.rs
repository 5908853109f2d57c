//! `coffer operator rekey`: replace the unseal keys (`-target=barrier`, Shamir seal) or the
//! recovery keys (`-target=recovery`, auto seal) with a new set, authorised by a quorum of the
//! current ones, as `vault operator rekey` does.
//!
//! The modes, in vault's order of precedence: `-cancel`, `-init`, `-status`, and otherwise
//! submitting one current key share. The new keys are printed once, by the submission that
//! completes the rekey; the previous keys stop working at that moment.

use anyhow::bail;
use clap::{ArgAction, Args};
use coffer_client::{Client, RekeyInitRequest, RekeyResult, RekeyStatus, RekeyTarget, RekeyUpdate};
use serde_json::{Value, json};

use super::{EXIT_ERROR, EXIT_OK, api_error, prompt};
use crate::cli::GlobalArgs;
use crate::context;
use crate::flags::go_bool;
use crate::format::{Format, print_data, wrap_at_length};
use crate::table::Table;

/// `operator rekey` flags and the optional key share.
#[derive(Debug, Args)]
pub(crate) struct RekeyArgs {
    /// A current unseal (or, with -target=recovery, recovery) key share; prompted for without
    /// echo when omitted, read from stdin when "-".
    pub(crate) key: Option<String>,
    /// Start a rekey with -key-shares and -key-threshold.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) init: bool,
    /// Cancel the rekey in progress, discarding the keys submitted so far.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) cancel: bool,
    /// Print the status of the current attempt without submitting a key.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) status: bool,
    /// Number of new key shares (with -init).
    #[arg(long, short = 'n', alias = "n", value_name = "N", default_value_t = 5)]
    pub(crate) key_shares: u32,
    /// New key shares needed (with -init); at most -key-shares.
    #[arg(long, short = 't', alias = "t", value_name = "N", default_value_t = 3)]
    pub(crate) key_threshold: u32,
    /// Nonce of the attempt (read from the server's status when omitted).
    #[arg(long, value_name = "NONCE")]
    pub(crate) nonce: Option<String>,
    /// Which keys to rekey: "barrier" (unseal keys) or "recovery" (recovery keys; also "hsm").
    #[arg(long, value_name = "TARGET", default_value = "barrier", value_parser = parse_target)]
    pub(crate) target: RekeyTarget,
    /// Not supported: Coffer's new keys take effect at once, without a verification step.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) verify: bool,
    /// Not supported: Coffer does not encrypt the new keys with PGP.
    #[arg(long, value_name = "KEYS", value_delimiter = ',')]
    pub(crate) pgp_keys: Vec<String>,
    /// Not supported: Coffer keeps no backup of the new keys.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) backup: bool,
    /// Not supported: Coffer keeps no backup of the new keys.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) backup_delete: bool,
    /// Not supported: Coffer keeps no backup of the new keys.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) backup_retrieve: bool,
}

/// `-target`, case-insensitive like vault's; `hsm` is vault's old name for `recovery`.
fn parse_target(value: &str) -> Result<RekeyTarget, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "barrier" => Ok(RekeyTarget::Barrier),
        "recovery" | "hsm" => Ok(RekeyTarget::Recovery),
        _ => Err(format!(
            "Unknown target: {value} (use \"barrier\" or \"recovery\")"
        )),
    }
}

/// Runs `operator rekey`.
pub(crate) async fn run(args: RekeyArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    refuse_unsupported(&args)?;
    let client = context::client(global)?;
    let target = args.target;
    if args.cancel {
        if let Err(e) = client.rekey_cancel(target, args.nonce.as_deref()).await {
            return Ok(api_error("Error canceling rekey", &e));
        }
        println!("Success! Canceled rekeying (if it was started)");
        return Ok(EXIT_OK);
    }
    if args.init {
        let request = RekeyInitRequest {
            secret_shares: args.key_shares,
            secret_threshold: args.key_threshold,
            ..RekeyInitRequest::default()
        };
        let status = match client.rekey_init(target, &request).await {
            Ok(status) => status,
            Err(e) => return Ok(api_error("Error initializing rekey", &e)),
        };
        if !global.format.is_data() {
            eprintln!("{}", wrap_at_length(INIT_WARNING));
            println!();
        }
        return print_status(&status, global.format);
    }
    if args.status {
        return match client.rekey_status(target).await {
            Ok(status) => print_status(&status, global.format),
            Err(e) => Ok(api_error("Error reading rekey status", &e)),
        };
    }
    provide(&client, target, args.key, args.nonce, global.format).await
}

/// vault's warning after `-init` without PGP keys, minus the advice to use the PGP and backup
/// options Coffer does not have.
const INIT_WARNING: &str = "WARNING! If you lose the keys after they are returned, there is no \
    recovery. Coffer cannot encrypt the new keys with PGP or keep a backup of them, so store \
    each new key safely as soon as it is printed.";

/// Flags of vault's that name features Coffer does not have: refused before any request.
fn refuse_unsupported(args: &RekeyArgs) -> anyhow::Result<()> {
    if args.verify {
        bail!(
            "-verify is not supported: Coffer's new keys take effect as soon as the rekey \
             completes, without a verification step."
        );
    }
    if !args.pgp_keys.is_empty() {
        bail!(
            "-pgp-keys is not supported: Coffer does not encrypt the new keys with PGP; they \
             are printed in base64 once, when the rekey completes."
        );
    }
    for (set, flag) in [
        (args.backup, "-backup"),
        (args.backup_delete, "-backup-delete"),
        (args.backup_retrieve, "-backup-retrieve"),
    ] {
        if set {
            bail!(
                "{flag} is not supported: Coffer keeps no backup of the new keys (backups only \
                 exist for PGP-encrypted keys, which Coffer does not support)."
            );
        }
    }
    Ok(())
}

async fn provide(
    client: &Client,
    target: RekeyTarget,
    key: Option<String>,
    nonce: Option<String>,
    format: Format,
) -> anyhow::Result<u8> {
    let status = match client.rekey_status(target).await {
        Ok(status) => status,
        Err(e) => return Ok(api_error("Error getting rekey status", &e)),
    };
    if !status.started {
        let command = match target {
            RekeyTarget::Barrier => "coffer operator rekey -init",
            RekeyTarget::Recovery => "coffer operator rekey -target=recovery -init",
        };
        eprintln!(
            "{}",
            wrap_at_length(&format!(
                "No rekey is in progress. Start a rekey process by running \"{command}\"."
            ))
        );
        return Ok(EXIT_ERROR);
    }
    let nonce = nonce
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| status.nonce.clone());
    if key.is_none() && prompt::interactive() {
        eprintln!("Rekey operation nonce: {nonce}");
    }
    let label = match target {
        RekeyTarget::Barrier => "Unseal Key (will be hidden): ",
        RekeyTarget::Recovery => "Recovery Key (will be hidden): ",
    };
    let key = prompt::key_share(key, label)?;
    match client.rekey_update(target, &key, &nonce).await {
        Ok(RekeyUpdate::Progress(progress)) => print_status(&progress, format),
        Ok(RekeyUpdate::Complete(result)) => {
            print_new_keys(&result, &status, target, format)?;
            Ok(EXIT_OK)
        }
        Err(e) => Ok(api_error("Error posting unseal key", &e)),
    }
}

fn print_status(status: &RekeyStatus, format: Format) -> anyhow::Result<u8> {
    match format {
        f @ (Format::Json | Format::Yaml) => print_data(f, status)?,
        Format::Table => println!("{}", status_table(status)),
    }
    Ok(EXIT_OK)
}

/// vault's `Key / Value` rekey status.
fn status_table(status: &RekeyStatus) -> Table {
    let mut table = Table::key_value();
    table
        .pair("Nonce", status.nonce.as_str())
        .pair("Started", status.started.to_string());
    if status.started {
        table
            .pair(
                "Rekey Progress",
                format!("{}/{}", status.progress, status.required),
            )
            .pair("New Shares", status.shares.to_string())
            .pair("New Threshold", status.threshold.to_string())
            .pair(
                "Verification Required",
                status.verification_required.to_string(),
            );
        if !status.verification_nonce.is_empty() {
            table.pair("Verification Nonce", status.verification_nonce.as_str());
        }
    }
    table
}

/// The new keys, once: `Key N: <base64>` lines, the nonce, and what to do with them. `status`
/// is the attempt as it was before the completing key (its new shares and threshold).
fn print_new_keys(
    result: &RekeyResult,
    status: &RekeyStatus,
    target: RekeyTarget,
    format: Format,
) -> anyhow::Result<()> {
    if format.is_data() {
        return print_data(format, &result_json(result));
    }
    println!("\n{}", new_keys_text(result, status, target));
    Ok(())
}

/// vault's `RekeyUpdateResponse` as JSON.
fn result_json(result: &RekeyResult) -> Value {
    let expose = |keys: &[coffer_client::SecretString]| {
        keys.iter()
            .map(|k| k.expose().to_owned())
            .collect::<Vec<_>>()
    };
    json!({
        "nonce": result.nonce,
        "complete": result.complete,
        "keys": expose(&result.keys),
        "keys_base64": expose(&result.keys_base64),
        "pgp_fingerprints": result.pgp_fingerprints,
        "backup": result.backup,
        "verification_required": result.verification_required,
        "verification_nonce": result.verification_nonce,
    })
}

fn new_keys_text(result: &RekeyResult, status: &RekeyStatus, target: RekeyTarget) -> String {
    let keys = if result.keys_base64.len() == result.keys.len() {
        &result.keys_base64
    } else {
        &result.keys
    };
    let mut out = String::new();
    for (i, key) in keys.iter().enumerate() {
        out.push_str(&format!("Key {}: {}\n", i + 1, key.expose()));
    }
    out.push_str(&format!("\nOperation nonce: {}\n\n", result.nonce));
    let (shares, threshold) = (status.shares, status.threshold);
    let advice = match target {
        RekeyTarget::Barrier => format!(
            "Coffer rekeyed with {shares} key shares and a key threshold of {threshold}. Please \
             securely distribute the key shares printed above. When Coffer is re-sealed, \
             restarted, or stopped, you must supply at least {threshold} of these keys to \
             unseal it before it can start servicing requests. The previous unseal keys no \
             longer work."
        ),
        RekeyTarget::Recovery => format!(
            "Coffer's recovery keys rekeyed with {shares} key shares and a key threshold of \
             {threshold}. Please securely distribute the key shares printed above. At least \
             {threshold} of these keys are needed to generate a root token or to rekey the \
             recovery keys again. The previous recovery keys no longer work."
        ),
    };
    out.push_str(&wrap_at_length(&advice));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use crate::commands::operator::OperatorCommand;

    fn args(argv: &[&str]) -> RekeyArgs {
        let cli = Cli::parse_argv(&[&["coffer", "operator", "rekey"], argv].concat());
        match cli.command {
            Command::Operator(OperatorCommand::Rekey(args)) => args,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn status(value: Value) -> RekeyStatus {
        serde_json::from_value(value).expect("status")
    }

    #[test]
    fn init_defaults_to_five_shares_threshold_three_on_the_barrier() {
        let a = args(&["-init"]);
        assert!(a.init);
        assert_eq!((a.key_shares, a.key_threshold), (5, 3));
        assert_eq!(a.target, RekeyTarget::Barrier);
    }

    #[test]
    fn vault_spelled_flags_and_short_aliases_parse() {
        let a = args(&[
            "-init",
            "-key-shares=7",
            "-key-threshold",
            "4",
            "-target=recovery",
        ]);
        assert_eq!((a.key_shares, a.key_threshold), (7, 4));
        assert_eq!(a.target, RekeyTarget::Recovery);
        let a = args(&["-init", "-n", "2", "-t=1"]);
        assert_eq!((a.key_shares, a.key_threshold), (2, 1));
        let a = args(&["-nonce=abc", "-target=HSM", "share"]);
        assert_eq!(a.nonce.as_deref(), Some("abc"));
        assert_eq!(a.key.as_deref(), Some("share"));
        assert_eq!(a.target, RekeyTarget::Recovery);
    }

    #[test]
    fn an_unknown_target_is_a_usage_error() {
        use clap::Parser as _;
        let argv = crate::argv::normalise(["coffer", "operator", "rekey", "-target=root"]);
        let err = Cli::try_parse_from(argv).expect_err("rejected");
        assert!(err.to_string().contains("Unknown target: root"), "{err}");
    }

    #[test]
    fn verify_pgp_keys_and_backups_are_refused_as_not_supported() {
        for argv in [
            &["-init", "-verify"][..],
            &["-init", "-pgp-keys=a.asc,b.asc"],
            &["-init", "-backup"],
            &["-backup-delete"],
            &["-backup-retrieve"],
        ] {
            let err = refuse_unsupported(&args(argv)).expect_err("refused");
            assert!(err.to_string().contains("not supported"), "{argv:?}: {err}");
        }
        assert!(refuse_unsupported(&args(&["-init", "-verify=false"])).is_ok());
    }

    #[test]
    fn a_started_rekey_shows_progress_and_the_new_share_count() {
        let table = status_table(&status(json!({
            "started": true, "nonce": "n-1", "t": 3, "n": 5, "progress": 1, "required": 2,
            "pgp_fingerprints": null, "backup": false, "verification_required": false
        })))
        .render();
        assert_eq!(
            table,
            "Key                      Value\n\
             ---                      -----\n\
             Nonce                    n-1\n\
             Started                  true\n\
             Rekey Progress           1/2\n\
             New Shares               5\n\
             New Threshold            3\n\
             Verification Required    false"
        );
    }

    #[test]
    fn no_rekey_shows_only_nonce_and_started() {
        let table = status_table(&status(json!({"started": false, "required": 2}))).render();
        assert_eq!(table.lines().count(), 4, "{table}");
        assert!(table.ends_with("Started    false"), "{table}");
    }

    #[test]
    fn the_new_keys_print_as_numbered_base64_lines_then_nonce_and_advice() {
        let result: RekeyResult = serde_json::from_value(json!({
            "complete": true, "keys": ["aa", "bb"], "keys_base64": ["qg==", "uw=="],
            "nonce": "n-1"
        }))
        .expect("result");
        let before = status(json!({"started": true, "t": 2, "n": 2}));
        let text = new_keys_text(&result, &before, RekeyTarget::Barrier);
        assert!(
            text.starts_with("Key 1: qg==\nKey 2: uw==\n\nOperation nonce: n-1\n\n"),
            "{text}"
        );
        assert!(
            text.contains("2 key shares and a key threshold of 2"),
            "{text}"
        );
        assert!(text.lines().all(|l| l.len() <= 80), "{text}");
        let recovery = new_keys_text(&result, &before, RekeyTarget::Recovery);
        assert!(recovery.contains("recovery keys"), "{recovery}");
        let json = result_json(&result);
        assert_eq!(json["keys_base64"], json!(["qg==", "uw=="]));
        assert_eq!(json["complete"], true);
    }
}
