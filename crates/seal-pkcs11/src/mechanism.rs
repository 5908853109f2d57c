//! How each supported mechanism turns plaintext into a [`Blob`] and back.
//!
//! IVs: PKCS#11 tokens differ on whether they generate GCM IVs (SoftHSM does
//! not: it uses the buffer as given), so Coffer always supplies them: 12
//! bytes for GCM and 16 for CBC, drawn from the token's `C_GenerateRandom`,
//! and stores them in the blob.
//!
//! * `CKM_AES_GCM` — 128-bit tag, the blob header as AAD.
//! * `CKM_AES_CBC_PAD` / `CKM_AES_CBC` — encrypt-then-MAC: `CKM_SHA256_HMAC`
//!   with the HMAC key over header‖ciphertext, verified before decrypting.
//!   Plain CBC gets PKCS#7 padding from us.
//! * `CKM_RSA_PKCS_OAEP` — envelope: a fresh 256-bit data key from the
//!   token's RNG encrypts the plaintext locally (AES-256-GCM, header as AAD),
//!   and only the data key is OAEP-encrypted. RSA-2048 OAEP can carry at most
//!   190–214 bytes, and seal-wrapped values are larger than that.

use coffer_crypto::{Key256, SecretBytes, envelope};
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{AttributeType, ObjectHandle};
use zeroize::Zeroizing;

use crate::blob::Blob;
use crate::error::HsmError;
use crate::options::OaepHash;
use crate::session_pool::Held;
use crate::telemetry::Op;

/// `CKM_AES_GCM`.
pub const CKM_AES_GCM: u64 = 0x1087;
/// `CKM_AES_CBC_PAD`.
pub const CKM_AES_CBC_PAD: u64 = 0x1085;
/// `CKM_AES_CBC`.
pub const CKM_AES_CBC: u64 = 0x1082;
/// `CKM_RSA_PKCS_OAEP`.
pub const CKM_RSA_PKCS_OAEP: u64 = 0x0009;

const GCM_IV_LEN: usize = 12;
const GCM_TAG_BITS: u64 = 128;
const CBC_IV_LEN: usize = 16;
const AES_BLOCK: usize = 16;
const DATA_KEY_LEN: usize = 32;

/// A supported wrapping mechanism with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WrapMechanism {
    AesGcm,
    AesCbcPad,
    AesCbc,
    RsaOaep(OaepHash),
}

/// The key family a mechanism needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    Aes,
    Rsa,
}

/// The token objects an operation uses.
pub(crate) struct Keys {
    /// AES key, or the RSA public (wrap) / private (unwrap) key.
    pub(crate) key: ObjectHandle,
    /// HMAC key, for the CBC mechanisms.
    pub(crate) hmac: Option<ObjectHandle>,
}

impl WrapMechanism {
    /// From the configured code.
    pub(crate) fn from_code(code: u64, oaep: OaepHash) -> Option<Self> {
        match code {
            CKM_AES_GCM => Some(Self::AesGcm),
            CKM_AES_CBC_PAD => Some(Self::AesCbcPad),
            CKM_AES_CBC => Some(Self::AesCbc),
            CKM_RSA_PKCS_OAEP => Some(Self::RsaOaep(oaep)),
            _ => None,
        }
    }

    /// From a blob's mechanism and parameter byte.
    pub(crate) fn from_wire(code: u64, param: u8) -> Option<Self> {
        match (code, param) {
            (CKM_RSA_PKCS_OAEP, p) => Some(Self::RsaOaep(match p {
                1 => OaepHash::Sha1,
                2 => OaepHash::Sha224,
                3 => OaepHash::Sha256,
                4 => OaepHash::Sha384,
                5 => OaepHash::Sha512,
                _ => return None,
            })),
            (c, 0) => Self::from_code(c, OaepHash::default()),
            _ => None,
        }
    }

    /// The `CKM_*` code.
    pub(crate) fn code(self) -> u64 {
        match self {
            Self::AesGcm => CKM_AES_GCM,
            Self::AesCbcPad => CKM_AES_CBC_PAD,
            Self::AesCbc => CKM_AES_CBC,
            Self::RsaOaep(_) => CKM_RSA_PKCS_OAEP,
        }
    }

    /// The blob's parameter byte (the OAEP hash).
    pub(crate) fn param_byte(self) -> u8 {
        match self {
            Self::RsaOaep(OaepHash::Sha1) => 1,
            Self::RsaOaep(OaepHash::Sha224) => 2,
            Self::RsaOaep(OaepHash::Sha256) => 3,
            Self::RsaOaep(OaepHash::Sha384) => 4,
            Self::RsaOaep(OaepHash::Sha512) => 5,
            _ => 0,
        }
    }

