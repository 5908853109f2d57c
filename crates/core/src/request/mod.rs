//! The request path after the token check: `plan` decides whether the
//! request may run and where it goes, `authorize` is the ACL gate it uses.

pub(crate) mod authorize;
mod handle;
pub(crate) mod path;
pub(crate) mod plan;
