//! What the PKCS#11 seal needs to know, in this crate's own words.
//!
//! The server turns its `seal "pkcs11" { ... }` stanza (and `VAULT_HSM_*`
//! variables) into a [`Pkcs11Options`]; this crate never sees HCL, so it
//! does not depend on the server and the server does not leak into it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::error::HsmError;
use crate::mechanism::{CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_GCM, CKM_RSA_PKCS_OAEP};

/// `CKM_SHA256_HMAC`, the only HMAC mechanism Vault (and Coffer) supports.
pub const CKM_SHA256_HMAC: u64 = 0x0251;

/// Configuration of a [`crate::Pkcs11Seal`]. Field meanings follow Vault's
/// pkcs11 seal parameters of the same names.
pub struct Pkcs11Options {
    /// Path of the PKCS#11 module (`.so`).
    pub lib: PathBuf,
    /// Slot id. Used only when `token_label` is `None`: slot ids are not
    /// stable (SoftHSM renumbers a slot when its token is initialised).
    pub slot: Option<u64>,
    /// Label of the token; the robust way to pick it.
    pub token_label: Option<String>,
    /// User PIN for `C_Login`. Zeroized on drop, redacted in `Debug`.
    pub pin: SecretString,
    /// Label of the key new blobs are wrapped with.
    pub key_label: String,
    /// `CKA_ID` of that key, when labels alone are ambiguous.
    pub key_id: Option<Vec<u8>>,
    /// Label of the HMAC key (required by the AES-CBC mechanisms).
    pub hmac_key_label: Option<String>,
    /// `CKA_ID` of the HMAC key.
    pub hmac_key_id: Option<Vec<u8>>,
    /// `CKM_*` code; `None` picks by key type (AES → `CKM_AES_GCM`, RSA →
    /// `CKM_RSA_PKCS_OAEP`; nothing found → AES-GCM).
    pub mechanism: Option<u64>,
    /// HMAC mechanism; only [`CKM_SHA256_HMAC`] is accepted.
    pub hmac_mechanism: Option<u64>,
    /// Hash (and MGF1 hash) for RSA-OAEP.
    pub rsa_oaep_hash: OaepHash,
    /// Create missing keys at start instead of failing.
    pub generate_key: bool,
    /// Open read-write sessions even when read-only would do.
    pub force_rw_session: bool,
    /// Most sessions (and so concurrent HSM operations) at once; at least 1.
    pub max_parallel: usize,
    /// Upper bound for [`coffer_core::seal::Seal::health`]; a hung HSM makes
    /// health report unhealthy after this long instead of blocking callers.
    pub health_timeout: Duration,
    /// Upper bound for one wrap or unwrap, including the wait for a free
    /// session. A hung HSM then fails the operation with a timeout error
    /// instead of holding its caller (and the node's state lock) forever.
    pub operation_timeout: Duration,
}

/// Default [`Pkcs11Options::operation_timeout`]: generous for a network HSM
/// (operations take milliseconds), short enough that an operator notices.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

impl Pkcs11Options {
    /// Options with Vault's defaults for everything but the required fields:
    /// AES-GCM (or what the key type implies), sha256 OAEP, no key
    /// generation, read-only sessions, `max_parallel = 1`.
    pub fn new(
        lib: impl Into<PathBuf>,
        token_label: impl Into<String>,
        pin: SecretString,
        key_label: impl Into<String>,
    ) -> Self {
        Self {
            lib: lib.into(),
            slot: None,
            token_label: Some(token_label.into()),
            pin,
            key_label: key_label.into(),
            key_id: None,
            hmac_key_label: None,
            hmac_key_id: None,
            mechanism: None,
            hmac_mechanism: None,
            rsa_oaep_hash: OaepHash::default(),
            generate_key: false,
            force_rw_session: false,
            max_parallel: 1,
            health_timeout: Duration::from_secs(2),
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
        }
    }

