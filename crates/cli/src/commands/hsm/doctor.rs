//! The parent side of `coffer hsm doctor`: gathers the settings (flags over
//! `-config`), the PIN, starts the probe, bounds each step it announces in
//! time, and turns a crash or a hang into a finding.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use coffer_server::hsm_probe::{EVENT_MARKER, Event, Finding, OaepHash, ProbeRequest, Status};
use zeroize::Zeroizing;

use super::DoctorArgs;
use super::report::{self, Report};
use crate::cli::GlobalArgs;
use crate::commands::prompt;

/// Bytes drawn from the token's RNG for the health tests.
const RNG_BYTES: usize = 64 * 1024;
/// Exit code for a doctor that could not even start its checks.
const EXIT_UNUSABLE: u8 = 2;

pub(super) fn run(args: &DoctorArgs, global: &GlobalArgs) -> u8 {
    let request = match request(args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return EXIT_UNUSABLE;
        }
    };
    let lib = request.lib.display().to_string();
    let report = examine(&request, Duration::from_secs(args.timeout.max(1)));
    report::print(&lib, &report, global.format)
}

/// The settings: `-config`'s `seal "pkcs11"` stanza, then the flags over it.
fn request(args: &DoctorArgs) -> anyhow::Result<ProbeRequest> {
    let mut req = ProbeRequest {
        lib: std::path::PathBuf::new(),
        slot: None,
        token_label: None,
        pin: None,
        key_label: None,
        hmac_key_label: None,
        mechanism: None,
        rsa_oaep_hash: None,
        generate_key: false,
        rng_bytes: RNG_BYTES,
    };
    if let Some(path) = &args.config {
        let config = coffer_server::config::load(std::slice::from_ref(path))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let Some(coffer_server::config::SealConfig::Pkcs11(p)) = config.enabled_seal() else {
            anyhow::bail!(
                "{} has no enabled seal \"pkcs11\" stanza: nothing to check",
                path.display()
            );
        };
        req.lib = p.lib.clone();
        req.slot = p.slot;
        req.token_label = p.token_label.clone();
        // load() already applied VAULT_HSM_PIN over the stanza's pin.
        req.pin = Some(Zeroizing::new(p.pin.expose().to_owned())).filter(|p| !p.is_empty());
        req.key_label = Some(p.key_label.clone());
        req.hmac_key_label = p.hmac_key_label.clone();
        req.mechanism = p.mechanism;
        req.rsa_oaep_hash = Some(config_oaep_name(p.rsa_oaep_hash).to_owned());
        req.generate_key = p.generate_key;
    }
    if let Some(lib) = &args.lib {
        req.lib = lib.clone();
    }
    if req.lib.as_os_str().is_empty() {
        anyhow::bail!(
            "name the PKCS#11 module with -lib=PATH, or a server configuration with -config=FILE"
        );
    }
    if args.slot.is_some() || args.token_label.is_some() {
        req.slot = args.slot;
        req.token_label = args.token_label.clone();
    }
    for (flag, value) in [
        (&args.key_label, &mut req.key_label),
        (&args.hmac_key_label, &mut req.hmac_key_label),
    ] {
        if flag.is_some() {
            value.clone_from(flag);
        }
    }
    if let Some(m) = &args.mechanism {
        let code = coffer_server::config::parse_u64(m)
            .map_err(|e| anyhow::anyhow!("-mechanism: {e}; e.g. 0x1087 for CKM_AES_GCM"))?;
        req.mechanism = Some(code);
    }
    if let Some(h) = &args.rsa_oaep_hash {
        if OaepHash::from_name(h).is_none() {
            anyhow::bail!("-rsa-oaep-hash={h:?}: use sha1, sha224, sha256, sha384 or sha512");
        }
        req.rsa_oaep_hash = Some(h.clone());
    }
    req.generate_key |= args.generate_key;
    if let Ok(pin) = std::env::var("VAULT_HSM_PIN") {
        req.pin = Some(Zeroizing::new(pin)).filter(|p| !p.is_empty());
    }
    if req.pin.is_none() && prompt::interactive() {
        let pin = prompt::secret("HSM user PIN (Enter to skip the login): ").ok();
        req.pin = pin.map(|p| Zeroizing::new(p.expose().to_owned()));
    }
    Ok(req)
}

fn config_oaep_name(h: coffer_server::config::OaepHash) -> &'static str {
    use coffer_server::config::OaepHash as H;
    match h {
        H::Sha1 => "sha1",
        H::Sha224 => "sha224",
        H::Sha256 => "sha256",
        H::Sha384 => "sha384",
        H::Sha512 => "sha512",
    }
}

/// How much longer than `-timeout` a step that generates keys may take.
const SLOW_STEP_FACTOR: u32 = 6;
/// The most of the probe's stderr kept (its tail) for a crash report.
const STDERR_TAIL: usize = 4096;

/// What the probe said, line by line.
enum Line {
    Event(Event),
    /// Anything else on stdout: the module's own output.
    Other(String),
}

