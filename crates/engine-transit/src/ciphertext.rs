//! The `vault:v<N>:<base64>` envelope of ciphertexts, signatures and HMACs,
//! with Vault's error texts for each way it can be malformed.

use coffer_core::{CoreError, CoreResult};

/// The fixed part before the version number.
const PREFIX: &str = "vault:v";

/// `vault:v<version>:<body>`.
pub(crate) fn format(version: u64, body: &str) -> String {
    let mut out = prefix(version, body.len());
    out.push_str(body);
    out
}

/// `vault:v<version>:` and the standard base64 of `bytes`, written straight
/// into the one string (every encrypt, HMAC and signature answers one).
pub(crate) fn encode(version: u64, bytes: &[u8]) -> String {
    use base64::Engine as _;
    let mut out = prefix(version, bytes.len().div_ceil(3) * 4);
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut out);
    out
}

/// `vault:v<version>:`, with room for `body_len` more bytes.
fn prefix(version: u64, body_len: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(PREFIX.len() + 21 + body_len);
    out.push_str(PREFIX);
    // Writing to a String cannot fail.
    let _ = write!(out, "{version}:");
    out
}

/// What is being parsed, for error texts (`ciphertext`, `signature`, `HMAC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `decrypt`, `rewrap`.
    Ciphertext,
    /// `verify` with `signature`.
    Signature,
    /// `verify` with `hmac`.
    Hmac,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Self::Ciphertext => "ciphertext",
            Self::Signature => "signature",
            Self::Hmac => "HMAC",
        }
    }
}

/// Splits `vault:v<N>:<body>` into `(N, body)`. Version 0 (from Vault's
/// first releases) means 1. The body is not decoded here.
pub(crate) fn parse(kind: Kind, value: &str) -> CoreResult<(u64, &str)> {
    let noun = kind.noun();
    let Some(rest) = value.strip_prefix(PREFIX) else {
        return Err(CoreError::invalid(match kind {
            Kind::Hmac => "invalid HMAC to verify: no prefix".to_owned(),
            _ => format!("invalid {noun}: no prefix"),
        }));
    };
    let Some((version, body)) = rest.split_once(':') else {
        return Err(CoreError::invalid(format!(
            "invalid {noun}: wrong number of fields"
        )));
    };
    let version: u64 = version.parse().map_err(|_| {
        CoreError::invalid(format!(
            "invalid {noun}: version number could not be decoded"
        ))
    })?;
    Ok((version.max(1), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_is_the_prefix_and_standard_base64_for_every_padding() {
        use base64::Engine as _;
        for len in 0..8 {
            let bytes: Vec<u8> = (0..len).map(|i| i * 37).collect();
            let body = base64::engine::general_purpose::STANDARD.encode(&bytes);
            assert_eq!(encode(12, &bytes), format!("vault:v12:{body}"));
        }
        assert_eq!(encode(u64::MAX, b"hi"), format!("vault:v{}:aGk=", u64::MAX));
        assert_eq!(format(1, "x"), "vault:v1:x");
    }

    fn err(kind: Kind, v: &str) -> String {
        match parse(kind, v) {
            Err(CoreError::InvalidRequest(m)) => m,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn well_formed_values_split_into_version_and_body() {
        assert_eq!(
            parse(Kind::Ciphertext, "vault:v3:abc").expect("ok"),
            (3, "abc")
        );
        assert_eq!(
            parse(Kind::Ciphertext, "vault:v0:x:y").expect("ok"),
            (1, "x:y")
        );
        assert_eq!(format(12, "Zm9v"), "vault:v12:Zm9v");
    }

    #[test]
    fn malformed_values_get_vaults_messages() {
        assert_eq!(
            err(Kind::Ciphertext, "v1:abc"),
            "invalid ciphertext: no prefix"
        );
        assert_eq!(
            err(Kind::Signature, "vault:v1"),
            "invalid signature: wrong number of fields"
        );
        assert_eq!(
            err(Kind::Ciphertext, "vault:vx:abc"),
            "invalid ciphertext: version number could not be decoded"
        );
        assert_eq!(
            err(Kind::Ciphertext, "vault:v-1:abc"),
            "invalid ciphertext: version number could not be decoded"
        );
        assert_eq!(err(Kind::Hmac, "abc"), "invalid HMAC to verify: no prefix");
    }
}
