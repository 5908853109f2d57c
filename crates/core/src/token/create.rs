//! `auth/token/create`, `create-orphan` and `create/:role`: Vault's rules
//! for what a caller may give a new token.
//!
//! - Policies: a non-root caller may only give a subset of its own
//!   policies; none given means the caller's. A role with
//!   `allowed_policies` replaces that rule with its own list; its
//!   `disallowed_policies` are refused either way. `default` is added unless
//!   `no_default_policy`; `root` cannot be combined with other policies, and
//!   `response-wrapping` cannot be assigned.
//! - Needing `sudo` on the create path (or root): `no_parent`, `period`
//!   and a chosen `id`. `create-orphan` and roles with `orphan`/`period`
//!   grant those without it.
//! - Lifetime: see `ttl`. A root token created without TTL, period or
//!   explicit maximum never expires.

use crate::engine::field::{opt_bool, opt_string_list, opt_string_map, opt_u64};
use crate::engine::{Auth, Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::policy::{DEFAULT_POLICY, ROOT_POLICY, is_assignable, normalize_name};
use crate::request::authorize::Caller;
use crate::token::role::{TokenRole, batch_not_supported};
use crate::token::ttl::{TtlRequest, calculate};
use crate::token::{ACCESSOR_LEN, TokenEntry, generate_token, random_base62};
use crate::ttl::Ttl;
use serde::Deserialize;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// Which create endpoint was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreateKind {
    /// `auth/token/create`.
    Child,
    /// `auth/token/create-orphan`.
    Orphan,
    /// `auth/token/create/:role` (or `role_name` in the body).
    Role,
}

/// The body of a create request.
#[derive(Deserialize)]
struct CreateInput {
    #[serde(default)]
    id: Option<Zeroizing<String>>,
    #[serde(default)]
    role_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string_list")]
    policies: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_string_map")]
    meta: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "opt_bool")]
    no_parent: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    no_default_policy: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    renewable: Option<bool>,
    #[serde(default)]
    ttl: Option<Ttl>,
    #[serde(default)]
    explicit_max_ttl: Option<Ttl>,
    #[serde(default)]
    period: Option<Ttl>,
    #[serde(default, rename = "type")]
    token_type: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "opt_u64")]
    num_uses: Option<u64>,
    #[serde(default)]
    entity_alias: Option<String>,
}

