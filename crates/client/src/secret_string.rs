//! A string that holds key material or a token: zeroed on drop, never printed by `Debug`.

use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

/// A token, unseal share or recovery share.
///
/// Deliberately neither `Clone` nor `Serialize`: copies and accidental logging are how secrets
/// leak. Read the value with [`SecretString::expose`] at the one place that needs it.
/// `Default` is the empty string (a field the server left out or sent empty).
#[derive(Default)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps `value`.
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret value. Call sites are the places to audit for leaks.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// True when the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value.to_owned())
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let secret = SecretString::from("hvs.very-secret");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(secret.expose(), "hvs.very-secret");
    }
}
