//! Serving a logical request: the token check (with its CIDR binding), the
//! token's use count, then [`Core::plan`](crate::request::plan) (ACL and
//! routing) and the handler, audited before and after (`audit::trail`).
//! Logins branch off to `login` before any of this: they carry no token.

use crate::audit::trail::AuditTrail;
use crate::engine::{Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::request::path::canonical_path;
use crate::token::{Authenticated, ResolvedToken, TokenUse};
use std::net::IpAddr;
use std::sync::Arc;

impl Core {
    /// Resolves a token presented from an unknown address; errors with
    /// `PermissionDenied` when missing, unknown, expired or revoked (an
    /// expired one is revoked on the spot), and for a token bound to CIDR
    /// blocks, since no address can be checked against them.
    pub async fn authenticate(&self, token: Option<&str>) -> CoreResult<ResolvedToken> {
        self.authenticate_from(token, None)
            .await
            .map(|auth| auth.resolved)
    }

    /// [`Core::authenticate`] for a client at `remote`: a token with
    /// `bound_cidrs` is refused unless `remote` lies inside one of them.
    async fn authenticate_from(
        &self,
        token: Option<&str>,
        remote: Option<IpAddr>,
    ) -> CoreResult<Authenticated> {
        let _unsealed = self.unsealed().await?;
        let presented = self
            .present(token.unwrap_or_default())?
            .ok_or(CoreError::PermissionDenied)?;
        let resolved = self
            .resolve_token(&presented)
            .await?
            .ok_or(CoreError::PermissionDenied)?;
        if !crate::token::cidr::allows(&resolved.entry.bound_cidrs, remote)? {
            tracing::info!(
                accessor = %resolved.entry.accessor,
                remote = ?remote,
                "token refused: the client address is outside the token's bound CIDRs"
            );
            return Err(CoreError::PermissionDenied);
        }
        Ok(Authenticated {
            presented,
            resolved,
        })
    }

    /// [`Core::authenticate`] for a request about to be served: a refused
    /// token is recorded in the audit devices with the error, as Vault
    /// records requests that fail its token check. `req` may still lack its
    /// body (the server authenticates before reading it).
    ///
    /// A wrapping JWT that is not (or no longer) valid, presented to unwrap
    /// or rewrap, is a 400 "wrapping token is not valid or does not exist",
    /// as Vault answers, rather than a 403.
    pub async fn authenticate_request(
        &self,
        req: &Request,
        token: Option<&str>,
    ) -> CoreResult<Authenticated> {
        match self
            .authenticate_from(token, req.remote_addr.map(|a| a.ip()))
            .await
        {
            Err(CoreError::PermissionDenied) => {
                let error = if crate::wrapping::is_wrapping_token_path(&req.path)
                    && token.is_some_and(crate::wrapping::key::looks_like_jwt)
                {
                    CoreError::invalid(crate::wrapping::INVALID_WRAPPING_TOKEN)
                } else {
                    CoreError::PermissionDenied
                };
                // Boxed: the audit step is rare and would add kilobytes to
                // every request's future.
                Err(Box::pin(self.audit_rejected(req, token, error)).await)
            }
            other => other,
        }
    }

    /// Serves a logical request for `path` (no `/v1/` prefix) with `token`.
    /// Login paths of auth methods are served without the token.
    pub async fn handle(
        self: &Arc<Self>,
        req: Request,
        token: Option<&str>,
    ) -> CoreResult<Option<Response>> {
        if self.is_login_path(&req.path) {
            return self.handle_login(req, token).await;
        }
        let auth = self.authenticate_request(&req, token).await?;
        self.handle_as(req, &auth).await
    }

    /// Serves a logical request for a token already checked with
    /// [`Core::authenticate_request`] (the server authenticates before
    /// reading a request body).
    ///
    /// The token's use is counted first (as Vault does, even when the ACL
    /// then denies); a token on its last use is revoked after the request.
    /// The request is audited around its dispatch (see `audit::trail`).
    pub async fn handle_as(
        self: &Arc<Self>,
        mut req: Request,
        auth: &Authenticated,
    ) -> CoreResult<Option<Response>> {
        let _unsealed = self.unsealed().await?;
        if req.id.is_empty() {
            req.id = self.new_uuid()?;
        }
        // A wrapping JWT is audited as the token inside, as Vault audits it,
        // so sys/audit-hash of the wrap's token finds its use.
        let raw_token = auth.presented.as_str();
        let resolved = &auth.resolved;
        let canonical = canonical_path(&req.path);
        if let Ok(path) = &canonical {
            self.plain_wrapping_token_field(path, &mut req);
        }
        let mut trail = self.audit_trail(&req, Some(resolved), Some(raw_token));
        req.path = match canonical {
            Ok(p) => p,
            Err(e) => return Err(Box::pin(self.audit_refused(trail, e)).await),
        };
        trail.set_path(&req.path);
        req.token_id = resolved.id.clone();
        let (used, resolved) = match self.tokens.use_once(resolved).await {
            Ok(u) => u,
            Err(e) => return Err(Box::pin(self.audit_refused(trail, e)).await),
        };
        let result = self
            .audited_dispatch(req, &resolved, raw_token, trail)
            .await;
        if used == TokenUse::Last {
            Box::pin(self.revoke_spent(&resolved.id)).await;
        }
        result
    }

    /// The ACL check and routing, the request entry (fail closed), the
    /// handler, response wrapping when asked, the response entry.
    async fn audited_dispatch(
        self: &Arc<Self>,
        mut req: Request,
        resolved: &ResolvedToken,
        raw_token: &str,
        mut trail: AuditTrail,
    ) -> CoreResult<Option<Response>> {
        let request_id = req.id.clone();
        let full_path = req.path.clone();
        let wrap_ttl = req.wrap_ttl;
        let plan = match self.plan(&mut req, resolved).await {
            Ok(plan) => plan,
            Err(e) => return Err(Box::pin(self.audit_refused(trail, e)).await),
        };
        trail.authorised(plan.operation, &plan.mount, &plan.granting_policies);
        // The steps' futures are boxed: kept inline, each would add its
        // size (kilobytes, for wrapping and audit) to every request's
        // future, and moving that state costs more than an allocation.
        // Without an audit device the audit steps are skipped outright, not
        // allocated only to find nothing to record.
        if trail.is_recording() {
            Box::pin(self.audit_request(&mut trail)).await?;
        }
        let result = Box::pin(self.execute(plan, req, resolved, raw_token)).await;
        let result = match wrap_ttl {
            Some(_) => {
                Box::pin(self.wrap_if_asked(&request_id, &full_path, wrap_ttl, result)).await
            }
            None => result,
        };
        if trail.is_recording() {
            Box::pin(self.audit_response(trail, result)).await
        } else {
            result
        }
    }

    /// Records a request whose token was refused before it could be served.
    async fn audit_rejected(
        &self,
        req: &Request,
        token: Option<&str>,
        error: CoreError,
    ) -> CoreError {
        let Ok(_unsealed) = self.unsealed().await else {
            return error;
        };
        if self.audit.broker.is_empty() {
            return error;
        }
        let mut req = req.clone();
        if req.id.is_empty() {
            req.id = self.new_uuid().unwrap_or_default();
        }
        if let Ok(path) = canonical_path(&req.path) {
            req.path = path;
        }
        // Hashed as a served request hashes it: a wrapping JWT as its token.
        let audited = token.map(|t| self.audited_form(t));
        let trail = self.audit_trail(&req, None, audited.as_deref().map(String::as_str));
        self.audit_refused(trail, error).await
    }
}