impl Core {
    /// Creates a token for `caller`; `role` is the path's role name, if any.
    pub(crate) async fn create_token(
        &self,
        req: &Request,
        caller: &Caller<'_>,
        kind: CreateKind,
        role: Option<&str>,
    ) -> CoreResult<Option<Response>> {
        let input: CreateInput = req.parse()?;
        match input.token_type.as_deref() {
            None | Some("" | "service" | "default" | "default-service") => {}
            Some("batch" | "default-batch") => return Err(batch_not_supported()),
            Some(other) => {
                return Err(CoreError::invalid(format!(
                    "invalid 'type' value {other:?}: use \"service\""
                )));
            }
        }
        if input.entity_alias.as_deref().is_some_and(|a| !a.is_empty()) {
            return Err(CoreError::NotSupported("entity_alias".to_owned()));
        }
        let role_name = role
            .map(str::to_owned)
            .or_else(|| input.role_name.clone().filter(|r| !r.is_empty()));
        let role = match &role_name {
            Some(name) => Some(
                self.tokens
                    .role(name)
                    .await?
                    .ok_or_else(|| CoreError::invalid(format!("unknown role {name}")))?,
            ),
            None => None,
        };
        let kind = if role.is_some() {
            CreateKind::Role
        } else {
            kind
        };
        let parent = &caller.token.entry;

        let orphan = match (&role, kind) {
            (Some(r), _) => r.orphan,
            (None, CreateKind::Orphan) => true,
            _ => input.no_parent.unwrap_or(false),
        };
        if orphan && kind == CreateKind::Child && !caller.sudo {
            return Err(CoreError::invalid(
                "root or sudo privileges required to create orphan token",
            ));
        }
        let period = match &role {
            Some(r) if !r.period.is_zero() => r.period,
            _ => input.period.unwrap_or_default(),
        };
        if !period.is_zero() && role.as_ref().is_none_or(|r| r.period.is_zero()) && !caller.sudo {
            return Err(CoreError::invalid(
                "root or sudo privileges required to create periodic token",
            ));
        }
        let chosen_id = input.id.as_ref().filter(|id| !id.is_empty());
        if let Some(id) = chosen_id {
            if !caller.sudo {
                return Err(CoreError::invalid(
                    "root or sudo privileges required to specify token id",
                ));
            }
            if id.contains('.') {
                return Err(CoreError::invalid(
                    "token IDs can not contain a '.' character",
                ));
            }
        }
        let explicit_max_ttl = input
            .explicit_max_ttl
            .unwrap_or_default()
            .tighter(role.as_ref().map_or(Ttl::ZERO, |r| r.explicit_max_ttl));
        let no_default = input.no_default_policy.unwrap_or(false)
            || role.as_ref().is_some_and(|r| r.no_default_policy);
        let policies = token_policies(
            input.policies.map(sanitize_policies),
            &parent.policies,
            role.as_ref(),
            no_default,
        )?;
        let warnings = self.missing_policy_warnings(&policies).await?;

        let now = self.tokens.now();
        let ttl_requested = input.ttl.unwrap_or_default();
        let is_root = policies.iter().any(|p| p == ROOT_POLICY);
        let (ttl, mut ttl_warnings) =
            if is_root && ttl_requested.is_zero() && period.is_zero() && explicit_max_ttl.is_zero()
            {
                (Ttl::ZERO, Vec::new())
            } else {
                let g = calculate(TtlRequest {
                    requested: ttl_requested,
                    period,
                    explicit_max: explicit_max_ttl,
                    start: now,
                    now,
                })?;
                (g.ttl, g.warnings)
            };
        let mut path = "auth/token/create".to_owned();
        if kind == CreateKind::Orphan {
            path.push_str("-orphan");
        }
        if let Some(r) = &role {
            path = format!("auth/token/create/{}", r.name);
            if !r.path_suffix.is_empty() {
                path = format!("{path}/{}", r.path_suffix);
            }
        }
        let entry = TokenEntry {
            accessor: random_base62(self.entropy.as_ref(), ACCESSOR_LEN)?.to_string(),
            policies,
            display_name: display_name(input.display_name.as_deref()),
            creation_time: now,
            path,
            meta: input.meta.unwrap_or_default(),
            parent: (!orphan).then(|| caller.token.id.clone()),
            ttl,
            explicit_max_ttl,
            period,
            renewable: input.renewable.unwrap_or(true) && role.as_ref().is_none_or(|r| r.renewable),
            num_uses: input
                .num_uses
                .filter(|n| *n > 0)
                .or(role.as_ref().map(|r| r.num_uses))
                .unwrap_or(0),
            exhausted: false,
            exhausted_at: None,
            expire_time: (!ttl.is_zero()).then(|| now.saturating_add(ttl.as_secs())),
            last_renewal_time: None,
            role: role.as_ref().map(|r| r.name.clone()).unwrap_or_default(),
            bound_cidrs: role
                .as_ref()
                .map(|r| r.bound_cidrs.clone())
                .unwrap_or_default(),
        };
        let token = match chosen_id {
            Some(id) => id.clone(),
            None => generate_token(self.entropy.as_ref())?,
        };
        let stored = self.tokens.insert(&token, entry).await?;
        tracing::debug!(accessor = %stored.entry.accessor, "token created");
        let mut resp = Response::auth(auth_block(token, &stored.entry, now));
        resp.warnings = warnings;
        resp.warnings.append(&mut ttl_warnings);
        Ok(Some(resp))
    }

    /// Vault's warning for each named policy that does not exist (yet).
    async fn missing_policy_warnings(&self, policies: &[String]) -> CoreResult<Vec<String>> {
        let mut warnings = Vec::new();
        for p in policies {
            if p != ROOT_POLICY && self.policies.get(p).await?.is_none() {
                warnings.push(format!("Policy {p:?} does not exist"));
            }
        }
        Ok(warnings)
    }
}

/// The `auth` block for `token` (empty when renewed by accessor).
pub(crate) fn auth_block(token: Zeroizing<String>, entry: &TokenEntry, now: u64) -> Auth {
    Auth {
        client_token: token,
        accessor: entry.accessor.clone(),
        policies: entry.policies.clone(),
        metadata: entry.meta.clone(),
        lease_duration: entry.ttl_left(now),
        renewable: entry.can_renew(),
        orphan: entry.is_orphan(),
        num_uses: entry.num_uses,
        ..Auth::default()
    }
}

