//! `sys/leases/*` and the legacy `sys/renew`, `sys/revoke`,
//! `sys/revoke-prefix` and `sys/revoke-force`: look up, list, renew, revoke
//! and tidy leases, with Vault's shapes and messages
//! (<https://developer.hashicorp.com/vault/api-docs/system/leases>).
//!
//! Every lease is a token's (see `expiration`). Vault refuses to renew a
//! token's lease through these endpoints ("tokens cannot be renewed through
//! this endpoint": tokens are renewed with `auth/token/renew*`), so renewal
//! here only ever explains why it cannot succeed, with Vault's checks in
//! Vault's order.

use crate::engine::field::opt_bool;
use crate::engine::{Request, Response, ResponseStatus};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::ttl::Ttl;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// The body of lookup, renew and revoke requests (`increment` is accepted
/// and ignored: no lease can be renewed here).
#[derive(Deserialize)]
struct LeaseInput {
    #[serde(default)]
    lease_id: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    sync: Option<bool>,
}

impl LeaseInput {
    /// The lease id from the body, else from the URL (`sys/renew/<id>`).
    fn lease_id(&self, url_lease_id: Option<&str>) -> CoreResult<String> {
        self.lease_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .or(url_lease_id.filter(|id| !id.is_empty()))
            .map(|id| id.trim_start_matches('/').to_owned())
            .ok_or_else(|| CoreError::invalid("lease_id must be specified"))
    }
}

/// `202 Accepted` with an otherwise empty envelope, as Vault answers work it
/// queued.
/// The lease tidy's job name.
const LEASE_TIDY: &str = "lease tidy";

fn accepted() -> Response {
    Response {
        status: ResponseStatus::Code(202),
        ..Response::default()
    }
}

impl Core {
    /// `PUT sys/leases/lookup`: the lease's times, read from its token
    /// (the authority on expiry). A lease whose token is gone is invalid.
    pub(crate) async fn lease_lookup(&self, req: &Request) -> CoreResult<Option<Response>> {
        let lease_id = req.parse::<LeaseInput>()?.lease_id(None)?;
        let invalid = || CoreError::invalid("invalid lease");
        let lease = self.leases.get(&lease_id).await?.ok_or_else(invalid)?;
        let token = self
            .tokens
            .entry(&lease.token_id)
            .await?
            .ok_or_else(invalid)?;
        let now = self.tokens.now();
        let time = |secs: u64| crate::clock::rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
        let expired = token.expired_at(now);
        Ok(Some(Response::data(json!({
            "id": lease_id,
            "issue_time": time(token.creation_time),
            "expire_time": token.expire_time.map(time),
            "last_renewal": token.last_renewal_time.map(time),
            "renewable": token.can_renew() && !expired && !lease.revoke_queued,
            "ttl": if lease.revoke_queued { Ttl::ZERO } else { token.ttl_left(now) },
        }))))
    }

    /// `LIST sys/leases/lookup/<prefix>`: lease ids and folders one level
    /// below the prefix.
    pub(crate) async fn lease_list(&self, prefix: &str) -> CoreResult<Option<Response>> {
        let prefix = prefix.trim_start_matches('/');
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_owned()
        } else {
            format!("{prefix}/")
        };
        Ok(Response::list(self.leases.list(&prefix).await?))
    }

    /// `PUT sys/leases/renew` (and `sys/renew`): Vault's refusals for a
    /// token's lease.
    pub(crate) async fn lease_renew(
        &self,
        req: &Request,
        url_lease_id: Option<&str>,
    ) -> CoreResult<Option<Response>> {
        let lease_id = req.parse::<LeaseInput>()?.lease_id(url_lease_id)?;
        let Some(lease) = self.leases.get(&lease_id).await? else {
            return Err(CoreError::invalid("lease not found"));
        };
        let Some(token) = self.tokens.entry(&lease.token_id).await? else {
            return Err(CoreError::invalid("lease not found"));
        };
        let now = self.tokens.now();
        if token.expire_time.is_none() {
            return Err(CoreError::invalid("lease is not renewable"));
        }
        if lease.revoke_queued || token.expired_at(now) {
            return Err(CoreError::invalid("lease expired"));
        }
        if !token.can_renew() {
            return Err(CoreError::invalid("lease is not renewable"));
        }
        Err(CoreError::invalid(
            "tokens cannot be renewed through this endpoint",
        ))
    }

    /// `PUT sys/leases/revoke` (and `sys/revoke`): 204 once revoked, or 202
    /// with `sync=false` once queued for the sweep. An unknown lease is not
    /// an error, as in Vault.
    pub(crate) async fn lease_revoke(
        &self,
        req: &Request,
        url_lease_id: Option<&str>,
    ) -> CoreResult<Option<Response>> {
        let input = req.parse::<LeaseInput>()?;
        let lease_id = input.lease_id(url_lease_id)?;
        if input.sync.unwrap_or(true) {
            self.revoke_lease(&lease_id, false).await?;
            return Ok(None);
        }
        self.queue_lease_revocation(&lease_id).await?;
        Ok(Some(accepted()))
    }

    /// `PUT sys/leases/revoke-prefix/<prefix>` (`force=false`, honours
    /// `sync`) and `sys/leases/revoke-force/<prefix>` (`force=true`, always
    /// synchronous).
    pub(crate) async fn lease_revoke_prefix(
        &self,
        req: &Request,
        prefix: &str,
        force: bool,
    ) -> CoreResult<Option<Response>> {
        let sync = force || req.parse::<LeaseInput>()?.sync.unwrap_or(true);
        self.revoke_lease_prefix(prefix, force, sync).await?;
        Ok((!sync).then(accepted))
    }

    /// `PUT sys/leases/tidy`: starts the lease tidy in the background and
    /// answers 202 at once, as Vault does; `GET sys/leases/tidy-status`
    /// shows how it went.
    pub(crate) fn lease_tidy(self: &Arc<Self>) -> CoreResult<Option<Response>> {
        Ok(Some(self.start_tidy(
            LEASE_TIDY,
            "sys/leases/tidy-status",
            |core| async move {
                let report = core.tidy_leases().await?;
                Ok(format!(
                    "lease tidy finished: examined {} leases, dropped {} whose token was gone, \
                     revoked {} tokens that were no longer usable",
                    report.scanned, report.dropped, report.revoked
                ))
            },
        )))
    }

    /// `GET sys/leases/tidy-status`.
    pub(crate) fn lease_tidy_status(&self) -> CoreResult<Option<Response>> {
        Ok(Some(self.tidy_status(LEASE_TIDY)))
    }
}
