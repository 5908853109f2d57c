//! Builds the API client from global flags, the environment and the token helper.

use anyhow::Context as _;
use coffer_client::{Client, Config, TokenHelper};

use crate::cli::GlobalArgs;

/// Flags beat `COFFER_*`, which beat `VAULT_*`; without a token in the environment the token
/// helper file (`~/.vault-token`, written by `login`) is used.
pub(crate) fn client(global: &GlobalArgs) -> anyhow::Result<Client> {
    let mut config = Config::from_env()?;
    apply_flags(&mut config, global);
    if config.token.is_none()
        && let Some(helper) = TokenHelper::default_location()
    {
        config.token = helper.get().context("error reading the stored token")?;
    }
    Ok(Client::new(config)?)
}

fn apply_flags(config: &mut Config, global: &GlobalArgs) {
    if let Some(address) = &global.address {
        config.address.clone_from(address);
    }
    if let Some(ca_cert) = &global.ca_cert {
        config.ca_cert = Some(ca_cert.clone());
    }
    if global.tls_skip_verify {
        config.skip_verify = true;
    }
    if let Some(ttl) = &global.wrap_ttl {
        config.wrap_ttl = Some(ttl.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::format::Format;

    #[test]
    fn flags_override_the_environment() {
        let mut config = Config::from_lookup(|name| match name {
            "VAULT_ADDR" => Some("http://env:8200".to_owned()),
            "VAULT_CACERT" => Some("/env/ca.pem".to_owned()),
            _ => None,
        })
        .expect("config");
        let global = GlobalArgs {
            address: Some("http://flag:8200".to_owned()),
            format: Format::Table,
            ca_cert: Some(PathBuf::from("/flag/ca.pem")),
            tls_skip_verify: true,
            wrap_ttl: Some("90s".to_owned()),
        };
        apply_flags(&mut config, &global);
        assert_eq!(config.address, "http://flag:8200");
        assert_eq!(config.ca_cert, Some(PathBuf::from("/flag/ca.pem")));
        assert!(config.skip_verify);
        assert_eq!(config.wrap_ttl.as_deref(), Some("90s"));
    }

    #[test]
    fn absent_flags_keep_the_environment() {
        let mut config = Config::from_lookup(|name| {
            (name == "VAULT_ADDR").then(|| "http://env:8200".to_owned())
        })
        .expect("config");
        let global = GlobalArgs {
            address: None,
            format: Format::Json,
            ca_cert: None,
            tls_skip_verify: false,
            wrap_ttl: None,
        };
        apply_flags(&mut config, &global);
        assert_eq!(config.address, "http://env:8200");
        assert!(!config.skip_verify);
    }
}
