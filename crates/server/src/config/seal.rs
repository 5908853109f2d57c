//! `seal "shamir" {}` and `seal "pkcs11" { ... }`: what protects the root key.
//!
//! A pkcs11 stanza is decoded into a [`Pkcs11Draft`] (every field optional),
//! environment overrides are applied to the draft (see `env.rs`), and only then
//! are required fields checked, because `pin` (and anything else) may come from
//! `VAULT_HSM_*` variables alone.

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::document::{Block, Fields};
use super::error::{ConfigError, Location};
use super::value;

/// CKM_AES_CBC_PAD and CKM_AES_CBC: these mechanisms need an HMAC key as well.
const CBC_MECHANISMS: [u64; 2] = [0x1085, 0x1082];

const PKCS11_FIELDS: &[&str] = &[
    "lib",
    "slot",
    "token_label",
    "pin",
    "key_label",
    "hmac_key_label",
    "default_key_label",
    "default_hmac_key_label",
    "key_id",
    "hmac_key_id",
    "mechanism",
    "hmac_mechanism",
    "rsa_oaep_hash",
    "rsa_encrypt_local",
    "generate_key",
    "force_rw_session",
    "max_parallel",
    "disabled",
];

/// One `seal` stanza.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per process; a Box would only complicate matching"
)]
pub enum SealConfig {
    /// Shamir shares of a KEK; the default when no seal stanza is given.
    Shamir(ShamirSealConfig),
    /// Auto-unseal through a PKCS#11 HSM.
    Pkcs11(Pkcs11SealConfig),
}

impl SealConfig {
    /// `true` for the old seal of a seal migration (`disabled = "true"`).
    pub fn disabled(&self) -> bool {
        match self {
            Self::Shamir(s) => s.disabled,
            Self::Pkcs11(p) => p.disabled,
        }
    }

    /// `true` for the Shamir seal (no HSM, so no randomness source either).
    pub fn is_shamir(&self) -> bool {
        matches!(self, Self::Shamir(_))
    }

    /// The seal type as Vault names it: `"shamir"` or `"pkcs11"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Shamir(_) => "shamir",
            Self::Pkcs11(_) => "pkcs11",
        }
    }
}

/// `seal "shamir" { disabled = ... }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShamirSealConfig {
    /// Old seal of a migration.
    pub disabled: bool,
}

/// `seal "pkcs11" { ... }` after env overrides and required-field checks.
/// Field meanings follow Vault's pkcs11 seal documentation.
#[derive(Debug)]
pub struct Pkcs11SealConfig {
    /// Path of the PKCS#11 module (`.so`).
    pub lib: PathBuf,
    /// Slot number; `slot` or `token_label` is set (prefer the label: slot ids move).
    pub slot: Option<u64>,
    /// Token label, the robust way to find the token.
    pub token_label: Option<String>,
    /// User PIN for `C_Login`.
    pub pin: HsmPin,
    /// Label of the key that wraps the root key (new writes use it).
    pub key_label: String,
    /// Label of the HMAC key (needed with CBC mechanisms).
    pub hmac_key_label: Option<String>,
    /// Label for decrypting pre-0.10.1 blobs that record no label; `None` means `key_label`.
    pub default_key_label: Option<String>,
    /// As `default_key_label`, for the HMAC key; `None` means `hmac_key_label`.
    pub default_hmac_key_label: Option<String>,
    /// `CKA_ID` of the key, decoded from hex.
    pub key_id: Option<Vec<u8>>,
    /// `CKA_ID` of the HMAC key, decoded from hex.
    pub hmac_key_id: Option<Vec<u8>>,
    /// `CKM_*` mechanism; `None` = best available.
    pub mechanism: Option<u64>,
    /// HMAC mechanism (Vault supports only CKM_SHA256_HMAC, 0x0251).
    pub hmac_mechanism: Option<u64>,
    /// OAEP hash for RSA-OAEP mechanisms.
    pub rsa_oaep_hash: OaepHash,
    /// Encrypt with the public key in-process (RSA mechanisms).
    pub rsa_encrypt_local: bool,
    /// Generate the key at init when its label is not found.
    pub generate_key: bool,
    /// Open read-write sessions for every operation.
    pub force_rw_session: bool,
    /// Most concurrent HSM operations (>= 1).
    pub max_parallel: u32,
    /// Old seal of a migration.
    pub disabled: bool,
}

/// The HSM user PIN. Zeroed on drop, never printed, not `Clone`.
pub struct HsmPin(Zeroizing<String>);

