//! The mechanisms a token offers for the seal, with their flags and key
//! sizes; which RSA-OAEP hashes really work; and so which settings do.

use std::time::Instant;

use cryptoki::error::Error as CkError;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::Session;

use super::token::Found;
use super::{DoctorRequest, Finding, Reporter, Status};
use crate::error::{HsmError, ReturnCode};
use crate::mechanism::{CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_GCM, CKM_RSA_PKCS_OAEP, oaep};
use crate::options::{CKM_SHA256_HMAC, OaepHash};

/// What the token can do for the seal.
#[derive(Debug, Default)]
pub(crate) struct Mechanisms {
    pub(crate) gcm: bool,
    pub(crate) cbc_pad: bool,
    pub(crate) cbc: bool,
    pub(crate) hmac: bool,
    pub(crate) aes_keygen: bool,
    pub(crate) hmac_keygen: bool,
    pub(crate) rsa_keygen: bool,
    pub(crate) oaep: bool,
    /// The RSA-OAEP hashes were tried (a login and a session key pair).
    pub(crate) oaep_probed: bool,
    /// RSA-OAEP hashes that round-tripped (empty when not probed).
    pub(crate) oaep_hashes: Vec<OaepHash>,
}

impl Mechanisms {
    /// RSA-OAEP is offered and, if the hashes were tried, one of them works.
    pub(crate) fn oaep_usable(&self) -> bool {
        self.oaep && (!self.oaep_probed || !self.oaep_hashes.is_empty())
    }
}

