//! Value parsers for vault-style flags: Go booleans (`-seal-wrap=false`), `k=v` options and
//! durations (`-ttl=768h`).

/// Parses a boolean the way Go's `flag` package does (`1`, `t`, `true`, `TRUE`, `0`, `f`, ...).
pub(crate) fn go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!("invalid boolean value {other:?}")),
    }
}

/// Parses `key=value` (mount `-options`).
pub(crate) fn key_value(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{value:?} must be key=value")),
    }
}

/// Parses a duration flag as vault does (`parseutil.ParseDurationSecond`): whole seconds
/// (`90`), days (`7d`), or a Go duration (`1h30m`, `1.5h`, `500ms`); into whole seconds.
pub(crate) fn duration_secs(value: &str) -> Result<u64, String> {
    let text = value.trim();
    if text.is_empty() {
        return Ok(0);
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    if let Some(days) = text.strip_suffix('d').and_then(|d| d.parse::<u64>().ok()) {
        return days
            .checked_mul(86_400)
            .ok_or_else(|| format!("duration {value:?} is too long"));
    }
    go_duration_secs(text).ok_or_else(|| {
        format!("invalid duration {value:?}: use seconds or a unit, e.g. 90, 30s, 5m, 1h30m, 7d")
    })
}

/// A non-negative Go duration string (`1h30m`, `1.5h`, `250ms`) in whole seconds.
fn go_duration_secs(text: &str) -> Option<u64> {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            _ => return None,
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        nanos = nanos.checked_add(whole.checked_mul(scale)?)?;
        if !fraction.is_empty() {
            let digits: u128 = fraction.parse().ok()?;
            let denominator = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
            nanos = nanos.checked_add(digits.checked_mul(scale)? / denominator)?;
        }
        rest = after;
    }
    u64::try_from(nanos / NANOS_PER_SEC).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_booleans_accept_the_usual_spellings() {
        for yes in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(go_bool(yes), Ok(true), "{yes}");
        }
        for no in ["0", "f", "F", "false", "FALSE", "False"] {
            assert_eq!(go_bool(no), Ok(false), "{no}");
        }
        assert!(go_bool("yes").is_err());
    }

    #[test]
    fn options_split_on_the_first_equals_sign() {
        assert_eq!(key_value("version=2"), Ok(("version".into(), "2".into())));
        assert_eq!(key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(key_value("novalue").is_err());
        assert!(key_value("=v").is_err());
    }

    #[test]
    fn durations_parse_like_vaults_flags() {
        assert_eq!(duration_secs("90"), Ok(90));
        assert_eq!(duration_secs("30s"), Ok(30));
        assert_eq!(duration_secs("1h30m"), Ok(5400));
        assert_eq!(duration_secs("1.5h"), Ok(5400));
        assert_eq!(duration_secs("768h"), Ok(2_764_800));
        assert_eq!(duration_secs("7d"), Ok(604_800));
        assert_eq!(duration_secs("1500ms"), Ok(1));
        assert_eq!(duration_secs(""), Ok(0));
        for bad in ["abc", "5x", "-5m", "1h-2m", "h", "1.2.3s"] {
            assert!(duration_secs(bad).is_err(), "{bad}");
        }
    }
}
