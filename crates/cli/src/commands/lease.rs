//! `coffer lease lookup | renew | revoke`: a lease by its id, with `vault lease`'s flags, messages
//! and exit codes (2 when the server refuses).

use clap::{ArgAction, Args, Subcommand};
use coffer_client::RevokeLease;

use super::{EXIT_ERROR, EXIT_OK, api_error};
use crate::cli::GlobalArgs;
use crate::context;
use crate::flags::go_bool;
use crate::format::{print_secret, wrap_at_length};

/// Lease subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum LeaseCommand {
    /// Look up a lease's issue time, expiry and renewability.
    Lookup(LookupArgs),
    /// Renew a lease (the server refuses token leases: use `token renew` for those).
    Renew(RenewArgs),
    /// Revoke a lease, or every lease under a prefix.
    Revoke(RevokeArgs),
}

/// `lease lookup` arguments.
#[derive(Debug, Args)]
pub(crate) struct LookupArgs {
    /// The lease id.
    pub(crate) id: String,
}

/// `lease renew` arguments.
#[derive(Debug, Args)]
pub(crate) struct RenewArgs {
    /// Requested extension (`1h`, `3600`); the server is not bound to honour it.
    #[arg(long, value_name = "DURATION")]
    pub(crate) increment: Option<String>,
    /// The lease id.
    pub(crate) id: String,
}

/// `lease revoke` flags.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// Delete the leases even if revoking what they cover fails (requires -prefix).
    #[arg(short = 'f', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) force: bool,
    /// Treat the id as a prefix and revoke every lease under it.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) prefix: bool,
    /// Wait for the revocation instead of letting the server queue it.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) sync: bool,
    /// The lease id (or prefix).
    pub(crate) id: String,
}

/// Runs a lease subcommand.
pub(crate) async fn run(command: LeaseCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        LeaseCommand::Lookup(args) => {
            let id = args.id.trim();
            let client = context::client(global)?;
            match client.lease_lookup(id).await {
                Ok(secret) => print_answer(secret.as_ref(), global),
                Err(e) => Ok(api_error(&format!("error looking up lease id {id}"), &e)),
            }
        }
        LeaseCommand::Renew(args) => {
            let id = args.id.trim();
            let client = context::client(global)?;
            match client.lease_renew(id, args.increment.as_deref()).await {
                Ok(secret) => print_answer(secret.as_ref(), global),
                Err(e) => Ok(api_error(&format!("Error renewing {id}"), &e)),
            }
        }
        LeaseCommand::Revoke(args) => revoke(args, global).await,
    }
}

fn print_answer(secret: Option<&coffer_client::Secret>, global: &GlobalArgs) -> anyhow::Result<u8> {
    if let Some(secret) = secret {
        print_secret(secret, global.format)?;
    }
    Ok(EXIT_OK)
}

async fn revoke(args: RevokeArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    if args.force && !args.prefix {
        eprintln!("Specifying -force requires also specifying -prefix");
        return Ok(EXIT_ERROR);
    }
    let id = args.id.trim().to_owned();
    let client = context::client(global)?;
    if args.force {
        eprintln!(
            "{}",
            wrap_at_length(
                "Warning! Force-removing leases can cause the server to become out of sync \
                 with secret engines!"
            )
        );
    }
    let opts = RevokeLease {
        lease_id: id.clone(),
        prefix: args.prefix,
        force: args.force,
        sync: args.sync,
    };
    if let Err(e) = client.lease_revoke(&opts).await {
        let context = if args.force {
            format!("Error force revoking leases with prefix {id}")
        } else if args.prefix {
            format!("Error revoking leases with prefix {id}")
        } else {
            format!("Error revoking lease {id}")
        };
        return Ok(api_error(&context, &e));
    }
    match (args.force, args.sync, args.prefix) {
        (true, _, _) => println!("Success! Force revoked any leases with prefix: {id}"),
        (false, true, true) => println!("Success! Revoked any leases with prefix: {id}"),
        (false, true, false) => println!("Success! Revoked lease: {id}"),
        (false, false, _) => println!("All revocation operations queued successfully!"),
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};

    use super::*;

    fn revoke_args(argv: &[&str]) -> RevokeArgs {
        match Cli::parse_argv(argv).command {
            Command::Lease(LeaseCommand::Revoke(args)) => args,
            other => panic!("not a lease revoke: {other:?}"),
        }
    }

    #[test]
    fn revoke_takes_vault_style_flags() {
        let args = revoke_args(&[
            "coffer",
            "lease",
            "revoke",
            "-prefix",
            "-sync",
            "auth/token",
        ]);
        assert!(args.prefix && args.sync && !args.force);
        assert_eq!(args.id, "auth/token");
        let forced = revoke_args(&["coffer", "lease", "revoke", "-f", "-prefix", "x"]);
        assert!(forced.force && forced.prefix && !forced.sync);
        let plain = revoke_args(&["coffer", "lease", "revoke", "-sync=false", "a/b"]);
        assert!(!plain.sync && !plain.prefix);
    }

    #[test]
    fn renew_takes_an_increment() {
        match Cli::parse_argv(&["coffer", "lease", "renew", "-increment=1h", "a/b"]).command {
            Command::Lease(LeaseCommand::Renew(args)) => {
                assert_eq!(args.increment.as_deref(), Some("1h"));
                assert_eq!(args.id, "a/b");
            }
            other => panic!("not a lease renew: {other:?}"),
        }
    }
}
