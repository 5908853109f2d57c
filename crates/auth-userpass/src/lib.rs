//! Vault's `userpass` auth method: users with a password and token
//! settings, `login/:name` served without a token.
//!
//! | route | operations |
//! |---|---|
//! | `users` | LIST |
//! | `users/:name` | read, create/update (`password`, token fields), delete |
//! | `users/:name/password` | update (`password`) |
//! | `users/:name/policies` | update (`token_policies`/`policies`) |
//! | `login/:name` | update (`password`), unauthenticated |
//!
//! Passwords are Argon2id hashes (see `password`), salts from the mount's
//! `Entropy`. A wrong password and an unknown user both answer 400 "invalid
//! username or password" after the same amount of hashing. Repeated wrong
//! passwords of a known user lock it out: the core keeps the lockout
//! (`coffer_core::login`), this method names the user
//! ([`Engine::login_alias`]) and reports wrong passwords as
//! `InvalidCredentials`; its only mount options are the lockout ones.
//!
//! Like every auth method, it sees only its mount's `View`, the `Clock` and
//! the `Entropy` from `EngineContext`; this crate must never depend on the
//! server, a storage backend, the barrier or another engine or auth method.

mod hasher;
mod password;
mod user;

use async_trait::async_trait;
use coffer_core::engine::{
    Engine, EngineContext, EngineFactory, EngineKind, Operation, Request, Response, Route, dispatch,
};
use coffer_core::login::normalize_lockout_options;
use coffer_core::mount::MountEntry;
use coffer_core::token::{TokenParams, TokenParamsInput};
use coffer_core::{CoreError, CoreResult};
use password::PasswordHash;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use user::User;
use zeroize::Zeroizing;

/// Vault's answer to a failed login, whatever the reason.
const INVALID_CREDENTIALS: &str = "invalid username or password";

/// Makes `userpass` auth methods.
#[derive(Debug, Default, Clone, Copy)]
pub struct UserpassFactory;

impl UserpassFactory {
    /// A factory for the `userpass` type.
    pub fn new() -> Self {
        Self
    }
}

impl EngineFactory for UserpassFactory {
    fn engine_type(&self) -> &'static str {
        "userpass"
    }

    fn kind(&self) -> EngineKind {
        EngineKind::Auth
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["login/:name"]
    }

    fn normalize_options(
        &self,
        options: BTreeMap<String, String>,
    ) -> CoreResult<BTreeMap<String, String>> {
        normalize_lockout_options("userpass", options)
    }

    fn create(&self, _mount: &MountEntry) -> CoreResult<Arc<dyn Engine>> {
        Ok(Arc::new(Userpass))
    }
}

#[derive(Debug, Clone, Copy)]
enum H {
    List,
    User,
    Password,
    Policies,
    Login,
}

const RWD: &[Operation] = &[Operation::Read, Operation::Update, Operation::Delete];
const W: &[Operation] = &[Operation::Update];

fn routes() -> Vec<Route<H>> {
    vec![
        Route::new("users", &[Operation::List], H::List),
        Route::new("users/:name", RWD, H::User),
        Route::new("users/:name/password", W, H::Password),
        Route::new("users/:name/policies", W, H::Policies),
        Route::new("login/:name", W, H::Login),
    ]
}

/// Every route as (pattern, operations), for the route-guard test.
pub fn route_patterns() -> Vec<(&'static str, &'static [Operation])> {
    routes()
        .into_iter()
        .map(|r| (r.pattern.as_str(), r.operations))
        .collect()
}

/// One mounted userpass method.
struct Userpass;

#[derive(Deserialize)]
struct PasswordInput {
    #[serde(default)]
    password: Option<Zeroizing<String>>,
}

