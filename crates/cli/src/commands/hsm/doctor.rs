//! The parent side of `coffer hsm doctor`: gathers the settings (flags over
//! `-config`), the PIN, starts the probe, bounds each step it announces in
//! time, and turns a crash or a hang into a finding.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use coffer_server::hsm_probe::{Event, Finding, ProbeRequest, Status, oaep_hash};
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
        let digits = m.trim_start_matches("0x").trim_start_matches("0X");
        let code = u64::from_str_radix(digits, 16)
            .map_err(|_| anyhow::anyhow!("-mechanism={m:?}: use a hex CKM_ code such as 0x1087"))?;
        req.mechanism = Some(code);
    }
    if let Some(h) = &args.rsa_oaep_hash {
        if oaep_hash(h).is_none() {
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

/// Runs the probe and collects its report; `bound` is the most one step may take.
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
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take();
    std::thread::spawn(move || {
        if let Some(out) = stdout {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        }
    });
    let mut stderr = child.stderr.take();
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.take(64 * 1024).read_to_string(&mut s);
        }
        s
    });
    let mut step = "starting".to_owned();
    loop {
        match rx.recv_timeout(bound) {
            Ok(line) => match serde_json::from_str::<Event>(&line) {
                Ok(Event::Begin { step: s }) => step = s,
                Ok(Event::Finding(f)) => report.findings.push(f),
                Ok(Event::Stanza(s)) => report.stanza = Some(s),
                Err(_) => {}
            },
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                report.findings.push(
                    failure(
                        "hang",
                        &step,
                        format!(
                            "no answer from the module within {} s during {step}: the module or the token hangs",
                            bound.as_secs()
                        ),
                    )
                    .remedy(
                        "check the HSM's connection (network, vendor daemon, USB) and the module's \
                         configuration; the server bounds the same calls with its operation timeout. \
                         -timeout raises this bound for a slow HSM",
                    ),
                );
                return report;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait();
    let stderr = errors.join().unwrap_or_default();
    if let Some(f) = ended_badly(status, &step, &stderr) {
        report.findings.push(f);
    }
    report
}

fn spawn(request: &ProbeRequest) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["hsm", "doctor-probe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let body = Zeroizing::new(serde_json::to_vec(request).map_err(std::io::Error::other)?);
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&body)?;
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
    let tail: String = stderr
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ");
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
