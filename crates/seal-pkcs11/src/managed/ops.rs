//! Managed key operations on a held session: finding (or generating) the
//! key's objects, and the sign/verify or encrypt/decrypt test. Blocking:
//! they run on the pool's worker threads.

use coffer_core::managed_keys::{
    CKM_AES_GCM, CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP, CKM_RSA_PKCS_PSS, ManagedKeyEntry,
    SignTest,
};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use sha2::Digest as _;

use crate::error::HsmError;
use crate::keys::KeyRole;
use crate::mechanism::oaep;
use crate::options::OaepHash;
use crate::session_pool::Held;

/// A hash for signatures: its digest, PKCS#11 names and PKCS#1 DigestInfo.
#[derive(Debug, Clone, Copy)]
struct Hash {
    name: &'static str,
    mechanism: MechanismType,
    mgf: PkcsMgfType,
    /// DER of `DigestInfo` up to the digest (RFC 8017, section 9.2, note 1).
    digest_info: &'static [u8],
}

const HASHES: [Hash; 4] = [
    Hash {
        name: "sha2-224",
        mechanism: MechanismType::SHA224,
        mgf: PkcsMgfType::MGF1_SHA224,
        digest_info: &[
            0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x04, 0x05, 0x00, 0x04, 0x1c,
        ],
    },
    Hash {
        name: "sha2-256",
        mechanism: MechanismType::SHA256,
        mgf: PkcsMgfType::MGF1_SHA256,
        digest_info: &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
    },
    Hash {
        name: "sha2-384",
        mechanism: MechanismType::SHA384,
        mgf: PkcsMgfType::MGF1_SHA384,
        digest_info: &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
    },
    Hash {
        name: "sha2-512",
        mechanism: MechanismType::SHA512,
        mgf: PkcsMgfType::MGF1_SHA512,
        digest_info: &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    },
];

impl Hash {
    fn named(name: &str) -> Result<Self, HsmError> {
        let wanted = match name {
            "sha2-224" | "sha224" => "sha2-224",
            "sha2-256" | "sha256" => "sha2-256",
            "sha2-384" | "sha384" => "sha2-384",
            "sha2-512" | "sha512" => "sha2-512",
            other => {
                return Err(HsmError::InvalidConfig(format!(
                    "hash_algorithm {other:?} is not supported for managed keys: use sha2-224, \
                     sha2-256, sha2-384 or sha2-512"
                )));
            }
        };
        HASHES
            .into_iter()
            .find(|h| h.name == wanted)
            .ok_or_else(|| HsmError::InvalidConfig(format!("no hash {wanted}")))
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self.name {
            "sha2-224" => sha2::Sha224::digest(data).to_vec(),
            "sha2-384" => sha2::Sha384::digest(data).to_vec(),
            "sha2-512" => sha2::Sha512::digest(data).to_vec(),
            _ => sha2::Sha256::digest(data).to_vec(),
        }
    }
}

/// DER `OBJECT IDENTIFIER`s of the named curves (`CKA_EC_PARAMS`).
fn ec_params(curve: Option<&str>) -> Result<Vec<u8>, HsmError> {
    Ok(match curve {
        Some("P256") => vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        Some("P384") => vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
        Some("P521") => vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
        other => {
            return Err(HsmError::InvalidConfig(format!(
                "curve {other:?}: use P256, P384 or P521 to generate an ECDSA key"
            )));
        }
    })
}

fn id_bytes(key: &ManagedKeyEntry) -> Option<Vec<u8>> {
    key.key_id.as_deref().and_then(|h| hex::decode(h).ok())
}

fn describe(key: &ManagedKeyEntry) -> String {
    match (&key.key_label, &key.key_id) {
        (Some(l), Some(id)) => format!("\"{l}\" (CKA_ID {id})"),
        (Some(l), None) => format!("\"{l}\""),
        (None, Some(id)) => format!("with CKA_ID {id}"),
        (None, None) => "(no label or id)".to_owned(),
    }
}

/// The object of `role` for `key`: by label and/or id; refuses duplicates.
fn find(
    session: &Session,
    key: &ManagedKeyEntry,
    class: ObjectClass,
    key_type: KeyType,
) -> Result<Option<ObjectHandle>, HsmError> {
    let mut template = vec![Attribute::Class(class), Attribute::KeyType(key_type)];
    if let Some(l) = &key.key_label {
        template.push(Attribute::Label(l.as_bytes().to_vec()));
    }
    if let Some(id) = id_bytes(key) {
        template.push(Attribute::Id(id));
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| HsmError::from_cryptoki(format!("searching for key {}", describe(key)), e))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(HsmError::DuplicateKey {
            label: describe(key),
            class: if class == ObjectClass::PRIVATE_KEY {
                "private key"
            } else if class == ObjectClass::PUBLIC_KEY {
                "public key"
            } else {
                "secret key"
            },
            count: many.len(),
            token: format!("managed key {:?}'s token", key.name),
        }),
    }
}

