//! Logging in: requests to an auth method's unauthenticated paths
//! (`auth/userpass/login/:name`, `auth/approle/login`), served without a
//! token, and the token the core issues from the method's answer. The one
//! other path served without a token, `sys/wrapping/lookup` (Vault's too),
//! goes the same way: it only reports on the wrapping token in its body.
//!
//! Such a request skips the token and the ACL (there is no caller yet) but
//! not the audit log: it gets a request entry before the method runs and a
//! response entry (with the issued token hashed) after. The method answers
//! with an [`Auth`] naming policies, TTLs, metadata and who logged in; the
//! core turns it into an orphan service token whose `path` is the login
//! path (so disabling the method revokes it) and whose `display_name` is
//! `<mount>-<name>` (`userpass-alice`).

pub(crate) mod lockout;

pub use lockout::normalize_lockout_options;

use crate::engine::{Auth, Engine, EngineContext, EngineKind, Pattern, Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::login::lockout::LockoutConfig;
use crate::mount::MountEntry;
use crate::node::Core;
use crate::policy::{AclOperation, DEFAULT_POLICY, ROOT_POLICY};
use crate::request::path::canonical_path;
use crate::token::create::{auth_block, sanitize_policies};
use crate::token::ttl::{TtlRequest, calculate};
use crate::token::{ACCESSOR_LEN, TokenEntry, generate_token, random_base62, unix_secs};
use crate::ttl::Ttl;
use std::net::IpAddr;

/// The wrapping-token lookup, served without a token.
const WRAPPING_LOOKUP_PATH: &str = "sys/wrapping/lookup";

impl Core {
    /// Whether `path` (no `/v1/`) is served without a token: an
    /// unauthenticated path of a mounted auth method, or
    /// `sys/wrapping/lookup`.
    pub fn is_login_path(&self, path: &str) -> bool {
        let Ok(path) = canonical_path(path) else {
            return false;
        };
        if path == WRAPPING_LOOKUP_PATH {
            return true;
        }
        let table = self.router_table();
        let Some(routed) = table.route(&path) else {
            return false;
        };
        routed.mount.is_auth() && self.unauthenticated(routed.mount, &routed.rest)
    }

    fn unauthenticated(&self, mount: &MountEntry, rest: &str) -> bool {
        self.factories
            .get(mount.engine_type.as_str())
            .filter(|f| f.kind() == EngineKind::Auth)
            .is_some_and(|f| {
                f.unauthenticated_paths()
                    .iter()
                    .any(|p| Pattern::new(p).matches(rest).is_some())
            })
    }

    /// Serves a request to a login path (see [`Core::is_login_path`])
    /// without a token; an `auth` block in the method's answer becomes a
    /// new token.
    /// `token` is what the client presented, used only by
    /// `sys/wrapping/lookup` (as the wrapping token when the body has none).
    pub async fn handle_login(
        &self,
        mut req: Request,
        token: Option<&str>,
    ) -> CoreResult<Option<Response>> {
        let _unsealed = self.unsealed().await?;
        if req.id.is_empty() {
            req.id = self.new_uuid()?;
        }
        let mut trail = self.audit_trail(&req, None, None);
        req.path = match canonical_path(&req.path) {
            Ok(p) => p,
            Err(e) => return Err(self.audit_refused(trail, e).await),
        };
        trail.set_path(&req.path);
        let full_path = req.path.clone();
        if full_path == WRAPPING_LOOKUP_PATH {
            let audited = token.map(|t| self.audited_form(t));
            let token = audited.as_deref().map(String::as_str);
            self.plain_wrapping_token_field(&full_path, &mut req);
            let mut trail = self.audit_trail(&req, None, token);
            trail.authorised(AclOperation::Update, &self.sys_mount(), &[]);
            self.audit_request(&mut trail).await?;
            let result = self.wrapping_lookup(&req, token).await;
            return self.audit_response(trail, result).await;
        }
        let request_id = req.id.clone();
        let wrap_ttl = req.wrap_ttl;
        let table = self.router_table();
        let routed = match table.route(&req.path) {
            Some(r) if r.mount.is_auth() && self.unauthenticated(r.mount, &r.rest) => r,
            _ => return Err(self.audit_refused(trail, CoreError::PermissionDenied).await),
        };
        let Some(engine) = routed.engine.clone() else {
            return Err(CoreError::Internal(format!(
                "auth mount {} has no engine",
                routed.mount.path
            )));
        };
        let mount = routed.mount.clone();
        let ctx = self.engine_context(&mount);
        let audit_mount = crate::audit::trail::AuditMount {
            point: mount.path.clone(),
            kind: mount.engine_type.clone(),
            accessor: mount.accessor.clone(),
        };
        trail.authorised(
            AclOperation::for_request(req.operation, true),
            &audit_mount,
            &[],
        );
        self.audit_request(&mut trail).await?;
        req.path = routed.rest;
        req.token_id = String::new();
        let remote = req.remote_addr.map(|a| a.ip());
        let result = match self.guarded_login(&mount, engine.as_ref(), &ctx, req).await {
            Ok(Some(mut resp)) => {
                resp.mount_type.clone_from(&mount.engine_type);
                match resp.auth.take() {
                    Some(auth) => self
                        .issue_login_token(&mount, &full_path, remote, auth)
                        .await
                        .map(|a| {
                            resp.auth = Some(a);
                            Some(resp)
                        }),
                    None => Ok(Some(resp)),
                }
            }
            other => other,
        };
        let result = self
            .wrap_if_asked(&request_id, &full_path, wrap_ttl, result)
            .await;
        self.audit_response(trail, result).await
    }

    /// Runs an auth method's login under the user lockout
    /// (`lockout`): a locked user is refused before the engine sees
    /// the request; wrong credentials count towards a lock, and a login that
    /// grants a token clears the count.
    async fn guarded_login(
        &self,
        mount: &MountEntry,
        engine: &dyn Engine,
        ctx: &EngineContext,
        req: Request,
    ) -> CoreResult<Option<Response>> {
        let Some(alias) = engine.login_alias(&req).filter(|a| !a.is_empty()) else {
            return engine.handle(ctx, req).await;
        };
        let cfg = LockoutConfig::from_options(&mount.options)?;
        let _counted_in_turn = self
            .lockouts
            .one_login_at_a_time(&mount.accessor, &alias)
            .await;
        let now = unix_secs(self.clock.now());
        if self
            .lockouts
            .is_locked(&mount.accessor, &alias, &cfg, now)
            .await?
        {
            return Err(CoreError::PermissionDenied);
        }
        let result = engine.handle(ctx, req).await;
        match &result {
            Err(CoreError::InvalidCredentials(_)) => {
                self.lockouts
                    .failed(&mount.accessor, &alias, &cfg, now)
                    .await?;
            }
            Ok(Some(resp)) if resp.auth.is_some() => {
                self.lockouts.succeeded(&mount.accessor, &alias);
            }
            _ => {}
        }
        result
    }

    /// Stores the token an auth method's login granted and returns its
    /// `auth` block. A login from outside the token's `bound_cidrs` is
    /// refused: the token could not be used from there.
    async fn issue_login_token(
        &self,
        mount: &MountEntry,
        full_path: &str,
        remote: Option<IpAddr>,
        auth: Auth,
    ) -> CoreResult<Auth> {
        if !crate::token::cidr::allows(&auth.bound_cidrs, remote)? {
            tracing::info!(
                mount = %mount.path,
                remote = ?remote,
                "login refused: the client address is outside the token_bound_cidrs"
            );
            return Err(CoreError::PermissionDenied);
        }
        let mut policies = sanitize_policies(auth.policies);
        if policies.iter().any(|p| p == ROOT_POLICY) {
            return Err(CoreError::invalid("auth methods cannot create root tokens"));
        }
        if !auth.no_default_policy && !policies.iter().any(|p| p == DEFAULT_POLICY) {
            policies.push(DEFAULT_POLICY.to_owned());
            policies.sort();
        }
        let now = self.tokens.now();
        let requested = auth.lease_duration.or(mount.config.default_lease_ttl);
        // A periodic token's period is capped by the mount's maximum, but
        // the token outlives it (as Vault's do): only its own explicit
        // maximum ends it.
        let period = if auth.period.is_zero() {
            Ttl::ZERO
        } else {
            auth.period.tighter(mount.config.max_lease_ttl)
        };
        let explicit_max = if period.is_zero() {
            auth.explicit_max_ttl.tighter(mount.config.max_lease_ttl)
        } else {
            auth.explicit_max_ttl
        };
        let granted = calculate(TtlRequest {
            requested,
            period,
            explicit_max,
            start: now,
            now,
        })?;
        let mount_name = mount
            .path
            .strip_prefix(crate::mount::AUTH_PREFIX)
            .unwrap_or(&mount.path)
            .trim_end_matches('/')
            .replace('/', "-");
        let display_name = if auth.display_name.is_empty() {
            mount_name
        } else {
            format!("{mount_name}-{}", auth.display_name)
        };
        let entry = TokenEntry {
            accessor: random_base62(self.entropy.as_ref(), ACCESSOR_LEN)?.to_string(),
            policies,
            display_name,
            creation_time: now,
            path: full_path.to_owned(),
            meta: auth.metadata,
            parent: None,
            ttl: granted.ttl,
            explicit_max_ttl: explicit_max,
            period,
            renewable: auth.renewable,
            num_uses: auth.num_uses,
            exhausted: false,
            exhausted_at: None,
            expire_time: (!granted.ttl.is_zero())
                .then(|| now.saturating_add(granted.ttl.as_secs())),
            last_renewal_time: None,
            role: String::new(),
            bound_cidrs: auth.bound_cidrs,
        };
        let token = generate_token(self.entropy.as_ref())?;
        let stored = self.tokens.insert(&token, entry).await?;
        tracing::debug!(accessor = %stored.entry.accessor, mount = %mount.path, "login token issued");
        Ok(auth_block(token, &stored.entry, now))
    }
}
