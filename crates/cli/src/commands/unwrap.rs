//! `coffer unwrap [TOKEN]`: the response a wrapping token holds, once, as `vault unwrap`.
//!
//! With TOKEN and a different current token, TOKEN goes in the body and the current token
//! authenticates the call; with TOKEN and no current token, or without TOKEN, the wrapping
//! token itself makes the call (vault's client does the same).

use anyhow::Context as _;
use anyhow::anyhow;
use clap::Args;
use coffer_client::SecretString;
use serde_json::json;

use super::EXIT_OK;
use super::generic::print_result;
use crate::cli::GlobalArgs;
use crate::context;

const UNWRAP_PATH: &str = "sys/wrapping/unwrap";

/// `unwrap` arguments.
#[derive(Debug, Args)]
pub(crate) struct UnwrapArgs {
    /// Print only this field of the unwrapped data.
    #[arg(long)]
    pub(crate) field: Option<String>,
    /// The wrapping token; the current token when absent.
    pub(crate) token: Option<String>,
}

/// Unwraps and prints the response.
pub(crate) async fn run(args: UnwrapArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    let mut client = context::client(global)?;
    let mut body = json!({});
    if let Some(token) = args.token.filter(|t| !t.is_empty()) {
        match client.token() {
            Some(current) if current.expose() != token => body = json!({ "token": token }),
            _ => client.set_token(Some(SecretString::new(token))),
        }
    }
    if client.token().is_none() {
        return Err(anyhow!(
            "no wrapping token: pass it as an argument or set VAULT_TOKEN to it"
        ));
    }
    let secret = client
        .write(UNWRAP_PATH, &body)
        .await
        .context("Error unwrapping")?
        .ok_or_else(|| anyhow!("Error unwrapping: the server returned no response"))?;
    print_result(&secret, args.field.as_deref(), global.format)?;
    Ok(EXIT_OK)
}
