//! `sys/locked-users`: the users the auth methods' lockout
//! (`crate::login::lockout`) holds locked, and lifting a lock.
//!
//! - `GET sys/locked-users` (optional `mount_accessor`): Vault's shape, one
//!   `by_namespace` entry for the root namespace (Coffer has no others) with
//!   the locked users by mount accessor, and the `total`.
//! - `POST sys/locked-users/:mount_accessor/unlock/:alias_identifier`:
//!   lifts the lock and clears the failure count; idempotent, as in Vault,
//!   but an accessor no auth method has is refused (400) rather than
//!   silently "unlocked".

use crate::engine::{Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::login::lockout::LockoutConfig;
use crate::node::Core;
use crate::token::unix_secs;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
struct ListInput {
    #[serde(default)]
    mount_accessor: Option<String>,
}

impl Core {
    /// `GET sys/locked-users`.
    pub(crate) fn list_locked_users(&self, req: &Request) -> CoreResult<Option<Response>> {
        let input: ListInput = req.parse()?;
        let wanted = input.mount_accessor.filter(|a| !a.is_empty());
        let table = self.router_table();
        let mut mounts = BTreeMap::new();
        for m in &table.auth.entries {
            if wanted.as_ref().is_none_or(|w| *w == m.accessor) {
                mounts.insert(m.accessor.clone(), LockoutConfig::from_options(&m.options)?);
            }
        }
        if let Some(w) = &wanted
            && mounts.is_empty()
        {
            return Err(CoreError::invalid(format!(
                "no auth method has the mount accessor {w:?}"
            )));
        }
        let locked = self
            .lockouts
            .locked_users(&mounts, unix_secs(self.clock.now()));
        let mut by_mount: Vec<(String, Vec<String>)> = locked.into_iter().collect();
        // Vault answers in decreasing order of locked-user counts.
        by_mount.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        let total: usize = by_mount.iter().map(|(_, users)| users.len()).sum();
        let by_namespace = if total == 0 {
            json!([])
        } else {
            json!([{
                "namespace_id": "root",
                "namespace_path": "",
                "counts": total,
                "mount_accessors": by_mount
                    .iter()
                    .map(|(accessor, users)| json!({
                        "mount_accessor": accessor,
                        "counts": users.len(),
                        "alias_identifiers": users,
                    }))
                    .collect::<Vec<_>>(),
            }])
        };
        Ok(Some(Response::data(json!({
            "by_namespace": by_namespace,
            "total": total,
        }))))
    }

    /// `POST sys/locked-users/:mount_accessor/unlock/:alias_identifier`.
    pub(crate) async fn unlock_user(&self, accessor: &str, alias: &str) -> CoreResult<()> {
        if accessor.is_empty() || alias.is_empty() {
            return Err(CoreError::invalid(
                "both a mount accessor and an alias identifier are required",
            ));
        }
        let Some((_, engine)) = self.router_table().auth_by_accessor(accessor) else {
            return Err(CoreError::invalid(format!(
                "no auth method has the mount accessor {accessor:?} (see `sys/auth`)"
            )));
        };
        let alias = engine.normalize_login_alias(alias);
        self.lockouts.unlock(accessor, &alias).await?;
        tracing::info!(mount_accessor = %accessor, "a locked user was unlocked by an operator");
        Ok(())
    }
}
