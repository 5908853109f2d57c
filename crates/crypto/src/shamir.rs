//! Shamir secret sharing over GF(256) for unseal and recovery keys.
//!
//! The arithmetic is `vsss-rs`'s constant-time `Gf256`. A share is the
//! participant number (1..=255) followed by one byte per secret byte. Shares
//! are opaque to clients (they travel as hex/base64), so this layout does not
//! need to match Vault's byte for byte. As Vault does, a 1-of-1 "split"
//! returns the secret itself as the only share.

use crate::drbg::SeededExpander;
use crate::{CryptoError, Entropy, SecretBytes};
use vsss_rs::Gf256;

/// Largest number of shares (participant numbers are one byte).
pub const MAX_SHARES: u8 = 255;

/// Checks share/threshold parameters with Vault's rules and messages.
pub fn validate(shares: u32, threshold: u32) -> Result<(), CryptoError> {
    let fail = |m: &str| Err(CryptoError::Shamir(m.to_owned()));
    if shares == 0 {
        return fail("number of shares must be at least 1");
    }
    if shares > u32::from(MAX_SHARES) {
        return fail("number of shares cannot exceed 255");
    }
    if threshold == 0 {
        return fail("threshold must be at least 1");
    }
    if threshold > shares {
        return fail("threshold cannot be larger than the number of shares");
    }
    if shares > 1 && threshold < 2 {
        return fail("threshold must be greater than one for multiple shares");
    }
    Ok(())
}

/// Splits `secret` into `shares` shares, any `threshold` of which rebuild it.
pub fn split(
    secret: &[u8],
    shares: u8,
    threshold: u8,
    entropy: &dyn Entropy,
) -> Result<Vec<SecretBytes>, CryptoError> {
    validate(u32::from(shares), u32::from(threshold))?;
    if secret.is_empty() {
        return Err(CryptoError::Shamir(
            "cannot split an empty secret".to_owned(),
        ));
    }
    if shares == 1 {
        return Ok(vec![SecretBytes::from_slice(secret)]);
    }
    let rng = SeededExpander::from_entropy(entropy)?;
    let parts = Gf256::split_bytes(usize::from(threshold), usize::from(shares), secret, rng)
        .map_err(|e| CryptoError::Shamir(format!("splitting failed: {e:?}")))?;
    Ok(parts.into_iter().map(SecretBytes::new).collect())
}

/// Rebuilds a secret from shares. With fewer than the threshold, or with a
/// wrong share, the result is a wrong secret: callers must verify it (the
/// barrier does, by decrypting the root key with it).
pub fn combine(shares: &[SecretBytes]) -> Result<SecretBytes, CryptoError> {
    let Some(first) = shares.first() else {
        return Err(CryptoError::Shamir("no shares given".to_owned()));
    };
    if shares.len() == 1 {
        return Ok(first.duplicate());
    }
    if first.len() < 2 {
        return Err(CryptoError::Shamir("share is too short".to_owned()));
    }
    if shares.iter().any(|s| s.len() != first.len()) {
        return Err(CryptoError::Shamir(
            "shares have different lengths".to_owned(),
        ));
    }
    for (i, a) in shares.iter().enumerate() {
        if a.expose()[0] == 0 {
            return Err(CryptoError::Shamir(
                "share has an invalid participant number".to_owned(),
            ));
        }
        if shares[..i].iter().any(|b| b.expose()[0] == a.expose()[0]) {
            return Err(CryptoError::Shamir("duplicate share".to_owned()));
        }
    }
    let raw: Vec<Vec<u8>> = shares.iter().map(|s| s.expose().to_vec()).collect();
    let result = Gf256::combine_bytes(&raw)
        .map(SecretBytes::new)
        .map_err(|e| CryptoError::Shamir(format!("combining shares failed: {e:?}")));
    for mut r in raw {
        zeroize::Zeroize::zeroize(&mut r);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsEntropy;

    #[test]
    fn any_threshold_subset_rebuilds_the_secret() {
        let e = OsEntropy::new();
        let secret = [7u8; 32];
        let shares = split(&secret, 5, 3, &e).expect("split");
        assert_eq!(shares.len(), 5);
        for pick in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            let subset: Vec<_> = pick.iter().map(|&i| shares[i].duplicate()).collect();
            assert_eq!(combine(&subset).expect("combine").expose(), &secret);
        }
    }

    #[test]
    fn fewer_than_threshold_shares_give_a_different_secret() {
        let e = OsEntropy::new();
        let secret = [9u8; 32];
        let shares = split(&secret, 5, 3, &e).expect("split");
        let two = [shares[0].duplicate(), shares[1].duplicate()];
        assert_ne!(combine(&two).expect("combine").expose(), &secret);
    }

    #[test]
    fn duplicate_share_is_rejected() {
        let e = OsEntropy::new();
        let shares = split(&[1u8; 16], 3, 2, &e).expect("split");
        let dup = [shares[0].duplicate(), shares[0].duplicate()];
        assert!(matches!(combine(&dup), Err(CryptoError::Shamir(m)) if m == "duplicate share"));
    }

    #[test]
    fn one_of_one_share_is_the_secret() {
        let e = OsEntropy::new();
        let shares = split(&[3u8; 32], 1, 1, &e).expect("split");
        assert_eq!(shares[0].expose(), &[3u8; 32]);
        assert_eq!(combine(&shares).expect("combine").expose(), &[3u8; 32]);
    }

    #[test]
    fn parameters_follow_vault_rules() {
        assert!(validate(0, 0).is_err());
        assert!(validate(3, 4).is_err());
        assert!(validate(3, 1).is_err());
        assert!(validate(256, 2).is_err());
        assert!(validate(1, 1).is_ok());
        assert!(validate(5, 3).is_ok());
    }

    /// Known answer: with 2-of-2 sharing over GF(256) (AES polynomial), the
    /// secret is f(0) = y1*x2/(x1^x2) ^ y2*x1/(x1^x2). For x=1,2 the Lagrange
    /// coefficients are 2/3 and 1/3 in GF(256); 3^-1 = 0xf6, so f(0) =
    /// y1*2*0xf6 ^ y2*0xf6. Shares (1,0x01) and (2,0x03) come from
    /// f(x) = 0x02 ^ 0x03*x... checked here against a hand-built pair.
    #[test]
    fn combine_matches_hand_computed_gf256_interpolation() {
        // f(x) = 0x53 + 0xCA*x over GF(2^8): f(1) = 0x53^0xCA = 0x99,
        // f(2) = 0x53 ^ (0xCA*2) where 0xCA*2 = 0x94 ^ 0x1B (reduction) = 0x8F,
        // so f(2) = 0x53 ^ 0x8F = 0xDC.
        let shares = [
            SecretBytes::new(vec![1, 0x99]),
            SecretBytes::new(vec![2, 0xDC]),
        ];
        assert_eq!(combine(&shares).expect("combine").expose(), &[0x53]);
    }
}
