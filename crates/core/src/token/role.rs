//! Token roles (`auth/token/roles/:name`): named presets for
//! `auth/token/create/:role` that may grant what a plain create could not
//! (policies outside the caller's, orphan or periodic tokens without sudo).
//! Stored under `sys/token/roles/<name>`.

use crate::engine::field::{opt_bool, opt_string_list, opt_u64};
use crate::engine::{Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::token::TokenStore;
use crate::ttl::Ttl;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// One token role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRole {
    /// The role name (lowercase).
    pub name: String,
    /// When non-empty, tokens may get any subset of these instead of a
    /// subset of the caller's policies.
    pub allowed_policies: Vec<String>,
    /// Policies tokens of this role may never get.
    pub disallowed_policies: Vec<String>,
    /// Tokens are orphans (no sudo needed).
    pub orphan: bool,
    /// Tokens may be renewed.
    pub renewable: bool,
    /// Tokens are periodic with this period (no sudo needed); 0 for none.
    pub period: Ttl,
    /// Hard lifetime limit of the tokens; 0 for none.
    pub explicit_max_ttl: Ttl,
    /// Appended to the token path (`auth/token/create/<role>/<suffix>`).
    pub path_suffix: String,
    /// Tokens do not get the `default` policy.
    pub no_default_policy: bool,
    /// Use limit of the tokens; 0 for unlimited.
    pub num_uses: u64,
    /// CIDR blocks the tokens may be used from; empty for anywhere.
    #[serde(default)]
    pub bound_cidrs: Vec<String>,
}

impl TokenRole {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            allowed_policies: Vec::new(),
            disallowed_policies: Vec::new(),
            orphan: false,
            renewable: true,
            period: Ttl::ZERO,
            explicit_max_ttl: Ttl::ZERO,
            path_suffix: String::new(),
            no_default_policy: false,
            num_uses: 0,
            bound_cidrs: Vec::new(),
        }
    }

    /// The role as `GET auth/token/roles/:name` shows it.
    fn to_json(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "allowed_policies": self.allowed_policies,
            "disallowed_policies": self.disallowed_policies,
            "allowed_policies_glob": [],
            "disallowed_policies_glob": [],
            "allowed_entity_aliases": [],
            "orphan": self.orphan,
            "renewable": self.renewable,
            "period": self.period,
            "token_period": self.period,
            "explicit_max_ttl": self.explicit_max_ttl,
            "token_explicit_max_ttl": self.explicit_max_ttl,
            "path_suffix": self.path_suffix,
            "token_no_default_policy": self.no_default_policy,
            "token_num_uses": self.num_uses,
            "token_type": "default-service",
            "token_bound_cidrs": self.bound_cidrs,
        })
    }
}

/// `POST auth/token/roles/:name`; absent fields keep their current value.
#[derive(Debug, Deserialize)]
struct RoleInput {
    #[serde(default, deserialize_with = "opt_string_list")]
    allowed_policies: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_string_list")]
    disallowed_policies: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_bool")]
    orphan: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    renewable: Option<bool>,
    #[serde(default)]
    period: Option<Ttl>,
    #[serde(default)]
    token_period: Option<Ttl>,
    #[serde(default)]
    explicit_max_ttl: Option<Ttl>,
    #[serde(default)]
    token_explicit_max_ttl: Option<Ttl>,
    #[serde(default)]
    path_suffix: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    token_no_default_policy: Option<bool>,
    #[serde(default, deserialize_with = "opt_u64")]
    token_num_uses: Option<u64>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default, deserialize_with = "opt_string_list")]
    allowed_entity_aliases: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_string_list")]
    token_bound_cidrs: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_string_list")]
    bound_cidrs: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_string_list")]
    allowed_policies_glob: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_string_list")]
    disallowed_policies_glob: Option<Vec<String>>,
}

impl TokenStore {
    /// The role `name`, if it exists.
    pub async fn role(&self, name: &str) -> CoreResult<Option<TokenRole>> {
        let Some(name) = role_name(name) else {
            return Ok(None);
        };
        self.view().get_json(&role_key(&name)).await
    }

