//! The clap command tree: global flags and one variant per top-level command.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::commands::{generic, kv, lease, login, operator, secrets, server, unwrap};
use crate::flags::go_bool;
use crate::format::Format;

/// `coffer`: a Vault-compatible secrets server and its command-line client.
#[derive(Debug, Parser)]
#[command(name = "coffer", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    /// Flags every command accepts.
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Connection and output flags accepted by every command (vault's `-address`, `-format`, ...).
#[derive(Debug, Clone, Args)]
pub(crate) struct GlobalArgs {
    /// Server address; overrides COFFER_ADDR / VAULT_ADDR.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) address: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table, env = "VAULT_FORMAT")]
    pub(crate) format: Format,
    /// PEM file of a CA to trust; overrides COFFER_CACERT / VAULT_CACERT.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// Do not verify the server's certificate (testing only).
    #[arg(long, global = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) tls_skip_verify: bool,
    /// Wrap the response in a single-use token living this long (e.g. `5m`); overrides
    /// COFFER_WRAP_TTL / VAULT_WRAP_TTL.
    #[arg(long, global = true, value_name = "DURATION")]
    pub(crate) wrap_ttl: Option<String>,
}

/// Top-level commands, named as in the `vault` CLI.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start a server.
    Server(server::ServerArgs),
    /// Print the seal status (exit 0 unsealed, 2 sealed, 1 error).
    Status,
    /// Operator commands: init, unseal, seal, generate-root, rekey.
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// Authenticate with a token and store it in ~/.vault-token.
    Login(login::LoginArgs),
    /// Manage secrets engines.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Read and write key/value secrets (v1 and v2).
    #[command(subcommand)]
    Kv(kv::KvCommand),
    /// Look up, renew and revoke leases.
    #[command(subcommand)]
    Lease(lease::LeaseCommand),
    /// Read data at a path.
    Read(generic::ReadArgs),
    /// Write data to a path.
    Write(generic::WriteArgs),
    /// List keys under a path.
    List(generic::PathArgs),
    /// Delete data at a path.
    Delete(generic::DeleteArgs),
    /// Unwrap a wrapped response (once): the wrapping token, or the current token.
    Unwrap(unwrap::UnwrapArgs),
    /// Create, look up, renew and revoke tokens; show their capabilities.
    #[command(subcommand)]
    Token(crate::commands::token::TokenCommand),
    /// Manage ACL policies.
    #[command(subcommand)]
    Policy(crate::commands::policy::PolicyCommand),
    /// Manage audit devices.
    #[command(subcommand)]
    Audit(crate::commands::audit::AuditCommand),
    /// Check the HSM: `hsm doctor`.
    #[command(subcommand)]
    Hsm(crate::commands::hsm::HsmCommand),
    /// Print the version.
    Version,
    /// Print a shell completion script (bash, zsh or fish).
    Completion(crate::commands::docs::CompletionArgs),
    /// Write the man pages into a directory.
    Man(crate::commands::docs::ManArgs),
}

#[cfg(test)]
impl Cli {
    /// Parses a full argv (program name first) as `main` does, vault-style single-dash flags
    /// included; panics on a usage error.
    pub(crate) fn parse_argv(argv: &[&str]) -> Self {
        Self::try_parse_from(crate::argv::normalise(argv.iter().copied())).expect("parse")
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::argv::normalise;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_are_accepted_after_the_subcommand() {
        let cli = Cli::parse_argv(&[
            "coffer",
            "status",
            "-address=http://127.0.0.1:1",
            "-format=json",
            "-tls-skip-verify",
            "-ca-cert=/tmp/ca.pem",
            "-wrap-ttl=5m",
        ]);
        assert_eq!(cli.global.address.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(cli.global.format, Format::Json);
        assert!(cli.global.tls_skip_verify);
        assert_eq!(cli.global.ca_cert, Some(PathBuf::from("/tmp/ca.pem")));
        assert_eq!(cli.global.wrap_ttl.as_deref(), Some("5m"));
    }

    #[test]
    fn boolean_flags_take_go_style_explicit_values() {
        let cli = Cli::parse_argv(&["coffer", "status", "-tls-skip-verify=false"]);
        assert!(!cli.global.tls_skip_verify);
    }

    #[test]
    fn unknown_format_is_rejected() {
        let args = normalise(["coffer", "status", "-format=xml"]);
        assert!(Cli::try_parse_from(args).is_err());
    }
}
