//! End-to-end: `coffer server` under a `Type=notify` service manager. The
//! test plays systemd: it binds the notification socket, hands it to the
//! server in `NOTIFY_SOCKET`, and reads what the server reports: `READY=1`
//! once the listener answers, a `STATUS=` line for each seal state an
//! operator walks through, `STOPPING=1` at SIGTERM.

mod common;

use common::*;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Collects notifications until one contains `want`; returns them all.
fn until(socket: &UnixDatagram, seen: &mut Vec<String>, want: &str) {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while !seen.iter().any(|m| m.contains(want)) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no notification with {want:?}; got {seen:#?}"
        );
        if let Ok(n) = socket.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

#[test]
fn the_server_tells_systemd_it_is_ready_and_how_its_seal_stands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let notify = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&notify).expect("bind the notification socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("coffer.hcl");
    std::fs::write(
        &config,
        format!(
            "storage \"file\" {{\n  path = \"{}\"\n}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_disable = true\n}}\ndisable_mlock = true\n",
            dir.path().join("data").display()
        ),
    )
    .expect("config");
    let mut server = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg("server")
        .arg(format!("-config={}", config.display()))
        .env("NOTIFY_SOCKET", &notify)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn coffer server");

    let mut seen = Vec::new();
    until(&socket, &mut seen, "READY=1");
    // Ready means the listener answers; it is sent without waiting for
    // storage, and the seal state follows.
    let status = coffer(&addr, None, &["status"]);
    assert_eq!(status.status.code(), Some(2), "{}", text(&status));
    until(
        &socket,
        &mut seen,
        "STATUS=not initialized: run `coffer operator init`",
    );

    let (_, keys) = init_shamir(&addr, 1, 1);
    until(&socket, &mut seen, "STATUS=sealed, unseal keys given 0/1");
    ok(&coffer(&addr, None, &["operator", "unseal", &keys[0]]));
    until(&socket, &mut seen, "STATUS=unsealed, serving");

    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    until(&socket, &mut seen, "STOPPING=1");
    let exit = server.wait().expect("wait");
    assert!(exit.success(), "{exit}\n{}", child_output(&mut server));
}