    /// The `CKM_*` name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::AesGcm => "CKM_AES_GCM",
            Self::AesCbcPad => "CKM_AES_CBC_PAD",
            Self::AesCbc => "CKM_AES_CBC",
            Self::RsaOaep(_) => "CKM_RSA_PKCS_OAEP",
        }
    }

    /// Which key family the main key must be.
    pub(crate) fn family(self) -> KeyFamily {
        match self {
            Self::RsaOaep(_) => KeyFamily::Rsa,
            _ => KeyFamily::Aes,
        }
    }

    /// Whether an HMAC key is part of the scheme.
    pub(crate) fn uses_hmac(self) -> bool {
        matches!(self, Self::AesCbcPad | Self::AesCbc)
    }

    /// Encrypts `plaintext` into `blob` (whose mechanism and key references
    /// are already set; IV, wrapped key, ciphertext and MAC are filled here).
    pub(crate) fn seal(
        self,
        held: &Held<'_>,
        keys: &Keys,
        blob: &mut Blob,
        plaintext: &[u8],
    ) -> Result<(), HsmError> {
        let s = held.session;
        let ctx = |what: &str| format!("{what} with key \"{}\" ({})", blob.key.label, self.name());
        match self {
            Self::AesGcm => {
                blob.iv = random(held, GCM_IV_LEN)?;
                let aad = blob.header().map_err(|e| HsmError::InvalidConfig(e.0))?;
                let mut iv = blob.iv.clone();
                let params = gcm_params(&mut iv, &aad)?;
                blob.ciphertext = s
                    .encrypt(&Mechanism::AesGcm(params), keys.key, plaintext)
                    .map_err(|e| HsmError::from_cryptoki(ctx("encrypting"), e))?;
            }
            Self::AesCbcPad | Self::AesCbc => {
                blob.iv = random(held, CBC_IV_LEN)?;
                let iv: [u8; CBC_IV_LEN] =
                    blob.iv
                        .as_slice()
                        .try_into()
                        .map_err(|_| HsmError::Binding {
                            context: "C_GenerateRandom".to_owned(),
                            detail: "short IV".to_owned(),
                        })?;
                blob.ciphertext = if self == Self::AesCbcPad {
                    s.encrypt(&Mechanism::AesCbcPad(iv), keys.key, plaintext)
                } else {
                    s.encrypt(&Mechanism::AesCbc(iv), keys.key, &pkcs7_pad(plaintext))
                }
                .map_err(|e| HsmError::from_cryptoki(ctx("encrypting"), e))?;
                let hmac = keys.hmac.ok_or_else(|| {
                    HsmError::InvalidConfig(format!("{} needs an HMAC key", self.name()))
                })?;
                let input = blob.mac_input().map_err(|e| HsmError::InvalidConfig(e.0))?;
                blob.mac = held
                    .telemetry
                    .time(Op::Sign, || s.sign(&Mechanism::Sha256Hmac, hmac, &input))
                    .map_err(|e| HsmError::from_cryptoki(ctx("CKM_SHA256_HMAC signing"), e))?;
            }
            Self::RsaOaep(hash) => {
                let data_key = Zeroizing::new(random(held, DATA_KEY_LEN)?);
                blob.wrapped_key = s.encrypt(&oaep(hash), keys.key, &data_key).map_err(|e| {
                    let err = HsmError::from_cryptoki(ctx("encrypting"), e);
                    oaep_hint(err, hash)
                })?;
                let aad = blob.header().map_err(|e| HsmError::InvalidConfig(e.0))?;
                let key = data_key_of(&data_key)?;
                // The data key seals this one blob, and its nonce comes from
                // the HSM too, as the IVs of the other mechanisms do.
                let nonce: [u8; envelope::NONCE_LEN] = random(held, envelope::NONCE_LEN)?
                    .try_into()
                    .map_err(|_| HsmError::Binding {
                        context: "C_GenerateRandom".to_owned(),
                        detail: "the HSM returned a nonce of the wrong length".to_owned(),
                    })?;
                blob.ciphertext = envelope::seal_with_nonce(key, 0, &nonce, &aad, plaintext)
                    .map_err(|e| HsmError::Binding {
                        context: "local AES-GCM envelope".to_owned(),
                        detail: e.to_string(),
                    })?;
            }
        }
        Ok(())
    }

    /// Decrypts `blob`, authenticating it first.
    pub(crate) fn open(
        self,
        held: &Held<'_>,
        keys: &Keys,
        blob: &Blob,
    ) -> Result<SecretBytes, HsmError> {
        let s = held.session;
        match self {
            Self::AesGcm => {
                if blob.iv.len() != GCM_IV_LEN {
                    return Err(HsmError::MalformedBlob(format!(
                        "GCM IV is {} bytes, expected {GCM_IV_LEN}",
                        blob.iv.len()
                    )));
                }
                if blob.ciphertext.len() < AES_BLOCK {
                    return Err(HsmError::MalformedBlob(
                        "GCM ciphertext is shorter than its tag".to_owned(),
                    ));
                }
                let aad = blob.header().map_err(|e| HsmError::MalformedBlob(e.0))?;
                let mut iv = blob.iv.clone();
                let params = gcm_params(&mut iv, &aad)?;
                s.decrypt(&Mechanism::AesGcm(params), keys.key, &blob.ciphertext)
                    .map(SecretBytes::new)
                    .map_err(|e| decrypt_failure(held, keys.key, self, e))
            }
            Self::AesCbcPad | Self::AesCbc => {
                let iv: [u8; CBC_IV_LEN] = blob.iv.as_slice().try_into().map_err(|_| {
                    HsmError::MalformedBlob(format!(
                        "CBC IV is {} bytes, expected {CBC_IV_LEN}",
                        blob.iv.len()
                    ))
                })?;
                let hmac = keys.hmac.ok_or_else(|| {
                    HsmError::MalformedBlob(format!("{} blob names no HMAC key", self.name()))
                })?;
                let input = blob.mac_input().map_err(|e| HsmError::MalformedBlob(e.0))?;
                // Encrypt-then-MAC: nothing is decrypted before the MAC checks out.
                held.telemetry
                    .time(Op::Sign, || {
                        s.verify(&Mechanism::Sha256Hmac, hmac, &input, &blob.mac)
                    })
                    .map_err(|e| decrypt_failure(held, hmac, self, e))?;
                if self == Self::AesCbcPad {
                    s.decrypt(&Mechanism::AesCbcPad(iv), keys.key, &blob.ciphertext)
                        .map(SecretBytes::new)
                        .map_err(|e| decrypt_failure(held, keys.key, self, e))
                } else {
                    let padded = Zeroizing::new(
                        s.decrypt(&Mechanism::AesCbc(iv), keys.key, &blob.ciphertext)
                            .map_err(|e| decrypt_failure(held, keys.key, self, e))?,
                    );
                    pkcs7_unpad(&padded)
                        .map(SecretBytes::from_slice)
                        .ok_or_else(|| HsmError::Integrity("CBC padding is invalid".to_owned()))
                }
            }
            Self::RsaOaep(hash) => {
                let data_key = Zeroizing::new(
                    s.decrypt(&oaep(hash), keys.key, &blob.wrapped_key)
                        .map_err(|e| decrypt_failure(held, keys.key, self, e))?,
                );
                let key = data_key_of(&data_key).map_err(|_| {
                    HsmError::Integrity("unwrapped data key has the wrong length".to_owned())
                })?;
                let aad = blob.header().map_err(|e| HsmError::MalformedBlob(e.0))?;
                envelope::open(&key, &aad, &blob.ciphertext)
                    .map(|p| SecretBytes::from_slice(&p))
                    .map_err(|e| HsmError::Integrity(e.to_string()))
            }
        }
    }
}

