//! Transit keys of `type=managed_key`: each version names a managed key
//! (`sys/managed-keys`) that the mount allows, and every operation runs in
//! that key's HSM (HMACs too, with a CKM_SHA256_HMAC managed key). Nothing
//! of the key is ever in Coffer, so there is nothing to export, back up or
//! derive; those are refused with the reason.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_core::engine::EngineContext;
use coffer_core::managed_keys::{CKM_ECDSA, ManagedKeyEntry, SignRequest, SignTest};
use coffer_core::{CoreError, CoreResult};
use serde_json::json;

use crate::batch::{ItemResult, fields};
use crate::ciphertext::{self, Kind};
use crate::crypto::der;
use crate::crypto::hash::HashAlgorithm;
use crate::crypto::rsa::Padding;
use crate::fields::b64_decode;
use crate::keyring::{KeyRing, Material, SignParams};
use crate::path_encrypt::{ERR_NONCE_NOT_ALLOWED, Item};
use crate::path_sign::SigItem;
use crate::stored::StoredVersion;

/// Which managed key a new version uses (`managed_key_name` or `managed_key_id`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ManagedRef {
    /// `managed_key_name`.
    pub(crate) name: Option<String>,
    /// `managed_key_id`.
    pub(crate) id: Option<String>,
}

/// Why an operation is refused for managed keys.
pub(crate) fn refused(what: &str) -> CoreError {
    CoreError::invalid(format!(
        "{what} is not possible with a managed key: its material never leaves the HSM"
    ))
}

/// A new version bound to the managed key `r` names: the mount must allow
/// it, and it must sign and verify (or encrypt and decrypt) in its HSM now,
/// which also generates it there when the managed key allows that.
pub(crate) async fn bind(ctx: &EngineContext, r: &ManagedRef) -> CoreResult<StoredVersion> {
    let entry = ctx
        .managed_keys
        .resolve(r.name.as_deref(), r.id.as_deref())
        .await?;
    let test = SignTest {
        use_pss: false,
        hash_algorithm: "sha2-256".to_owned(),
    };
    ctx.managed_keys
        .provider()?
        .test_sign(&entry, &test)
        .await?;
    Ok(StoredVersion::managed(
        entry.uuid,
        entry.name,
        ctx.clock.now(),
    ))
}

/// The managed key of version `n` of `ring`.
async fn entry_of(ctx: &EngineContext, ring: &KeyRing, n: u64) -> CoreResult<ManagedKeyEntry> {
    let v = ring
        .versions
        .get(&n)
        .ok_or_else(|| CoreError::invalid("no such key version"))?;
    let Material::Managed { id, name } = &v.material else {
        return Err(CoreError::Internal("not a managed key version".to_owned()));
    };
    // By name: one read on the hot path; the id confirms it is the same key.
    let Some(name) = name else {
        return ctx.managed_keys.resolve(None, Some(id)).await;
    };
    let entry = ctx.managed_keys.resolve(Some(name), None).await?;
    if &entry.uuid != id {
        return Err(CoreError::invalid(format!(
            "managed key {name:?} was deleted and created again (id {} now, {id} when version \
             {n} was bound): this version's HSM key is gone from Coffer's configuration",
            entry.uuid
        )));
    }
    Ok(entry)
}

/// One encrypt item with a managed key.
pub(crate) async fn encrypt_item(ctx: &EngineContext, ring: &KeyRing, item: &Item) -> ItemResult {
    let Some(plaintext) = item.plaintext.as_deref() else {
        return Err(CoreError::invalid("missing plaintext to encrypt"));
    };
    if item.nonce.as_deref().is_some_and(|n| !n.is_empty()) {
        return Err(CoreError::invalid(ERR_NONCE_NOT_ALLOWED));
    }
    refuse_extras(item)?;
    let plaintext = zeroize::Zeroizing::new(b64_decode("plaintext", plaintext)?);
    let (n, _) = ring.version_for_use(item.key_version.unwrap_or(0), "encryption")?;
    let entry = entry_of(ctx, ring, n).await?;
    let blob = ctx
        .managed_keys
        .provider()?
        .encrypt(&entry, &plaintext)
        .await?;
    Ok(fields([
        ("ciphertext", json!(ciphertext::encode(n, &blob))),
        ("key_version", json!(n)),
    ]))
}