    /// Checks what can be checked without talking to the HSM.
    pub(crate) fn validate(&self) -> Result<(), HsmError> {
        let invalid = |m: String| Err(HsmError::InvalidConfig(m));
        if self.token_label.is_none() && self.slot.is_none() {
            return invalid("either token_label or slot must be set".to_owned());
        }
        if self.key_label.is_empty() {
            return invalid("key_label must not be empty".to_owned());
        }
        if self.max_parallel == 0 {
            return invalid("max_parallel must be at least 1".to_owned());
        }
        if let Some(m) = self.hmac_mechanism
            && m != CKM_SHA256_HMAC
        {
            return invalid(format!(
                "hmac_mechanism {m:#06x} is not supported (only 0x0251, CKM_SHA256_HMAC)"
            ));
        }
        match self.mechanism {
            None | Some(CKM_AES_GCM | CKM_RSA_PKCS_OAEP) => {}
            Some(CKM_AES_CBC_PAD | CKM_AES_CBC) => {
                if self.hmac_key_label.as_deref().is_none_or(str::is_empty) {
                    return invalid(
                        "the AES-CBC mechanisms need hmac_key_label for integrity".to_owned(),
                    );
                }
            }
            Some(m) => {
                return invalid(format!(
                    "mechanism {m:#06x} is not supported (expected 0x1087 CKM_AES_GCM, \
                     0x1085 CKM_AES_CBC_PAD, 0x1082 CKM_AES_CBC or 0x0009 CKM_RSA_PKCS_OAEP)"
                ));
            }
        }
        Ok(())
    }

    /// How the token is named in messages: `token "x"` or `slot 3`.
    pub(crate) fn token_description(&self) -> String {
        match (&self.token_label, self.slot) {
            (Some(label), _) => format!("token \"{label}\""),
            (None, Some(slot)) => format!("slot {slot}"),
            (None, None) => "no token".to_owned(),
        }
    }
}

impl fmt::Debug for Pkcs11Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Options")
            .field("lib", &self.lib)
            .field("slot", &self.slot)
            .field("token_label", &self.token_label)
            .field("pin", &"[redacted]")
            .field("key_label", &self.key_label)
            .field("key_id", &self.key_id)
            .field("hmac_key_label", &self.hmac_key_label)
            .field("hmac_key_id", &self.hmac_key_id)
            .field("mechanism", &self.mechanism)
            .field("hmac_mechanism", &self.hmac_mechanism)
            .field("rsa_oaep_hash", &self.rsa_oaep_hash)
            .field("generate_key", &self.generate_key)
            .field("force_rw_session", &self.force_rw_session)
            .field("max_parallel", &self.max_parallel)
            .field("health_timeout", &self.health_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .finish()
    }
}

/// Hash used by RSA-OAEP, for both the label digest and MGF1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OaepHash {
    /// SHA-1: the only one Debian 12's SoftHSM 2.6.1 accepts.
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256, Vault's default.
    #[default]
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl OaepHash {
    /// Every hash, weakest first.
    pub const ALL: [Self; 5] = [
        Self::Sha1,
        Self::Sha224,
        Self::Sha256,
        Self::Sha384,
        Self::Sha512,
    ];

    /// From Vault's spelling (any case); `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|h| h.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Vault's spelling: `sha1` ... `sha512`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha224 => "sha224",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Pkcs11Options {
        Pkcs11Options::new("/lib.so", "t", SecretString::from("1234"), "k")
    }

    #[test]
    fn debug_never_prints_the_pin() {
        let o = Pkcs11Options::new("/lib.so", "t", SecretString::from("s3cr3t-pin"), "k");
        assert!(!format!("{o:?}").contains("s3cr3t"));
    }

    #[test]
    fn cbc_mechanisms_without_an_hmac_key_are_rejected() {
        let mut o = options();
        o.mechanism = Some(CKM_AES_CBC_PAD);
        assert!(
            matches!(o.validate(), Err(HsmError::InvalidConfig(m)) if m.contains("hmac_key_label"))
        );
        o.hmac_key_label = Some("h".to_owned());
        assert!(o.validate().is_ok());
    }

    #[test]
    fn unknown_mechanisms_and_zero_parallelism_are_rejected() {
        let mut o = options();
        o.mechanism = Some(0x0001);
        assert!(o.validate().is_err());
        let mut o = options();
        o.max_parallel = 0;
        assert!(o.validate().is_err());
        let mut o = options();
        o.hmac_mechanism = Some(0x0250);
        assert!(o.validate().is_err());
    }

    #[test]
    fn a_token_must_be_named_by_label_or_slot() {
        let mut o = options();
        o.token_label = None;
        assert!(o.validate().is_err());
        o.slot = Some(7);
        assert!(o.validate().is_ok());
        assert_eq!(o.token_description(), "slot 7");
    }
}
