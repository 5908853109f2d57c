//! Token resolution with lazy cleanup, and revocation: a token and its
//! descendants (the default), or a token alone with its children made
//! orphans (`revoke-orphan`). Revoking a token also deletes its lease and
//! empties its cubbyhole.
//!
//! An expired token is revoked here when someone presents it, and by the
//! expiration manager's sweep (`expiration`) when nobody does; both go
//! through [`Core::revoke_tree`].
//!
//! A tree is revoked children first, so an interrupted revocation leaves
//! every remaining token reachable from a parent that is still stored and
//! can be revoked again (its lease is deleted only after its entry, so the
//! sweep retries it too); a child created while its parent is being revoked
//! finds its parent gone at its first use and is revoked then. Index
//! entries an interruption leaves pointing at nothing are removed by
//! `auth/token/tidy` (`tidy`).

use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::storage::view::View;
use crate::token::{PresentedToken, Resolution, ResolvedToken};

impl Core {
    /// Resolves a presented token to a usable one. A stored token that is no
    /// longer usable (expired, out of uses, under an expired or revoked
    /// parent) is revoked now and reported as unknown.
    pub(crate) async fn resolve_token(
        &self,
        token: &PresentedToken,
    ) -> CoreResult<Option<ResolvedToken>> {
        let resolution = self.tokens.resolve(token.as_str()).await?;
        self.settle(resolution).await
    }

    /// [`Core::resolve_token`] for a raw token from a request body.
    pub(crate) async fn resolve_raw_token(&self, raw: &str) -> CoreResult<Option<ResolvedToken>> {
        match self.present(raw)? {
            Some(token) => self.resolve_token(&token).await,
            None => Ok(None),
        }
    }

    /// [`Core::resolve_token`] by salted hash.
    pub(crate) async fn resolve_token_id(&self, id: &str) -> CoreResult<Option<ResolvedToken>> {
        let resolution = self.tokens.resolve_id(id).await?;
        self.settle(resolution).await
    }

    /// Revokes a token and all its descendants.
    pub(crate) async fn revoke_tree(&self, id: &str) -> CoreResult<()> {
        let mut stack = vec![(id.to_owned(), false)];
        while let Some((id, children_done)) = stack.pop() {
            if children_done {
                self.destroy_token(&id).await?;
                continue;
            }
            let children = self.tokens.children(&id).await?;
            stack.push((id, true));
            stack.extend(children.into_iter().map(|c| (c, false)));
        }
        Ok(())
    }

    /// Revokes a token alone; its children become orphans.
    pub(crate) async fn revoke_orphan(&self, id: &str) -> CoreResult<()> {
        for child in self.tokens.children(id).await? {
            match self
                .tokens
                .modify(&child, |e| {
                    e.parent = None;
                    Ok(())
                })
                .await
            {
                Ok(_) | Err(CoreError::InvalidRequest(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.destroy_token(id).await
    }

    /// Revokes a token whose last use a request just took. Failure is
    /// logged: the token is already marked exhausted, so it is refused from
    /// now on; its entry goes when it expires or at the next token tidy.
    pub(crate) async fn revoke_spent(&self, id: &str) {
        if let Err(e) = self.revoke_tree(id).await {
            tracing::error!(error = %e, "revoking a token after its last use failed");
        }
    }

    async fn settle(&self, resolution: Resolution) -> CoreResult<Option<ResolvedToken>> {
        match resolution {
            Resolution::Valid(t) => Ok(Some(t)),
            Resolution::Unknown | Resolution::Spent { .. } => Ok(None),
            Resolution::Invalid { revoke } => {
                if let Err(e) = self.revoke_tree(&revoke).await {
                    tracing::error!(error = %e, "revoking an expired token failed");
                }
                Ok(None)
            }
        }
    }

    /// Deletes one token and its cubbyhole.
    async fn destroy_token(&self, id: &str) -> CoreResult<()> {
        let Some(entry) = self.tokens.remove(id).await? else {
            return Ok(());
        };
        for cubbyhole in self.cubbyhole_views() {
            cubbyhole.sub(&format!("{id}/")).clear().await?;
        }
        tracing::debug!(accessor = %entry.accessor, "token revoked");
        Ok(())
    }

    /// The storage of every cubbyhole mount (per-token folders `<hash>/`).
    pub(crate) fn cubbyhole_views(&self) -> Vec<View> {
        self.router_table()
            .mounts
            .entries
            .iter()
            .filter(|m| m.engine_type == "cubbyhole")
            .map(|m| View::new(self.barrier.clone(), m.storage_prefix()))
            .collect()
    }
}