/// Policy names as tokens carry them: normalised, without empties or
/// duplicates, sorted.
pub(crate) fn sanitize_policies(policies: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = policies
        .iter()
        .map(|p| normalize_name(p))
        .filter(|p| !p.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The policies of a new token (see the module docs).
fn token_policies(
    requested: Option<Vec<String>>,
    parent: &[String],
    role: Option<&TokenRole>,
    no_default: bool,
) -> CoreResult<Vec<String>> {
    let parent_is_root = parent.iter().any(|p| p == ROOT_POLICY);
    let requested = requested.filter(|r| !r.is_empty());
    let mut policies = match (role, requested) {
        (Some(r), requested) if !r.allowed_policies.is_empty() => match requested {
            None => r.allowed_policies.clone(),
            Some(req) => {
                let outside: Vec<&String> = req
                    .iter()
                    .filter(|p| *p != DEFAULT_POLICY && !r.allowed_policies.contains(p))
                    .collect();
                if !outside.is_empty() {
                    return Err(CoreError::invalid(format!(
                        "token policies ({req:?}) must be subset of the role's allowed policies \
                         ({:?})",
                        r.allowed_policies
                    )));
                }
                req
            }
        },
        (_, None) => parent.to_vec(),
        (_, Some(req)) => {
            if !parent_is_root && !req.iter().all(|p| parent.contains(p)) {
                return Err(CoreError::invalid(
                    "child policies must be subset of parent",
                ));
            }
            req
        }
    };
    let default_disallowed =
        role.is_some_and(|r| r.disallowed_policies.iter().any(|p| p == DEFAULT_POLICY));
    let add_default = !no_default && !default_disallowed;
    if !add_default {
        policies.retain(|p| p != DEFAULT_POLICY);
    }
    if let Some(r) = role
        && let Some(p) = policies.iter().find(|p| r.disallowed_policies.contains(p))
    {
        return Err(CoreError::invalid(format!(
            "token policy {p:?} is disallowed by this role"
        )));
    }
    if let Some(p) = policies.iter().find(|p| !is_assignable(p)) {
        return Err(CoreError::invalid(format!("cannot assign policy {p:?}")));
    }
    let root = policies.iter().any(|p| p == ROOT_POLICY);
    if root
        && policies
            .iter()
            .any(|p| p != ROOT_POLICY && p != DEFAULT_POLICY)
    {
        return Err(CoreError::invalid(
            "the root policy cannot be combined with other policies",
        ));
    }
    if root {
        return Ok(vec![ROOT_POLICY.to_owned()]);
    }
    if add_default {
        policies.push(DEFAULT_POLICY.to_owned());
    }
    Ok(sanitize_policies(policies))
}

/// `token`, or `token-<name>` with everything but `[A-Za-z0-9-]` made `-`.
fn display_name(requested: Option<&str>) -> String {
    match requested.filter(|n| !n.is_empty()) {
        None => "token".to_owned(),
        Some(name) => {
            let full: String = format!("token-{name}")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            full.trim_end_matches('-').to_owned()
        }
    }
}

/// The lower of two limits where 0 means "none".
#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn children_get_a_subset_of_the_parent_plus_default() {
        let parent = names(&["default", "dev", "ops"]);
        let p = token_policies(Some(names(&["dev"])), &parent, None, false).expect("subset");
        assert_eq!(p, names(&["default", "dev"]));
        let err = token_policies(Some(names(&["admin"])), &parent, None, false);
        assert!(err.is_err());
        let inherited = token_policies(None, &parent, None, true).expect("inherit");
        assert_eq!(inherited, names(&["dev", "ops"]));
    }

    #[test]
    fn root_parents_may_give_anything_but_root_stays_alone() {
        let root = names(&["root"]);
        assert_eq!(
            token_policies(Some(names(&["admin"])), &root, None, false).expect("any"),
            names(&["admin", "default"])
        );
        assert_eq!(
            token_policies(None, &root, None, false).expect("root"),
            root
        );
        assert!(token_policies(Some(names(&["root", "x"])), &root, None, false).is_err());
        assert!(token_policies(Some(names(&["response-wrapping"])), &root, None, false).is_err());
    }

    #[test]
    fn roles_replace_the_subset_rule_and_refuse_disallowed_policies() {
        let mut role = TokenRole {
            allowed_policies: names(&["app"]),
            ..serde_json::from_value(serde_json::json!({
                "name": "r", "allowed_policies": [], "disallowed_policies": [],
                "orphan": false, "renewable": true, "period": 0, "explicit_max_ttl": 0,
                "path_suffix": "", "no_default_policy": false, "num_uses": 0
            }))
            .expect("role")
        };
        let parent = names(&["default"]);
        assert_eq!(
            token_policies(None, &parent, Some(&role), false).expect("role"),
            names(&["app", "default"])
        );
        assert!(token_policies(Some(names(&["other"])), &parent, Some(&role), false).is_err());
        role.allowed_policies.clear();
        role.disallowed_policies = names(&["default"]);
        assert_eq!(
            token_policies(None, &parent, Some(&role), false).expect("no default"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn display_names_are_prefixed_and_sanitised() {
        assert_eq!(display_name(None), "token");
        assert_eq!(display_name(Some("my app!")), "token-my-app");
    }
}