/// Which seal mechanisms the token offers, with flags and key sizes, and
/// which RSA-OAEP hashes actually work (needs a login).
pub(crate) fn examine(req: &DoctorRequest, found: &Found, out: &mut Reporter<'_>) -> Mechanisms {
    out.begin("reading mechanisms");
    let mut mech = Mechanisms::default();
    let Ok(m) = found.module.enter() else {
        return mech;
    };
    let offered = match m.ctx().get_mechanism_list(found.slot) {
        Ok(list) => list,
        Err(e) => {
            out.finding(Finding::new(
                "mechanisms",
                "list",
                Status::Fail,
                HsmError::from_cryptoki("C_GetMechanismList", e).to_string(),
            ));
            return mech;
        }
    };
    let wanted: [(u64, &str, &str); 8] = [
        (CKM_AES_GCM, "CKM_AES_GCM", "encrypt,decrypt"),
        (CKM_AES_CBC_PAD, "CKM_AES_CBC_PAD", "encrypt,decrypt"),
        (CKM_AES_CBC, "CKM_AES_CBC", "encrypt,decrypt"),
        (CKM_SHA256_HMAC, "CKM_SHA256_HMAC", "sign,verify"),
        (CKM_RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP", "encrypt,decrypt"),
        (0x1080, "CKM_AES_KEY_GEN", "generate"),
        (0x0350, "CKM_GENERIC_SECRET_KEY_GEN", "generate"),
        (0x0000, "CKM_RSA_PKCS_KEY_PAIR_GEN", "generate_key_pair"),
    ];
    for (code, name, needs) in wanted {
        let Ok(ty) = MechanismType::try_from(code) else {
            continue;
        };
        let usable = if !offered.contains(&ty) {
            out.finding(Finding::new(
                "mechanisms",
                name,
                Status::Info,
                "not offered",
            ));
            false
        } else {
            match m.ctx().get_mechanism_info(found.slot, ty) {
                Ok(info) => {
                    let mut flags = Vec::new();
                    for (set, f) in [
                        (info.encrypt(), "encrypt"),
                        (info.decrypt(), "decrypt"),
                        (info.sign(), "sign"),
                        (info.verify(), "verify"),
                        (info.wrap(), "wrap"),
                        (info.unwrap(), "unwrap"),
                        (info.generate(), "generate"),
                        (info.generate_key_pair(), "generate_key_pair"),
                        (info.hardware(), "hardware"),
                    ] {
                        if set {
                            flags.push(f);
                        }
                    }
                    let ok = needs.split(',').all(|n| flags.contains(&n));
                    let status = if ok { Status::Ok } else { Status::Info };
                    out.finding(Finding::new(
                        "mechanisms",
                        name,
                        status,
                        format!(
                            "0x{code:04X}: {}; key sizes {}-{}{}",
                            flags.join(", "),
                            info.min_key_size(),
                            info.max_key_size(),
                            if ok {
                                String::new()
                            } else {
                                format!(" (the seal needs {needs})")
                            }
                        ),
                    ));
                    ok
                }
                Err(e) => {
                    out.finding(Finding::new(
                        "mechanisms",
                        name,
                        Status::Warn,
                        HsmError::from_cryptoki("C_GetMechanismInfo", e).to_string(),
                    ));
                    false
                }
            }
        };
        match name {
            "CKM_AES_GCM" => mech.gcm = usable,
            "CKM_AES_CBC_PAD" => mech.cbc_pad = usable,
            "CKM_AES_CBC" => mech.cbc = usable,
            "CKM_SHA256_HMAC" => mech.hmac = usable,
            "CKM_RSA_PKCS_OAEP" => mech.oaep = usable,
            "CKM_AES_KEY_GEN" => mech.aes_keygen = usable,
            "CKM_GENERIC_SECRET_KEY_GEN" => mech.hmac_keygen = usable,
            _ => mech.rsa_keygen = usable,
        }
    }
    drop(m);
    let session = found
        .session
        .as_ref()
        .filter(|_| mech.oaep && mech.rsa_keygen);
    if let Some(works) = session.and_then(|s| oaep_hashes(req, s, out)) {
        mech.oaep_probed = true;
        mech.oaep_hashes = works;
    }
    out.finding(settings(&mech));
    mech
}

/// Which `mechanism` (and `rsa_oaep_hash`) settings the token supports.
fn settings(mech: &Mechanisms) -> Finding {
    let probed = mech.oaep_probed;
    let mut works = Vec::new();
    if mech.gcm {
        works.push("mechanism = \"0x1087\" (AES-GCM)".to_owned());
    }
    for (offered, code, name) in [
        (mech.cbc_pad, "0x1085", "AES-CBC-PAD"),
        (mech.cbc, "0x1082", "AES-CBC"),
    ] {
        if offered && mech.hmac {
            works.push(format!(
                "mechanism = \"{code}\" ({name}) with hmac_key_label"
            ));
        }
    }
    if mech.oaep {
        if !probed {
            works.push(
                "mechanism = \"0x0009\" (RSA-OAEP) with an rsa_oaep_hash the token accepts \
                 (hashes not tried: that needs a login and a session key pair)"
                    .to_owned(),
            );
        } else if !mech.oaep_hashes.is_empty() {
            let names: Vec<_> = mech
                .oaep_hashes
                .iter()
                .map(|h| format!("\"{}\"", h.name()))
                .collect();
            works.push(format!(
                "mechanism = \"0x0009\" (RSA-OAEP) with rsa_oaep_hash = {}",
                names.join(" | ")
            ));
        }
    }
    if works.is_empty() {
        return Finding::new(
            "mechanisms",
            "settings that work",
            Status::Fail,
            "none: the token offers none of the seal's mechanisms with the flags it needs",
        )
        .remedy("check the token's (or partition's) mechanism policy with the HSM vendor");
    }
    Finding::new(
        "mechanisms",
        "settings that work",
        Status::Ok,
        works.join("; "),
    )
}

/// Tries RSA-OAEP with every hash on a session key pair (gone when the
/// session closes), since the mechanism flags do not say which hashes work.
fn oaep_hashes(
    req: &DoctorRequest,
    session: &Session,
    out: &mut Reporter<'_>,
) -> Option<Vec<OaepHash>> {
    out.begin_slow("RSA-OAEP hash probe (generating a session key pair)");
    let started = Instant::now();
    let public = [
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Token(false),
        Attribute::Encrypt(true),
        Attribute::ModulusBits(2048.into()),
        Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
    ];
    let private = [
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Decrypt(true),
    ];
    let (pub_key, priv_key) =
        match session.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private) {
            Ok(pair) => pair,
            Err(e) => {
                out.finding(Finding::new(
                    "mechanisms",
                    "RSA-OAEP hashes",
                    Status::Warn,
                    format!(
                        "not probed: {}",
                        HsmError::from_cryptoki("generating a session RSA key pair", e)
                    ),
                ));
                return None;
            }
        };
    out.begin("RSA-OAEP hash probe (encrypting and decrypting)");
    let mut works = Vec::new();
    let mut results = Vec::new();
    for hash in OaepHash::ALL {
        let probe = b"coffer hsm doctor";
        let result = session
            .encrypt(&oaep(hash), pub_key, probe)
            .and_then(|ct| session.decrypt(&oaep(hash), priv_key, &ct));
        match result {
            Ok(pt) if pt == probe => {
                works.push(hash);
                results.push(format!("{} works", hash.name()));
            }
            Ok(_) => results.push(format!("{}: wrong plaintext back", hash.name())),
            Err(CkError::Pkcs11(rv, _)) => {
                results.push(format!("{}: {}", hash.name(), ReturnCode(rv)))
            }
            Err(e) => results.push(format!("{}: {e}", hash.name())),
        }
    }
    let _ = session.destroy_object(priv_key);
    let _ = session.destroy_object(pub_key);
    // A hash that does not work matters only when the seal is to use RSA-OAEP.
    let oaep_configured = req.mechanism == Some(CKM_RSA_PKCS_OAEP);
    let status = match req.rsa_oaep_hash {
        Some(h) if oaep_configured && !works.contains(&h) => Status::Fail,
        _ if works.is_empty() => Status::Warn,
        _ => Status::Ok,
    };
    let mut f =
        Finding::new("mechanisms", "RSA-OAEP hashes", status, results.join("; ")).took(started);
    if status != Status::Ok {
        let usable: Vec<_> = works.iter().map(|h| format!("\"{}\"", h.name())).collect();
        f = f.remedy(if usable.is_empty() {
            "this token cannot do RSA-OAEP for the seal: use an AES mechanism".to_owned()
        } else {
            format!("set rsa_oaep_hash to one of {}", usable.join(", "))
        });
    }
    out.finding(f);
    Some(works)
}
