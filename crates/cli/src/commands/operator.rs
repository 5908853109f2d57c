//! `coffer operator init | unseal | seal | generate-root | rekey | rotate | key-status` (the last
//! four live in their own modules).

use anyhow::Context as _;
use clap::{ArgAction, Args, Subcommand};
use coffer_client::{InitRequest, InitResponse, SecretString};
use serde_json::json;

use super::{EXIT_OK, EXIT_SEALED_OR_MISSING, generate_root, key_status, prompt, rekey, status};
use crate::cli::GlobalArgs;
use crate::context;
use crate::flags::go_bool;
use crate::format::{Format, print_data};

/// Operator subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum OperatorCommand {
    /// Initialise the server: create the root key and split it into key shares.
    Init(InitArgs),
    /// Submit one unseal (or, with -migrate, migration) key share.
    Unseal(UnsealArgs),
    /// Seal the server (needs a root or sudo token).
    Seal,
    /// Generate a new root token from a quorum of unseal (or recovery) keys.
    GenerateRoot(generate_root::GenerateRootArgs),
    /// Replace the unseal (or, with -target=recovery, recovery) keys with a new set.
    Rekey(rekey::RekeyArgs),
    /// Add a new barrier key term: everything written from now on is encrypted with it.
    Rotate,
    /// Show the barrier's active key term, when it was installed and how many values it encrypted.
    KeyStatus,
}

/// `operator init` flags.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Number of unseal key shares (Shamir seal; default 5).
    #[arg(long, value_name = "N")]
    pub(crate) key_shares: Option<u32>,
    /// Shares needed to unseal (Shamir seal; default 3).
    #[arg(long, value_name = "N")]
    pub(crate) key_threshold: Option<u32>,
    /// Number of recovery key shares (auto seal; default 5).
    #[arg(long, value_name = "N")]
    pub(crate) recovery_shares: Option<u32>,
    /// Recovery shares needed for recovery operations (auto seal; default 3).
    #[arg(long, value_name = "N")]
    pub(crate) recovery_threshold: Option<u32>,
    /// Only report whether the server is initialised (exit 0 yes, 2 no).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) status: bool,
}

/// `operator unseal` arguments.
#[derive(Debug, Args)]
pub(crate) struct UnsealArgs {
    /// The key share (prompted for without echo when omitted).
    pub(crate) key: Option<String>,
    /// Discard the shares submitted so far.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) reset: bool,
    /// Submit the share for a seal migration.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) migrate: bool,
}

/// Runs an operator subcommand.
pub(crate) async fn run(command: OperatorCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        OperatorCommand::Init(args) => init(args, global).await,
        OperatorCommand::Unseal(args) => unseal(args, global).await,
        OperatorCommand::GenerateRoot(args) => generate_root::run(args, global).await,
        OperatorCommand::Rekey(args) => rekey::run(args, global).await,
        OperatorCommand::Rotate => key_status::rotate(global).await,
        OperatorCommand::KeyStatus => key_status::show(global).await,
        OperatorCommand::Seal => {
            let client = context::client(global)?;
            client.seal().await.context("Error sealing")?;
            println!("Success! Coffer is sealed.");
            Ok(EXIT_OK)
        }
    }
}

async fn init(args: InitArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    if args.status {
        let initialized = client
            .init_status()
            .await
            .context("Error checking init status")?;
        if initialized {
            println!("Coffer is initialized");
            return Ok(EXIT_OK);
        }
        println!("Coffer is not initialized");
        return Ok(EXIT_SEALED_OR_MISSING);
    }
    let seal = client
        .seal_status()
        .await
        .context("Error checking seal status")?;
    let auto_seal = seal.is_auto_seal();
    if auto_seal && (args.key_shares.is_some() || args.key_threshold.is_some()) {
        eprintln!(
            "WARNING! The server uses an auto seal ({}): -key-shares/-key-threshold are ignored; \
             use -recovery-shares/-recovery-threshold.",
            seal.seal_type
        );
    }
    let request = init_request(&args, auto_seal);
    let response = client.init(&request).await.context("Error initializing")?;
    print_init(&response, &request, global.format)?;
    Ok(EXIT_OK)
}