/// `n` bytes from the token's RNG.
pub(crate) fn random(held: &Held<'_>, n: usize) -> Result<Vec<u8>, HsmError> {
    let mut buf = vec![0u8; n];
    held.session
        .generate_random_slice(&mut buf)
        .map_err(|e| HsmError::from_cryptoki("C_GenerateRandom", e))?;
    Ok(buf)
}

fn gcm_params<'a>(iv: &'a mut [u8], aad: &'a [u8]) -> Result<GcmParams<'a>, HsmError> {
    GcmParams::new(iv, aad, GCM_TAG_BITS.into()).map_err(|e| HsmError::Binding {
        context: "building CK_GCM_PARAMS".to_owned(),
        detail: e.to_string(),
    })
}

pub(crate) fn oaep(hash: OaepHash) -> Mechanism<'static> {
    let (h, mgf) = match hash {
        OaepHash::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
        OaepHash::Sha224 => (MechanismType::SHA224, PkcsMgfType::MGF1_SHA224),
        OaepHash::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
        OaepHash::Sha384 => (MechanismType::SHA384, PkcsMgfType::MGF1_SHA384),
        OaepHash::Sha512 => (MechanismType::SHA512, PkcsMgfType::MGF1_SHA512),
    };
    Mechanism::RsaPkcsOaep(PkcsOaepParams::new(h, mgf, PkcsOaepSource::empty()))
}

fn oaep_hint(err: HsmError, hash: OaepHash) -> HsmError {
    match err.return_code() {
        Some(
            RvError::ArgumentsBad | RvError::MechanismParamInvalid | RvError::MechanismInvalid,
        ) if hash != OaepHash::Sha1 => {
            let text = format!(
                "the token rejects RSA-OAEP with {}; SoftHSM 2.6 accepts only rsa_oaep_hash = \"sha1\"",
                hash.name()
            );
            err.with_hint(&text)
        }
        _ => err,
    }
}

