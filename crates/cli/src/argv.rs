//! Turns vault-style single-dash long flags (`-key-shares=3`) into clap's `--key-shares=3`.
//!
//! Operators paste commands from Vault documentation, so `-format=json`, `-dev` and `-seal-wrap`
//! must work. A token is rewritten when it starts with one `-` followed by at least two
//! characters and is not a negative number; single-letter flags (`-f`), a lone `-` (stdin),
//! `--long` flags and everything after a `--` separator are left as they are.

use std::ffi::OsString;

/// Normalises a full argv (program name first).
pub(crate) fn normalise<I>(args: I) -> Vec<OsString>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut after_separator = false;
    args.into_iter()
        .map(Into::into)
        .enumerate()
        .map(|(index, arg)| {
            if index == 0 || after_separator {
                return arg;
            }
            if arg == "--" {
                after_separator = true;
                return arg;
            }
            match arg.to_str() {
                Some(text) if is_single_dash_long_flag(text) => OsString::from(format!("-{text}")),
                _ => arg,
            }
        })
        .collect()
}

fn is_single_dash_long_flag(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('-') else {
        return false;
    };
    if rest.starts_with('-') || rest.chars().count() < 2 {
        return false;
    }
    !is_number(rest)
}

/// `5`, `1.5`, `3e2`: what follows a minus sign in a negative number.
fn is_number(text: &str) -> bool {
    text.parse::<f64>().is_ok() && text.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalise(args.iter().copied())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn single_dash_long_flags_gain_a_second_dash() {
        assert_eq!(
            norm(&[
                "coffer",
                "operator",
                "init",
                "-key-shares=3",
                "-key-threshold",
                "2"
            ]),
            [
                "coffer",
                "operator",
                "init",
                "--key-shares=3",
                "--key-threshold",
                "2"
            ]
        );
    }

    #[test]
    fn boolean_and_format_flags_from_vault_docs_are_rewritten() {
        assert_eq!(
            norm(&[
                "coffer",
                "secrets",
                "enable",
                "-seal-wrap",
                "-format=json",
                "kv"
            ]),
            [
                "coffer",
                "secrets",
                "enable",
                "--seal-wrap",
                "--format=json",
                "kv"
            ]
        );
    }

    #[test]
    fn double_dash_flags_are_left_alone() {
        assert_eq!(
            norm(&["coffer", "--address=x", "status"]),
            ["coffer", "--address=x", "status"]
        );
    }

    #[test]
    fn single_letter_flags_and_lone_dash_are_left_alone() {
        assert_eq!(
            norm(&["coffer", "write", "-f", "kv/x", "-"]),
            ["coffer", "write", "-f", "kv/x", "-"]
        );
    }

    #[test]
    fn negative_numbers_are_not_flags() {
        assert_eq!(
            norm(&["coffer", "kv", "put", "-cas", "-1"]),
            ["coffer", "kv", "put", "--cas", "-1"]
        );
        assert_eq!(
            norm(&["coffer", "x", "-1.5", "-10"]),
            ["coffer", "x", "-1.5", "-10"]
        );
    }

    #[test]
    fn arguments_after_separator_are_untouched() {
        assert_eq!(
            norm(&["coffer", "kv", "put", "-mount=kv", "--", "-weird-key=v"]),
            ["coffer", "kv", "put", "--mount=kv", "--", "-weird-key=v"]
        );
    }

    #[test]
    fn program_name_is_never_rewritten() {
        assert_eq!(norm(&["-coffer", "status"]), ["-coffer", "status"]);
    }

    #[test]
    fn key_value_arguments_are_untouched() {
        assert_eq!(
            norm(&["coffer", "kv", "put", "a/b", "k=-v"]),
            ["coffer", "kv", "put", "a/b", "k=-v"]
        );
    }
}
