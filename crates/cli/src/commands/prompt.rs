//! Asking for a secret (unseal key, token) without echoing it.
//!
//! On a terminal the input is read with echo off (`rpassword`); otherwise (pipes, CI) one line
//! is read from stdin, so `echo $KEY | coffer operator unseal` works as with vault.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use coffer_client::SecretString;

/// Prompts with `prompt` and returns the trimmed answer; an empty answer is an error.
pub(crate) fn secret(prompt: &str) -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    let raw = if stdin.is_terminal() {
        rpassword::prompt_password(prompt).context("error reading from the terminal")?
    } else {
        read_line(&mut stdin.lock())?
    };
    let value = SecretString::new(raw);
    let trimmed = value.expose().trim();
    if trimmed.is_empty() {
        bail!("no value was entered");
    }
    Ok(SecretString::from(trimmed))
}

/// True when stdin is a terminal, i.e. [`secret`] will prompt rather than read a pipe.
pub(crate) fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// The key share of `operator unseal | generate-root | rekey`: the argument as given, or, when it
/// is omitted or `-`, asked for with `prompt` (one line of stdin when that is not a terminal).
pub(crate) fn key_share(arg: Option<String>, prompt: &str) -> anyhow::Result<SecretString> {
    match arg {
        Some(key) if key != "-" => Ok(SecretString::new(key)),
        _ => secret(prompt),
    }
}

fn read_line(reader: &mut dyn BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    reader.read_line(&mut line).context("error reading stdin")?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piped_input_is_read_one_line_at_a_time() {
        let mut input = std::io::Cursor::new("first-key\nsecond\n");
        assert_eq!(read_line(&mut input).expect("line"), "first-key\n");
    }
}