/// One decrypt item with a managed key.
pub(crate) async fn decrypt_item(ctx: &EngineContext, ring: &KeyRing, item: &Item) -> ItemResult {
    let Some(value) = item.ciphertext.as_deref() else {
        return Err(CoreError::invalid("missing ciphertext to decrypt"));
    };
    refuse_extras(item)?;
    let (n, body) = ciphertext::parse(Kind::Ciphertext, value)?;
    ring.version_for_reading(n, "ciphertext")?;
    let blob = STANDARD
        .decode(body)
        .map_err(|_| CoreError::invalid("invalid ciphertext: could not decode base64"))?;
    let entry = entry_of(ctx, ring, n).await?;
    let plaintext = ctx.managed_keys.provider()?.decrypt(&entry, &blob).await?;
    Ok(fields([("plaintext", json!(STANDARD.encode(&*plaintext)))]))
}

/// Context and associated data mean key derivation and AEAD additions the
/// HSM mechanisms here do not take.
fn refuse_extras(item: &Item) -> CoreResult<()> {
    if item.context.as_deref().is_some_and(|c| !c.is_empty()) {
        return Err(refused("key derivation (context)"));
    }
    if item
        .associated_data
        .as_deref()
        .is_some_and(|a| !a.is_empty())
    {
        return Err(CoreError::NotSupported(
            "associated_data with managed keys".to_owned(),
        ));
    }
    match item.padding_scheme.as_deref() {
        None | Some("" | "oaep") => Ok(()),
        Some(other) => Err(CoreError::NotSupported(format!(
            "padding scheme {other:?} with managed keys (RSA-OAEP only)"
        ))),
    }
}

fn sign_request(p: SignParams, input: Vec<u8>) -> CoreResult<SignRequest> {
    if p.jws {
        return Err(CoreError::NotSupported(
            "marshaling_algorithm=jws with managed keys".to_owned(),
        ));
    }
    Ok(SignRequest {
        hash_algorithm: p.hash.as_str().to_owned(),
        use_pss: matches!(p.padding, Padding::Pss(_)),
        prehashed: p.prehashed,
        input,
    })
}

/// The ECDSA scalar length of a managed key's curve, when known.
fn scalar_len(entry: &ManagedKeyEntry) -> Option<usize> {
    match entry.curve.as_deref() {
        Some("P256") => Some(32),
        Some("P384") => Some(48),
        Some("P521") => Some(66),
        _ => None,
    }
}

/// The input of a sign or verify item; a derivation context is refused.
fn sig_input(item: &SigItem) -> CoreResult<Vec<u8>> {
    if item.context.as_deref().is_some_and(|c| !c.is_empty()) {
        return Err(refused("key derivation (context)"));
    }
    b64_decode("input", item.input.as_deref().unwrap_or_default())
}

/// One sign item with a managed key. ECDSA signatures are ASN.1 DER, as
/// transit's own.
pub(crate) async fn sign_item(
    ctx: &EngineContext,
    ring: &KeyRing,
    version: u64,
    item: &SigItem,
    p: SignParams,
) -> ItemResult {
    let input = sig_input(item)?;
    let (n, _) = ring.version_for_use(version, "signing")?;
    let entry = entry_of(ctx, ring, n).await?;
    let mut signature = ctx
        .managed_keys
        .provider()?
        .sign(&entry, &sign_request(p, input)?)
        .await?;
    if entry.mechanism == CKM_ECDSA {
        signature = der::ecdsa_fixed_to_asn1(&signature)
            .ok_or_else(|| CoreError::Internal("the HSM's ECDSA signature is malformed".into()))?;
    }
    Ok(fields([
        ("signature", json!(ciphertext::encode(n, &signature))),
        ("key_version", json!(n)),
    ]))
}

