//! `coffer token create | lookup | renew | revoke | capabilities`, as `vault token ...`: the
//! same flags, tables and exit codes (1 for a usage mistake, 2 when the server refuses).

use anyhow::bail;
use clap::{ArgAction, Args, Subcommand, ValueEnum};
use coffer_client::{Client, Method, TokenCreateRequest, TokenTarget};
use serde_json::json;

use super::generic::print_result;
use super::{EXIT_OK, api_error};
use crate::api_path::sanitize;
use crate::cli::GlobalArgs;
use crate::context;
use crate::flags::{duration_secs, go_bool, key_value};
use crate::format::{Format, print_data, print_secret};

/// Token subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token, a child of the current one unless -orphan.
    Create(CreateArgs),
    /// Show a token's properties (the current token when none is given).
    Lookup(LookupArgs),
    /// Extend a token's TTL (the current token when none is given).
    Renew(RenewArgs),
    /// Revoke a token and its children.
    Revoke(RevokeArgs),
    /// Print a token's capabilities on a path (the current token's when none is given).
    Capabilities(CapabilitiesArgs),
}

/// `token create` flags.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Policy to attach (repeatable, or comma-separated); default: the current token's.
    #[arg(long = "policy", value_name = "NAME", value_delimiter = ',')]
    pub(crate) policies: Vec<String>,
    /// Initial TTL (e.g. `1h`); default: the mount's.
    #[arg(long, value_name = "DURATION", value_parser = duration_secs)]
    pub(crate) ttl: Option<u64>,
    /// Hard limit on the token's lifetime, renewals included.
    #[arg(long, value_name = "DURATION", value_parser = duration_secs)]
    pub(crate) explicit_max_ttl: Option<u64>,
    /// Make a periodic token, renewable by this period indefinitely (needs sudo).
    #[arg(long, value_name = "DURATION", value_parser = duration_secs)]
    pub(crate) period: Option<u64>,
    /// Whether the token may be renewed.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "true", value_parser = go_bool)]
    pub(crate) renewable: bool,
    /// Number of uses after which the token is revoked (0: unlimited).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) use_limit: u64,
    /// Create the token without a parent (needs sudo unless through a role).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) orphan: bool,
    /// Do not attach the `default` policy.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) no_default_policy: bool,
    /// Name shown for the token (non-sensitive).
    #[arg(long)]
    pub(crate) display_name: Option<String>,
    /// Metadata `key=value` (repeatable), written to the audit log when the token is used.
    #[arg(long = "metadata", value_name = "K=V", value_parser = key_value)]
    pub(crate) metadata: Vec<(String, String)>,
    /// Create the token through this token role.
    #[arg(long)]
    pub(crate) role: Option<String>,
    /// Print only this field (`token`, `token_accessor`, ...).
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// `token lookup` arguments.
#[derive(Debug, Args)]
pub(crate) struct LookupArgs {
    /// Treat the argument as an accessor instead of a token.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) accessor: bool,
    /// The token (or accessor); the current token when absent.
    pub(crate) token: Option<String>,
}

/// `token renew` arguments.
#[derive(Debug, Args)]
pub(crate) struct RenewArgs {
    /// Requested extension (e.g. `30m`); the server may grant less. Default: the token's TTL.
    #[arg(long, short = 'i', value_name = "DURATION", value_parser = duration_secs)]
    pub(crate) increment: Option<u64>,
    /// Treat the argument as an accessor instead of a token.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) accessor: bool,
    /// The token (or accessor); the current token when absent.
    pub(crate) token: Option<String>,
    /// The increment as a second argument (older vault syntax; prefer -increment).
    #[arg(value_name = "INCREMENT", value_parser = duration_secs)]
    pub(crate) legacy_increment: Option<u64>,
}

/// `token revoke -mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RevokeMode {
    /// Revoke only the token; its children become orphans.
    Orphan,
    /// Revoke every token created under the path prefix given as argument.
    Path,
}