/// The key's objects: (the one that signs/decrypts, the one that
/// verifies/encrypts); the same handle twice for an AES key.
fn key_objects(
    held: &Held<'_>,
    key: &ManagedKeyEntry,
) -> Result<(ObjectHandle, ObjectHandle), HsmError> {
    let s = held.session;
    let (private, public) = match key.mechanism {
        CKM_ECDSA => (KeyRole::EcPrivate, KeyRole::EcPublic),
        CKM_AES_GCM => (KeyRole::Aes, KeyRole::Aes),
        _ => (KeyRole::RsaPrivate, KeyRole::RsaPublic),
    };
    let lookup = |role: KeyRole| find(s, key, role_class(role), role_type(role));
    if let (Some(a), Some(b)) = (lookup(private)?, lookup(public)?) {
        return Ok((a, b));
    }
    if !key.allow_generate_key {
        return Err(HsmError::KeyMissing {
            label: key.key_label.clone().unwrap_or_default(),
            id: key
                .key_id
                .as_ref()
                .map(|id| format!(" and CKA_ID 0x{id}"))
                .unwrap_or_default(),
            slot: held.slot.id(),
            token: format!("managed key {:?}", key.name),
            note: "; create it in the HSM, or set allow_generate_key=true on the managed key"
                .to_owned(),
        });
    }
    let Some(label) = key.key_label.clone() else {
        return Err(HsmError::InvalidConfig(
            "generating a key needs a key_label to give it".to_owned(),
        ));
    };
    let id = match id_bytes(key) {
        Some(id) => id,
        None => s
            .generate_random_vec(4)
            .map_err(|e| HsmError::from_cryptoki("C_GenerateRandom for a key id", e))?,
    };
    let generated = generate(s, key, label.clone(), id)?;
    tracing::info!(managed_key = %key.name, label = %label, mechanism = key.mechanism_name(), "generated managed key in the HSM");
    Ok(generated)
}

fn role_class(role: KeyRole) -> ObjectClass {
    match role {
        KeyRole::Aes | KeyRole::Hmac => ObjectClass::SECRET_KEY,
        KeyRole::RsaPublic | KeyRole::EcPublic => ObjectClass::PUBLIC_KEY,
        KeyRole::RsaPrivate | KeyRole::EcPrivate => ObjectClass::PRIVATE_KEY,
    }
}

fn role_type(role: KeyRole) -> KeyType {
    match role {
        KeyRole::Aes => KeyType::AES,
        KeyRole::Hmac => KeyType::GENERIC_SECRET,
        KeyRole::RsaPublic | KeyRole::RsaPrivate => KeyType::RSA,
        KeyRole::EcPublic | KeyRole::EcPrivate => KeyType::EC,
    }
}

/// Generates the key on the token: private, sensitive, never extractable.
fn generate(
    s: &Session,
    key: &ManagedKeyEntry,
    label: String,
    id: Vec<u8>,
) -> Result<(ObjectHandle, ObjectHandle), HsmError> {
    let label = Attribute::Label(label.into_bytes());
    let secret = [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ];
    let context = || format!("generating managed key {:?}", key.name);
    if key.mechanism == CKM_AES_GCM {
        let mut template = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            label,
            Attribute::Id(id),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ];
        template.extend(secret);
        let h = s
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(|e| HsmError::from_cryptoki(context(), e))?;
        return Ok((h, h));
    }
    let signs = key.mechanism != CKM_RSA_PKCS_OAEP;
    let (mechanism, mut public, mut private) = if key.mechanism == CKM_ECDSA {
        (
            Mechanism::EccKeyPairGen,
            vec![
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(ec_params(key.curve.as_deref())?),
            ],
            vec![Attribute::KeyType(KeyType::EC)],
        )
    } else {
        (
            Mechanism::RsaPkcsKeyPairGen,
            vec![
                Attribute::KeyType(KeyType::RSA),
                Attribute::ModulusBits(u64::from(key.key_bits).into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ],
            vec![Attribute::KeyType(KeyType::RSA)],
        )
    };
    public.extend([
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        label.clone(),
        Attribute::Id(id.clone()),
        Attribute::Token(true),
        if signs {
            Attribute::Verify(true)
        } else {
            Attribute::Encrypt(true)
        },
    ]);
    private.extend([
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        label,
        Attribute::Id(id),
        if signs {
            Attribute::Sign(true)
        } else {
            Attribute::Decrypt(true)
        },
    ]);
    private.extend(secret);
    let (pub_h, priv_h) = s
        .generate_key_pair(&mechanism, &public, &private)
        .map_err(|e| HsmError::from_cryptoki(context(), e))?;
    Ok((priv_h, pub_h))
}