#[async_trait]
impl Engine for Userpass {
    async fn handle(&self, ctx: &EngineContext, req: Request) -> CoreResult<Option<Response>> {
        let (h, params) = dispatch(&routes(), &req)?;
        let name = params
            .get("name")
            .map(|n| n.to_lowercase())
            .unwrap_or_default();
        match h {
            H::List => {
                let keys = ctx.view.list("users/").await?;
                Ok(Response::list(keys))
            }
            H::User => match req.operation {
                Operation::Read => Ok(load(ctx, &name)
                    .await?
                    .map(|u| Response::data(u.token.to_json()))),
                Operation::Delete => {
                    ctx.view.delete(&user::key(&name)).await?;
                    Ok(None)
                }
                _ => self.write_user(ctx, &req, &name).await,
            },
            H::Password => {
                let mut u = load(ctx, &name).await?.ok_or_else(|| {
                    CoreError::invalid(format!("username does not exist: {name}"))
                })?;
                let input: PasswordInput = req.parse()?;
                let pw = input
                    .password
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| CoreError::invalid("missing password"))?;
                u.password = PasswordHash::new(&pw, ctx.entropy.as_ref()).await?;
                ctx.view.put_json(&user::key(&name), &u).await?;
                Ok(None)
            }
            H::Policies => {
                let mut u = load(ctx, &name).await?.ok_or_else(|| {
                    CoreError::invalid(format!("username does not exist: {name}"))
                })?;
                let input: PoliciesInput = req.parse()?;
                let policies = input.token_policies.or(input.policies).unwrap_or_default();
                u.token.policies = policies.into_iter().filter(|p| !p.is_empty()).collect();
                ctx.view.put_json(&user::key(&name), &u).await?;
                Ok(None)
            }
            H::Login => self.login(ctx, &req, &name).await,
        }
    }

    fn login_alias(&self, req: &Request) -> Option<String> {
        match dispatch(&routes(), req) {
            Ok((H::Login, params)) => params.get("name").map(|n| n.to_lowercase()),
            _ => None,
        }
    }

    /// Usernames are case-insensitive: stored and locked in lower case.
    fn normalize_login_alias(&self, alias: &str) -> String {
        alias.to_lowercase()
    }

    fn removed_login_alias(&self, req: &Request) -> Option<String> {
        match dispatch(&routes(), req) {
            Ok((H::User, params)) if req.operation == Operation::Delete => {
                params.get("name").map(|n| n.to_lowercase())
            }
            _ => None,
        }
    }

    async fn exists(&self, ctx: &EngineContext, req: &Request) -> CoreResult<Option<bool>> {
        match dispatch(&routes(), req) {
            Ok((H::User, params)) => {
                let name = params
                    .get("name")
                    .map(|n| n.to_lowercase())
                    .unwrap_or_default();
                Ok(Some(ctx.view.get(&user::key(&name)).await?.is_some()))
            }
            _ => Ok(None),
        }
    }
}

#[derive(Deserialize)]
struct PoliciesInput {
    #[serde(
        default,
        deserialize_with = "coffer_core::engine::field::opt_string_list"
    )]
    token_policies: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "coffer_core::engine::field::opt_string_list"
    )]
    policies: Option<Vec<String>>,
}

async fn load(ctx: &EngineContext, name: &str) -> CoreResult<Option<User>> {
    ctx.view.get_json(&user::key(name)).await
}

impl Userpass {
    async fn write_user(
        &self,
        ctx: &EngineContext,
        req: &Request,
        name: &str,
    ) -> CoreResult<Option<Response>> {
        let existing = load(ctx, name).await?;
        let input: PasswordInput = req.parse()?;
        let token_input: TokenParamsInput = req.parse()?;
        let password = match (input.password.filter(|p| !p.is_empty()), existing.as_ref()) {
            (Some(pw), _) => PasswordHash::new(&pw, ctx.entropy.as_ref()).await?,
            (None, Some(u)) => u.password.clone(),
            (None, None) => return Err(CoreError::invalid("missing password")),
        };
        let mut token = existing
            .map(|u| u.token)
            .unwrap_or_else(TokenParams::default);
        token_input.apply(&mut token)?;
        ctx.view
            .put_json(&user::key(name), &User { password, token })
            .await?;
        Ok(None)
    }

    async fn login(
        &self,
        ctx: &EngineContext,
        req: &Request,
        name: &str,
    ) -> CoreResult<Option<Response>> {
        let input: PasswordInput = req.parse()?;
        let pw = input
            .password
            .ok_or_else(|| CoreError::invalid("missing password"))?;
        let Some(u) = load(ctx, name).await? else {
            // Same work as a real check, same answer.
            let _ = password::dummy().await?.verify(&pw).await?;
            return Err(CoreError::invalid(INVALID_CREDENTIALS));
        };
        if !u.password.verify(&pw).await? {
            return Err(CoreError::InvalidCredentials(
                INVALID_CREDENTIALS.to_owned(),
            ));
        }
        let mut auth = u.token.to_auth(name);
        auth.metadata.insert("username".to_owned(), name.to_owned());
        Ok(Some(Response::auth(auth)))
    }
}
