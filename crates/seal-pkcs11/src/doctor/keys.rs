//! The seal's keys on the token, a wrap/unwrap round trip through the real
//! seal, and a draw from the token's RNG through the SP 800-90B health tests.

use std::time::{Duration, Instant};

use coffer_crypto::HealthTests;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use super::mechanisms::Mechanisms;
use super::token::Found;
use super::{DoctorRequest, Finding, Reporter, Status};
use crate::error::HsmError;
use crate::mechanism::{CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_GCM, CKM_RSA_PKCS_OAEP};
use crate::options::{OaepHash, Pkcs11Options};
use crate::seal::Pkcs11Seal;

/// Round trips timed after the seal's own self-test.
const ROUND_TRIPS: u32 = 20;
/// The size of one RNG draw, as the entropy source asks for.
const RNG_CHUNK: usize = 1024;

/// What the key checks concluded.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    /// The seal key is an AES key (`Some(true)`) or an RSA pair (`Some(false)`).
    pub(crate) aes: Option<bool>,
    /// The mechanism and OAEP hash the round trip worked with.
    pub(crate) working: Option<(u64, OaepHash)>,
    /// The token was searched for the seal key.
    pub(crate) checked: bool,
    /// The token was searched and holds nothing under the seal key's label.
    pub(crate) missing: bool,
}

/// One object found under a label.
struct Object {
    class: ObjectClass,
    key_type: Option<KeyType>,
    sensitive: Option<bool>,
    extractable: Option<bool>,
}

fn objects(session: &Session, label: &str) -> Result<Vec<Object>, HsmError> {
    let found = session
        .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
        .map_err(|e| HsmError::from_cryptoki(format!("searching for \"{label}\""), e))?;
    let mut out = Vec::new();
    for h in found {
        out.push(object(session, h)?);
    }
    Ok(out)
}

fn object(session: &Session, h: ObjectHandle) -> Result<Object, HsmError> {
    let attrs = session
        .get_attributes(
            h,
            &[
                AttributeType::Class,
                AttributeType::KeyType,
                AttributeType::Sensitive,
                AttributeType::Extractable,
            ],
        )
        .map_err(|e| HsmError::from_cryptoki("C_GetAttributeValue", e))?;
    let mut o = Object {
        class: ObjectClass::DATA,
        key_type: None,
        sensitive: None,
        extractable: None,
    };
    for a in attrs {
        match a {
            Attribute::Class(c) => o.class = c,
            Attribute::KeyType(t) => o.key_type = Some(t),
            Attribute::Sensitive(b) => o.sensitive = Some(b),
            Attribute::Extractable(b) => o.extractable = Some(b),
            _ => {}
        }
    }
    Ok(o)
}

fn describe(o: &Object) -> String {
    let class = match o.class {
        ObjectClass::SECRET_KEY => "secret key",
        ObjectClass::PRIVATE_KEY => "private key",
        ObjectClass::PUBLIC_KEY => "public key",
        ObjectClass::CERTIFICATE => "certificate",
        _ => "object",
    };
    match o.key_type {
        Some(t) => format!("{t} {class}"),
        None => class.to_owned(),
    }
}

