//! Finding, checking and generating the seal's keys on the token.
//!
//! Keys are found by label (and `CKA_ID` when configured). PKCS#11 allows
//! many objects with one label, and SoftHSM happily creates them, so a
//! lookup that matches more than one object is refused instead of picking
//! one: picking the wrong one would wrap the root key under a key the next
//! start might not choose. Handles are cached per module generation because
//! `C_FindObjects` is several times slower than the encryption itself.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use crate::error::HsmError;
use crate::session_pool::Held;

/// A key as named by configuration or recorded in a blob.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct KeyRef {
    pub(crate) label: String,
    pub(crate) id: Option<Vec<u8>>,
}

impl KeyRef {
    pub(crate) fn new(label: String, id: Option<Vec<u8>>) -> Self {
        Self { label, id }
    }

    /// ` and CKA_ID 0x...` or empty, for messages.
    pub(crate) fn id_suffix(&self) -> String {
        match &self.id {
            Some(id) => {
                let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
                format!(" and CKA_ID 0x{hex}")
            }
            None => String::new(),
        }
    }
}

impl fmt::Debug for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"{}", self.label, self.id_suffix())
    }
}

/// Which object of a key a lookup wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KeyRole {
    /// CKO_SECRET_KEY / CKK_AES.
    Aes,
    /// CKO_SECRET_KEY / CKK_GENERIC_SECRET, for CKM_SHA256_HMAC.
    Hmac,
    /// CKO_PUBLIC_KEY / CKK_RSA: encrypts.
    RsaPublic,
    /// CKO_PRIVATE_KEY / CKK_RSA: decrypts.
    RsaPrivate,
    /// CKO_PUBLIC_KEY / CKK_EC: verifies (managed keys).
    EcPublic,
    /// CKO_PRIVATE_KEY / CKK_EC: signs (managed keys).
    EcPrivate,
}

impl KeyRole {
    fn class(self) -> ObjectClass {
        match self {
            Self::Aes | Self::Hmac => ObjectClass::SECRET_KEY,
            Self::RsaPublic | Self::EcPublic => ObjectClass::PUBLIC_KEY,
            Self::RsaPrivate | Self::EcPrivate => ObjectClass::PRIVATE_KEY,
        }
    }

    fn key_type(self) -> KeyType {
        match self {
            Self::Aes => KeyType::AES,
            Self::Hmac => KeyType::GENERIC_SECRET,
            Self::RsaPublic | Self::RsaPrivate => KeyType::RSA,
            Self::EcPublic | Self::EcPrivate => KeyType::EC,
        }
    }

    /// For messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Aes => "an AES secret key",
            Self::Hmac => "a generic secret (HMAC) key",
            Self::RsaPublic => "an RSA public key",
            Self::RsaPrivate => "an RSA private key",
            Self::EcPublic => "an EC public key",
            Self::EcPrivate => "an EC private key",
        }
    }

    fn class_name(self) -> &'static str {
        match self {
            Self::Aes | Self::Hmac => "secret key",
            Self::RsaPublic | Self::EcPublic => "public key",
            Self::RsaPrivate | Self::EcPrivate => "private key",
        }
    }
}

/// Looks up `key` in role `role`: `Ok(None)` when absent, an error when
/// ambiguous.
pub(crate) fn find(
    session: &Session,
    role: KeyRole,
    key: &KeyRef,
    token: &str,
) -> Result<Option<ObjectHandle>, HsmError> {
    let mut template = vec![
        Attribute::Class(role.class()),
        Attribute::KeyType(role.key_type()),
        Attribute::Label(key.label.as_bytes().to_vec()),
    ];
    if let Some(id) = &key.id {
        template.push(Attribute::Id(id.clone()));
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| HsmError::from_cryptoki(format!("searching for key \"{}\"", key.label), e))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(HsmError::DuplicateKey {
            label: key.label.clone(),
            class: role.class_name(),
            count: many.len(),
            token: token.to_owned(),
        }),
    }
}