/// `token revoke` arguments.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// Treat the argument as an accessor instead of a token.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) accessor: bool,
    /// Revoke the current token.
    #[arg(long = "self", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) self_: bool,
    /// What to revoke besides the token: by default its children too.
    #[arg(long, value_enum)]
    pub(crate) mode: Option<RevokeMode>,
    /// The token, accessor (-accessor) or path prefix (-mode=path).
    pub(crate) token: Option<String>,
}

/// `token capabilities` arguments: `[TOKEN] PATH`.
#[derive(Debug, Args)]
pub(crate) struct CapabilitiesArgs {
    /// The token, or the path when it is the only argument.
    #[arg(value_name = "TOKEN|PATH")]
    pub(crate) first: String,
    /// The path, when a token comes first.
    #[arg(value_name = "PATH")]
    pub(crate) second: Option<String>,
}

/// Runs a token subcommand.
pub(crate) async fn run(command: TokenCommand, global: &GlobalArgs) -> anyhow::Result<u8> {
    match command {
        TokenCommand::Create(args) => create(args, global).await,
        TokenCommand::Lookup(args) => lookup(args, global).await,
        TokenCommand::Renew(args) => renew(args, global).await,
        TokenCommand::Revoke(args) => revoke(args, global).await,
        TokenCommand::Capabilities(args) => capabilities(args, global).await,
    }
}

async fn create(args: CreateArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    let request = create_request(&args);
    let secret = match client.create_token(&request, args.role.as_deref()).await {
        Ok(secret) => secret,
        Err(err) => return Ok(api_error("Error creating token", &err)),
    };
    if args.field.is_some() {
        return print_result(&secret, args.field.as_deref(), global.format);
    }
    print_secret(&secret, global.format).map(|()| EXIT_OK)
}

/// The create body, with vault's rules: `renewable` is always sent, the rest when set.
fn create_request(args: &CreateArgs) -> TokenCreateRequest {
    TokenCreateRequest {
        policies: args
            .policies
            .iter()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
        meta: args.metadata.iter().cloned().collect(),
        ttl: args.ttl,
        explicit_max_ttl: args.explicit_max_ttl,
        period: args.period,
        renewable: Some(args.renewable),
        no_parent: args.orphan,
        no_default_policy: args.no_default_policy,
        display_name: args.display_name.clone(),
        num_uses: args.use_limit,
    }
}

/// The token a lookup or renew is about: the current one, or the argument as a token or (with
/// `-accessor`) an accessor.
fn token_target(token: Option<&str>, accessor: bool) -> anyhow::Result<TokenTarget<'_>> {
    Ok(match (token.map(str::trim), accessor) {
        (None, true) => bail!("Not enough arguments with -accessor (expected 1, got 0)"),
        (None, false) => TokenTarget::Current,
        (Some(accessor), true) => TokenTarget::Accessor(accessor),
        (Some(token), false) => TokenTarget::Token(token),
    })
}

async fn lookup(args: LookupArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let target = token_target(args.token.as_deref(), args.accessor)?;
    let client = context::client(global)?;
    match client.lookup_token(target).await {
        Ok(secret) => print_secret(&secret, global.format).map(|()| EXIT_OK),
        Err(err) => Ok(api_error("Error looking up token", &err)),
    }
}

async fn renew(args: RenewArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let target = token_target(args.token.as_deref(), args.accessor)?;
    let increment = args.legacy_increment.or(args.increment);
    let client = context::client(global)?;
    match client.renew_token(target, increment).await {
        Ok(secret) => print_secret(&secret, global.format).map(|()| EXIT_OK),
        Err(err) => Ok(api_error("Error renewing token", &err)),
    }
}

