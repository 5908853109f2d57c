//! The module, its slots and tokens, the login, and the mechanisms the
//! token offers for the seal.

use std::sync::Arc;
use std::time::Instant;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Limit, Slot, TokenInfo};

use super::{DoctorRequest, Finding, Reporter, Status};
use crate::error::{HsmError, ReturnCode};
use crate::mechanism::{CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_GCM, CKM_RSA_PKCS_OAEP, oaep};
use crate::module::Module;
use crate::options::{CKM_SHA256_HMAC, OaepHash};

/// The token the checks use, with a logged-in session when a PIN was given
/// and accepted.
pub(crate) struct Found {
    pub(crate) module: Arc<Module>,
    pub(crate) slot: Slot,
    pub(crate) label: String,
    pub(crate) session: Option<Session>,
}

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

fn rv_of(e: &HsmError) -> Option<RvError> {
    e.return_code()
}

/// Loads the module, initialises it, finds the token and logs in.
pub(crate) fn examine(req: &DoctorRequest, out: &mut Reporter<'_>) -> Option<Found> {
    out.begin("loading the module");
    let module = match Module::shared(&req.lib) {
        Ok(m) => m,
        Err(e) => {
            out.finding(
                Finding::new("module", "load", Status::Fail, e.to_string()).remedy(
                    "point lib (-lib) at the HSM vendor's PKCS#11 module, a shared library \
                     exporting C_GetFunctionList (e.g. /usr/lib/softhsm/libsofthsm2.so)",
                ),
            );
            return None;
        }
    };
    out.begin("C_Initialize");
    let started = Instant::now();
    let m = match module.enter() {
        Ok(m) => m,
        Err(e) => {
            out.finding(
                Finding::new("module", "C_Initialize", Status::Fail, e.to_string()).remedy(
                    "the module refused to start: check its own configuration file and the \
                     environment variable that names it (SoftHSM2: SOFTHSM2_CONF; kryoptic: \
                     KRYOPTIC_CONF; vendors: see their guide), and that this user may read it",
                ),
            );
            return None;
        }
    };
    match m.ctx().get_library_info() {
        Ok(info) => out.finding(
            Finding::new(
                "module",
                "library",
                Status::Ok,
                format!(
                    "{} {} by {}, Cryptoki {}",
                    info.library_description().trim(),
                    info.library_version(),
                    info.manufacturer_id().trim(),
                    info.cryptoki_version()
                ),
            )
            .took(started),
        ),
        Err(e) => out.finding(Finding::new(
            "module",
            "library",
            Status::Warn,
            HsmError::from_cryptoki("C_GetInfo", e).to_string(),
        )),
    }
    out.begin("listing slots and tokens");
    let slots = match m.ctx().get_all_slots() {
        Ok(s) => s,
        Err(e) => {
            out.finding(Finding::new(
                "token",
                "slots",
                Status::Fail,
                HsmError::from_cryptoki("C_GetSlotList", e).to_string(),
            ));
            return None;
        }
    };
    let mut tokens: Vec<(Slot, TokenInfo)> = Vec::new();
    for slot in &slots {
        let present = m
            .ctx()
            .get_slot_info(*slot)
            .is_ok_and(|i| i.token_present());
        let token = present
            .then(|| m.ctx().get_token_info(*slot).ok())
            .flatten();
        let detail = match &token {
            Some(t) => describe_token(t),
            None => "no token present".to_owned(),
        };
        out.finding(Finding::new(
            "token",
            format!("slot {}", slot.id()),
            Status::Info,
            detail,
        ));
        if let Some(t) = token {
            tokens.push((*slot, t));
        }
    }
    let (slot, info) = choose(req, &tokens, out)?;
    let label = info.label().trim_end().to_owned();
    if !pin_state_ok(&info, out) {
        return None;
    }
    drop(m);
    let session = login(req, &module, slot, &label, out);
    Some(Found {
        module,
        slot,
        label,
        session,
    })
}