/// Checks the objects under one label; returns the key's kind (`Some(true)`
/// AES, `Some(false)` RSA) or `None` when missing or unusable.
fn check_label(
    label: &str,
    role: &str,
    session: &Session,
    generate: bool,
    out: &mut Reporter<'_>,
) -> Option<bool> {
    let found = match objects(session, label) {
        Ok(f) => f,
        Err(e) => {
            out.finding(Finding::new("keys", role, Status::Fail, e.to_string()));
            return None;
        }
    };
    if found.is_empty() {
        if generate {
            out.finding(Finding::new(
                "keys",
                role,
                Status::Info,
                format!("no object labelled \"{label}\": -generate-key creates it below"),
            ));
        } else {
            out.finding(
                Finding::new(
                    "keys",
                    role,
                    Status::Fail,
                    format!("no object labelled \"{label}\" on the token"),
                )
                .remedy(
                    "check the label (case matters), create the key with `coffer hsm doctor \
                         -generate-key`, or let the server create it at its first start with \
                         generate_key = \"true\"",
                ),
            );
        }
        return None;
    }
    let keys: Vec<&Object> = found
        .iter()
        .filter(|o| {
            matches!(
                o.class,
                ObjectClass::SECRET_KEY | ObjectClass::PRIVATE_KEY | ObjectClass::PUBLIC_KEY
            )
        })
        .collect();
    let mut ok = true;
    for class in [
        ObjectClass::SECRET_KEY,
        ObjectClass::PRIVATE_KEY,
        ObjectClass::PUBLIC_KEY,
    ] {
        let n = keys.iter().filter(|o| o.class == class).count();
        if n > 1 {
            ok = false;
            out.finding(
                Finding::new(
                    "keys",
                    role,
                    Status::Fail,
                    format!("{n} objects of the same class are labelled \"{label}\": unseal cannot tell which wraps the root key"),
                )
                .remedy(
                    "delete the extra ones (pkcs11-tool --list-objects shows their CKA_ID; \
                     --delete-object --id ID removes one) or set key_id to the right one",
                ),
            );
        }
    }
    for o in &keys {
        if o.class == ObjectClass::PUBLIC_KEY {
            continue;
        }
        let mut weak = Vec::new();
        if o.extractable == Some(true) {
            weak.push("extractable (CKA_EXTRACTABLE true)");
        }
        if o.sensitive == Some(false) {
            weak.push("not sensitive (CKA_SENSITIVE false)");
        }
        let what = describe(o);
        if weak.is_empty() {
            out.finding(Finding::new(
                "keys",
                role,
                Status::Ok,
                format!("\"{label}\": {what}, sensitive, not extractable"),
            ));
        } else {
            out.finding(
                Finding::new(
                    "keys",
                    role,
                    Status::Warn,
                    format!("\"{label}\": {what} is {}", weak.join(" and ")),
                )
                .remedy(
                    "its value can leave the HSM: create a new key (generate_key makes it \
                         sensitive and never extractable), rotate to it with key_label, then \
                         delete this one",
                ),
            );
        }
    }
    if !ok {
        return None;
    }
    let secret_aes = keys
        .iter()
        .any(|o| o.class == ObjectClass::SECRET_KEY && o.key_type == Some(KeyType::AES));
    let secret_hmac = keys.iter().any(|o| {
        o.class == ObjectClass::SECRET_KEY
            && matches!(
                o.key_type,
                Some(KeyType::GENERIC_SECRET | KeyType::SHA256_HMAC)
            )
    });
    let private_rsa = keys
        .iter()
        .any(|o| o.class == ObjectClass::PRIVATE_KEY && o.key_type == Some(KeyType::RSA));
    let public_rsa = keys
        .iter()
        .any(|o| o.class == ObjectClass::PUBLIC_KEY && o.key_type == Some(KeyType::RSA));
    if secret_aes || secret_hmac {
        return Some(secret_aes);
    }
    if private_rsa && public_rsa {
        return Some(false);
    }
    out.finding(
        Finding::new(
            "keys",
            role,
            Status::Fail,
            format!(
                "\"{label}\" holds {} but the seal needs an AES key, or an RSA private and public key",
                keys.iter().map(|o| describe(o)).collect::<Vec<_>>().join(", ")
            ),
        )
        .remedy("label the right key, or generate one with -generate-key under a new label"),
    );
    None
}

/// The key checks and, when they pass, a round trip through the real seal.
pub(crate) fn examine(
    req: &DoctorRequest,
    found: &Found,
    mech: &Mechanisms,
    out: &mut Reporter<'_>,
) -> Keys {
    let mut keys = Keys::default();
    let (Some(session), Some(pin)) = (&found.session, &req.pin) else {
        return keys;
    };
    let Some(label) = req.key_label.as_deref() else {
        out.finding(Finding::new(
            "keys",
            "seal key",
            Status::Info,
            "no key label given (-key-label, or the stanza's key_label): key checks and round trip skipped",
        ));
        return keys;
    };
    out.begin("looking up keys");
    keys.checked = true;
    keys.missing = objects(session, label).is_ok_and(|o| o.is_empty());
    keys.aes = check_label(label, "seal key", session, req.generate_key, out);
    let wants_hmac = matches!(req.mechanism, Some(CKM_AES_CBC | CKM_AES_CBC_PAD));
    let mut usable = keys.aes.is_some() || req.generate_key;
    match (req.mechanism, keys.aes) {
        (Some(CKM_AES_GCM | CKM_AES_CBC | CKM_AES_CBC_PAD), Some(false))
        | (Some(CKM_RSA_PKCS_OAEP), Some(true)) => {
            usable = false;
            out.finding(
                Finding::new("keys", "seal key", Status::Fail, format!("\"{label}\" does not fit mechanism 0x{:04X}", req.mechanism.unwrap_or_default()))
                    .remedy("AES mechanisms need an AES key, RSA-OAEP an RSA pair: change mechanism or key_label"),
            );
        }
        _ => {}
    }
    if wants_hmac {
        match req.hmac_key_label.as_deref() {
            None => {
                usable = false;
                out.finding(
                    Finding::new("keys", "HMAC key", Status::Fail, "CBC mechanisms authenticate with an HMAC key, and no hmac_key_label is set")
                        .remedy("set hmac_key_label (and generate_key, or create a generic secret key for CKM_SHA256_HMAC)"),
                );
            }
            Some(h) => {
                if check_label(h, "HMAC key", session, req.generate_key, out).is_none()
                    && !req.generate_key
                {
                    usable = false;
                }
            }
        }
    }
    if !usable {
        return keys;
    }
    let oaep = req.rsa_oaep_hash.or_else(|| {
        [OaepHash::Sha256, OaepHash::Sha1]
            .into_iter()
            .find(|h| mech.oaep_hashes.contains(h))
    });
    let mut o = Pkcs11Options::new(&req.lib, &found.label, pin.clone(), label);
    o.key_label = label.to_owned();
    o.hmac_key_label = req.hmac_key_label.clone();
    o.mechanism = req.mechanism;
    o.rsa_oaep_hash = oaep.unwrap_or_default();
    o.generate_key = req.generate_key;
    keys.working = round_trip(o, out);
    keys
}