/// Generates the key for `role` (for RSA: the pair) with the attributes
/// Vault uses: on the token, private, sensitive, never extractable.
/// Returns the handle for `role`.
pub(crate) fn generate(
    session: &Session,
    role: KeyRole,
    key: &KeyRef,
) -> Result<ObjectHandle, HsmError> {
    let id = match &key.id {
        Some(id) => id.clone(),
        // Vault gives generated keys a random 32-bit CKA_ID.
        None => session
            .generate_random_vec(4)
            .map_err(|e| HsmError::from_cryptoki("C_GenerateRandom for a key id", e))?,
    };
    let label = Attribute::Label(key.label.as_bytes().to_vec());
    let context = || format!("generating {} labelled \"{}\"", role.describe(), key.label);
    match role {
        KeyRole::Aes | KeyRole::Hmac => {
            let (mechanism, usage) = if role == KeyRole::Aes {
                (
                    Mechanism::AesKeyGen,
                    vec![
                        Attribute::Encrypt(true),
                        Attribute::Decrypt(true),
                        Attribute::Wrap(true),
                        Attribute::Unwrap(true),
                    ],
                )
            } else {
                (
                    Mechanism::GenericSecretKeyGen,
                    vec![Attribute::Sign(true), Attribute::Verify(true)],
                )
            };
            let mut template = vec![
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(role.key_type()),
                Attribute::ValueLen(32.into()),
                label,
                Attribute::Id(id),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
            ];
            template.extend(usage);
            session
                .generate_key(&mechanism, &template)
                .map_err(|e| HsmError::from_cryptoki(context(), e))
        }
        KeyRole::EcPublic | KeyRole::EcPrivate => Err(HsmError::InvalidConfig(
            "EC key pairs are generated for managed keys only, with their curve".to_owned(),
        )),
        KeyRole::RsaPublic | KeyRole::RsaPrivate => {
            let public = [
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::RSA),
                label.clone(),
                Attribute::Id(id.clone()),
                Attribute::Token(true),
                Attribute::Encrypt(true),
                Attribute::Wrap(true),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ];
            let private = [
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::RSA),
                label,
                Attribute::Id(id),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Decrypt(true),
                Attribute::Unwrap(true),
            ];
            let (pub_h, priv_h) = session
                .generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
                .map_err(|e| HsmError::from_cryptoki(context(), e))?;
            Ok(if role == KeyRole::RsaPublic {
                pub_h
            } else {
                priv_h
            })
        }
    }
}

/// Handles by role and key, tagged with the generation they were found in.
type Handles = (u64, HashMap<(KeyRole, KeyRef), ObjectHandle>);

/// Handles found so far, valid for one module generation.
#[derive(Default)]
pub(crate) struct KeyCache {
    inner: Mutex<Handles>,
}

impl KeyCache {
    /// The handle of `key` in `role`, from the cache or the token.
    /// A missing key is [`HsmError::KeyMissing`].
    pub(crate) fn handle(
        &self,
        held: &Held<'_>,
        role: KeyRole,
        key: &KeyRef,
        token: &str,
    ) -> Result<ObjectHandle, HsmError> {
        let cache_key = (role, key.clone());
        {
            let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            if guard.0 != held.generation {
                *guard = (held.generation, HashMap::new());
            }
            if let Some(h) = guard.1.get(&cache_key) {
                return Ok(*h);
            }
        }
        let Some(handle) = find(held.session, role, key, token)? else {
            // A vanished token also finds nothing; tell that apart from a
            // key that is really not there, so the pool can recover.
            held.module
                .ctx()
                .get_token_info(held.slot)
                .map_err(|e| HsmError::from_cryptoki("C_GetTokenInfo", e))?;
            return Err(HsmError::KeyMissing {
                label: key.label.clone(),
                id: key.id_suffix(),
                slot: held.slot.id(),
                token: token.to_owned(),
                note: String::new(),
            });
        };
        self.remember(held.generation, role, key, handle);
        Ok(handle)
    }

    /// Records a handle (after generating a key).
    pub(crate) fn remember(&self, generation: u64, role: KeyRole, key: &KeyRef, h: ObjectHandle) {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.0 != generation {
            *guard = (generation, HashMap::new());
        }
        guard.1.insert((role, key.clone()), h);
    }
}