/// Runs the probe and collects its report; `bound` is the most one step may
/// take (a key-generating step gets [`SLOW_STEP_FACTOR`] times as long).
fn examine(request: &ProbeRequest, bound: Duration) -> Report {
    let mut report = Report::default();
    let mut child = match spawn(request) {
        Ok(c) => c,
        Err(e) => {
            report.findings.push(failure(
                "doctor",
                "start",
                format!("could not start the probe: {e}"),
            ));
            return report;
        }
    };
    let (tx, rx) = mpsc::channel::<Line>();
    let stdout = child.stdout.take();
    std::thread::spawn(move || {
        if let Some(out) = stdout {
            for raw in BufReader::new(out).split(b'\n').map_while(Result::ok) {
                let text = String::from_utf8_lossy(&raw).into_owned();
                let line = match text.find(EVENT_MARKER) {
                    Some(at) => match serde_json::from_str(&text[at + EVENT_MARKER.len()..]) {
                        Ok(event) => Line::Event(event),
                        Err(_) => Line::Other(text),
                    },
                    None => Line::Other(text),
                };
                if tx.send(line).is_err() {
                    break;
                }
            }
        }
    });
    let stderr = child.stderr.take();
    let errors = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut e) = stderr {
            let _ = e.read_to_end(&mut bytes);
        }
        let from = bytes.len().saturating_sub(STDERR_TAIL);
        String::from_utf8_lossy(&bytes[from..]).into_owned()
    });
    let mut step = "starting".to_owned();
    let mut limit = bound;
    let mut done = false;
    let mut module_output = Vec::new();
    loop {
        match rx.recv_timeout(limit) {
            Ok(Line::Event(Event::Begin { step: s, slow })) => {
                step = s;
                limit = if slow {
                    bound * SLOW_STEP_FACTOR
                } else {
                    bound
                };
            }
            Ok(Line::Event(Event::Finding(f))) => report.findings.push(f),
            Ok(Line::Event(Event::Stanza(s))) => report.stanza = Some(s),
            Ok(Line::Event(Event::Done)) => {
                done = true;
                step = "the module's shutdown, after every check".to_owned();
                limit = bound;
            }
            Ok(Line::Other(text)) => module_output.push(text),
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                let detail = format!(
                    "no answer from the module within {} s during {step}: the module or the \
                     token hangs",
                    limit.as_secs()
                );
                report.findings.push(
                    Finding::new(
                        "hang",
                        &step,
                        if done { Status::Warn } else { Status::Fail },
                        detail,
                    )
                    .remedy(
                        "check the HSM's connection (network, vendor daemon, USB) and the \
                             module's configuration; the server bounds the same calls with its \
                             operation timeout. -timeout raises this bound for a slow HSM",
                    ),
                );
                return report;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = wait_bounded(&mut child, bound);
    let mut stderr = errors.join().unwrap_or_default();
    if !module_output.is_empty() {
        stderr = format!("{}\n{stderr}", module_output.join("\n"));
    }
    if let Some(mut f) = ended_badly(status, &step, &stderr) {
        if done {
            f.status = Status::Warn;
        }
        report.findings.push(f);
    }
    report
}

/// The probe's exit status, killing it if it does not exit within `bound`
/// after closing its stdout.
fn wait_bounded(child: &mut Child, bound: Duration) -> std::io::Result<ExitStatus> {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            return child.wait();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(request: &ProbeRequest) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["hsm", "doctor-probe"])
        // The PIN goes over stdin only; the module keeps the rest of the
        // environment (SOFTHSM2_CONF, FXPKCS11_CFG, ...).
        .env_remove("VAULT_HSM_PIN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Room up front: no reallocation leaves a copy of the PIN behind.
    let mut body = Zeroizing::new(Vec::with_capacity(64 * 1024));
    let written = serde_json::to_writer(&mut *body, request)
        .map_err(std::io::Error::other)
        .and_then(|()| match child.stdin.take() {
            Some(mut stdin) => stdin.write_all(&body),
            None => Ok(()),
        });
    if let Err(e) = written {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    Ok(child)
}

/// A probe that died instead of finishing: which signal, during which step.
fn ended_badly(status: std::io::Result<ExitStatus>, step: &str, stderr: &str) -> Option<Finding> {
    use std::os::unix::process::ExitStatusExt as _;
    let status = match status {
        Ok(s) if s.success() => return None,
        Ok(s) => s,
        Err(e) => return Some(failure("doctor", step, format!("lost the probe: {e}"))),
    };
    let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = tail[tail.len().saturating_sub(5)..].join(" | ");
    let said = if tail.is_empty() {
        String::new()
    } else {
        format!("; it printed: {tail}")
    };
    let detail = match status.signal() {
        Some(sig) => format!(
            "the module crashed the process (signal {sig}{}) during {step}{said}",
            signal_name(sig)
        ),
        None => format!("the probe exited with {status} during {step}{said}"),
    };
    Some(failure("crash", step, detail).remedy(
        "this module cannot be used as it is: check that it is the vendor's PKCS#11 library for \
         this platform and version, and its configuration; the server would crash the same way",
    ))
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        4 => ", SIGILL",
        6 => ", SIGABRT",
        7 => ", SIGBUS",
        8 => ", SIGFPE",
        9 => ", SIGKILL",
        11 => ", SIGSEGV",
        _ => "",
    }
}

fn failure(section: &str, check: &str, detail: String) -> Finding {
    Finding::new(section, check, Status::Fail, detail)
}
