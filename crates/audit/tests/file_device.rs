//! The file device on a real filesystem, and the stdout device through an
//! injected writer.

mod common;

use coffer_audit::{AuditDevice, DiscardDevice, FileDevice, FileMode, FormatOptions, StdoutDevice};
use common::*;
use serde_json::json;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .expect("stat audit file")
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn appends_one_json_line_per_entry_after_existing_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::fs::write(&path, "{\"earlier\":true}\n").unwrap();

    let device = FileDevice::open(
        &path,
        FileMode::default(),
        formatter(FormatOptions::default()),
    )
    .unwrap();
    let input = with_response(password_write(), json!({"version": 1}));
    device.log_request(&input).unwrap();
    device.log_response(&input).unwrap();

    let all = lines(&std::fs::read(&path).unwrap());
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], json!({"earlier": true}));
    assert_eq!(all[1]["type"], "request");
    assert_eq!(all[2]["type"], "response");
    assert_eq!(all[1]["request"]["id"], all[2]["request"]["id"]);
}

#[test]
fn new_file_gets_mode_0600_and_an_existing_file_is_narrowed() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.log");
    FileDevice::open(
        &fresh,
        FileMode::default(),
        formatter(FormatOptions::default()),
    )
    .unwrap();
    assert_eq!(mode_of(&fresh), 0o600);

    let loose = dir.path().join("loose.log");
    std::fs::write(&loose, "").unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    FileDevice::open(
        &loose,
        FileMode::default(),
        formatter(FormatOptions::default()),
    )
    .unwrap();
    assert_eq!(mode_of(&loose), 0o600);

    let custom = dir.path().join("custom.log");
    FileDevice::open(
        &custom,
        FileMode::Set(0o640),
        formatter(FormatOptions::default()),
    )
    .unwrap();
    assert_eq!(mode_of(&custom), 0o640);
}

#[test]
fn mode_0000_leaves_an_existing_files_mode_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.log");
    std::fs::write(&path, "").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let device =
        FileDevice::open(&path, FileMode::Keep, formatter(FormatOptions::default())).unwrap();
    device.log_request(&password_write()).unwrap();
    assert_eq!(mode_of(&path), 0o644);
}

#[test]
fn reopen_after_logrotate_rename_writes_to_the_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let rotated = dir.path().join("audit.log.1");
    let device = FileDevice::open(
        &path,
        FileMode::default(),
        formatter(FormatOptions::default()),
    )
    .unwrap();
    device.log_request(&password_write()).unwrap();

    std::fs::rename(&path, &rotated).unwrap();
    // Before the SIGHUP, entries still go to the moved file.
    device.log_request(&password_write()).unwrap();
    device.reopen().unwrap();
    device.log_response(&password_write()).unwrap();

    assert_eq!(lines(&std::fs::read(&rotated).unwrap()).len(), 2);
    let fresh = lines(&std::fs::read(&path).unwrap());
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0]["type"], "response");
    assert_eq!(mode_of(&path), 0o600);
}

#[test]
fn after_a_failed_reopen_writes_fail_until_the_path_opens_again() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let path = logs.join("audit.log");
    let device = FileDevice::open(
        &path,
        FileMode::default(),
        formatter(FormatOptions::default()),
    )
    .unwrap();

    std::fs::remove_dir_all(&logs).unwrap();
    assert!(device.reopen().is_err());
    let err = device.log_request(&password_write()).unwrap_err();
    assert!(err.to_string().contains("audit.log"), "{err}");

    std::fs::create_dir(&logs).unwrap();
    device.log_request(&password_write()).unwrap();
    assert_eq!(lines(&std::fs::read(&path).unwrap()).len(), 1);
}

#[test]
fn concurrent_writers_never_interleave_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    // Raw, so each line really carries the 64 KiB blob (hashed it would shrink).
    let raw = FormatOptions {
        log_raw: true,
        ..FormatOptions::default()
    };
    let device = Arc::new(FileDevice::open(&path, FileMode::default(), formatter(raw)).unwrap());
    let big = "x".repeat(64 * 1024);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let device = Arc::clone(&device);
            let big = big.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let input = kv_write(json!({"t": t, "i": i, "blob": big}));
                    device.log_request(&input).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let all = lines(&std::fs::read(&path).unwrap());
    assert_eq!(all.len(), 200);
    assert!(
        all.iter()
            .all(|e| e["request"]["data"]["blob"] == big.as_str())
    );
}

/// A cloneable in-memory writer standing in for stdout.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn stdout_device_writes_hashed_json_lines_to_its_writer() {
    let out = Captured::default();
    let device =
        StdoutDevice::with_writer(formatter(FormatOptions::default()), Box::new(out.clone()));
    device.log_request(&password_write()).unwrap();
    device.reopen().unwrap();
    device.log_response(&password_write()).unwrap();

    let bytes = out.0.lock().unwrap().clone();
    let all = lines(&bytes);
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[0]["request"]["data"]["data"]["password"],
        device.hash(SECRET)
    );
    assert!(!String::from_utf8(bytes).unwrap().contains(SECRET));
}

#[test]
fn discard_device_accepts_entries_and_still_hashes() {
    let device = DiscardDevice::new(formatter(FormatOptions::default()));
    device.log_request(&password_write()).unwrap();
    device.log_response(&password_write()).unwrap();
    assert!(device.hash(SECRET).starts_with("hmac-sha256:"));
}