fn describe_token(t: &TokenInfo) -> String {
    if !t.token_initialized() {
        return format!("free: no token initialised here ({})", t.model().trim());
    }
    let sessions = match t.max_session_count() {
        Limit::Max(max) => match t.session_count() {
            Some(n) => format!("{} of {max} sessions free", max.saturating_sub(n)),
            None => format!("at most {max} sessions"),
        },
        Limit::Infinite => "sessions unlimited".to_owned(),
        Limit::Unavailable => "session limit not reported".to_owned(),
    };
    let mut flags = Vec::new();
    for (set, name) in [
        (t.token_initialized(), "initialised"),
        (t.user_pin_initialized(), "user PIN set"),
        (!t.user_pin_initialized(), "user PIN NOT set"),
        (t.login_required(), "login required"),
        (t.rng(), "RNG"),
        (t.write_protected(), "write-protected"),
        (t.user_pin_count_low(), "user PIN count low"),
        (t.user_pin_final_try(), "user PIN final try"),
        (t.user_pin_locked(), "user PIN LOCKED"),
    ] {
        if set {
            flags.push(name);
        }
    }
    format!(
        "token \"{}\": {} by {}, serial {}, firmware {}, hardware {}; {}; {sessions}",
        t.label().trim_end(),
        t.model().trim(),
        t.manufacturer_id().trim(),
        t.serial_number().trim(),
        t.firmware_version(),
        t.hardware_version(),
        flags.join(", "),
    )
}

fn seen(tokens: &[(Slot, TokenInfo)]) -> String {
    if tokens.is_empty() {
        return "the module shows no token at all".to_owned();
    }
    let list: Vec<String> = tokens
        .iter()
        .map(|(s, t)| {
            let state = if t.token_initialized() {
                ""
            } else {
                ", not initialised"
            };
            format!("\"{}\" (slot {}{state})", t.label().trim_end(), s.id())
        })
        .collect();
    format!("the module shows {}", list.join(", "))
}

fn choose(
    req: &DoctorRequest,
    tokens: &[(Slot, TokenInfo)],
    out: &mut Reporter<'_>,
) -> Option<(Slot, TokenInfo)> {
    let init_hint = "initialise it first (SoftHSM2: softhsm2-util --init-token --free --label L \
                     --pin P --so-pin S; others: pkcs11-tool --init-token and --init-pin)";
    let picked = if let Some(label) = &req.token_label {
        let matching: Vec<_> = tokens
            .iter()
            .filter(|(_, t)| t.label().trim_end() == label.as_str())
            .collect();
        match matching.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Finding::new(
                "token",
                "find token",
                Status::Fail,
                format!("no token labelled \"{label}\": {}", seen(tokens)),
            )
            .remedy(format!(
                "set token_label to one of the labels above (case matters), or {init_hint}"
            ))),
            many => Err(Finding::new(
                "token",
                "find token",
                Status::Fail,
                format!("{} tokens are labelled \"{label}\"", many.len()),
            )
            .remedy("set slot instead of token_label, or relabel one of them")),
        }
    } else if let Some(id) = req.slot {
        match tokens.iter().find(|(s, _)| s.id() == id) {
            Some(one) => Ok(one.clone()),
            None => Err(Finding::new(
                "token",
                "find token",
                Status::Fail,
                format!(
                    "no token in slot {id} (CKR_TOKEN_NOT_PRESENT): {}",
                    seen(tokens)
                ),
            )
            .remedy(
                "slot ids can change when tokens are added; prefer token_label, which does not",
            )),
        }
    } else {
        let initialised: Vec<_> = tokens
            .iter()
            .filter(|(_, t)| t.token_initialized())
            .collect();
        match initialised.as_slice() {
            [one] => {
                out.finding(Finding::new(
                    "token",
                    "find token",
                    Status::Info,
                    format!(
                        "no token named: checking the only initialised one, \"{}\"",
                        one.1.label().trim_end()
                    ),
                ));
                Ok((*one).clone())
            }
            _ => Err(Finding::new(
                "token",
                "find token",
                Status::Fail,
                format!("no token named and {}", seen(tokens)),
            )
            .remedy("name the token with -token-label (or -slot)")),
        }
    };
    let (slot, info) = match picked {
        Ok(p) => p,
        Err(f) => {
            out.finding(f);
            return None;
        }
    };
    if !info.token_initialized() {
        out.finding(
            Finding::new(
                "token",
                "find token",
                Status::Fail,
                format!("the token in slot {} is not initialised", slot.id()),
            )
            .remedy(init_hint),
        );
        return None;
    }
    out.finding(Finding::new(
        "token",
        "find token",
        Status::Ok,
        format!(
            "using \"{}\" in slot {}",
            info.label().trim_end(),
            slot.id()
        ),
    ));
    Some((slot, info))
}

