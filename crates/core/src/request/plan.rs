//! Where an authenticated request goes, decided before it runs: the ACL
//! check and the routing to `sys/`, `auth/token/` or a mounted engine.
//!
//! [`Core::plan`] is the whole of "may this run, and where"; the request is
//! audited between it and [`Core::execute`], so a refused request is logged
//! with its error and an allowed one is logged before any handler runs.

use crate::audit::trail::AuditMount;
use crate::engine::{Engine, EngineContext, Operation, Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::mount::MountEntry;
use crate::node::Core;
use crate::policy::{Acl, AclOperation};
use crate::request::authorize::{Caller, permit};
use crate::storage::view::View;
use crate::token::ResolvedToken;
use std::sync::Arc;

/// Mount point, type and accessor of the built-in token backend (it has no
/// entry in an auth table yet, hence no accessor).
const TOKEN_MOUNT_TYPE: &str = "token";

/// The handler an authorised request goes to.
enum Target {
    /// The system backend; the request path is relative to `sys/`.
    Sys,
    /// The token store; the request path is the full path.
    Token,
    /// A mounted engine; the request path is relative to its mount.
    Engine {
        engine: Arc<dyn Engine>,
        ctx: Box<EngineContext>,
        mount_type: String,
    },
    /// No mount serves the path (the ACL allowed it, so the client learns so).
    Unrouted,
}

/// An authorised request's destination and what the ACL decided.
pub(crate) struct Plan {
    target: Target,
    acl: Arc<Acl>,
    sudo: bool,
    /// The full request path.
    full_path: String,
    /// The operation as the ACL checked it (`create` or `update` for writes).
    pub(crate) operation: AclOperation,
    /// The policies that granted it.
    pub(crate) granting_policies: Vec<String>,
    /// The mount that serves it.
    pub(crate) mount: AuditMount,
}

impl Core {
    /// Checks `req` (canonical full path) against the token's ACL and
    /// routes it. On success `req.path` is what the target's handler
    /// expects; errors are the refusals (`permission denied`, storage errors
    /// of the existence check).
    pub(crate) async fn plan(&self, req: &mut Request, token: &ResolvedToken) -> CoreResult<Plan> {
        let acl = self.acl_for(&token.entry).await?;
        let full_path = req.path.clone();
        if let Some(rest) = sys_subpath(&req.path) {
            let rest = rest.to_owned();
            let (sudo, granting_policies) = if crate::sys::is_ui_mounts(&rest) {
                (acl.is_root(), Vec::new())
            } else {
                let d = permit(
                    &acl,
                    req.operation.into(),
                    &req.path,
                    &req.data,
                    req.wrap_ttl,
                )?;
                (d.sudo, d.granting_policies)
            };
            req.path = rest;
            return Ok(Plan {
                target: Target::Sys,
                acl,
                sudo,
                full_path,
                operation: req.operation.into(),
                granting_policies,
                mount: self.sys_mount(),
            });
        }
        if req.path.starts_with(crate::token::backend::TOKEN_MOUNT) {
            let exists = self.token_target_exists(req).await?;
            let operation = AclOperation::for_request(req.operation, exists);
            let d = permit(&acl, operation, &req.path, &req.data, req.wrap_ttl)?;
            return Ok(Plan {
                target: Target::Token,
                acl,
                sudo: d.sudo,
                full_path,
                operation,
                granting_policies: d.granting_policies,
                mount: AuditMount {
                    point: crate::token::backend::TOKEN_MOUNT.to_owned(),
                    kind: TOKEN_MOUNT_TYPE.to_owned(),
                    accessor: String::new(),
                },
            });
        }
        let table = self.router_table();
        let Some(routed) = table.route(&req.path) else {
            let operation = req.operation.into();
            let d = permit(&acl, operation, &req.path, &req.data, req.wrap_ttl)?;
            return Ok(Plan {
                target: Target::Unrouted,
                acl,
                sudo: d.sudo,
                full_path,
                operation,
                granting_policies: d.granting_policies,
                mount: AuditMount::default(),
            });
        };
        let engine = routed.engine.clone().ok_or_else(|| {
            CoreError::Internal(format!("mount {} has no engine", routed.mount.path))
        })?;
        let ctx = self.engine_context(routed.mount);
        let mount = AuditMount {
            point: routed.mount.path.clone(),
            kind: routed.mount.engine_type.clone(),
            accessor: routed.mount.accessor.clone(),
        };
        req.path = routed.rest;
        let exists = match req.operation {
            Operation::Update => engine.exists(&ctx, req).await?.unwrap_or(true),
            _ => true,
        };
        let operation = AclOperation::for_request(req.operation, exists);
        let d = permit(&acl, operation, &full_path, &req.data, req.wrap_ttl)?;
        Ok(Plan {
            target: Target::Engine {
                engine,
                ctx: Box::new(ctx),
                mount_type: mount.kind.clone(),
            },
            acl,
            sudo: d.sudo,
            full_path,
            operation,
            granting_policies: d.granting_policies,
            mount,
        })
    }

    /// Runs an authorised request's handler.
    pub(crate) async fn execute(
        self: &Arc<Self>,
        plan: Plan,
        req: Request,
        token: &ResolvedToken,
        raw_token: &str,
    ) -> CoreResult<Option<Response>> {
        let caller = Caller {
            token,
            raw_token,
            acl: plan.acl,
            sudo: plan.sudo,
        };
        // The sys and token-store handlers, and the unlock after a user's
        // removal, are boxed: inline, their kilobytes of state would be
        // copied along with every engine request's future.
        match plan.target {
            Target::Sys => Box::pin(self.handle_sys(req, &caller)).await,
            Target::Token => Box::pin(self.handle_auth_token(&req, &caller)).await,
            Target::Engine {
                engine,
                ctx,
                mount_type,
            } => {
                let removed = engine.removed_login_alias(&req);
                let answer = engine.handle(&ctx, req).await?;
                if let Some(alias) = removed {
                    // The user is gone: so is its lock, or a user created
                    // again under the name would start locked.
                    if let Err(e) =
                        Box::pin(self.lockouts.unlock(&plan.mount.accessor, &alias)).await
                    {
                        tracing::warn!(error = %e, mount = %plan.mount.point, "a deleted user's lock could not be lifted; lift it with sys/locked-users/.../unlock");
                    }
                }
                Ok(answer.map(|mut r| {
                    r.mount_type = mount_type;
                    r
                }))
            }
            Target::Unrouted => Err(CoreError::UnsupportedPath(plan.full_path)),
        }
    }

    /// What the engine of `mount` may touch: its view (with the mount's seal
    /// wrap rule), the clock, the CSP entropy when the mount has
    /// `external_entropy_access` (else the OS CSPRNG), the OS CSPRNG for
    /// nonces, and the managed keys the mount allows.
    pub(crate) fn engine_context(&self, mount: &MountEntry) -> EngineContext {
        EngineContext {
            view: View::new(self.barrier.clone(), mount.storage_prefix())
                .with_wrap_rule(self.wrap_rule(mount)),
            clock: self.clock.clone(),
            entropy: if mount.external_entropy_access {
                self.entropy.clone()
            } else {
                self.system_entropy.clone()
            },
            nonces: self.system_entropy.clone(),
            managed_keys: crate::managed_keys::MountManagedKeys::new(
                self.managed_keys.clone(),
                self.barrier.clone(),
                mount.config.allowed_managed_keys.clone(),
            ),
        }
    }

    /// The `sys/` mount, as audit entries name it.
    pub(crate) fn sys_mount(&self) -> AuditMount {
        let table = self.router_table();
        AuditMount {
            point: "sys/".to_owned(),
            kind: "system".to_owned(),
            accessor: table
                .mounts
                .get("sys/")
                .map(|m| m.accessor.clone())
                .unwrap_or_default(),
        }
    }
}

/// The part of `path` after `sys/` (`""` for `sys` itself), if it is a
/// system path.
pub(crate) fn sys_subpath(path: &str) -> Option<&str> {
    if path == "sys" {
        return Some("");
    }
    path.strip_prefix("sys/")
}
