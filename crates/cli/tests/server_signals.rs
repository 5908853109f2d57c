//! End-to-end: the real `coffer server` process and its signals. SIGHUP
//! reloads the TLS certificate and the log level without a restart; SIGTERM
//! shuts down gracefully with exit status 0.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Pki {
    ca: String,
    cert: String,
    key: String,
}

fn make_pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "signals test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("leaf params")
        .signed_by(&key, &issuer)
        .expect("leaf");
    Pki {
        ca: ca_cert.pem(),
        cert: leaf.pem(),
        key: key.serialize_pem(),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn status_ok(addr: &str, ca: &Path) -> bool {
    Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["status", "-format=json"])
        .env("VAULT_ADDR", addr)
        .env("VAULT_CACERT", ca)
        .env_remove("VAULT_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.code() == Some(2))
        .unwrap_or(false)
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig} failed");
}

#[test]
fn sighup_reloads_certificate_and_log_level_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, ca1, ca2) = (
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
        dir.path().join("ca1.pem"),
        dir.path().join("ca2.pem"),
    );
    let first = make_pki();
    std::fs::write(&cert, &first.cert).expect("write");
    std::fs::write(&key, &first.key).expect("write");
    std::fs::write(&ca1, &first.ca).expect("write");
    let port = free_port();
    let config = dir.path().join("coffer.hcl");
    let write_config = |level: &str| {
        std::fs::write(
            &config,
            format!(
                "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n}}\ndisable_mlock = true\nlog_level = \"{level}\"\n",
                cert.display(),
                key.display()
            ),
        )
        .expect("write config");
    };
    write_config("warn");
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg("server")
        .arg(format!("-config={}", config.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn coffer server");
    let addr = format!("https://127.0.0.1:{port}");
    assert!(
        wait_until(Duration::from_secs(20), || status_ok(&addr, &ca1)),
        "server did not come up over TLS"
    );

    let second = make_pki();
    std::fs::write(&cert, &second.cert).expect("write");
    std::fs::write(&key, &second.key).expect("write");
    std::fs::write(&ca2, &second.ca).expect("write");
    assert!(
        !status_ok(&addr, &ca2),
        "the new CA must not work before SIGHUP"
    );
    write_config("info");
    signal(&child, "-HUP");
    assert!(
        wait_until(Duration::from_secs(10), || status_ok(&addr, &ca2)),
        "new certificate not served after SIGHUP"
    );
    assert!(!status_ok(&addr, &ca1));

    signal(&child, "-TERM");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "server ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        status.success(),
        "exit {status:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("Coffer server configuration"), "{stdout}");
    assert!(
        !stderr.contains("SIGHUP received"),
        "logged at info while the level was still warn: {stderr}"
    );
    assert!(
        stderr.contains("TLS certificate reloaded"),
        "logged at info after SIGHUP switched the level to info: {stderr}"
    );
    assert!(stderr.contains("shutting down"), "{stderr}");
}