fn data_key_of(bytes: &[u8]) -> Result<Key256, HsmError> {
    Key256::from_slice(bytes).ok_or_else(|| HsmError::Binding {
        context: "data key".to_owned(),
        detail: format!("{} bytes, expected {DATA_KEY_LEN}", bytes.len()),
    })
}

/// Decides whether a failed decrypt/verify means "not authentic" or "token
/// gone". Tokens answer bad data with codes that also mean a fault: SoftHSM
/// gives `CKR_GENERAL_ERROR` for a bad GCM tag (the code it gives when its
/// token directory vanished), kryoptic `CKR_DEVICE_ERROR` for a bad RSA-OAEP
/// block. For those ambiguous codes the token is asked whether it and the
/// key are still there.
fn decrypt_failure(
    held: &Held<'_>,
    key: ObjectHandle,
    mechanism: WrapMechanism,
    err: cryptoki::error::Error,
) -> HsmError {
    let what = format!("decrypting ({})", mechanism.name());
    let err = HsmError::from_cryptoki(what, err);
    let Some(rv) = err.return_code() else {
        return err;
    };
    let clearly_bad_data = matches!(
        rv,
        RvError::EncryptedDataInvalid
            | RvError::EncryptedDataLenRange
            | RvError::DataInvalid
            | RvError::DataLenRange
            | RvError::SignatureInvalid
            | RvError::SignatureLenRange
    );
    let ambiguous = matches!(
        rv,
        RvError::GeneralError | RvError::DeviceError | RvError::FunctionFailed
    );
    if clearly_bad_data || (ambiguous && token_still_answers(held, key)) {
        return HsmError::Integrity(err.to_string());
    }
    err
}

fn token_still_answers(held: &Held<'_>, key: ObjectHandle) -> bool {
    held.module.ctx().get_token_info(held.slot).is_ok()
        && held
            .session
            .get_attributes(key, &[AttributeType::Class])
            .is_ok_and(|a| !a.is_empty())
}

/// PKCS#7 padding to the AES block size (for plain `CKM_AES_CBC`).
fn pkcs7_pad(data: &[u8]) -> Zeroizing<Vec<u8>> {
    let pad = AES_BLOCK - data.len() % AES_BLOCK;
    let mut out = Zeroizing::new(Vec::with_capacity(data.len() + pad));
    out.extend_from_slice(data);
    // `pad` is 1..=16, so it fits a byte.
    out.resize(data.len() + pad, pad as u8);
    out
}

/// Strips PKCS#7 padding; `None` when it is not valid. The MAC has been
/// verified before this runs, so there is no padding oracle to protect.
fn pkcs7_unpad(data: &[u8]) -> Option<&[u8]> {
    let &last = data.last()?;
    let pad = usize::from(last);
    if pad == 0 || pad > AES_BLOCK || pad > data.len() || !data.len().is_multiple_of(AES_BLOCK) {
        return None;
    }
    let (body, padding) = data.split_at(data.len() - pad);
    padding.iter().all(|&b| b == last).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs7_pads_every_length_to_whole_blocks_and_back() {
        for len in 0..50 {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let padded = pkcs7_pad(&data);
            assert_eq!(padded.len() % AES_BLOCK, 0);
            assert!(padded.len() > data.len());
            assert_eq!(pkcs7_unpad(&padded), Some(data.as_slice()));
        }
    }

    #[test]
    fn broken_pkcs7_padding_is_rejected() {
        assert_eq!(pkcs7_unpad(&[]), None);
        assert_eq!(pkcs7_unpad(&[0u8; 16]), None);
        assert_eq!(pkcs7_unpad(&[17u8; 16]), None);
        let mut block = [4u8; 16];
        block[13] = 3;
        assert_eq!(pkcs7_unpad(&block), None);
        assert_eq!(pkcs7_unpad(&[1u8; 15]), None);
    }

    #[test]
    fn mechanisms_round_trip_through_their_wire_form() {
        for m in [
            WrapMechanism::AesGcm,
            WrapMechanism::AesCbcPad,
            WrapMechanism::AesCbc,
            WrapMechanism::RsaOaep(OaepHash::Sha1),
            WrapMechanism::RsaOaep(OaepHash::Sha512),
        ] {
            assert_eq!(WrapMechanism::from_wire(m.code(), m.param_byte()), Some(m));
        }
        assert_eq!(WrapMechanism::from_wire(CKM_RSA_PKCS_OAEP, 0), None);
        assert_eq!(WrapMechanism::from_wire(CKM_AES_GCM, 1), None);
        assert_eq!(WrapMechanism::from_code(0x0001, OaepHash::Sha1), None);
    }
}
