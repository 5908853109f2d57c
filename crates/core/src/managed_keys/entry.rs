//! One managed key's configuration: how it is written (`POST
//! sys/managed-keys/pkcs11/:name`, Vault's fields, loosely typed as the
//! `vault` CLI sends them), checked, stored and read back (PIN redacted).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::engine::field::{opt_bool, opt_string_list, opt_u64};
use crate::error::{CoreError, CoreResult};

/// Where the configurations live, inside the barrier (seal-wrapped).
pub const MANAGED_KEYS_PREFIX: &str = "core/managed-keys/";

/// `CKM_RSA_PKCS`: RSA PKCS#1 v1.5 signatures.
pub const CKM_RSA_PKCS: u64 = 0x0001;
/// `CKM_RSA_PKCS_OAEP`: RSA-OAEP encryption.
pub const CKM_RSA_PKCS_OAEP: u64 = 0x0009;
/// `CKM_RSA_PKCS_PSS`: RSA-PSS signatures.
pub const CKM_RSA_PKCS_PSS: u64 = 0x000D;
/// `CKM_ECDSA`: ECDSA signatures.
pub const CKM_ECDSA: u64 = 0x1041;
/// `CKM_AES_GCM`: AES-GCM encryption in the HSM.
pub const CKM_AES_GCM: u64 = 0x1087;
/// `CKM_SHA256_HMAC`: HMAC-SHA256 with a generic secret key in the HSM.
pub const CKM_SHA256_HMAC: u64 = 0x0251;

const MECHANISMS: [(u64, &str); 6] = [
    (CKM_RSA_PKCS, "CKM_RSA_PKCS"),
    (CKM_RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP"),
    (CKM_RSA_PKCS_PSS, "CKM_RSA_PKCS_PSS"),
    (CKM_ECDSA, "CKM_ECDSA"),
    (CKM_AES_GCM, "CKM_AES_GCM"),
    (CKM_SHA256_HMAC, "CKM_SHA256_HMAC"),
];

/// What a managed key may be used for (`usages`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    /// Encrypt data.
    Encrypt,
    /// Decrypt data.
    Decrypt,
    /// Sign.
    Sign,
    /// Verify signatures.
    Verify,
    /// Wrap keys.
    Wrap,
    /// Unwrap keys.
    Unwrap,
    /// MACs.
    Mac,
    /// Random bytes from the key's store.
    GenerateRandom,
}

impl Usage {
    fn parse(text: &str) -> CoreResult<Self> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "encrypt" => Self::Encrypt,
            "decrypt" => Self::Decrypt,
            "sign" => Self::Sign,
            "verify" => Self::Verify,
            "wrap" => Self::Wrap,
            "unwrap" => Self::Unwrap,
            "mac" => Self::Mac,
            // `random` is the older name.
            "generate_random" | "random" => Self::GenerateRandom,
            other => {
                return Err(CoreError::invalid(format!(
                    "unknown usage {other:?}: use encrypt, decrypt, sign, verify, wrap, unwrap, \
                     mac or generate_random"
                )));
            }
        })
    }

    /// The name as written in `usages`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Encrypt => "encrypt",
            Self::Decrypt => "decrypt",
            Self::Sign => "sign",
            Self::Verify => "verify",
            Self::Wrap => "wrap",
            Self::Unwrap => "unwrap",
            Self::Mac => "mac",
            Self::GenerateRandom => "generate_random",
        }
    }
}

/// A stored managed key. The PIN is wiped on drop and never shown.
#[derive(Clone, Serialize, Deserialize)]
pub struct ManagedKeyEntry {
    /// Lower-case name, unique over all types.
    pub name: String,
    /// Coffer's id for it (`managed_key_id`).
    pub uuid: String,
    /// `pkcs11`.
    pub key_type: String,
    /// The `kms_library` stanza's `name`.
    pub library: String,
    /// The token's slot id, if chosen by slot.
    pub slot: Option<u64>,
    /// The token's label, if chosen by label.
    pub token_label: Option<String>,
    pin: Zeroizing<String>,
    /// `CKA_LABEL` of the key.
    pub key_label: Option<String>,
    /// `CKA_ID` of the key, lower-case hex.
    pub key_id: Option<String>,
    /// The `CKM_*` mechanism.
    pub mechanism: u64,
    /// RSA modulus size for generation.
    pub key_bits: u32,
    /// ECDSA curve for generation (`P256`, `P384`, `P521`).
    pub curve: Option<String>,
    /// RSA-OAEP hash (`sha256` when unset).
    pub rsa_oaep_hash: Option<String>,
    /// Open read-write sessions for every operation.
    pub force_rw_session: bool,
    /// Most concurrent operations on the key's token.
    pub max_parallel: u32,
    /// Coffer may create the key when it is missing.
    pub allow_generate_key: bool,
    /// Coffer may replace an existing key.
    pub allow_replace_key: bool,
    /// Coffer may store key material it holds into the HSM.
    pub allow_store_key: bool,
    /// Every mount may use the key.
    pub any_mount: bool,
    /// What the key may be used for.
    pub usages: Vec<Usage>,
}

