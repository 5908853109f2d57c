//! Managed key operations on a held session: finding (or generating) the
//! key's objects, and the sign/verify or encrypt/decrypt test. Blocking:
//! they run on the pool's worker threads.

use coffer_core::managed_keys::{
    CKM_AES_GCM, CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP, CKM_RSA_PKCS_PSS, CKM_SHA256_HMAC,
    ManagedKeyEntry, SignRequest, SignTest, Usage,
};
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use sha2::Digest as _;
use zeroize::Zeroizing;

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
/// verifies/encrypts); the same handle twice for an AES key. A missing key
/// is generated only when `generate` (the explicit test/sign and binding a
/// transit version) and the managed key allows it: an operation never
/// silently replaces a key deleted from the HSM.
fn key_objects(
    held: &Held<'_>,
    key: &ManagedKeyEntry,
    may_generate: bool,
) -> Result<(ObjectHandle, ObjectHandle), HsmError> {
    let s = held.session;
    let (private, public) = match key.mechanism {
        CKM_ECDSA => (KeyRole::EcPrivate, KeyRole::EcPublic),
        CKM_AES_GCM => (KeyRole::Aes, KeyRole::Aes),
        CKM_SHA256_HMAC => (KeyRole::Hmac, KeyRole::Hmac),
        _ => (KeyRole::RsaPrivate, KeyRole::RsaPublic),
    };
    let lookup = |role: KeyRole| find(s, key, role_class(role), role_type(role));
    if let (Some(a), Some(b)) = (lookup(private)?, lookup(public)?) {
        return Ok((a, b));
    }
    // A token that went away also finds nothing (SoftHSM answers an empty
    // search): ask it whether it is still there before calling the key gone.
    held.module
        .ctx()
        .get_token_info(held.slot)
        .map_err(|e| HsmError::from_cryptoki("C_GetTokenInfo (the key was not found)", e))?;
    if !(may_generate && key.allow_generate_key) {
        let note = if key.allow_generate_key {
            "; it is generated only by test/sign or when a transit key version is bound to it, \
             never behind an operation (data encrypted or signed with a deleted key stays bound \
             to that key)"
        } else {
            "; create it in the HSM, or set allow_generate_key=true on the managed key"
        };
        return Err(HsmError::KeyMissing {
            label: key.key_label.clone().unwrap_or_default(),
            id: key
                .key_id
                .as_ref()
                .map(|id| format!(" and CKA_ID 0x{id}"))
                .unwrap_or_default(),
            slot: held.slot.id(),
            token: format!("managed key {:?}", key.name),
            note: note.to_owned(),
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
    if key.mechanism == CKM_SHA256_HMAC {
        let mut template = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::ValueLen(32.into()),
            label,
            Attribute::Id(id),
            Attribute::Sign(true),
            Attribute::Verify(true),
        ];
        template.extend(secret);
        let h = s
            .generate_key(&Mechanism::GenericSecretKeyGen, &template)
            .map_err(|e| HsmError::from_cryptoki(context(), e))?;
        return Ok((h, h));
    }
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

fn ctx(key: &ManagedKeyEntry, what: &str) -> String {
    format!(
        "{what} with managed key {:?} ({})",
        key.name,
        key.mechanism_name()
    )
}

fn gcm(iv: &mut [u8]) -> Result<GcmParams<'_>, HsmError> {
    GcmParams::new(iv, &[], 128.into()).map_err(|e| HsmError::Binding {
        context: "CK_GCM_PARAMS".to_owned(),
        detail: e.to_string(),
    })
}

fn oaep_hash(key: &ManagedKeyEntry) -> OaepHash {
    key.rsa_oaep_hash
        .as_deref()
        .and_then(OaepHash::from_name)
        .unwrap_or_default()
}

/// Refuses an operation the key's `usages` do not list.
fn allowed(key: &ManagedKeyEntry, usage: Usage) -> Result<(), HsmError> {
    if key.allows(usage) {
        return Ok(());
    }
    let usages: Vec<_> = key.usages.iter().map(|u| u.name()).collect();
    Err(HsmError::InvalidConfig(format!(
        "managed key {:?} may not {} (its usages: {})",
        key.name,
        usage.name(),
        usages.join(", ")
    )))
}

/// Encrypts `plaintext` in the HSM: AES-GCM gives IV (12 bytes) || ciphertext
/// || tag, RSA-OAEP the RSA block.
pub(super) fn encrypt(
    held: &Held<'_>,
    key: &ManagedKeyEntry,
    plaintext: &[u8],
) -> Result<Vec<u8>, HsmError> {
    allowed(key, Usage::Encrypt)?;
    let s = held.session;
    let (_, public) = key_objects(held, key, false)?;
    match key.mechanism {
        CKM_AES_GCM => {
            let mut iv = s
                .generate_random_vec(12)
                .map_err(|e| HsmError::from_cryptoki("C_GenerateRandom for an IV", e))?;
            let ct = s
                .encrypt(&Mechanism::AesGcm(gcm(&mut iv)?), public, plaintext)
                .map_err(|e| HsmError::from_cryptoki(ctx(key, "encrypting"), e))?;
            Ok([iv, ct].concat())
        }
        CKM_RSA_PKCS_OAEP => s
            .encrypt(&oaep(oaep_hash(key)), public, plaintext)
            .map_err(|e| HsmError::from_cryptoki(ctx(key, "encrypting"), e)),
        _ => Err(HsmError::InvalidConfig(format!(
            "managed key {:?} ({}) does not encrypt",
            key.name,
            key.mechanism_name()
        ))),
    }
}

/// Decrypts what [`encrypt`] made. A ciphertext that does not decrypt is an
/// integrity error.
pub(super) fn decrypt(
    held: &Held<'_>,
    key: &ManagedKeyEntry,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, HsmError> {
    allowed(key, Usage::Decrypt)?;
    let s = held.session;
    let (private, _) = key_objects(held, key, false)?;
    let result = match key.mechanism {
        CKM_AES_GCM => {
            if ciphertext.len() < 12 + 16 {
                return Err(HsmError::Integrity(
                    "the ciphertext is too short".to_owned(),
                ));
            }
            let (iv, ct) = ciphertext.split_at(12);
            let mut iv = iv.to_vec();
            s.decrypt(&Mechanism::AesGcm(gcm(&mut iv)?), private, ct)
        }
        CKM_RSA_PKCS_OAEP => s.decrypt(&oaep(oaep_hash(key)), private, ciphertext),
        _ => {
            return Err(HsmError::InvalidConfig(format!(
                "managed key {:?} ({}) does not decrypt",
                key.name,
                key.mechanism_name()
            )));
        }
    };
    result.map(Zeroizing::new).map_err(|e| {
        let err = HsmError::from_cryptoki(ctx(key, "decrypting"), e);
        // The token answers a forged ciphertext with a data error (or, on
        // some tokens, GENERAL/DEVICE_ERROR); the session still works.
        let bad_data = matches!(
            err.return_code(),
            Some(
                RvError::EncryptedDataInvalid
                    | RvError::EncryptedDataLenRange
                    | RvError::GeneralError
                    | RvError::DeviceError
                    | RvError::FunctionFailed
            )
        ) && held.module.ctx().get_token_info(held.slot).is_ok();
        if bad_data {
            HsmError::Integrity(err.to_string())
        } else {
            err
        }
    })
}

/// HMAC-SHA256 of `data` in the HSM.
pub(super) fn mac(
    held: &Held<'_>,
    key: &ManagedKeyEntry,
    data: &[u8],
) -> Result<Vec<u8>, HsmError> {
    allowed(key, Usage::Mac)?;
    if key.mechanism != CKM_SHA256_HMAC {
        return Err(HsmError::InvalidConfig(format!(
            "managed key {:?} ({}) does not make MACs: use a CKM_SHA256_HMAC (0x0251) key",
            key.name,
            key.mechanism_name()
        )));
    }
    let (secret, _) = key_objects(held, key, false)?;
    held.session
        .sign(&Mechanism::Sha256Hmac, secret, data)
        .map_err(|e| HsmError::from_cryptoki(ctx(key, "computing an HMAC"), e))
}

/// The mechanism and input to sign or verify `message` (hashed here with
/// `hash_algorithm` unless `prehashed`).
fn signing(
    key: &ManagedKeyEntry,
    request: &SignRequest,
) -> Result<(Mechanism<'static>, Vec<u8>), HsmError> {
    let hash = Hash::named(&request.hash_algorithm)?;
    let digest = if request.prehashed {
        request.input.clone()
    } else {
        hash.digest(&request.input)
    };
    let pss = request.use_pss || key.mechanism == CKM_RSA_PKCS_PSS;
    Ok(match key.mechanism {
        CKM_ECDSA => (Mechanism::Ecdsa, digest),
        CKM_RSA_PKCS | CKM_RSA_PKCS_PSS if pss => (
            Mechanism::RsaPkcsPss(PkcsPssParams {
                hash_alg: hash.mechanism,
                mgf: hash.mgf,
                s_len: (digest.len() as u64).into(),
            }),
            digest,
        ),
        CKM_RSA_PKCS => (Mechanism::RsaPkcs, [hash.digest_info, &digest].concat()),
        _ => {
            return Err(HsmError::InvalidConfig(format!(
                "managed key {:?} ({}) does not sign",
                key.name,
                key.mechanism_name()
            )));
        }
    })
}

/// Signs in the HSM. ECDSA signatures are PKCS#11's raw `r || s`.
pub(super) fn sign(
    held: &Held<'_>,
    key: &ManagedKeyEntry,
    request: &SignRequest,
) -> Result<Vec<u8>, HsmError> {
    allowed(key, Usage::Sign)?;
    let (private, _) = key_objects(held, key, false)?;
    let (mechanism, input) = signing(key, request)?;
    held.session
        .sign(&mechanism, private, &input)
        .map_err(|e| HsmError::from_cryptoki(ctx(key, "signing"), e))
}

/// Verifies in the HSM: `Ok(false)` for a signature that does not match.
pub(super) fn verify(
    held: &Held<'_>,
    key: &ManagedKeyEntry,
    request: &SignRequest,
    signature: &[u8],
) -> Result<bool, HsmError> {
    allowed(key, Usage::Verify)?;
    let (_, public) = key_objects(held, key, false)?;
    let (mechanism, input) = signing(key, request)?;
    match held.session.verify(&mechanism, public, &input, signature) {
        Ok(()) => Ok(true),
        Err(cryptoki::error::Error::Pkcs11(
            RvError::SignatureInvalid | RvError::SignatureLenRange,
            _,
        )) => Ok(false),
        Err(e) => Err(HsmError::from_cryptoki(ctx(key, "verifying"), e)),
    }
}

/// `test/sign`: signs random data and verifies the signature, or for an
/// encryption mechanism encrypts random data and decrypts it again. Usages
/// are not checked: the test is about the key and the token.
pub(super) fn test_sign(
    held: &Held<'_>,
    key: &ManagedKeyEntry,
    test: &SignTest,
) -> Result<(), HsmError> {
    let data = held
        .session
        .generate_random_vec(32)
        .map_err(|e| HsmError::from_cryptoki("C_GenerateRandom", e))?;
    let (secret, _) = key_objects(held, key, true)?;
    let mut all = key.clone();
    all.usages = vec![
        Usage::Sign,
        Usage::Verify,
        Usage::Encrypt,
        Usage::Decrypt,
        Usage::Mac,
    ];
    if key.mechanism == CKM_SHA256_HMAC {
        let tag = mac(held, &all, &data)?;
        return held
            .session
            .verify(&Mechanism::Sha256Hmac, secret, &data, &tag)
            .map_err(|e| HsmError::from_cryptoki(ctx(key, "verifying an HMAC"), e));
    }
    if matches!(key.mechanism, CKM_AES_GCM | CKM_RSA_PKCS_OAEP) {
        let ct = encrypt(held, &all, &data)?;
        let pt = decrypt(held, &all, &ct)?;
        return same(&pt, &data);
    }
    let request = SignRequest {
        hash_algorithm: test.hash_algorithm.clone(),
        use_pss: test.use_pss,
        prehashed: false,
        input: data,
    };
    let signature = sign(held, &all, &request)?;
    if verify(held, &all, &request, &signature)? {
        Ok(())
    } else {
        Err(HsmError::Integrity(
            "the token did not verify its own signature".to_owned(),
        ))
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
