//! `sys/generate-root`: mint a new root token from a quorum of unseal (or recovery) keys, and
//! the client side of its one-time-password (OTP) scheme.
//!
//! The server returns the new token XORed with the OTP and base64-encoded without padding
//! (Go's `RawStdEncoding`, Vault's `roottoken.DecodeToken`); [`decode_root_token`] undoes that.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Client, Method, Result, SecretString};

/// Characters of a base62 OTP (Vault's `base62.Random`).
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// OTP length assumed when a server reports none: a `hvs.` token (4 + 24 characters).
pub const DEFAULT_OTP_LENGTH: usize = 28;

/// The body of `sys/generate-root/attempt` (GET and PUT) and `sys/generate-root/update`.
///
/// `Debug` leaves out the OTP (a `SecretString`); the encoded token is useless without it.
#[derive(Debug, Default, Deserialize)]
pub struct GenerateRootStatus {
    /// Whether an attempt is in progress (or just completed).
    #[serde(default)]
    pub started: bool,
    /// Nonce of the attempt; every key must be submitted with it.
    #[serde(default)]
    pub nonce: String,
    /// Keys entered so far.
    #[serde(default)]
    pub progress: u32,
    /// Keys needed.
    #[serde(default)]
    pub required: u32,
    /// The new root token XOR the OTP, base64 (once complete).
    #[serde(default)]
    pub encoded_token: String,
    /// Older servers' name for `encoded_token`.
    #[serde(default)]
    pub encoded_root_token: String,
    /// Fingerprint of the PGP key the token is encrypted with (never set by Coffer).
    #[serde(default)]
    pub pgp_fingerprint: String,
    /// The OTP the server generated: present only in the answer that starts an attempt
    /// without a caller-supplied OTP.
    #[serde(default)]
    pub otp: SecretString,
    /// Length an OTP must have.
    #[serde(default)]
    pub otp_length: usize,
    /// Whether the attempt finished.
    #[serde(default)]
    pub complete: bool,
}

impl GenerateRootStatus {
    /// The encoded token under whichever name the server used; empty until complete.
    pub fn encoded(&self) -> &str {
        if self.encoded_token.is_empty() {
            &self.encoded_root_token
        } else {
            &self.encoded_token
        }
    }
}

/// Why an encoded root token could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The encoded value is not base64.
    #[error("error decoding base64'd token: {0}")]
    Base64(String),
    /// Token and OTP differ in length: the wrong OTP, or a truncated value.
    #[error(
        "the encoded token is {token} bytes long but the OTP is {otp} characters; \
         they must be the same length (is this the OTP of this attempt?)"
    )]
    Length {
        /// Bytes of the decoded token.
        token: usize,
        /// Bytes of the OTP.
        otp: usize,
    },
    /// The XOR is not text: the OTP does not belong to this token.
    #[error("the decoded token is not text: the OTP does not belong to this encoded token")]
    NotText,
}

/// Decodes the `encoded_token` of a completed attempt with the attempt's OTP.
///
/// Accepts the server's unpadded standard base64 and, leniently, padded or URL-safe input.
pub fn decode_root_token(
    encoded: &str,
    otp: &str,
) -> std::result::Result<SecretString, DecodeError> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

    let trimmed = encoded.trim().trim_end_matches('=');
    let bytes = STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|e| URL_SAFE_NO_PAD.decode(trimmed).map_err(|_| e))
        .map_err(|e| DecodeError::Base64(e.to_string()))?;
    let bytes = zeroize::Zeroizing::new(bytes);
    let otp = otp.trim().as_bytes();
    if bytes.len() != otp.len() {
        return Err(DecodeError::Length {
            token: bytes.len(),
            otp: otp.len(),
        });
    }
    let token: Vec<u8> = bytes.iter().zip(otp).map(|(a, b)| a ^ b).collect();
    String::from_utf8(token)
        .map(SecretString::new)
        .map_err(|e| {
            zeroize::Zeroize::zeroize(&mut e.into_bytes());
            DecodeError::NotText
        })
}

/// A fresh random base62 OTP of `length` characters (Vault's `-generate-otp`), from the
/// operating system's CSPRNG.
pub fn generate_otp(length: usize) -> Result<SecretString> {
    use ring::rand::{SecureRandom, SystemRandom};

    let rng = SystemRandom::new();
    let mut otp = String::with_capacity(length);
    let mut buf = zeroize::Zeroizing::new([0u8; 64]);
    while otp.len() < length {
        rng.fill(buf.as_mut())
            .map_err(|_| crate::Error::Random("the system random generator failed".to_owned()))?;
        // Rejection sampling: 248 = 4 * 62, so every kept byte maps to a character uniformly.
        for b in buf.iter().filter(|&&b| b < 248) {
            if otp.len() == length {
                break;
            }
            otp.push(char::from(BASE62[usize::from(*b % 62)]));
        }
    }
    Ok(SecretString::new(otp))
}

impl Client {
    /// `GET sys/generate-root/attempt`: the attempt in progress, if any, and the OTP length.
    pub async fn generate_root_status(&self) -> Result<GenerateRootStatus> {
        self.get_json("sys/generate-root/attempt").await
    }