impl HsmPin {
    /// Wraps a PIN.
    pub fn new(pin: String) -> Self {
        Self(Zeroizing::new(pin))
    }

    /// The PIN text, for `C_Login` only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HsmPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HsmPin([redacted])")
    }
}

/// Hash used by RSA-OAEP (`rsa_oaep_hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OaepHash {
    /// SHA-1 (the only one Debian's SoftHSM 2.6.1 supports).
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
    /// Parses `sha1` ... `sha512`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "sha1" => Ok(Self::Sha1),
            "sha224" => Ok(Self::Sha224),
            "sha256" => Ok(Self::Sha256),
            "sha384" => Ok(Self::Sha384),
            "sha512" => Ok(Self::Sha512),
            _ => Err(format!(
                "\"{}\" is not supported (expected sha1, sha224, sha256, sha384 or sha512)",
                text.trim()
            )),
        }
    }
}

/// A seal stanza before env overrides and final checks.
pub(crate) enum SealDraft {
    Shamir {
        config: ShamirSealConfig,
        at: Location,
    },
    Pkcs11(Box<Pkcs11Draft>),
}

impl SealDraft {
    pub(crate) fn disabled(&self) -> bool {
        match self {
            Self::Shamir { config, .. } => config.disabled,
            Self::Pkcs11(p) => p.disabled,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Shamir { .. } => "shamir",
            Self::Pkcs11(_) => "pkcs11",
        }
    }

    /// Where the stanza is; `None` for a pkcs11 seal made from env alone.
    pub(crate) fn at(&self) -> Option<&Location> {
        match self {
            Self::Shamir { at, .. } => Some(at),
            Self::Pkcs11(p) => p.at.as_ref(),
        }
    }
}

/// `seal "pkcs11"` with every field optional, so env may fill or override any.
#[derive(Default)]
pub(crate) struct Pkcs11Draft {
    /// The stanza's position; `None` when activated by `VAULT_SEAL_TYPE`.
    pub(crate) at: Option<Location>,
    pub(crate) lib: Option<String>,
    pub(crate) slot: Option<u64>,
    pub(crate) token_label: Option<String>,
    pub(crate) pin: Option<HsmPin>,
    pub(crate) key_label: Option<String>,
    pub(crate) hmac_key_label: Option<String>,
    pub(crate) default_key_label: Option<String>,
    pub(crate) default_hmac_key_label: Option<String>,
    pub(crate) key_id: Option<Vec<u8>>,
    pub(crate) hmac_key_id: Option<Vec<u8>>,
    pub(crate) mechanism: Option<u64>,
    pub(crate) hmac_mechanism: Option<u64>,
    pub(crate) rsa_oaep_hash: Option<OaepHash>,
    pub(crate) rsa_encrypt_local: Option<bool>,
    pub(crate) generate_key: Option<bool>,
    pub(crate) force_rw_session: Option<bool>,
    pub(crate) max_parallel: Option<u32>,
    pub(crate) disabled: bool,
}

/// `max_parallel` must be at least 1 and fit a u32.
pub(crate) fn parse_max_parallel(n: u64) -> Result<u32, String> {
    match u32::try_from(n) {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{n} is too large")),
    }
}

/// Decodes one `seal` block.
pub(crate) fn decode(block: Block) -> Result<SealDraft, ConfigError> {
    let kind = block.single_label("seal \"pkcs11\" { ... }")?.to_owned();
    let at = block.at.clone();
    match kind.as_str() {
        "shamir" => {
            let mut f = Fields::new(block.title(), block.at, block.body, &["disabled"])?;
            let disabled = f.bool("disabled")?.unwrap_or(false);
            Ok(SealDraft::Shamir {
                config: ShamirSealConfig { disabled },
                at,
            })
        }
        "pkcs11" => {
            let mut f = Fields::new(block.title(), block.at, block.body, PKCS11_FIELDS)?;
            let max_parallel = f.convert("max_parallel", |v| {
                value::to_u64(v).and_then(parse_max_parallel)
            })?;
            Ok(SealDraft::Pkcs11(Box::new(Pkcs11Draft {
                at: Some(at),
                lib: f.string("lib")?,
                slot: f.u64("slot")?,
                token_label: f.string("token_label")?,
                pin: f.string("pin")?.map(HsmPin::new),
                key_label: f.string("key_label")?,
                hmac_key_label: f.string("hmac_key_label")?,
                default_key_label: f.string("default_key_label")?,
                default_hmac_key_label: f.string("default_hmac_key_label")?,
                key_id: f.parsed("key_id", value::parse_hex_bytes)?,
                hmac_key_id: f.parsed("hmac_key_id", value::parse_hex_bytes)?,
                mechanism: f.u64("mechanism")?,
                hmac_mechanism: f.u64("hmac_mechanism")?,
                rsa_oaep_hash: f.parsed("rsa_oaep_hash", OaepHash::parse)?,
                rsa_encrypt_local: f.bool("rsa_encrypt_local")?,
                generate_key: f.bool("generate_key")?,
                force_rw_session: f.bool("force_rw_session")?,
                max_parallel,
                disabled: f.bool("disabled")?.unwrap_or(false),
            })))
        }
        other => Err(ConfigError::invalid_at(
            &at,
            format!("seal \"{other}\": unsupported seal type (expected \"shamir\" or \"pkcs11\")"),
        )),
    }
}

