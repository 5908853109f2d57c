//! A stored user: the password hash and the token settings
//! (`users/<name>` in the mount's view).

use crate::password::PasswordHash;
use coffer_core::token::TokenParams;
use serde::{Deserialize, Serialize};

/// One userpass user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct User {
    /// The Argon2id hash of the password.
    pub(crate) password: PasswordHash,
    /// Settings of the tokens a login issues.
    #[serde(default)]
    pub(crate) token: TokenParams,
}

/// Storage key of a user (names are case-insensitive, as in Vault).
pub(crate) fn key(name: &str) -> String {
    format!("users/{}", name.to_lowercase())
}