/// `test/sign`: signs random data and verifies the signature, or for an
/// encryption mechanism encrypts random data and decrypts it again.
pub(super) fn test_sign(
    held: &Held<'_>,
    key: &ManagedKeyEntry,
    test: &SignTest,
) -> Result<(), HsmError> {
    let s = held.session;
    let (private, public) = key_objects(held, key)?;
    let data = s
        .generate_random_vec(32)
        .map_err(|e| HsmError::from_cryptoki("C_GenerateRandom", e))?;
    let ctx = |what: &str| {
        format!(
            "{what} with managed key {:?} ({})",
            key.name,
            key.mechanism_name()
        )
    };
    match key.mechanism {
        CKM_AES_GCM => {
            let mut iv = s
                .generate_random_vec(12)
                .map_err(|e| HsmError::from_cryptoki("C_GenerateRandom for an IV", e))?;
            let gcm = GcmParams::new(&mut iv, &[], 128.into()).map_err(|e| HsmError::Binding {
                context: "CK_GCM_PARAMS".to_owned(),
                detail: e.to_string(),
            })?;
            let ct = s
                .encrypt(&Mechanism::AesGcm(gcm), public, &data)
                .map_err(|e| HsmError::from_cryptoki(ctx("encrypting"), e))?;
            let gcm = GcmParams::new(&mut iv, &[], 128.into()).map_err(|e| HsmError::Binding {
                context: "CK_GCM_PARAMS".to_owned(),
                detail: e.to_string(),
            })?;
            let pt = s
                .decrypt(&Mechanism::AesGcm(gcm), private, &ct)
                .map_err(|e| HsmError::from_cryptoki(ctx("decrypting"), e))?;
            same(&pt, &data)
        }
        CKM_RSA_PKCS_OAEP => {
            let hash = match key.rsa_oaep_hash.as_deref() {
                Some("sha1") => OaepHash::Sha1,
                Some("sha224") => OaepHash::Sha224,
                Some("sha384") => OaepHash::Sha384,
                Some("sha512") => OaepHash::Sha512,
                _ => OaepHash::Sha256,
            };
            let ct = s
                .encrypt(&oaep(hash), public, &data)
                .map_err(|e| HsmError::from_cryptoki(ctx("encrypting"), e))?;
            let pt = s
                .decrypt(&oaep(hash), private, &ct)
                .map_err(|e| HsmError::from_cryptoki(ctx("decrypting"), e))?;
            same(&pt, &data)
        }
        _ => {
            let hash = Hash::named(&test.hash_algorithm)?;
            let digest = hash.digest(&data);
            let pss = test.use_pss || key.mechanism == CKM_RSA_PKCS_PSS;
            let (mechanism, input) = match key.mechanism {
                CKM_ECDSA => (Mechanism::Ecdsa, digest),
                CKM_RSA_PKCS | CKM_RSA_PKCS_PSS if pss => (
                    Mechanism::RsaPkcsPss(PkcsPssParams {
                        hash_alg: hash.mechanism,
                        mgf: hash.mgf,
                        s_len: (digest.len() as u64).into(),
                    }),
                    digest,
                ),
                _ => (Mechanism::RsaPkcs, [hash.digest_info, &digest].concat()),
            };
            let signature = s
                .sign(&mechanism, private, &input)
                .map_err(|e| HsmError::from_cryptoki(ctx("signing"), e))?;
            s.verify(&mechanism, public, &input, &signature)
                .map_err(|e| HsmError::from_cryptoki(ctx("verifying the signature"), e))
        }
    }
}

fn same(a: &[u8], b: &[u8]) -> Result<(), HsmError> {
    if a == b {
        Ok(())
    } else {
        Err(HsmError::Integrity(
            "the token decrypted to different bytes than it encrypted".to_owned(),
        ))
    }
}
