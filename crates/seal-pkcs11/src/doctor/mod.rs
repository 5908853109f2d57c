//! `coffer hsm doctor`: checks a PKCS#11 module, token, PIN, mechanisms and
//! keys the way the seal will use them, and says what to fix.
//!
//! The checks run in order and report as they go ([`Event`]): the caller
//! (the CLI) runs them in a child process and bounds each announced step
//! ([`Event::Begin`]) in time, so a module that crashes or a token that hangs
//! is reported instead of taking the doctor down with it. Nothing is created
//! on the token unless [`DoctorRequest::generate_key`] is set; the RSA-OAEP
//! hash probe uses a session key pair (`CKA_TOKEN` false), which the token
//! forgets when the session closes.

mod keys;
mod mechanisms;
mod stanza;
mod token;

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::SecretString;
use crate::options::OaepHash;

pub use stanza::Stanza;

/// What to check.
#[derive(Debug)]
pub struct DoctorRequest {
    /// The PKCS#11 module (`.so`).
    pub lib: PathBuf,
    /// The token's slot id, if chosen by slot.
    pub slot: Option<u64>,
    /// The token's label, if chosen by label.
    pub token_label: Option<String>,
    /// The user PIN; `None` skips the login and everything after it.
    pub pin: Option<SecretString>,
    /// The seal key's label, if known.
    pub key_label: Option<String>,
    /// The HMAC key's label (CBC mechanisms).
    pub hmac_key_label: Option<String>,
    /// The configured mechanism, if any.
    pub mechanism: Option<u64>,
    /// The configured RSA-OAEP hash, if any.
    pub rsa_oaep_hash: Option<OaepHash>,
    /// Create missing keys as `generate_key = "true"` would.
    pub generate_key: bool,
    /// Bytes to draw from the token's RNG for the health tests.
    pub rng_bytes: usize,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Facts, no judgement.
    Info,
    /// Works.
    Ok,
    /// Works, but something should be fixed.
    Warn,
    /// Does not work: the seal cannot use this setting.
    Fail,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Group: `module`, `token`, `login`, `mechanisms`, `keys`, `round trip`, `rng`.
    pub section: String,
    /// What was checked.
    pub check: String,
    /// Outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it, for warnings and failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    /// How long it took, where that matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub millis: Option<f64>,
}

impl Finding {
    /// A finding without remedy or timing.
    pub fn new(
        section: &str,
        check: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            section: section.to_owned(),
            check: check.into(),
            status,
            detail: detail.into(),
            remedy: None,
            millis: None,
        }
    }

    /// Adds what to do about it.
    #[must_use]
    pub fn remedy(mut self, remedy: impl Into<String>) -> Self {
        self.remedy = Some(remedy.into());
        self
    }

    fn took(mut self, since: Instant) -> Self {
        self.millis = Some(since.elapsed().as_secs_f64() * 1000.0);
        self
    }
}

/// What the doctor reports, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// A step that calls into the module starts; it may block.
    Begin {
        /// What is about to be called, e.g. `C_Login`.
        step: String,
        /// A step that may legitimately take long (key generation): the
        /// caller gives it a longer bound.
        #[serde(default)]
        slow: bool,
    },
    /// A check's result.
    Finding(Finding),
    /// The `seal "pkcs11"` (and `entropy "seal"`) stanza that works.
    Stanza(Stanza),
    /// Every check ran and the sessions are closed; what follows is the
    /// module's own exit code.
    Done,
}

/// Where findings go.
pub(crate) struct Reporter<'a> {
    emit: &'a mut dyn FnMut(Event),
}

impl Reporter<'_> {
    fn begin(&mut self, step: &str) {
        (self.emit)(Event::Begin {
            step: step.to_owned(),
            slow: false,
        });
    }

    /// A step that may take long (key generation on a slow HSM).
    fn begin_slow(&mut self, step: &str) {
        (self.emit)(Event::Begin {
            step: step.to_owned(),
            slow: true,
        });
    }

    fn finding(&mut self, f: Finding) {
        (self.emit)(Event::Finding(f));
    }
}

/// Runs every check that the previous ones allow, reporting to `emit`.
/// Blocking: PKCS#11 calls run on the calling thread.
pub fn examine(req: &DoctorRequest, emit: &mut dyn FnMut(Event)) {
    let mut out = Reporter { emit };
    let Some(found) = token::examine(req, &mut out) else {
        return;
    };
    let mechanisms = mechanisms::examine(req, &found, &mut out);
    let keys = keys::examine(req, &found, &mechanisms, &mut out);
    let rng_ok = keys::random(req, &found, &mut out);
    if let Some(stanza) = stanza::choose(req, &found, &mechanisms, &keys, rng_ok) {
        (out.emit)(Event::Stanza(stanza));
    }
    out.begin("closing the session");
    drop(found);
    (out.emit)(Event::Done);
}
