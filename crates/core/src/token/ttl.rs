//! How long a token lives: Vault's TTL rules for token creation and renewal
//! (`CalculateTTL` in Vault's SDK, restated).
//!
//! - The effective maximum is the token mount's max lease TTL (the system's
//!   32 days: Coffer's token store cannot be tuned), lowered by the token's
//!   `explicit_max_ttl`.
//! - A periodic token gets its period (capped by that maximum) on creation
//!   and every renewal, and lives past the mount maximum unless it has an
//!   `explicit_max_ttl`, counted from creation.
//! - Any other token gets the requested TTL (or increment), else the default
//!   (32 days), and never lives past creation + the effective maximum.

use crate::engine::field::go_duration;
use crate::error::{CoreError, CoreResult};
use crate::sys::SYSTEM_MAX_LEASE_TTL;

/// The inputs of one TTL computation, in seconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TtlRequest {
    /// The TTL asked for at creation, or the increment at renewal; 0 for the default.
    pub(crate) requested: u64,
    /// The token's period; 0 for a non-periodic token.
    pub(crate) period: u64,
    /// The token's `explicit_max_ttl`; 0 for none.
    pub(crate) explicit_max: u64,
    /// Creation time (unix seconds): limits count from here.
    pub(crate) start: u64,
    /// The current time (unix seconds).
    pub(crate) now: u64,
}

/// The TTL to grant, and warnings when it was capped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Granted {
    /// Seconds from `now`.
    pub(crate) ttl: u64,
    /// Vault's wording when a value was capped.
    pub(crate) warnings: Vec<String>,
}

/// Computes the TTL to grant; fails when the token is already past its
/// maximum lifetime.
pub(crate) fn calculate(req: TtlRequest) -> CoreResult<Granted> {
    let mut max = SYSTEM_MAX_LEASE_TTL;
    if req.explicit_max > 0 && req.explicit_max < max {
        max = req.explicit_max;
    }
    let mut warnings = Vec::new();
    let (mut ttl, max_valid) = if req.period > 0 {
        let mut period = req.period;
        if period > max {
            warnings.push(format!(
                "period of {:?} exceeded the effective max_ttl of {:?}; period value is capped \
                 accordingly",
                go_duration(period),
                go_duration(max)
            ));
            period = max;
        }
        let max_valid = (req.explicit_max > 0).then(|| req.start.saturating_add(req.explicit_max));
        (period, max_valid)
    } else {
        let ttl = if req.requested > 0 {
            req.requested
        } else {
            SYSTEM_MAX_LEASE_TTL
        };
        (ttl, Some(req.start.saturating_add(max)))
    };
    if let Some(max_valid) = max_valid {
        let left = max_valid.saturating_sub(req.now);
        if left == 0 {
            return Err(CoreError::invalid("past the max TTL, cannot renew"));
        }
        if ttl > left {
            // Only a value the caller chose is worth a warning.
            if req.requested > 0 || req.period > 0 {
                warnings.push(format!(
                    "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped \
                     accordingly",
                    go_duration(ttl),
                    go_duration(left)
                ));
            }
            ttl = left;
        }
    }
    Ok(Granted { ttl, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3600;

    fn at(now: u64) -> TtlRequest {
        TtlRequest {
            start: 1000,
            now,
            ..TtlRequest::default()
        }
    }

    #[test]
    fn requested_ttl_is_granted_and_the_default_is_32_days() {
        let g = calculate(TtlRequest {
            requested: HOUR,
            ..at(1000)
        })
        .expect("ttl");
        assert_eq!(g.ttl, HOUR);
        assert!(g.warnings.is_empty());
        assert_eq!(calculate(at(1000)).expect("ttl").ttl, SYSTEM_MAX_LEASE_TTL);
    }

    #[test]
    fn explicit_max_caps_from_creation_with_a_warning() {
        let g = calculate(TtlRequest {
            requested: 2 * HOUR,
            explicit_max: 3 * HOUR,
            ..at(1000 + 2 * HOUR)
        })
        .expect("ttl");
        assert_eq!(g.ttl, HOUR);
        assert!(g.warnings[0].contains("capped"), "{:?}", g.warnings);
        let past = calculate(TtlRequest {
            requested: HOUR,
            explicit_max: HOUR,
            ..at(1000 + HOUR)
        });
        assert!(past.is_err());
    }

    #[test]
    fn periodic_tokens_get_the_period_and_outlive_the_mount_maximum() {
        let late = 1000 + 40 * 24 * HOUR;
        let g = calculate(TtlRequest {
            requested: 5 * HOUR,
            period: HOUR,
            ..at(late)
        })
        .expect("ttl");
        assert_eq!(g.ttl, HOUR);
        let capped = calculate(TtlRequest {
            period: 10 * HOUR,
            explicit_max: 4 * HOUR,
            ..at(1000 + 3 * HOUR)
        })
        .expect("ttl");
        assert_eq!(capped.ttl, HOUR);
    }
}
