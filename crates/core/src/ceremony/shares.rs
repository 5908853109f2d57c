//! Collecting key shares toward a quorum: unseal, generate-root and rekey
//! all take one share per request until the threshold is reached. A share
//! entered twice is refused (compared in constant time), so one operator
//! cannot make up a quorum alone by repeating a key.

use crate::ceremony::unseal::decode_key;
use crate::error::{CoreError, CoreResult};
use coffer_crypto::{SecretBytes, shamir};

/// The shares entered so far in one attempt. `Debug` shows only the count.
#[derive(Default)]
pub(crate) struct ShareCollector {
    shares: Vec<SecretBytes>,
}

impl std::fmt::Debug for ShareCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareCollector")
            .field("entered", &self.shares.len())
            .finish()
    }
}

impl ShareCollector {
    /// Decodes `key` (hex or base64) and adds it. Refuses a share already
    /// entered in this `attempt` (named in the message). Once `threshold`
    /// shares are in, hands them all out and starts empty again.
    pub(crate) fn add(
        &mut self,
        key: &str,
        threshold: u32,
        attempt: &str,
    ) -> CoreResult<Option<Vec<SecretBytes>>> {
        let share = decode_key(key)?;
        if self.shares.iter().any(|s| s.ct_eq(share.expose())) {
            return Err(CoreError::invalid(format!(
                "this key was already entered in the current {attempt}; enter a different key"
            )));
        }
        self.shares.push(share);
        if self.progress() < threshold {
            return Ok(None);
        }
        Ok(Some(std::mem::take(&mut self.shares)))
    }

    /// Shares entered so far.
    pub(crate) fn progress(&self) -> u32 {
        u32::try_from(self.shares.len()).unwrap_or(u32::MAX)
    }

    /// Whether no share was entered yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.shares.is_empty()
    }
}

/// Validates the number of shares and the threshold of a new split with Vault's rules and narrows them to bytes.
pub(crate) fn share_params(shares: u32, threshold: u32) -> CoreResult<(u8, u8)> {
    shamir::validate(shares, threshold).map_err(|e| CoreError::invalid(e.to_string()))?;
    let shares = u8::try_from(shares)
        .map_err(|_| CoreError::invalid("number of shares cannot exceed 255"))?;
    let threshold =
        u8::try_from(threshold).map_err(|_| CoreError::invalid("threshold cannot exceed 255"))?;
    Ok((shares, threshold))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_handed_out_at_the_threshold_and_repeats_refused() {
        let mut c = ShareCollector::default();
        assert!(c.is_empty());
        assert!(c.add("0a0b", 3, "unseal").expect("first").is_none());
        let err = c.add("0a0b", 3, "unseal").expect_err("repeat");
        assert!(
            err.to_string()
                .contains("already entered in the current unseal")
        );
        assert!(c.add("0c0d", 3, "unseal").expect("second").is_none());
        assert_eq!(c.progress(), 2);
        let all = c.add("0e0f", 3, "unseal").expect("third").expect("quorum");
        assert_eq!(all.len(), 3);
        assert!(c.is_empty(), "a quorum starts the collector afresh");
        assert!(c.add("not a key!", 3, "unseal").is_err());
        assert!(c.is_empty(), "an undecodable key is not counted");
    }
}