/// The token's PIN flags: a locked or uninitialised user PIN stops here,
/// before a login attempt could make things worse.
fn pin_state_ok(info: &TokenInfo, out: &mut Reporter<'_>) -> bool {
    if info.user_pin_locked() {
        out.finding(
            Finding::new(
                "login",
                "user PIN",
                Status::Fail,
                "the user PIN is locked (CKR_PIN_LOCKED)",
            )
            .remedy(
                "the security officer must set a new user PIN (pkcs11-tool --login \
                     --login-type so --init-pin); until then the seal cannot log in",
            ),
        );
        return false;
    }
    if !info.user_pin_initialized() {
        out.finding(
            Finding::new(
                "login",
                "user PIN",
                Status::Fail,
                "the token has no user PIN yet (CKR_USER_PIN_NOT_INITIALIZED)",
            )
            .remedy("set one as security officer: pkcs11-tool --login --login-type so --init-pin"),
        );
        return false;
    }
    if info.user_pin_final_try() {
        out.finding(
            Finding::new(
                "login",
                "user PIN",
                Status::Fail,
                "one more wrong PIN locks the token, so the doctor did not try to log in; keys \
                 and the round trip were not checked",
            )
            .remedy(
                "make sure of the PIN first (a locked PIN needs the security officer); one \
                 login with the right PIN (pkcs11-tool --login --test) resets the count",
            ),
        );
        return false;
    }
    if info.user_pin_count_low() {
        out.finding(
            Finding::new(
                "login",
                "user PIN",
                Status::Warn,
                "wrong PINs were entered recently",
            )
            .remedy("check the PIN before the next try: a locked PIN needs the security officer"),
        );
    }
    true
}

fn login(
    req: &DoctorRequest,
    module: &Module,
    slot: Slot,
    label: &str,
    out: &mut Reporter<'_>,
) -> Option<Session> {
    let Some(pin) = &req.pin else {
        out.finding(
            Finding::new(
                "login",
                "C_Login",
                Status::Warn,
                "no PIN given: keys, round trip and OAEP hashes not checked",
            )
            .remedy("set VAULT_HSM_PIN (or answer the prompt, or pass -config with a pin)"),
        );
        return None;
    };
    out.begin("C_Login");
    let started = Instant::now();
    let m = module.enter().ok()?;
    // Read-write only to create keys: a write-protected token still logs in.
    let opened = if req.generate_key {
        m.ctx().open_rw_session(slot)
    } else {
        m.ctx().open_ro_session(slot)
    };
    let session = match opened {
        Ok(s) => s,
        Err(e) => {
            out.finding(Finding::new(
                "login",
                "C_OpenSession",
                Status::Fail,
                HsmError::from_cryptoki("C_OpenSession", e).to_string(),
            ));
            return None;
        }
    };
    match session.login(UserType::User, Some(pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
            out.finding(
                Finding::new(
                    "login",
                    "C_Login",
                    Status::Ok,
                    format!("logged in to \"{label}\" as user"),
                )
                .took(started),
            );
            Some(session)
        }
        Err(e) => {
            let err = HsmError::from_cryptoki("C_Login", e);
            let remedy = match rv_of(&err) {
                Some(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange) => {
                    "the token refused this PIN: check VAULT_HSM_PIN or the stanza's pin; every \
                     wrong try counts toward the token's lockout"
                }
                Some(RvError::PinLocked) => {
                    "the user PIN is locked: the security officer must set a new one"
                }
                Some(RvError::UserPinNotInitialized) => {
                    "set a user PIN as security officer (pkcs11-tool --init-pin)"
                }
                _ => "see the return code in the vendor's documentation",
            };
            out.finding(
                Finding::new("login", "C_Login", Status::Fail, err.to_string()).remedy(remedy),
            );
            None
        }
    }
}

/// Which seal mechanisms the token offers, with flags and key sizes, and
/// which RSA-OAEP hashes actually work (needs a login).
pub(crate) fn mechanisms(req: &DoctorRequest, found: &Found, out: &mut Reporter<'_>) -> Mechanisms {
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
    for hash in [
        OaepHash::Sha1,
        OaepHash::Sha224,
        OaepHash::Sha256,
        OaepHash::Sha384,
        OaepHash::Sha512,
    ] {
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