/// One verify item with a managed key.
pub(crate) async fn verify_item(
    ctx: &EngineContext,
    ring: &KeyRing,
    item: &SigItem,
    p: SignParams,
) -> ItemResult {
    let input = sig_input(item)?;
    let value = item
        .signature
        .as_deref()
        .ok_or_else(|| CoreError::invalid("missing signature"))?;
    let (n, body) = ciphertext::parse(Kind::Signature, value)?;
    ring.version_for_reading(n, "signature")?;
    let mut signature = STANDARD
        .decode(body)
        .map_err(|_| CoreError::invalid("invalid signature: could not decode base64"))?;
    let entry = entry_of(ctx, ring, n).await?;
    if entry.mechanism == CKM_ECDSA {
        // The scalar size: from the curve, else the smallest that fits.
        let fixed = match scalar_len(&entry) {
            Some(len) => der::ecdsa_asn1_to_fixed(&signature, len),
            None => [32, 48, 66]
                .into_iter()
                .find_map(|len| der::ecdsa_asn1_to_fixed(&signature, len)),
        };
        let Some(fixed) = fixed else {
            return Ok(fields([("valid", json!(false))]));
        };
        signature = fixed;
    }
    let valid = ctx
        .managed_keys
        .provider()?
        .verify(&entry, &sign_request(p, input)?, &signature)
        .await?;
    Ok(fields([("valid", json!(valid))]))
}

/// `hmac/` and the HMAC half of `verify/` take HMAC-SHA256 only: the HSM key
/// is a CKM_SHA256_HMAC key.
fn check_hmac_hash(alg: HashAlgorithm) -> CoreResult<()> {
    if alg == HashAlgorithm::Sha2_256 {
        Ok(())
    } else {
        Err(CoreError::NotSupported(format!(
            "HMAC with {} on a managed key (its HSM key does HMAC-SHA256)",
            alg.as_str()
        )))
    }
}

/// One `hmac/` item with a managed key.
pub(crate) async fn hmac_item(
    ctx: &EngineContext,
    ring: &KeyRing,
    version: u64,
    alg: HashAlgorithm,
    item: &SigItem,
) -> ItemResult {
    check_hmac_hash(alg)?;
    let input = item
        .input
        .as_deref()
        .ok_or_else(|| CoreError::invalid("missing input for HMAC"))?;
    let input = b64_decode("input", input)?;
    let (n, _) = ring.version_for_use(version, "hmac")?;
    let entry = entry_of(ctx, ring, n).await?;
    let tag = ctx.managed_keys.provider()?.mac(&entry, &input).await?;
    Ok(fields([("hmac", json!(ciphertext::encode(n, &tag)))]))
}

/// The HMAC half of `verify/` with a managed key: the HSM recomputes the
/// tag, compared here in constant time.
pub(crate) async fn verify_hmac_item(
    ctx: &EngineContext,
    ring: &KeyRing,
    alg: HashAlgorithm,
    item: &SigItem,
) -> ItemResult {
    use subtle::ConstantTimeEq as _;
    check_hmac_hash(alg)?;
    let input = b64_decode("input", item.input.as_deref().unwrap_or(""))?;
    let value = item
        .hmac
        .as_deref()
        .ok_or_else(|| CoreError::invalid("missing hmac"))?;
    let (n, body) = ciphertext::parse(Kind::Hmac, value)?;
    ring.version_for_reading(n, "HMAC")?;
    let given = STANDARD.decode(body).map_err(|e| {
        CoreError::invalid(format!("unable to decode verification HMAC as base64: {e}"))
    })?;
    let entry = entry_of(ctx, ring, n).await?;
    let tag = ctx.managed_keys.provider()?.mac(&entry, &input).await?;
    let valid: bool = tag.as_slice().ct_eq(given.as_slice()).into();
    Ok(fields([("valid", json!(valid))]))
}
