//! Password hashes: Argon2id (RFC 9106) with OWASP's recommended minimum
//! parameters, m = 19 MiB, t = 2, p = 1, a 16-byte salt from the mount's
//! `Entropy` and a 32-byte tag. The parameters are stored with each hash, so
//! they can be raised later without invalidating stored passwords.
//!
//! Verification recomputes the tag and compares it in constant time
//! (`subtle`). A login for an unknown user verifies against [`dummy`] so it
//! costs the same as one for a known user.

use crate::hasher::argon2id;
use coffer_core::{CoreError, CoreResult};
use coffer_crypto::Entropy;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tokio::sync::OnceCell;
use zeroize::Zeroizing;

/// Memory cost in KiB (19 MiB).
pub(crate) const M_COST: u32 = 19 * 1024;
/// Passes.
pub(crate) const T_COST: u32 = 2;
/// Lanes.
pub(crate) const P_COST: u32 = 1;
const SALT_LEN: usize = 16;
const TAG_LEN: usize = 32;

/// A stored Argon2id hash. `Debug` shows only the parameters.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct PasswordHash {
    /// Always `argon2id`.
    alg: String,
    m: u32,
    t: u32,
    p: u32,
    /// Hex salt.
    salt: String,
    /// Hex tag.
    hash: String,
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHash")
            .field("alg", &self.alg)
            .field("m", &self.m)
            .field("t", &self.t)
            .field("p", &self.p)
            .finish_non_exhaustive()
    }
}

async fn tag(
    password: &str,
    salt: &[u8],
    m: u32,
    t: u32,
    p: u32,
) -> CoreResult<Zeroizing<Vec<u8>>> {
    argon2id(
        Zeroizing::new(password.as_bytes().to_vec()),
        salt.to_vec(),
        (m, t, p),
        TAG_LEN,
    )
    .await
}

impl PasswordHash {
    /// Hashes `password` with a fresh salt from `entropy`.
    pub(crate) async fn new(password: &str, entropy: &dyn Entropy) -> CoreResult<Self> {
        let mut salt = [0u8; SALT_LEN];
        entropy
            .fill(&mut salt)
            .map_err(|e| CoreError::Internal(format!("entropy: {e}")))?;
        Self::with_salt(password, &salt).await
    }

    async fn with_salt(password: &str, salt: &[u8]) -> CoreResult<Self> {
        let out = tag(password, salt, M_COST, T_COST, P_COST).await?;
        Ok(Self {
            alg: "argon2id".to_owned(),
            m: M_COST,
            t: T_COST,
            p: P_COST,
            salt: hex::encode(salt),
            hash: hex::encode(out.as_slice()),
        })
    }

    /// Whether `password` matches, compared in constant time.
    pub(crate) async fn verify(&self, password: &str) -> CoreResult<bool> {
        if self.alg != "argon2id" {
            return Err(CoreError::Internal(format!(
                "unknown password hash algorithm {:?}",
                self.alg
            )));
        }
        let salt = hex::decode(&self.salt)
            .map_err(|_| CoreError::Internal("corrupt password salt".to_owned()))?;
        let want = Zeroizing::new(
            hex::decode(&self.hash)
                .map_err(|_| CoreError::Internal("corrupt password hash".to_owned()))?,
        );
        let got = tag(password, &salt, self.m, self.t, self.p).await?;
        Ok(bool::from(got.as_slice().ct_eq(want.as_slice())))
    }
}

/// A hash no password matches in practice, verified for unknown users so
/// that their logins take as long as real ones.
pub(crate) async fn dummy() -> CoreResult<&'static PasswordHash> {
    static DUMMY: OnceCell<PasswordHash> = OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| {
            PasswordHash::with_salt("coffer-userpass-dummy-password", &[0x5a; SALT_LEN])
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_crypto::OsEntropy;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only_and_never_shows_it() {
        let h = PasswordHash::new("s3cret", &OsEntropy::new())
            .await
            .expect("hash");
        assert!(h.verify("s3cret").await.expect("verify"));
        assert!(!h.verify("s3cret!").await.expect("verify"));
        assert!(!format!("{h:?}").contains(&h.hash));
        let again = PasswordHash::new("s3cret", &OsEntropy::new())
            .await
            .expect("hash");
        assert_ne!(h.salt, again.salt);
        assert!(
            !dummy()
                .await
                .expect("dummy")
                .verify("s3cret")
                .await
                .expect("verify")
        );
    }
}