fn round_trip(options: Pkcs11Options, out: &mut Reporter<'_>) -> Option<(u64, OaepHash)> {
    let oaep = options.rsa_oaep_hash;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            out.finding(Finding::new(
                "round trip",
                "seal",
                Status::Fail,
                format!("no runtime: {e}"),
            ));
            return None;
        }
    };
    // Opening may generate keys (an RSA pair takes seconds on a slow HSM).
    if options.generate_key {
        out.begin_slow("opening the seal (generating missing keys)");
    } else {
        out.begin("opening the seal");
    }
    let started = Instant::now();
    let result = runtime
        .block_on(Pkcs11Seal::open(options))
        .and_then(|seal| {
            let opened = started.elapsed();
            let mut wrap = Duration::ZERO;
            let mut unwrap = Duration::ZERO;
            for i in 0..ROUND_TRIPS {
                out.begin(&format!(
                    "wrap/unwrap round trip {} of {ROUND_TRIPS}",
                    i + 1
                ));
                let value = [i as u8; 32];
                let t = Instant::now();
                let blob = runtime.block_on(seal.wrap_blob(&value))?;
                wrap += t.elapsed();
                let t = Instant::now();
                let back = runtime.block_on(seal.unwrap_blob(&blob))?;
                unwrap += t.elapsed();
                if back.expose() != value.as_slice() {
                    return Err(HsmError::Integrity(
                        "the round trip returned different bytes".to_owned(),
                    ));
                }
            }
            Ok((seal, opened, wrap, unwrap))
        });
    match result {
        Ok((seal, opened, wrap, unwrap)) => {
            for k in seal.banner_info().keys.iter().filter(|k| k.created) {
                out.finding(Finding::new(
                    "keys",
                    "generated",
                    Status::Ok,
                    format!(
                        "created \"{}\" ({}), sensitive and never extractable",
                        k.label, k.kind
                    ),
                ));
            }
            let per = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(ROUND_TRIPS);
            out.finding(Finding {
                millis: Some(opened.as_secs_f64() * 1000.0),
                ..Finding::new(
                    "round trip",
                    "seal",
                    Status::Ok,
                    format!(
                        "the seal opened with {} and did {ROUND_TRIPS} wrap/unwrap round trips: wrap {:.2} ms, unwrap {:.2} ms on average",
                        seal.mechanism_name(),
                        per(wrap),
                        per(unwrap)
                    ),
                )
            });
            Some((seal.mechanism(), oaep))
        }
        Err(e) => {
            out.finding(
                Finding::new("round trip", "seal", Status::Fail, e.to_string())
                    .remedy("the server would fail the same way at start: fix the finding above it, or the setting the message names"),
            );
            None
        }
    }
}

/// Draws from the token's RNG through the SP 800-90B continuous tests, as
/// `entropy "seal"` would. Returns whether it passed.
pub(crate) fn random(req: &DoctorRequest, found: &Found, out: &mut Reporter<'_>) -> bool {
    out.begin("C_GenerateRandom");
    let Ok(m) = found.module.enter() else {
        return false;
    };
    let own;
    let session = match &found.session {
        Some(s) => s,
        None => match m.ctx().open_ro_session(found.slot) {
            Ok(s) => {
                own = s;
                &own
            }
            Err(e) => {
                out.finding(Finding::new(
                    "rng",
                    "C_GenerateRandom",
                    Status::Fail,
                    HsmError::from_cryptoki("C_OpenSession", e).to_string(),
                ));
                return false;
            }
        },
    };
    let mut tests = HealthTests::new();
    let mut buf = [0u8; RNG_CHUNK];
    let started = Instant::now();
    let mut drawn = 0;
    while drawn < req.rng_bytes {
        out.begin("C_GenerateRandom");
        let n = RNG_CHUNK.min(req.rng_bytes - drawn);
        if let Err(e) = session.generate_random_slice(&mut buf[..n]) {
            out.finding(
                Finding::new("rng", "C_GenerateRandom", Status::Fail, HsmError::from_cryptoki("C_GenerateRandom", e).to_string())
                    .remedy("leave out entropy \"seal\": the server would refuse keys and tokens it cannot draw"),
            );
            return false;
        }
        if let Err(t) = tests.check(&buf[..n]) {
            out.finding(
                Finding::new(
                    "rng",
                    "health tests",
                    Status::Fail,
                    format!(
                        "the token's output failed the {t} within bytes {drawn}..{} of {}",
                        drawn + n,
                        req.rng_bytes
                    ),
                )
                .remedy("do not use entropy \"seal\" with this token; report it to the HSM vendor"),
            );
            return false;
        }
        drawn += n;
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    out.finding(
        Finding::new(
            "rng",
            "C_GenerateRandom",
            Status::Ok,
            format!(
                "{drawn} bytes in {RNG_CHUNK}-byte draws ({:.1} MiB/s) passed the SP 800-90B repetition count and adaptive proportion tests",
                drawn as f64 / secs / (1024.0 * 1024.0)
            ),
        )
        .took(started),
    );
    true
}