/// Checks what can be checked without an HSM and yields the final seal.
pub(crate) fn finish(draft: SealDraft) -> Result<SealConfig, ConfigError> {
    let draft = match draft {
        SealDraft::Shamir { config, .. } => return Ok(SealConfig::Shamir(config)),
        SealDraft::Pkcs11(draft) => *draft,
    };
    let context = if draft.at.is_some() {
        "seal \"pkcs11\"".to_owned()
    } else {
        "seal \"pkcs11\" (from VAULT_SEAL_TYPE)".to_owned()
    };
    let missing = |field: &str, hint: &str| ConfigError::MissingField {
        at: draft.at.clone(),
        context: context.clone(),
        field: field.to_owned(),
        hint: Some(hint.to_owned()),
    };
    let lib = draft
        .lib
        .ok_or_else(|| missing("lib", "or set VAULT_HSM_LIB"))?;
    if draft.slot.is_none() && draft.token_label.is_none() {
        return Err(missing(
            "token_label",
            "or slot; or set VAULT_HSM_TOKEN_LABEL / VAULT_HSM_SLOT",
        ));
    }
    let key_label = draft
        .key_label
        .ok_or_else(|| missing("key_label", "or set VAULT_HSM_KEY_LABEL"))?;
    let pin = draft
        .pin
        .ok_or_else(|| missing("pin", "set VAULT_HSM_PIN (recommended) or pin"))?;
    if draft.mechanism.is_some_and(|m| CBC_MECHANISMS.contains(&m))
        && draft.hmac_key_label.is_none()
    {
        return Err(missing(
            "hmac_key_label",
            "AES-CBC mechanisms need an HMAC key; or set VAULT_HSM_HMAC_KEY_LABEL",
        ));
    }
    Ok(SealConfig::Pkcs11(Pkcs11SealConfig {
        lib: PathBuf::from(lib),
        slot: draft.slot,
        token_label: draft.token_label,
        pin,
        key_label,
        hmac_key_label: draft.hmac_key_label,
        default_key_label: draft.default_key_label,
        default_hmac_key_label: draft.default_hmac_key_label,
        key_id: draft.key_id,
        hmac_key_id: draft.hmac_key_id,
        mechanism: draft.mechanism,
        hmac_mechanism: draft.hmac_mechanism,
        rsa_oaep_hash: draft.rsa_oaep_hash.unwrap_or_default(),
        rsa_encrypt_local: draft.rsa_encrypt_local.unwrap_or(false),
        generate_key: draft.generate_key.unwrap_or(false),
        force_rw_session: draft.force_rw_session.unwrap_or(false),
        max_parallel: draft.max_parallel.unwrap_or(1),
        disabled: draft.disabled,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_debug_is_redacted() {
        let pin = HsmPin::new("1234-secret".to_owned());
        assert_eq!(format!("{pin:?}"), "HsmPin([redacted])");
        assert_eq!(pin.expose(), "1234-secret");
    }

    #[test]
    fn oaep_hash_names_parse_and_others_are_rejected() {
        assert_eq!(OaepHash::parse("sha1"), Ok(OaepHash::Sha1));
        assert_eq!(OaepHash::parse("SHA512"), Ok(OaepHash::Sha512));
        assert!(OaepHash::parse("md5").is_err());
    }

    #[test]
    fn max_parallel_zero_is_rejected() {
        assert!(parse_max_parallel(0).is_err());
        assert_eq!(parse_max_parallel(4), Ok(4));
    }
}
