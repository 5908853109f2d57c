//! `coffer login [TOKEN]`: verify a token and store it with the token helper (~/.vault-token).

use anyhow::{Context, bail};
use clap::{ArgAction, Args};
use coffer_client::{Client, Secret, SecretAuth, SecretString, TokenHelper};
use serde_json::Value;

use super::{EXIT_OK, prompt};
use crate::cli::GlobalArgs;
use crate::context;
use crate::flags::go_bool;
use crate::format::{print_data, secret_table};

/// `login` arguments.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The token; prompted for without echo when omitted or `-`.
    pub(crate) token: Option<String>,
    /// Auth method; only `token` is supported.
    #[arg(long, default_value = "token")]
    pub(crate) method: String,
    /// Verify the token but do not store it.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool)]
    pub(crate) no_store: bool,
}

/// Verifies and stores the token, then prints what the server knows about it.
pub(crate) async fn run(args: LoginArgs, global: &GlobalArgs) -> anyhow::Result<u8> {
    if args.method != "token" {
        bail!(
            "Error: unsupported auth method {:?}; only \"token\" is available",
            args.method
        );
    }
    let token = match args.token {
        Some(token) if token != "-" => SecretString::new(token),
        _ => prompt::secret("Token (will be hidden): ")?,
    };
    let mut client = context::client(global)?;
    client.set_token(Some(SecretString::from(token.expose())));
    let lookup = verify(&client).await.context("Error authenticating")?;
    if !args.no_store {
        let helper = TokenHelper::default_location()
            .context("Error storing token: HOME is not set, cannot locate ~/.vault-token")?;
        helper.store(&token).context("Error storing token")?;
    }
    if ["VAULT_TOKEN", "COFFER_TOKEN"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|t| !t.is_empty()))
    {
        eprintln!(
            "WARNING! A VAULT_TOKEN or COFFER_TOKEN environment variable is set. It takes \
             precedence over the stored token; unset it if that is not what you want.\n"
        );
    }
    let summary = login_secret(&token, lookup.as_ref());
    if global.format.is_data() {
        return print_data(global.format, &summary).map(|()| EXIT_OK);
    }
    if args.no_store {
        println!("Success! The token is valid. It was not stored (-no-store).\n");
    } else {
        println!(
            "Success! You are now authenticated. The token information displayed below\n\
             is already stored in the token helper. You do NOT need to run \"coffer login\"\n\
             again. Future requests will automatically use this token.\n"
        );
    }
    if let Some(table) = secret_table(&summary) {
        println!("{table}");
    }
    Ok(EXIT_OK)
}

/// Looks the token up with `auth/token/lookup-self`; a server without that path (404) is asked
/// for `sys/mounts` instead, which also needs a valid token.
async fn verify(client: &Client) -> Result<Option<Secret>, coffer_client::Error> {
    match client
        .raw(
            coffer_client::Method::Get,
            "auth/token/lookup-self",
            &[],
            None,
        )
        .await?
    {
        raw if raw.status == 404 => client.list_mounts().await.map(|_| None),
        raw => raw.into_secret(),
    }
}

/// The auth block shown after login, filled from the lookup data when there is some.
fn login_secret(token: &SecretString, lookup: Option<&Secret>) -> Secret {
    let data = lookup.and_then(|s| s.data.as_ref());
    let field = |k: &str| data.and_then(|d| d.get(k));
    let strings = |k: &str| -> Vec<String> {
        field(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let policies = strings("policies");
    Secret {
        auth: Some(SecretAuth {
            client_token: token.expose().to_owned(),
            accessor: field("accessor")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            token_policies: policies.clone(),
            identity_policies: Some(strings("identity_policies")),
            policies,
            metadata: field("meta").filter(|m| m.is_object()).cloned(),
            lease_duration: field("ttl").and_then(Value::as_i64).unwrap_or(0),
            renewable: field("renewable").and_then(Value::as_bool).unwrap_or(false),
            entity_id: field("entity_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            token_type: field("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            orphan: field("orphan").and_then(Value::as_bool).unwrap_or(false),
        }),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn login_summary_uses_lookup_self_fields() {
        let lookup: Secret = serde_json::from_value(json!({"data": {
            "accessor": "acc", "policies": ["root"], "ttl": 0, "renewable": false
        }}))
        .expect("lookup");
        let summary = login_secret(&SecretString::from("s.tok"), Some(&lookup));
        let rendered = secret_table(&summary).expect("table").render();
        assert!(
            rendered.contains("token                s.tok"),
            "{rendered}"
        );
        assert!(rendered.contains("token_accessor       acc"), "{rendered}");
        assert!(rendered.contains("token_duration       ∞"), "{rendered}");
        assert!(
            rendered.contains(r#"policies             ["root"]"#),
            "{rendered}"
        );
    }

    #[test]
    fn login_summary_without_lookup_still_shows_the_token() {
        let summary = login_secret(&SecretString::from("s.tok"), None);
        let rendered = secret_table(&summary).expect("table").render();
        assert!(rendered.contains("s.tok"), "{rendered}");
        assert!(rendered.contains("token_accessor       n/a"), "{rendered}");
    }
}
