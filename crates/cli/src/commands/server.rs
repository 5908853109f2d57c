//! `coffer server`: parses vault's server flags and hands them to `coffer_server::run`.

use std::path::PathBuf;

use clap::{ArgAction, Args};

use super::EXIT_OK;
use crate::flags::go_bool;

/// `server` flags (vault's spelling: `-config=FILE`, `-dev`, `-dev-root-token-id=T`, ...).
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// HCL config file or directory (repeatable).
    #[arg(long = "config", value_name = "FILE")]
    pub(crate) config: Vec<PathBuf>,
    /// Development mode: in-memory storage, initialised and unsealed, root token printed.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) dev: bool,
    /// Root token id in dev mode.
    #[arg(
        long,
        env = "VAULT_DEV_ROOT_TOKEN_ID",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) dev_root_token_id: Option<String>,
    /// Listen address in dev mode (default 127.0.0.1:8200).
    #[arg(long, env = "VAULT_DEV_LISTEN_ADDRESS", value_name = "ADDR")]
    pub(crate) dev_listen_address: Option<String>,
    /// Log level: trace, debug, info, warn, error.
    #[arg(long, env = "VAULT_LOG_LEVEL", value_name = "LEVEL")]
    pub(crate) log_level: Option<String>,
}

impl ServerArgs {
    /// The options `coffer_server::run` takes.
    pub(crate) fn into_options(self) -> coffer_server::ServerOptions {
        coffer_server::ServerOptions {
            config_paths: self.config,
            dev: self.dev,
            dev_root_token_id: self.dev_root_token_id,
            dev_listen_address: self.dev_listen_address,
            log_level: self.log_level,
        }
    }
}

/// Runs the server until it is told to stop. A start-up failure that only
/// the operator can cure (the configuration, the HSM PIN) exits with
/// [`coffer_server::EXIT_CONFIGURATION`] so that systemd does not retry it.
pub(crate) async fn run(args: ServerArgs) -> anyhow::Result<u8> {
    if args.config.is_empty() && !args.dev {
        anyhow::bail!(
            "A config file must be specified using -config, or use -dev for a development server"
        );
    }
    match coffer_server::run(args.into_options()).await {
        Ok(()) => Ok(EXIT_OK),
        Err(err) if coffer_server::needs_operator(&err) => {
            eprintln!("{err:#}");
            Ok(coffer_server::EXIT_CONFIGURATION)
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::cli::{Cli, Command};

    fn server(args: &[&str]) -> coffer_server::ServerOptions {
        match Cli::parse_argv(&[&["coffer", "server"], args].concat()).command {
            Command::Server(args) => args.into_options(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn server_flags_in_vault_spelling_fill_the_options() {
        let opts = server(&[
            "-dev",
            "-dev-root-token-id=root",
            "-dev-listen-address=127.0.0.1:8300",
            "-log-level=debug",
        ]);
        assert!(opts.dev);
        assert_eq!(opts.dev_root_token_id.as_deref(), Some("root"));
        assert_eq!(opts.dev_listen_address.as_deref(), Some("127.0.0.1:8300"));
        assert_eq!(opts.log_level.as_deref(), Some("debug"));
    }

    #[test]
    fn config_flag_is_repeatable() {
        let opts = server(&["-config=/etc/coffer/a.hcl", "-config", "/etc/coffer/b.hcl"]);
        assert_eq!(
            opts.config_paths,
            [
                PathBuf::from("/etc/coffer/a.hcl"),
                PathBuf::from("/etc/coffer/b.hcl")
            ]
        );
        assert!(!opts.dev);
    }
}
