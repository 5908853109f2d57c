//! Cubbyhole's per-token storage: every token gets a private folder of the
//! mount, named by the token's stable, non-secret identifier, so one token
//! can never read or list another's entries.
//!
//! Purging the folder when the token is revoked is the caller's job (the
//! token store knows when that happens): `view.sub("<token_id>/").clear()`.

use coffer_core::storage::View;
use coffer_core::{CoreError, CoreResult};

/// The part of the mount's `view` that belongs to `token_id`. A request
/// without a usable token identifier is refused.
pub(crate) fn token_view(view: &View, token_id: &str) -> CoreResult<View> {
    let usable = !token_id.is_empty()
        && !token_id.contains('/')
        && !token_id.contains('\0')
        && token_id != "."
        && token_id != "..";
    if !usable {
        return Err(CoreError::PermissionDenied);
    }
    Ok(view.sub(&format!("{token_id}/")))
}