/// What `token revoke` was asked to do, once the flag combination is known to be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Revocation<'a> {
    /// The token and its children (`revoke`, `revoke-accessor`, `revoke-self`).
    Tree(TokenTarget<'a>),
    /// Only the token (`revoke-orphan`).
    Orphan(&'a str),
    /// Every token created under a path prefix (`sys/leases/revoke-prefix`).
    Prefix(&'a str),
}

/// vault's checks of `-self`, `-accessor` and `-mode` against the argument.
fn revocation(args: &RevokeArgs) -> anyhow::Result<Revocation<'_>> {
    let token = args.token.as_deref().map(str::trim);
    if args.self_ {
        if token.is_some() {
            bail!("Too many arguments with -self (expected 0, got 1)");
        }
        if args.accessor {
            bail!("Cannot use -self with -accessor!");
        }
        if args.mode.is_some() {
            bail!("Cannot use -self with -mode!");
        }
        return Ok(Revocation::Tree(TokenTarget::Current));
    }
    let Some(token) = token else {
        bail!("Not enough arguments (expected 1 or -self, got 0)");
    };
    Ok(match (args.accessor, args.mode) {
        (true, Some(RevokeMode::Orphan)) => bail!("Cannot use -accessor with -mode=orphan!"),
        (true, Some(RevokeMode::Path)) => bail!("Cannot use -accessor with -mode=path!"),
        (true, None) => Revocation::Tree(TokenTarget::Accessor(token)),
        (false, None) => Revocation::Tree(TokenTarget::Token(token)),
        (false, Some(RevokeMode::Orphan)) => Revocation::Orphan(token),
        (false, Some(RevokeMode::Path)) => Revocation::Prefix(token),
    })
}

async fn revoke(args: RevokeArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let revocation = revocation(&args)?;
    let client = context::client(global)?;
    let outcome = match revocation {
        Revocation::Tree(target) => client.revoke_token(target).await,
        Revocation::Orphan(token) => client.revoke_token_orphan(token).await,
        Revocation::Prefix(prefix) => return revoke_prefix(&client, prefix).await,
    };
    match outcome {
        Ok(()) => {
            println!("Success! Revoked token (if it existed)");
            Ok(EXIT_OK)
        }
        Err(err) => Ok(api_error("Error revoking token", &err)),
    }
}

/// `-mode=path`: `PUT sys/leases/revoke-prefix/<prefix>` (sudo), as vault does: every token
/// created under the path, with its children.
async fn revoke_prefix(client: &Client, prefix: &str) -> anyhow::Result<u8> {
    let path = format!("sys/leases/revoke-prefix/{}", sanitize(prefix));
    let raw = match client.raw(Method::Put, &path, &[], Some(&json!({}))).await {
        Ok(raw) => raw,
        Err(err) => return Ok(api_error("Error revoking token", &err)),
    };
    match raw.into_secret() {
        Ok(_) => {
            println!("Success! Revoked token (if it existed)");
            Ok(EXIT_OK)
        }
        Err(err) => Ok(api_error("Error revoking token", &err)),
    }
}

async fn capabilities(args: CapabilitiesArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let (target, path) = match &args.second {
        Some(path) => (TokenTarget::Token(args.first.trim()), path.as_str()),
        None => (TokenTarget::Current, args.first.as_str()),
    };
    let client = context::client(global)?;
    let mut capabilities = match client.token_capabilities(target, &sanitize(path)).await {
        Ok(capabilities) => capabilities,
        Err(err) => return Ok(api_error("Error listing capabilities", &err)),
    };
    if capabilities.is_empty() {
        bail!("No capabilities found");
    }
    match global.format {
        f @ (Format::Json | Format::Yaml) => print_data(f, &capabilities)?,
        Format::Table => {
            capabilities.sort();
            println!("{}", capabilities.join(", "));
        }
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};

    fn token_command(args: &[&str]) -> TokenCommand {
        match Cli::parse_argv(&[&["coffer", "token"], args].concat()).command {
            Command::Token(command) => command,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn revoke_args(args: &[&str]) -> RevokeArgs {
        match token_command(&[&["revoke"], args].concat()) {
            TokenCommand::Revoke(args) => args,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn create_flags_reach_the_request_as_vault_sends_them() {
        let TokenCommand::Create(args) = token_command(&[
            "create",
            "-policy=ops",
            "-policy",
            "dev,qa",
            "-ttl=1h",
            "-explicit-max-ttl=768h",
            "-period=30m",
            "-use-limit=3",
            "-orphan",
            "-no-default-policy",
            "-display-name=ci",
            "-metadata=team=blue",
            "-metadata",
            "env=prod",
            "-renewable=false",
        ]) else {
            panic!("not create");
        };
        let request = create_request(&args);
        assert_eq!(request.policies, ["ops", "dev", "qa"]);
        assert_eq!(
            (request.ttl, request.explicit_max_ttl, request.period),
            (Some(3600), Some(2_764_800), Some(1800))
        );
        assert_eq!(request.num_uses, 3);
        assert!(request.no_parent && request.no_default_policy);
        assert_eq!(request.renewable, Some(false));
        assert_eq!(request.display_name.as_deref(), Some("ci"));
        assert_eq!(
            request.meta.get("team").map(String::as_str),
            Some("blue"),
            "{:?}",
            request.meta
        );
        assert_eq!(request.meta.get("env").map(String::as_str), Some("prod"));
    }

    #[test]
    fn create_defaults_to_a_renewable_child_token() {
        let TokenCommand::Create(args) = token_command(&["create"]) else {
            panic!("not create");
        };
        let request = create_request(&args);
        assert_eq!(request.renewable, Some(true));
        assert!(!request.no_parent && request.policies.is_empty() && request.ttl.is_none());
    }

    #[test]
    fn bad_durations_are_usage_errors() {
        use clap::Parser as _;
        let argv = crate::argv::normalise(["coffer", "token", "create", "-ttl=soon"]);
        assert!(Cli::try_parse_from(argv).is_err());
    }

    #[test]
    fn renew_takes_the_short_increment_flag_and_the_old_positional_form() {
        let TokenCommand::Renew(args) = token_command(&["renew", "-i", "30m", "tok"]) else {
            panic!("not renew");
        };
        assert_eq!(
            (args.increment, args.token.as_deref()),
            (Some(1800), Some("tok"))
        );
        let TokenCommand::Renew(args) = token_command(&["renew", "tok", "60"]) else {
            panic!("not renew");
        };
        assert_eq!(args.legacy_increment, Some(60));
    }

    #[test]
    fn revoke_flag_combinations_follow_vault() {
        assert_eq!(
            revocation(&revoke_args(&["tok"])).expect("plain"),
            Revocation::Tree(TokenTarget::Token("tok"))
        );
        assert_eq!(
            revocation(&revoke_args(&["-self"])).expect("self"),
            Revocation::Tree(TokenTarget::Current)
        );
        assert_eq!(
            revocation(&revoke_args(&["-accessor", "acc"])).expect("accessor"),
            Revocation::Tree(TokenTarget::Accessor("acc"))
        );
        assert_eq!(
            revocation(&revoke_args(&["-mode=orphan", "tok"])).expect("orphan"),
            Revocation::Orphan("tok")
        );
        assert_eq!(
            revocation(&revoke_args(&["-mode=path", "auth/token/"])).expect("path"),
            Revocation::Prefix("auth/token/")
        );
        for bad in [
            &[][..],
            &["-self", "tok"],
            &["-self", "-accessor"],
            &["-self", "-mode=orphan"],
            &["-accessor", "-mode=orphan", "acc"],
            &["-accessor", "-mode=path", "acc"],
        ] {
            assert!(revocation(&revoke_args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn capabilities_take_an_optional_token_before_the_path() {
        let TokenCommand::Capabilities(args) = token_command(&["capabilities", "secret/foo"])
        else {
            panic!("not capabilities");
        };
        assert_eq!((args.first.as_str(), args.second), ("secret/foo", None));
        let TokenCommand::Capabilities(args) =
            token_command(&["capabilities", "tok", "secret/foo"])
        else {
            panic!("not capabilities");
        };
        assert_eq!(args.second.as_deref(), Some("secret/foo"));
    }
}