    /// `LIST auth/token/roles`.
    pub(crate) async fn list_roles(&self) -> CoreResult<Option<Response>> {
        Ok(Response::list(self.view().list("roles/").await?))
    }

    /// `GET auth/token/roles/:name`.
    pub(crate) async fn read_role(&self, name: &str) -> CoreResult<Option<Response>> {
        Ok(self.role(name).await?.map(|r| Response::data(r.to_json())))
    }

    /// `POST auth/token/roles/:name`: creates or updates.
    pub(crate) async fn write_role(&self, name: &str, req: &Request) -> CoreResult<()> {
        let name = role_name(name).ok_or_else(|| CoreError::invalid("invalid role name"))?;
        let input: RoleInput = req.parse()?;
        let unsupported = [
            ("allowed_entity_aliases", &input.allowed_entity_aliases),
            ("allowed_policies_glob", &input.allowed_policies_glob),
            ("disallowed_policies_glob", &input.disallowed_policies_glob),
        ];
        if let Some((field, _)) = unsupported
            .iter()
            .find(|(_, v)| v.as_ref().is_some_and(|l| !l.is_empty()))
        {
            return Err(CoreError::NotSupported(format!(
                "the token role field {field}"
            )));
        }
        match input.token_type.as_deref() {
            None | Some("" | "service" | "default" | "default-service") => {}
            Some("batch" | "default-batch") => return Err(batch_not_supported()),
            Some(other) => {
                return Err(CoreError::invalid(format!(
                    "invalid 'token_type' value {other:?}"
                )));
            }
        }
        let mut role = self
            .role(&name)
            .await?
            .unwrap_or_else(|| TokenRole::new(&name));
        if let Some(p) = input.allowed_policies {
            role.allowed_policies = crate::token::create::sanitize_policies(p);
        }
        if let Some(p) = input.disallowed_policies {
            role.disallowed_policies = crate::token::create::sanitize_policies(p);
        }
        if let Some(v) = input.orphan {
            role.orphan = v;
        }
        if let Some(v) = input.renewable {
            role.renewable = v;
        }
        if let Some(v) = input.token_period.or(input.period) {
            role.period = v;
        }
        if let Some(v) = input.token_explicit_max_ttl.or(input.explicit_max_ttl) {
            role.explicit_max_ttl = v;
        }
        if let Some(suffix) = input.path_suffix {
            let suffix = suffix.trim_matches('/').to_owned();
            if suffix.split('/').any(|s| s == "." || s == "..")
                || suffix.chars().any(char::is_control)
            {
                return Err(CoreError::invalid(
                    "path_suffix may not contain '.' or '..'",
                ));
            }
            role.path_suffix = suffix;
        }
        if let Some(v) = input.token_no_default_policy {
            role.no_default_policy = v;
        }
        if let Some(v) = input.token_num_uses {
            role.num_uses = v;
        }
        if let Some(c) = input.token_bound_cidrs.or(input.bound_cidrs) {
            role.bound_cidrs = crate::token::cidr::checked_list(c)?;
        }
        self.view().put_json(&role_key(&name), &role).await
    }

    /// `DELETE auth/token/roles/:name`.
    pub(crate) async fn delete_role(&self, name: &str) -> CoreResult<()> {
        match role_name(name) {
            Some(name) => self.view().delete(&role_key(&name)).await,
            None => Ok(()),
        }
    }
}

/// The error for `type=batch`: Coffer issues service tokens only.
pub(crate) fn batch_not_supported() -> CoreError {
    CoreError::invalid(
        "batch tokens are not supported by this server; create a service token (type=service)",
    )
}

/// A role name as stored (lowercase), or `None` when it cannot be one.
fn role_name(name: &str) -> Option<String> {
    let name = name.trim().to_lowercase();
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control);
    ok.then_some(name)
}

fn role_key(name: &str) -> String {
    format!("roles/{name}")
}
