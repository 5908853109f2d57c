//! Client configuration read from the environment, the way the `vault` CLI reads it.
//!
//! Precedence: an explicit setter (CLI flag) beats `COFFER_*`, which beats `VAULT_*`, which beats
//! the default. `COFFER_*` wins over `VAULT_*` because a shell that sets a `COFFER_*` variable
//! has said something specific to Coffer, while `VAULT_*` may be left over from working with a
//! real Vault on the same machine.

use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Result, SecretString};

/// The address used when neither `COFFER_ADDR` nor `VAULT_ADDR` is set (vault's default).
pub const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";

/// Where and how to reach the server.
#[derive(Debug)]
pub struct Config {
    /// Base address, e.g. `https://127.0.0.1:8200` (no `/v1`).
    pub address: String,
    /// Token sent as `X-Vault-Token`; `None` sends no token header.
    pub token: Option<SecretString>,
    /// PEM file whose certificates are trusted in addition to the system roots.
    pub ca_cert: Option<PathBuf>,
    /// Skip server certificate verification (like `VAULT_SKIP_VERIFY`). Dangerous.
    pub skip_verify: bool,
    /// Per-request timeout (vault's default is 60 s).
    pub timeout: Duration,
    /// Response-wrapping TTL sent as `X-Vault-Wrap-TTL` with every request
    /// (`VAULT_WRAP_TTL`, or the CLI's `-wrap-ttl`), e.g. `5m`.
    pub wrap_ttl: Option<String>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (a stand-in for the environment, for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |suffix: &str| {
            [format!("COFFER_{suffix}"), format!("VAULT_{suffix}")]
                .into_iter()
                .find_map(|name| lookup(&name).filter(|v| !v.is_empty()).map(|v| (name, v)))
        };
        let address = get("ADDR").map_or_else(|| DEFAULT_ADDRESS.to_owned(), |(_, v)| v);
        let token = get("TOKEN").map(|(_, v)| SecretString::new(v.trim().to_owned()));
        let ca_cert = get("CACERT").map(|(_, v)| PathBuf::from(v));
        let skip_verify = match get("SKIP_VERIFY") {
            None => false,
            Some((name, value)) => {
                parse_bool(&value).ok_or(Error::InvalidEnvironment { name, value })?
            }
        };
        Ok(Self {
            address,
            token,
            ca_cert,
            skip_verify,
            timeout: Duration::from_secs(60),
            wrap_ttl: get("WRAP_TTL").map(|(_, v)| v),
        })
    }
}

/// Parses a boolean the way Go's `strconv.ParseBool` does (vault's env parsing).
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn empty_environment_uses_vaults_default_address_and_no_token() {
        let cfg = config(&[]).expect("config");
        assert_eq!(cfg.address, "https://127.0.0.1:8200");
        assert!(cfg.token.is_none());
        assert!(cfg.ca_cert.is_none());
        assert!(!cfg.skip_verify);
    }

    #[test]
    fn vault_variables_are_read() {
        let cfg = config(&[
            ("VAULT_ADDR", "http://127.0.0.1:8201"),
            ("VAULT_TOKEN", "root"),
            ("VAULT_CACERT", "/tmp/ca.pem"),
            ("VAULT_SKIP_VERIFY", "true"),
        ])
        .expect("config");
        assert_eq!(cfg.address, "http://127.0.0.1:8201");
        assert_eq!(cfg.token.as_ref().map(SecretString::expose), Some("root"));
        assert_eq!(cfg.ca_cert, Some(PathBuf::from("/tmp/ca.pem")));
        assert!(cfg.skip_verify);
    }

    #[test]
    fn coffer_variables_win_over_vault_variables() {
        let cfg = config(&[
            ("VAULT_ADDR", "http://vault:8200"),
            ("COFFER_ADDR", "http://coffer:8200"),
            ("VAULT_TOKEN", "vault-token"),
            ("COFFER_TOKEN", "coffer-token"),
            ("VAULT_SKIP_VERIFY", "false"),
            ("COFFER_SKIP_VERIFY", "1"),
        ])
        .expect("config");
        assert_eq!(cfg.address, "http://coffer:8200");
        assert_eq!(
            cfg.token.as_ref().map(SecretString::expose),
            Some("coffer-token")
        );
        assert!(cfg.skip_verify);
    }

    #[test]
    fn empty_coffer_variable_falls_back_to_vault_variable() {
        let cfg =
            config(&[("COFFER_ADDR", ""), ("VAULT_ADDR", "http://vault:8200")]).expect("config");
        assert_eq!(cfg.address, "http://vault:8200");
    }

    #[test]
    fn unparsable_skip_verify_is_an_error_naming_the_variable() {
        let err = config(&[("VAULT_SKIP_VERIFY", "yes please")]).expect_err("must fail");
        assert!(err.to_string().contains("VAULT_SKIP_VERIFY"), "{err}");
    }
}