/// The `sys/init` body: unseal shares for Shamir, recovery shares (and no secret shares) for an
/// auto seal, which the server would otherwise reject.
pub(crate) fn init_request(args: &InitArgs, auto_seal: bool) -> InitRequest {
    if auto_seal {
        InitRequest {
            recovery_shares: Some(args.recovery_shares.unwrap_or(5)),
            recovery_threshold: Some(args.recovery_threshold.unwrap_or(3)),
            ..InitRequest::default()
        }
    } else {
        InitRequest {
            secret_shares: Some(args.key_shares.unwrap_or(5)),
            secret_threshold: Some(args.key_threshold.unwrap_or(3)),
            recovery_shares: args.recovery_shares,
            recovery_threshold: args.recovery_threshold,
            ..InitRequest::default()
        }
    }
}

fn print_init(
    response: &InitResponse,
    request: &InitRequest,
    format: Format,
) -> anyhow::Result<()> {
    let expose = |keys: &[SecretString]| {
        keys.iter()
            .map(|k| k.expose().to_owned())
            .collect::<Vec<_>>()
    };
    if format.is_data() {
        return print_data(
            format,
            &json!({
                "unseal_keys_b64": expose(&response.keys_base64),
                "unseal_keys_hex": expose(&response.keys),
                "unseal_shares": request.secret_shares.unwrap_or(0),
                "unseal_threshold": request.secret_threshold.unwrap_or(0),
                "recovery_keys_b64": expose(&response.recovery_keys_base64),
                "recovery_keys_hex": expose(&response.recovery_keys),
                "recovery_keys_shares": request.recovery_shares.unwrap_or(0),
                "recovery_keys_threshold": request.recovery_threshold.unwrap_or(0),
                "root_token": response.root_token.expose(),
            }),
        );
    }
    println!("{}", init_text(response, request));
    Ok(())
}

/// The human-readable init output: shares, root token, and what to do with them.
fn init_text(response: &InitResponse, request: &InitRequest) -> String {
    let mut out = String::new();
    for (i, key) in response.keys_base64.iter().enumerate() {
        out.push_str(&format!("Unseal Key {}: {}\n", i + 1, key.expose()));
    }
    for (i, key) in response.recovery_keys_base64.iter().enumerate() {
        out.push_str(&format!("Recovery Key {}: {}\n", i + 1, key.expose()));
    }
    out.push_str(&format!(
        "\nInitial Root Token: {}\n\n",
        response.root_token.expose()
    ));
    if response.keys_base64.is_empty() {
        let shares = request
            .recovery_shares
            .unwrap_or(response.recovery_keys_base64.len() as u32);
        let threshold = request.recovery_threshold.unwrap_or(shares);
        out.push_str(&format!(
            "Success! Coffer is initialized\n\n\
             Recovery key initialized with {shares} key shares and a key threshold of \
             {threshold}. Please\nsecurely distribute the key shares printed above. The seal \
             unseals the server\nby itself; recovery keys are needed to generate a root token \
             or to rekey.",
        ));
    } else {
        let shares = request
            .secret_shares
            .unwrap_or(response.keys_base64.len() as u32);
        let threshold = request.secret_threshold.unwrap_or(shares);
        out.push_str(&format!(
            "Coffer initialized with {shares} key shares and a key threshold of {threshold}. \
             Please securely\ndistribute the key shares printed above. Whenever the server is \
             sealed, restarted\nor stopped, at least {threshold} of these keys must be supplied \
             to unseal it before\nit can serve requests again.\n\n\
             The server does not keep the root key it generated. If fewer than {threshold} of \
             the keys\nabove can be found, the root key cannot be rebuilt and the data stays \
             sealed for good.\n\n\
             To replace the unseal keys later, rekey the server while you still hold a \
             quorum\nof the current shares.",
        ));
    }
    out
}

