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

use crate::error::{CoreError, CoreResult};
use crate::sys::SYSTEM_MAX_LEASE_TTL;
use crate::ttl::Ttl;

/// The inputs of one TTL computation, in seconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TtlRequest {
    /// The TTL asked for at creation, or the increment at renewal; 0 for the default.
    pub(crate) requested: Ttl,
    /// The token's period; 0 for a non-periodic token.
    pub(crate) period: Ttl,
    /// The token's `explicit_max_ttl`; 0 for none.
    pub(crate) explicit_max: Ttl,
    /// Creation time (unix seconds): limits count from here.
    pub(crate) start: u64,
    /// The current time (unix seconds).
    pub(crate) now: u64,
}

/// The TTL to grant, and warnings when it was capped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Granted {
    /// Seconds from `now`.
    pub(crate) ttl: Ttl,
    /// Vault's wording when a value was capped.
    pub(crate) warnings: Vec<String>,
}

/// Computes the TTL to grant; fails when the token is already past its
/// maximum lifetime.
pub(crate) fn calculate(req: TtlRequest) -> CoreResult<Granted> {
    let mut max = SYSTEM_MAX_LEASE_TTL;
    if !req.explicit_max.is_zero() && req.explicit_max < max {
        max = req.explicit_max;
    }
    let mut warnings = Vec::new();
    let (mut ttl, max_valid) = if req.period.is_zero() {
        let ttl = req.requested.or(SYSTEM_MAX_LEASE_TTL);
        (ttl, Some(req.start.saturating_add(max.as_secs())))
    } else {
        let mut period = req.period;
        if period > max {
            warnings.push(format!(
                "period of {:?} exceeded the effective max_ttl of {:?}; period value is capped \
                 accordingly",
                period.go_string(),
                max.go_string()
            ));
            period = max;
        }
        let max_valid = (!req.explicit_max.is_zero())
            .then(|| req.start.saturating_add(req.explicit_max.as_secs()));
        (period, max_valid)
    };
    if let Some(max_valid) = max_valid {
        let left = Ttl::from_secs(max_valid.saturating_sub(req.now));
        if left.is_zero() {
            return Err(CoreError::invalid("past the max TTL, cannot renew"));
        }
        if ttl > left {
            // Only a value the caller chose is worth a warning.
            if !req.requested.is_zero() || !req.period.is_zero() {
                warnings.push(format!(
                    "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped \
                     accordingly",
                    ttl.go_string(),
                    left.go_string()
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

    fn h(n: u64) -> Ttl {
        Ttl::from_secs(n * HOUR)
    }

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
            requested: h(1),
            ..at(1000)
        })
        .expect("ttl");
        assert_eq!(g.ttl, h(1));
        assert!(g.warnings.is_empty());
        assert_eq!(calculate(at(1000)).expect("ttl").ttl, SYSTEM_MAX_LEASE_TTL);
    }

    #[test]
    fn explicit_max_caps_from_creation_with_a_warning() {
        let g = calculate(TtlRequest {
            requested: h(2),
            explicit_max: h(3),
            ..at(1000 + 2 * HOUR)
        })
        .expect("ttl");
        assert_eq!(g.ttl, h(1));
        assert!(g.warnings[0].contains("capped"), "{:?}", g.warnings);
        let past = calculate(TtlRequest {
            requested: h(1),
            explicit_max: h(1),
            ..at(1000 + HOUR)
        });
        assert!(past.is_err());
    }

    #[test]
    fn periodic_tokens_get_the_period_and_outlive_the_mount_maximum() {
        let late = 1000 + 40 * 24 * HOUR;
        let g = calculate(TtlRequest {
            requested: h(5),
            period: h(1),
            ..at(late)
        })
        .expect("ttl");
        assert_eq!(g.ttl, h(1));
        let capped = calculate(TtlRequest {
            period: h(10),
            explicit_max: h(4),
            ..at(1000 + 3 * HOUR)
        })
        .expect("ttl");
        assert_eq!(capped.ttl, h(1));
    }
}