    /// `PUT sys/generate-root/attempt`: starts an attempt. With `pgp_key` (base64 of a binary
    /// OpenPGP public key) the token will come back encrypted to it; otherwise, without `otp`
    /// the server generates one and returns it in [`GenerateRootStatus::otp`] (Vault 1.10 and
    /// later, and Coffer).
    pub async fn generate_root_init(
        &self,
        otp: Option<&SecretString>,
        pgp_key: Option<&str>,
    ) -> Result<GenerateRootStatus> {
        let mut body = json!({});
        if let Some(otp) = otp {
            body["otp"] = json!(otp.expose());
        }
        if let Some(key) = pgp_key {
            body["pgp_key"] = json!(key);
        }
        self.put_json("sys/generate-root/attempt", &body).await
    }

    /// `DELETE sys/generate-root/attempt`: cancels the attempt (succeeds when there is none).
    pub async fn generate_root_cancel(&self) -> Result<()> {
        self.delete_raw("sys/generate-root/attempt", None).await
    }

    /// `PUT sys/generate-root/update`: submits one key share of the attempt `nonce`.
    pub async fn generate_root_update(
        &self,
        key: &SecretString,
        nonce: &str,
    ) -> Result<GenerateRootStatus> {
        let body = json!({ "key": key.expose(), "nonce": nonce });
        self.put_json("sys/generate-root/update", &body).await
    }

    /// `DELETE` of a raw endpoint, with an optional body; any 2xx is success.
    pub(crate) async fn delete_raw(&self, path: &str, body: Option<&Value>) -> Result<()> {
        let response = self.raw(Method::Delete, path, &[], body).await?;
        if response.is_success() {
            Ok(())
        } else {
            Err(response.to_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};

    use super::*;

    const TOKEN: &str = "hvs.abcdefghijklmnopqrstuvwx";
    const OTP: &str = "0123456789ABCDEFGHIJKLMNOPQR";

    fn encode(token: &str, otp: &str) -> Vec<u8> {
        token.bytes().zip(otp.bytes()).map(|(a, b)| a ^ b).collect()
    }

    #[test]
    fn decoding_undoes_the_servers_xor_and_unpadded_base64() {
        let encoded = STANDARD_NO_PAD.encode(encode(TOKEN, OTP));
        let token = decode_root_token(&encoded, OTP).expect("decode");
        assert_eq!(token.expose(), TOKEN);
    }

    #[test]
    fn decoding_accepts_padding_url_safe_alphabet_and_surrounding_whitespace() {
        let raw = encode(TOKEN, OTP);
        for encoded in [
            STANDARD.encode(&raw),
            URL_SAFE_NO_PAD.encode(&raw),
            format!(" {}\n", STANDARD_NO_PAD.encode(&raw)),
        ] {
            let token = decode_root_token(&encoded, &format!("{OTP}\n")).expect("decode");
            assert_eq!(token.expose(), TOKEN, "{encoded}");
        }
    }

    #[test]
    fn an_otp_of_the_wrong_length_is_refused_with_both_lengths() {
        let encoded = STANDARD_NO_PAD.encode(encode(TOKEN, OTP));
        let err = decode_root_token(&encoded, "short").expect_err("length");
        assert_eq!(err, DecodeError::Length { token: 28, otp: 5 });
        assert!(err.to_string().contains("28 bytes"), "{err}");
    }

    #[test]
    fn a_value_that_is_not_base64_is_refused() {
        let err = decode_root_token("not base64!", OTP).expect_err("base64");
        assert!(matches!(err, DecodeError::Base64(_)), "{err:?}");
    }

    #[test]
    fn an_otp_that_turns_the_token_into_non_text_is_refused() {
        let encoded = STANDARD_NO_PAD.encode([0x80u8, 0x80]);
        assert_eq!(
            decode_root_token(&encoded, "\u{0}\u{0}").expect_err("not text"),
            DecodeError::NotText
        );
    }

    #[test]
    fn generated_otps_are_base62_of_the_requested_length_and_differ() {
        let a = generate_otp(DEFAULT_OTP_LENGTH).expect("otp");
        let b = generate_otp(DEFAULT_OTP_LENGTH).expect("otp");
        assert_eq!(a.expose().len(), DEFAULT_OTP_LENGTH);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(generate_otp(200).expect("long").expose().len(), 200);
        assert_eq!(generate_otp(0).expect("empty").expose(), "");
    }

    #[test]
    fn a_generated_otp_round_trips_a_token() {
        let otp = generate_otp(TOKEN.len()).expect("otp");
        let encoded = STANDARD_NO_PAD.encode(encode(TOKEN, otp.expose()));
        assert_eq!(
            decode_root_token(&encoded, otp.expose())
                .expect("decode")
                .expose(),
            TOKEN
        );
    }

    #[test]
    fn status_parses_the_servers_answer_and_hides_the_otp_from_debug() {
        let status: GenerateRootStatus = serde_json::from_value(json!({
            "started": true, "nonce": "n-1", "progress": 1, "required": 2,
            "encoded_token": "", "encoded_root_token": "", "pgp_fingerprint": "",
            "otp": "secret-otp", "otp_length": 28, "complete": false
        }))
        .expect("parse");
        assert_eq!((status.progress, status.required), (1, 2));
        assert_eq!(status.otp.expose(), "secret-otp");
        assert!(!format!("{status:?}").contains("secret-otp"));
        assert_eq!(status.encoded(), "");
        let legacy: GenerateRootStatus =
            serde_json::from_value(json!({"encoded_root_token": "abc"})).expect("legacy");
        assert_eq!(legacy.encoded(), "abc");
    }
}