async fn unseal(args: UnsealArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    let status = if args.reset {
        client
            .unseal_reset()
            .await
            .context("Error resetting unseal process")?
    } else {
        let key = prompt::key_share(args.key, "Unseal Key (will be hidden): ")?;
        client
            .unseal(&key, args.migrate)
            .await
            .context("Error unsealing")?
    };
    let leader = status::leader(&client, &status).await?;
    status::print_status(&status, &leader, global.format)?;
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::cli::{Cli, Command};

    fn init_args(args: &[&str]) -> InitArgs {
        match Cli::parse_argv(&[&["coffer", "operator", "init"], args].concat()).command {
            Command::Operator(OperatorCommand::Init(args)) => args,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn init_flags_parse_in_vault_spelling() {
        let args = init_args(&["-key-shares=3", "-key-threshold", "2"]);
        assert_eq!((args.key_shares, args.key_threshold), (Some(3), Some(2)));
    }

    #[test]
    fn shamir_init_sends_secret_shares_with_vault_defaults() {
        let request = init_request(&init_args(&[]), false);
        assert_eq!(
            (request.secret_shares, request.secret_threshold),
            (Some(5), Some(3))
        );
        assert_eq!(request.recovery_shares, None);
    }

    #[test]
    fn auto_seal_init_sends_recovery_shares_and_no_secret_shares() {
        let args = init_args(&[
            "-recovery-shares=3",
            "-recovery-threshold=2",
            "-key-shares=5",
        ]);
        let request = init_request(&args, true);
        assert_eq!(
            (request.recovery_shares, request.recovery_threshold),
            (Some(3), Some(2))
        );
        assert_eq!(
            (request.secret_shares, request.secret_threshold),
            (None, None)
        );
    }

    #[test]
    fn auto_seal_init_defaults_to_five_recovery_shares_threshold_three() {
        let request = init_request(&init_args(&[]), true);
        assert_eq!(
            (request.recovery_shares, request.recovery_threshold),
            (Some(5), Some(3))
        );
    }

    #[test]
    fn shamir_init_output_lists_keys_then_root_token_and_the_threshold_warning() {
        let response: InitResponse = serde_json::from_value(json!({
            "keys": ["aa", "bb"], "keys_base64": ["qg==", "uw=="], "root_token": "s.root"
        }))
        .expect("response");
        let request = InitRequest {
            secret_shares: Some(2),
            secret_threshold: Some(2),
            ..InitRequest::default()
        };
        let text = init_text(&response, &request);
        assert!(
            text.starts_with(
                "Unseal Key 1: qg==\nUnseal Key 2: uw==\n\nInitial Root Token: s.root\n"
            )
        );
        assert!(
            text.contains("2 key shares and a key threshold of 2"),
            "{text}"
        );
    }

    #[test]
    fn auto_seal_init_output_lists_recovery_keys() {
        let response: InitResponse = serde_json::from_value(json!({
            "keys": [], "keys_base64": [], "recovery_keys": ["aa"],
            "recovery_keys_base64": ["qg=="], "root_token": "s.root"
        }))
        .expect("response");
        let request = InitRequest {
            recovery_shares: Some(1),
            recovery_threshold: Some(1),
            ..InitRequest::default()
        };
        let text = init_text(&response, &request);
        assert!(
            text.starts_with("Recovery Key 1: qg==\n\nInitial Root Token: s.root\n"),
            "{text}"
        );
        assert!(
            text.contains("Recovery key initialized with 1 key shares"),
            "{text}"
        );
        assert!(!text.contains("Unseal Key"));
    }

    #[test]
    fn unseal_flags_parse_with_optional_key() {
        let cli = Cli::parse_argv(&["coffer", "operator", "unseal", "-migrate", "abc"]);
        let Command::Operator(OperatorCommand::Unseal(args)) = cli.command else {
            panic!("not unseal");
        };
        assert!(args.migrate && !args.reset);
        assert_eq!(args.key.as_deref(), Some("abc"));
    }
}
