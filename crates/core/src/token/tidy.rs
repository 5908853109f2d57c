//! `auth/token/tidy`: cleans up what interrupted creations and revocations
//! leave in the token store, and revokes tokens nobody presents any more.
//!
//! Revocation deletes a token's entry first, so a crash part-way leaves
//! index entries that point at nothing: an accessor, a link under the
//! parent, a lease, a cubbyhole. None of them makes a token usable (every
//! resolution reads the entry), but they take space and show up in listings.
//! A pass removes, in order:
//!
//! 1. links from a parent to a child that is gone; a child whose parent is
//!    gone is revoked (its next resolution would refuse and revoke it too:
//!    Vault makes such children orphans instead, but here a missing parent
//!    means its revocation was interrupted, and orphaning would let the
//!    children outlive it);
//! 2. accessor index entries whose token is gone;
//! 3. tokens that are no longer usable (expired, out of uses, under a
//!    missing or expired ancestor), with their descendants; and gives a
//!    lease to an expiring token that has none (stored before leases
//!    existed, or by an interrupted creation);
//! 4. cubbyholes whose token is gone;
//! 5. leases whose token is gone (`sys/leases/tidy`).
//!
//! The pass runs as a background job (`node::jobs`): the request answers
//! Vault's 202 at once, and `auth/token/tidy-status` and the log report the
//! counts when it ends.

use crate::engine::Response;
use crate::error::CoreResult;
use crate::node::Core;
use crate::token::expiration::{LeaseRecord, LeaseTidy};
use crate::token::{Resolution, SPENT_GRACE_SECS};
use std::sync::Arc;

/// The token tidy's job name.
const TOKEN_TIDY: &str = "token tidy";

/// What one `auth/token/tidy` pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TokenTidy {
    /// Parent/child links removed because the child was gone.
    pub(crate) child_links: usize,
    /// Accessor index entries removed because the token was gone.
    pub(crate) accessors: usize,
    /// Tokens revoked (each with its descendants) because they were unusable.
    pub(crate) revoked: usize,
    /// Leases registered for expiring tokens that had none.
    pub(crate) leases_registered: usize,
    /// Cubbyholes emptied because their token was gone.
    pub(crate) cubbyholes: usize,
    /// The lease tidy that ends the pass.
    pub(crate) leases: LeaseTidy,
}

impl Core {
    /// `PUT auth/token/tidy`: starts a pass in the background and answers
    /// 202 at once, as Vault does; `GET auth/token/tidy-status` shows how
    /// it went.
    pub(crate) fn token_tidy_request(self: &Arc<Self>) -> CoreResult<Option<Response>> {
        Ok(Some(self.start_tidy(
            TOKEN_TIDY,
            "auth/token/tidy-status",
            |core| async move {
                let r = core.tidy_tokens().await?;
                Ok(format!(
                    "token tidy finished: revoked {} unusable tokens (with their children); \
                     removed {} accessor and {} parent/child index entries and {} cubbyholes \
                     of tokens that were gone, and {} leases without a token; registered {} \
                     missing leases",
                    r.revoked + r.leases.revoked,
                    r.accessors,
                    r.child_links,
                    r.cubbyholes,
                    r.leases.dropped,
                    r.leases_registered,
                ))
            },
        )))
    }

    /// `GET auth/token/tidy-status`.
    pub(crate) fn token_tidy_status(&self) -> CoreResult<Option<Response>> {
        Ok(Some(self.tidy_status(TOKEN_TIDY)))
    }

    /// One tidy pass (see the module docs).
    pub(crate) async fn tidy_tokens(&self) -> CoreResult<TokenTidy> {
        let mut report = TokenTidy::default();
        for parent in self.tokens.parent_ids().await? {
            let parent_stored = self.tokens.entry(&parent).await?.is_some();
            for child in self.tokens.children(&parent).await? {
                if self.tokens.drop_dangling_child(&parent, &child).await? {
                    report.child_links += 1;
                } else if !parent_stored {
                    self.revoke_tree(&child).await?;
                    report.revoked += 1;
                }
            }
        }
        for accessor in self.tokens.accessors().await? {
            if self.tokens.drop_dangling_accessor(&accessor).await? {
                report.accessors += 1;
            }
        }
        for id in self.tokens.ids().await? {
            match self.tokens.resolve_id(&id).await? {
                Resolution::Unknown => {}
                Resolution::Invalid { revoke } => {
                    self.revoke_tree(&revoke).await?;
                    report.revoked += 1;
                }
                Resolution::Spent { revoke } => {
                    // A request may be using its last use right now (an unwrap
                    // reading its response): only what a crash left behind.
                    let now = self.tokens.now();
                    let abandoned = self.tokens.entry(&revoke).await?.is_none_or(|e| {
                        e.exhausted_at
                            .is_none_or(|at| now >= at.saturating_add(SPENT_GRACE_SECS))
                    });
                    if abandoned {
                        self.revoke_tree(&revoke).await?;
                        report.revoked += 1;
                    }
                }
                Resolution::Valid(token) => {
                    if let Some(lease) = LeaseRecord::for_token(&token.id, &token.entry)
                        && self.leases.get(&lease.lease_id).await?.is_none()
                    {
                        self.leases.put(&lease).await?;
                        report.leases_registered += 1;
                    }
                }
            }
        }
        report.cubbyholes = self.tidy_cubbyholes().await?;
        report.leases = self.tidy_leases().await?;
        tracing::info!(
            revoked = report.revoked,
            accessors = report.accessors,
            child_links = report.child_links,
            cubbyholes = report.cubbyholes,
            leases_registered = report.leases_registered,
            "token tidy finished"
        );
        Ok(report)
    }

    /// Empties the cubbyholes (`<token hash>/` in every cubbyhole mount)
    /// whose token is gone; returns how many.
    async fn tidy_cubbyholes(&self) -> CoreResult<usize> {
        let mut emptied = 0;
        for view in self.cubbyhole_views() {
            for dir in view.list("").await? {
                let Some(id) = dir.strip_suffix('/') else {
                    continue;
                };
                if self.tokens.entry(id).await?.is_none() {
                    view.sub(&dir).clear().await?;
                    emptied += 1;
                }
            }
        }
        Ok(emptied)
    }
}
