//! The token fields every auth method's roles and users carry (Vault's
//! `tokenutil`): `token_policies` (legacy `policies`), `token_ttl` (legacy
//! `ttl`), `token_max_ttl` (legacy `max_ttl`), `token_explicit_max_ttl`,
//! `token_period` (legacy `period`), `token_num_uses`,
//! `token_no_default_policy`, `token_bound_cidrs` (legacy `bound_cidrs`)
//! and `token_type`. Batch tokens do not exist in Coffer, so a `token_type`
//! asking for them is refused.

use crate::engine::Auth;
use crate::engine::field::{opt_bool, opt_string_list, opt_u64};
use crate::error::{CoreError, CoreResult};
use crate::ttl::Ttl;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The stored token settings of a user or role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenParams {
    /// Policies of issued tokens (`default` is added by the core).
    #[serde(default)]
    pub policies: Vec<String>,
    /// TTL of issued tokens in seconds; 0 for the mount default.
    #[serde(default)]
    pub ttl: Ttl,
    /// Maximum lifetime in seconds; 0 for the mount maximum.
    #[serde(default)]
    pub max_ttl: Ttl,
    /// Uses of issued tokens; 0 for unlimited.
    #[serde(default)]
    pub num_uses: u64,
    /// Hard lifetime limit of issued tokens in seconds; 0 for none.
    #[serde(default)]
    pub explicit_max_ttl: Ttl,
    /// Period of issued tokens in seconds; 0 for tokens that are not periodic.
    #[serde(default)]
    pub period: Ttl,
    /// Issued tokens do not get the `default` policy.
    #[serde(default)]
    pub no_default_policy: bool,
    /// CIDR blocks issued tokens may be used (and logins made) from.
    #[serde(default)]
    pub bound_cidrs: Vec<String>,
}

/// The token fields of a create/update request, all optional.
#[derive(Debug, Default, Deserialize)]
pub struct TokenParamsInput {
    #[serde(default, deserialize_with = "opt_string_list")]
    token_policies: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_string_list")]
    policies: Option<Vec<String>>,
    #[serde(default)]
    token_ttl: Option<Ttl>,
    #[serde(default)]
    ttl: Option<Ttl>,
    #[serde(default)]
    token_max_ttl: Option<Ttl>,
    #[serde(default)]
    max_ttl: Option<Ttl>,
    #[serde(default, deserialize_with = "opt_u64")]
    token_num_uses: Option<u64>,
    #[serde(default)]
    token_explicit_max_ttl: Option<Ttl>,
    #[serde(default, deserialize_with = "opt_string_list")]
    token_bound_cidrs: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_string_list")]
    bound_cidrs: Option<Vec<String>>,
    #[serde(default)]
    token_period: Option<Ttl>,
    #[serde(default)]
    period: Option<Ttl>,
    #[serde(default, deserialize_with = "opt_bool")]
    token_no_default_policy: Option<bool>,
    #[serde(default)]
    token_type: Option<String>,
}

impl TokenParamsInput {
    /// Applies the given fields to `params`; refuses what cannot be honoured.
    pub fn apply(self, params: &mut TokenParams) -> CoreResult<()> {
        match self.token_type.as_deref() {
            None | Some("" | "default" | "service" | "default-service") => {}
            Some("batch" | "default-batch") => {
                return Err(CoreError::NotSupported(
                    "batch tokens (token_type \"batch\"); Coffer issues service tokens only"
                        .to_owned(),
                ));
            }
            Some(other) => {
                return Err(CoreError::invalid(format!(
                    "invalid 'token_type' value {other:?}"
                )));
            }
        }
        if let Some(c) = self.token_bound_cidrs.or(self.bound_cidrs) {
            params.bound_cidrs = crate::token::cidr::checked_list(c)?;
        }
        if let Some(p) = self.token_period.or(self.period) {
            params.period = p;
        }
        if let Some(t) = self.token_explicit_max_ttl {
            params.explicit_max_ttl = t;
        }
        if let Some(b) = self.token_no_default_policy {
            params.no_default_policy = b;
        }
        if let Some(p) = self.token_policies.or(self.policies) {
            params.policies = p.into_iter().filter(|p| !p.is_empty()).collect();
        }
        if let Some(t) = self.token_ttl.or(self.ttl) {
            params.ttl = t;
        }
        if let Some(t) = self.token_max_ttl.or(self.max_ttl) {
            params.max_ttl = t;
        }
        if let Some(n) = self.token_num_uses {
            params.num_uses = n;
        }
        if !params.max_ttl.is_zero() && params.ttl > params.max_ttl {
            return Err(CoreError::invalid(
                "\"token_ttl\" must be less than or equal to \"token_max_ttl\"",
            ));
        }
        Ok(())
    }
}

impl TokenParams {
    /// The fields as a read answers them (both names of each, as Vault).
    pub fn to_json(&self) -> Value {
        json!({
            "token_policies": self.policies,
            "policies": self.policies,
            "token_ttl": self.ttl,
            "ttl": self.ttl,
            "token_max_ttl": self.max_ttl,
            "max_ttl": self.max_ttl,
            "token_num_uses": self.num_uses,
            "token_bound_cidrs": self.bound_cidrs,
            "token_explicit_max_ttl": self.explicit_max_ttl,
            "token_no_default_policy": self.no_default_policy,
            "token_period": self.period,
            "period": self.period,
            "token_type": "default",
        })
    }

    /// The `auth` block of a login that issues a token with these settings.
    /// As in Vault, a periodic token's period is capped by `token_max_ttl`
    /// and its lifetime only by `token_explicit_max_ttl`; any other token's
    /// lifetime by the lower of the two.
    pub fn to_auth(&self, display_name: &str) -> Auth {
        let (explicit_max_ttl, period) = if self.period.is_zero() {
            (self.max_ttl.tighter(self.explicit_max_ttl), Ttl::ZERO)
        } else {
            (self.explicit_max_ttl, self.period.tighter(self.max_ttl))
        };
        Auth {
            policies: self.policies.clone(),
            lease_duration: self.ttl,
            explicit_max_ttl,
            num_uses: self.num_uses,
            renewable: true,
            display_name: display_name.to_owned(),
            period,
            no_default_policy: self.no_default_policy,
            bound_cidrs: self.bound_cidrs.clone(),
            ..Auth::default()
        }
    }
}
