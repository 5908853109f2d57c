//! Value parsers for vault-style flags: Go booleans (`-seal-wrap=false`) and `k=v` options.

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
}
