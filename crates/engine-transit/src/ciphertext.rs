//! The `vault:v<N>:<base64>` envelope of ciphertexts, signatures and HMACs,
//! with Vault's error texts for each way it can be malformed.

use coffer_core::{CoreError, CoreResult};

/// The fixed part before the version number.
const PREFIX: &str = "vault:v";

/// `vault:v<version>:<body>`.
pub(crate) fn format(version: u64, body: &str) -> String {
    format!("{PREFIX}{version}:{body}")
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