impl std::fmt::Debug for ManagedKeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedKeyEntry")
            .field("name", &self.name)
            .field("uuid", &self.uuid)
            .field("library", &self.library)
            .field("key_label", &self.key_label)
            .field("mechanism", &format_args!("{:#06x}", self.mechanism))
            .field("pin", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// The body of a write; every field optional (an update keeps what it
/// leaves out, the PIN included).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntryInput {
    #[serde(default)]
    library: Option<String>,
    #[serde(default, deserialize_with = "opt_u64")]
    slot: Option<u64>,
    #[serde(default)]
    token_label: Option<String>,
    #[serde(default)]
    pin: Option<Zeroizing<String>>,
    #[serde(default)]
    key_label: Option<String>,
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default)]
    mechanism: Option<Value>,
    #[serde(default, deserialize_with = "opt_u64")]
    key_bits: Option<u64>,
    #[serde(default)]
    curve: Option<String>,
    #[serde(default)]
    rsa_oaep_hash: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    force_rw_session: Option<bool>,
    #[serde(default, deserialize_with = "opt_u64")]
    max_parallel: Option<u64>,
    #[serde(default, deserialize_with = "opt_bool")]
    allow_generate_key: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    allow_replace_key: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    allow_store_key: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    any_mount: Option<bool>,
    #[serde(default, deserialize_with = "opt_string_list")]
    usages: Option<Vec<String>>,
}

