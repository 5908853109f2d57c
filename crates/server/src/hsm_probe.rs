//! `coffer hsm doctor`'s child process: reads a [`ProbeRequest`] (JSON) on
//! stdin, runs the seal crate's checks, and writes each [`Event`] as one JSON
//! line on stdout as soon as it happens, so the parent (the CLI) knows which
//! step a crash or hang interrupted. The server crate is the CLI's only way
//! to the seal crate, so the report types are re-exported here.

use std::io::{Read as _, Write as _};

pub use coffer_seal_pkcs11::OaepHash;
use coffer_seal_pkcs11::SecretString;
use coffer_seal_pkcs11::doctor::{self, DoctorRequest};
pub use coffer_seal_pkcs11::doctor::{Event, Finding, Stanza, Status};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The parent's request. The PIN travels on the child's stdin, never in its
/// arguments or environment.
#[derive(Serialize, Deserialize)]
#[allow(
    missing_docs,
    reason = "the fields are DoctorRequest's, documented there"
)]
pub struct ProbeRequest {
    pub lib: std::path::PathBuf,
    pub slot: Option<u64>,
    pub token_label: Option<String>,
    pub pin: Option<Zeroizing<String>>,
    pub key_label: Option<String>,
    pub hmac_key_label: Option<String>,
    pub mechanism: Option<u64>,
    pub rsa_oaep_hash: Option<String>,
    pub generate_key: bool,
    pub rng_bytes: usize,
}

/// Starts each event line on stdout, so that a vendor module printing to
/// stdout itself cannot be mistaken for an event, nor swallow one.
pub const EVENT_MARKER: &str = "\u{1e}coffer-doctor ";

/// The largest request read (far more than any real one: paths, labels, PIN).
const MAX_REQUEST: u64 = 64 * 1024;

/// Runs the probe: request on stdin, events on stdout, each line starting
/// with [`EVENT_MARKER`]. Returns the exit code (0 when the checks ran,
/// whatever they found; 2 for a bad request). The process makes itself
/// not dumpable first: it holds the PIN and loads a module that may crash.
/// The checks run on a thread of their own: the seal they open builds its
/// own runtime, which cannot nest in the CLI's.
pub fn run() -> u8 {
    if let Err(e) = crate::mlock::forbid_dumps() {
        eprintln!("hsm doctor-probe: {e:#}");
        return 2;
    }
    // Room for the whole request up front: no reallocation leaves a copy of
    // the PIN behind in freed memory.
    let mut input = Zeroizing::new(String::with_capacity(MAX_REQUEST as usize));
    if let Err(e) = std::io::stdin()
        .take(MAX_REQUEST)
        .read_to_string(&mut input)
    {
        eprintln!("hsm doctor-probe: reading the request: {e}");
        return 2;
    }
    let req: ProbeRequest = match serde_json::from_str(&input) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hsm doctor-probe: the request is not valid JSON: {e}");
            return 2;
        }
    };
    let request = DoctorRequest {
        lib: req.lib,
        slot: req.slot,
        token_label: req.token_label,
        pin: req.pin.map(|p| SecretString::from(p.as_str().to_owned())),
        key_label: req.key_label,
        hmac_key_label: req.hmac_key_label,
        mechanism: req.mechanism,
        rsa_oaep_hash: req.rsa_oaep_hash.as_deref().and_then(OaepHash::from_name),
        generate_key: req.generate_key,
        rng_bytes: req.rng_bytes,
    };
    let checks = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        doctor::examine(&request, &mut |event: Event| {
            let mut out = stdout.lock();
            if let Ok(line) = serde_json::to_string(&event) {
                let _ = writeln!(out, "{EVENT_MARKER}{line}");
                let _ = out.flush();
            }
        });
    });
    match checks.join() {
        Ok(()) => 0,
        Err(_) => 2,
    }
}
