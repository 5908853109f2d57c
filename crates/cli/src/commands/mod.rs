//! One module per command group; `run` dispatches a parsed command line.

pub(crate) mod audit;
pub(crate) mod docs;
mod generate_root;
pub(crate) mod generic;
pub(crate) mod hsm;
mod key_status;
pub(crate) mod kv;
mod kv_path;
pub(crate) mod lease;
pub(crate) mod login;
pub(crate) mod operator;
pub(crate) mod policy;
mod policy_fmt;
mod prompt;
mod rekey;
pub(crate) mod secrets;
pub(crate) mod server;
pub(crate) mod status;
pub(crate) mod token;
pub(crate) mod unwrap;

use crate::cli::{Cli, Command};

/// Exit code: success.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: an error (message on stderr).
pub(crate) const EXIT_ERROR: u8 = 1;
/// Exit code: `status` found the server sealed, or a read found nothing (vault's code 2).
pub(crate) const EXIT_SEALED_OR_MISSING: u8 = 2;

/// Exit code: the server refused or failed a request (vault's "remote error" code 2; flag
/// mistakes and refusals made before any request exit 1).
pub(crate) const EXIT_API_ERROR: u8 = 2;

/// Prints `context: err` on stderr as vault does, and returns [`EXIT_API_ERROR`].
pub(crate) fn api_error(context: &str, err: &coffer_client::Error) -> u8 {
    eprintln!("{context}: {err}");
    EXIT_API_ERROR
}

/// Runs the command and returns the process exit code; errors are printed to stderr here, once.
pub(crate) async fn run(cli: Cli) -> u8 {
    let global = cli.global;
    let outcome = match cli.command {
        Command::Server(args) => server::run(args).await,
        Command::Status => status::run(&global).await,
        Command::Operator(command) => operator::run(command, &global).await,
        Command::Login(args) => login::run(args, &global).await,
        Command::Secrets(command) => secrets::run(command, &global).await,
        Command::Kv(command) => kv::run(command, &global).await,
        Command::Lease(command) => lease::run(command, &global).await,
        Command::Read(args) => generic::read(args, &global).await,
        Command::Write(args) => generic::write(args, &global).await,
        Command::List(args) => generic::list(args, &global).await,
        Command::Delete(args) => generic::delete(args, &global).await,
        Command::Unwrap(args) => unwrap::run(args, &global).await,
        Command::Token(command) => token::run(command, &global).await,
        Command::Policy(command) => policy::run(command, &global).await,
        Command::Audit(command) => audit::run(command, &global).await,
        Command::Hsm(command) => hsm::run(command, &global),
        Command::Completion(args) => docs::completion(&args),
        Command::Man(args) => docs::man(&args),
        Command::Version => {
            println!("{}", coffer_server::version_line());
            Ok(EXIT_OK)
        }
    };
    outcome.unwrap_or_else(|err| {
        eprintln!("{err:#}");
        let refused_by_server = err.chain().any(|cause| {
            matches!(
                cause.downcast_ref::<coffer_client::Error>(),
                Some(coffer_client::Error::Api { .. })
            )
        });
        if refused_by_server {
            EXIT_API_ERROR
        } else {
            EXIT_ERROR
        }
    })
}