fn parse_mechanism(v: &Value) -> CoreResult<u64> {
    let code = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => s.parse().ok(),
            }
        }
        _ => None,
    }
    .ok_or_else(|| CoreError::invalid(format!("mechanism {v} is not a CKM_ code")))?;
    if MECHANISMS.iter().any(|(c, _)| *c == code) {
        Ok(code)
    } else {
        Err(CoreError::invalid(format!(
            "mechanism {code:#06x} is not supported for managed keys: use {}",
            MECHANISMS
                .iter()
                .map(|(c, n)| format!("{c:#06x} ({n})"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// Whether `name` may name a managed key: lower-case letters, digits, `-`, `_`.
pub(crate) fn check_name(name: &str) -> CoreResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(format!(
            "managed key name {name:?}: use lower-case letters, digits, '-' and '_'"
        )))
    }
}

impl ManagedKeyEntry {
    /// A new entry from a create request, or `current` updated by one.
    pub(crate) fn from_input(
        name: &str,
        key_type: &str,
        uuid: String,
        current: Option<&ManagedKeyEntry>,
        input: EntryInput,
    ) -> CoreResult<Self> {
        let mut e = match current {
            Some(c) => c.clone(),
            None => Self {
                name: name.to_owned(),
                uuid,
                key_type: key_type.to_owned(),
                library: String::new(),
                slot: None,
                token_label: None,
                pin: Zeroizing::new(String::new()),
                key_label: None,
                key_id: None,
                mechanism: 0,
                key_bits: 0,
                curve: None,
                rsa_oaep_hash: None,
                force_rw_session: false,
                max_parallel: 1,
                allow_generate_key: false,
                allow_replace_key: false,
                allow_store_key: false,
                any_mount: false,
                usages: vec![Usage::Sign, Usage::Verify],
            },
        };
        let nonempty = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        if let Some(l) = nonempty(input.library) {
            e.library = l.to_ascii_lowercase();
        }
        if input.slot.is_some() || input.token_label.is_some() {
            e.slot = input.slot;
            e.token_label = nonempty(input.token_label);
        }
        if let Some(pin) = input.pin.filter(|p| !p.is_empty()) {
            e.pin = pin;
        }
        if input.key_label.is_some() || input.key_id.is_some() {
            e.key_label = nonempty(input.key_label);
            e.key_id = match nonempty(input.key_id) {
                Some(id) => Some(hex_id(&id)?),
                None => None,
            };
        }
        if let Some(m) = input.mechanism.filter(|v| !v.is_null()) {
            e.mechanism = parse_mechanism(&m)?;
        }
        if let Some(b) = input.key_bits {
            e.key_bits = u32::try_from(b)
                .map_err(|_| CoreError::invalid(format!("key_bits {b} is too large")))?;
        }
        if let Some(c) = input.curve {
            e.curve = nonempty(Some(c)).map(|c| c.to_ascii_uppercase().replace('-', ""));
        }
        if let Some(h) = input.rsa_oaep_hash {
            e.rsa_oaep_hash = nonempty(Some(h)).map(|h| h.to_ascii_lowercase());
        }
        if let Some(p) = input.max_parallel {
            e.max_parallel = u32::try_from(p)
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| CoreError::invalid("max_parallel must be at least 1"))?;
        }
        macro_rules! flag {
            ($($f:ident),*) => { $( if let Some(v) = input.$f { e.$f = v; } )* };
        }
        flag!(
            force_rw_session,
            allow_generate_key,
            allow_replace_key,
            allow_store_key,
            any_mount
        );
        if current.is_none() && e.mechanism == CKM_SHA256_HMAC && input.usages.is_none() {
            e.usages = vec![Usage::Mac];
        }
        if let Some(u) = input.usages {
            e.usages = u
                .iter()
                .map(|s| Usage::parse(s))
                .collect::<CoreResult<_>>()?;
            e.usages.dedup();
        }
        e.check()?;
        Ok(e)
    }

    fn check(&self) -> CoreResult<()> {
        let missing = |what: &str| Err(CoreError::invalid(format!("{what} is required")));
        if self.library.is_empty() {
            return missing("library (the name of a kms_library stanza)");
        }
        if self.slot.is_none() && self.token_label.is_none() {
            return missing("slot or token_label");
        }
        if self.pin.is_empty() {
            return missing("pin");
        }
        if self.key_label.is_none() && self.key_id.is_none() {
            return missing("key_label or key_id");
        }
        if self.mechanism == 0 {
            return missing("mechanism");
        }
        let rsa = matches!(
            self.mechanism,
            CKM_RSA_PKCS | CKM_RSA_PKCS_PSS | CKM_RSA_PKCS_OAEP
        );
        if self.allow_generate_key && rsa && ![2048, 3072, 4096].contains(&self.key_bits) {
            return Err(CoreError::invalid(
                "key_bits must be 2048, 3072 or 4096 to generate an RSA key",
            ));
        }
        if self.allow_generate_key
            && self.mechanism == CKM_ECDSA
            && !matches!(self.curve.as_deref(), Some("P256" | "P384" | "P521"))
        {
            return Err(CoreError::invalid(
                "curve must be P256, P384 or P521 to generate an ECDSA key",
            ));
        }
        if let Some(h) = &self.rsa_oaep_hash {
            if self.mechanism != CKM_RSA_PKCS_OAEP {
                return Err(CoreError::invalid(
                    "rsa_oaep_hash applies to mechanism 0x0009 (CKM_RSA_PKCS_OAEP) only",
                ));
            }
            if !["sha1", "sha224", "sha256", "sha384", "sha512"].contains(&h.as_str()) {
                return Err(CoreError::invalid(format!(
                    "rsa_oaep_hash {h:?}: use sha1, sha224, sha256, sha384 or sha512"
                )));
            }
        }
        let encrypts = matches!(self.mechanism, CKM_RSA_PKCS_OAEP | CKM_AES_GCM);
        let macs = self.mechanism == CKM_SHA256_HMAC;
        for u in &self.usages {
            let fits = match u {
                Usage::Sign | Usage::Verify => !encrypts && !macs,
                Usage::Encrypt | Usage::Decrypt | Usage::Wrap | Usage::Unwrap => encrypts,
                Usage::Mac => macs,
                Usage::GenerateRandom => true,
            };
            if !fits {
                return Err(CoreError::invalid(format!(
                    "usage {} does not fit mechanism {}",
                    u.name(),
                    self.mechanism_name()
                )));
            }
        }
        Ok(())
    }

    /// The user PIN, for `C_Login` only.
    pub fn pin(&self) -> &str {
        &self.pin
    }

    /// `CKM_RSA_PKCS` and friends.
    pub fn mechanism_name(&self) -> &'static str {
        MECHANISMS
            .iter()
            .find(|(c, _)| *c == self.mechanism)
            .map_or("CKM_?", |(_, n)| n)
    }

    /// Whether the key may be used for `usage`.
    pub fn allows(&self, usage: Usage) -> bool {
        self.usages.contains(&usage)
    }

    /// Vault's read shape; the PIN is always `redacted`.
    pub fn read_json(&self) -> Value {
        json!({
            "UUID": self.uuid,
            "name": self.name,
            "type": self.key_type,
            "library": self.library,
            "slot": self.slot,
            "token_label": self.token_label.clone().unwrap_or_default(),
            "key_label": self.key_label.clone().unwrap_or_default(),
            "key_id": self.key_id.clone().unwrap_or_default(),
            "mechanism": self.mechanism,
            "key_bits": self.key_bits,
            "curve": self.curve.clone().unwrap_or_default(),
            "rsa_oaep_hash": self.rsa_oaep_hash.clone().unwrap_or_default(),
            "force_rw_session": self.force_rw_session,
            "max_parallel": self.max_parallel,
            "allow_generate_key": self.allow_generate_key,
            "allow_replace_key": self.allow_replace_key,
            "allow_store_key": self.allow_store_key,
            "any_mount": self.any_mount,
            "usages": self.usages.iter().map(|u| u.name()).collect::<Vec<_>>(),
            "pin": "redacted",
        })
    }
}

/// `CKA_ID` as lower-case hex (`0x` prefix optional on input).
fn hex_id(id: &str) -> CoreResult<String> {
    let digits = id.strip_prefix("0x").unwrap_or(id).to_ascii_lowercase();
    let ok = !digits.is_empty()
        && digits.len().is_multiple_of(2)
        && digits.bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(digits)
    } else {
        Err(CoreError::invalid(format!(
            "key_id {id:?} is not hex bytes (e.g. 0a1b2c3d)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(v: Value) -> EntryInput {
        serde_json::from_value(v).expect("input")
    }

    fn base() -> Value {
        json!({"library": "SoftHSM", "token_label": "t", "pin": "1234",
               "key_label": "k", "mechanism": "0x0001"})
    }

    #[test]
    fn a_create_fills_vaults_defaults_and_reads_back_without_the_pin() {
        let e = ManagedKeyEntry::from_input("k1", "pkcs11", "u-1".into(), None, input(base()))
            .expect("valid");
        let v = e.read_json();
        assert_eq!(v["UUID"], "u-1");
        assert_eq!(
            v["library"], "softhsm",
            "library names compare case-insensitively"
        );
        assert_eq!(v["mechanism"], 1);
        assert_eq!(v["usages"], json!(["sign", "verify"]));
        assert_eq!(v["max_parallel"], 1);
        assert_eq!(v["pin"], "redacted");
        assert!(!format!("{e:?}").contains("1234"));
    }

    #[test]
    fn an_update_keeps_the_pin_and_what_it_leaves_out() {
        let e = ManagedKeyEntry::from_input("k1", "pkcs11", "u".into(), None, input(base()))
            .expect("valid");
        let updated = ManagedKeyEntry::from_input(
            "k1",
            "pkcs11",
            "other".into(),
            Some(&e),
            input(json!({"any_mount": "true", "usages": "sign"})),
        )
        .expect("valid");
        assert_eq!(updated.pin(), "1234");
        assert_eq!(updated.uuid, "u");
        assert!(updated.any_mount);
        assert_eq!(updated.usages, [Usage::Sign]);
        assert_eq!(updated.key_label.as_deref(), Some("k"));
    }

    #[test]
    fn bad_input_is_refused_with_the_reason() {
        let refuse = |patch: Value, says: &str| {
            let mut v = base();
            v.as_object_mut()
                .unwrap()
                .extend(patch.as_object().unwrap().clone());
            let err = match serde_json::from_value::<EntryInput>(v) {
                Err(e) => e.to_string(),
                Ok(i) => ManagedKeyEntry::from_input("k", "pkcs11", "u".into(), None, i)
                    .expect_err("refused")
                    .to_string(),
            };
            assert!(err.contains(says), "{err} should say {says}");
        };
        refuse(
            json!({"mechanism": "0x1234"}),
            "not supported for managed keys",
        );
        refuse(json!({"pin": ""}), "pin is required");
        refuse(json!({"allow_generate_key": true}), "key_bits must be 2048");
        refuse(
            json!({"mechanism": "0x1041", "allow_generate_key": "true"}),
            "curve must be",
        );
        refuse(json!({"usages": "encrypt"}), "usage encrypt does not fit");
        refuse(json!({"usages": "fly"}), "unknown usage");
        refuse(json!({"key_id": "xyz"}), "not hex");
        refuse(
            json!({"rsa_oaep_hash": "sha256"}),
            "applies to mechanism 0x0009",
        );
        refuse(json!({"colour": "red"}), "unknown field");
    }

    #[test]
    fn names_are_lower_case_words() {
        assert!(check_name("hsm-key_1").is_ok());
        for bad in ["", "Key", "a/b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
