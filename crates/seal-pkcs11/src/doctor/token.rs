//! The module, its slots and tokens, and the login.

use std::sync::Arc;
use std::time::Instant;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Limit, Slot, TokenInfo};

use super::{DoctorRequest, Finding, Reporter, Status};
use crate::error::HsmError;
use crate::module::Module;

/// The token the checks use, with a logged-in session when a PIN was given
/// and accepted.
pub(crate) struct Found {
    pub(crate) module: Arc<Module>,
    pub(crate) slot: Slot,
    pub(crate) label: String,
    pub(crate) session: Option<Session>,
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
