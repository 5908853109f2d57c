//! [`Ttl`]: a length of time in whole seconds (a TTL, a period, a
//! delete-after), as Vault's API and Coffer's storage carry it.
//!
//! It parses itself from every form Vault accepts for such a field, so a
//! request struct declares `Option<Ttl>` and the value is checked once, at
//! the edge: a JSON number of seconds, a decimal string (`"90"`, as the
//! `vault` CLI sends numbers), or a Go-style duration (`"90s"`, `"1h30m"`,
//! `"768h"`; empty means 0). It is stored and sent as a plain number.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Whole seconds. Zero means "not set" where a field says so (the mount's
/// default, no explicit maximum, not periodic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Ttl(u64);

impl Ttl {
    /// No time at all; "not set" for optional limits.
    pub const ZERO: Self = Self(0);

    /// `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// The length in seconds.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// Whether this is zero (unset, where zero means unset).
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// This value, or `default` when it is zero.
    pub const fn or(self, default: Self) -> Self {
        if self.0 == 0 { default } else { self }
    }

    /// The tighter of two limits where zero means "no limit": the smaller
    /// non-zero one, or zero when both are zero.
    pub fn tighter(self, other: Self) -> Self {
        match (self.0, other.0) {
            (0, _) => other,
            (_, 0) => self,
            (a, b) => Self(a.min(b)),
        }
    }

    /// As a [`Duration`].
    pub const fn as_duration(self) -> Duration {
        Duration::from_secs(self.0)
    }

    /// Parses `"90"`, `"90s"`, `"1h30m"` or `"768h"`; empty is zero.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Self::ZERO);
        }
        if let Ok(n) = s.parse::<u64>() {
            return Ok(Self(n));
        }
        humantime::parse_duration(s)
            .map(|d| Self(d.as_secs()))
            .map_err(|e| format!("cannot parse {s:?} as a duration: {e}"))
    }

    /// Go's `time.Duration.String()` form (`"0s"`, `"1h0m0s"`, `"1m30s"`),
    /// which Vault uses in several responses and messages.
    pub fn go_string(self) -> String {
        let secs = self.0;
        if secs == 0 {
            return "0s".to_owned();
        }
        let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
        if h > 0 {
            format!("{h}h{m}m{s}s")
        } else if m > 0 {
            format!("{m}m{s}s")
        } else {
            format!("{s}s")
        }
    }
}

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n.as_u64().map(Self).ok_or_else(|| {
                D::Error::custom(format!("expected a non-negative duration, got {n}"))
            }),
            Value::String(s) => Self::parse(&s).map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "expected a duration, got {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        ttl: Option<Ttl>,
    }

    fn body(v: serde_json::Value) -> Result<Option<Ttl>, serde_json::Error> {
        serde_json::from_value::<Body>(v).map(|b| b.ttl)
    }

    #[test]
    fn every_form_vault_accepts_parses_to_seconds() {
        for (v, secs) in [
            (json!(90), 90),
            (json!("90"), 90),
            (json!("90s"), 90),
            (json!("1h30m"), 5400),
            (json!("768h"), 2_764_800),
            (json!(""), 0),
        ] {
            assert_eq!(body(json!({ "ttl": v })).expect("ttl"), Some(Ttl(secs)));
        }
        assert_eq!(body(json!({})).expect("absent"), None);
        assert_eq!(body(json!({ "ttl": null })).expect("null"), None);
        for bad in [
            json!(-1),
            json!(1.5),
            json!("soon"),
            json!(true),
            json!([1]),
        ] {
            assert!(body(json!({ "ttl": bad })).is_err(), "{bad}");
        }
    }

    #[test]
    fn stored_and_sent_as_a_plain_number_and_rendered_as_go_does() {
        assert_eq!(serde_json::to_value(Ttl(3600)).expect("json"), json!(3600));
        assert_eq!(Ttl(0).go_string(), "0s");
        assert_eq!(Ttl(90).go_string(), "1m30s");
        assert_eq!(Ttl(3600).go_string(), "1h0m0s");
        assert_eq!(Ttl::ZERO.or(Ttl(5)), Ttl(5));
        assert_eq!(Ttl(3).or(Ttl(5)), Ttl(3));
        assert_eq!(Ttl(0).tighter(Ttl(7)), Ttl(7));
        assert_eq!(Ttl(9).tighter(Ttl(0)), Ttl(9));
        assert_eq!(Ttl(9).tighter(Ttl(7)), Ttl(7));
    }
}
