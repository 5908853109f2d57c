//! The broker: fail closed, audit-hash, and no plaintext secret on disk.

mod common;

use coffer_audit::{
    AuditBroker, AuditDevice, AuditError, AuditPath, AuditTableEntry, EnableRequest, FileDevice,
    FileMode, FormatOptions, Formatter, open_device,
};
use common::*;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

fn path(p: &str) -> AuditPath {
    AuditPath::parse(p).expect("valid audit path")
}

fn file_device(file: &Path, options: FormatOptions) -> Arc<dyn AuditDevice> {
    Arc::new(
        FileDevice::open(file, FileMode::default(), Formatter::new(salt(9), options))
            .expect("open audit file"),
    )
}

/// A file device whose every write fails (ENOSPC). Mode 0000 so the test
/// never chmods the shared device node.
fn full_device() -> Arc<dyn AuditDevice> {
    Arc::new(
        FileDevice::open(
            "/dev/full",
            FileMode::Keep,
            Formatter::new(salt(3), FormatOptions::default()),
        )
        .expect("open /dev/full"),
    )
}

/// Enables a device through the same path the core will use.
fn enable(broker: &AuditBroker, at: &str, body: serde_json::Value) -> AuditTableEntry {
    let req: EnableRequest = serde_json::from_value(body).expect("enable body");
    let entry = AuditTableEntry::new(&path(at), req).expect("valid options");
    let device = open_device(&entry, salt(5)).expect("device opens");
    broker.register(path(at), device).expect("path free");
    entry
}

#[test]
fn with_no_device_enabled_logging_is_a_no_op_success() {
    let broker = AuditBroker::new();
    assert!(broker.is_empty());
    broker.log_request(&password_write()).unwrap();
    broker.log_response(&password_write()).unwrap();
    broker.reopen().unwrap();
}

#[test]
fn fails_closed_when_the_only_device_cannot_write() {
    let broker = AuditBroker::new();
    broker.register(path("full"), full_device()).unwrap();
    let err = broker.log_request(&password_write()).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::NoDeviceWrote {
                kind: "request",
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("full/") && msg.contains("/dev/full"), "{msg}");
    assert!(!msg.contains(SECRET) && !msg.contains(TOKEN), "{msg}");
    assert!(broker.log_response(&password_write()).is_err());
}

#[test]
fn fails_closed_when_the_log_directory_was_removed_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let broker = AuditBroker::new();
    broker
        .register(
            path("file"),
            file_device(&logs.join("audit.log"), FormatOptions::default()),
        )
        .unwrap();
    broker.log_request(&password_write()).unwrap();

    std::fs::remove_dir_all(&logs).unwrap();
    let err = broker.reopen().unwrap_err();
    assert!(err.to_string().contains("file/"), "{err}");
    assert!(matches!(
        broker.log_request(&password_write()),
        Err(AuditError::NoDeviceWrote { .. })
    ));
}

#[test]
fn succeeds_when_one_of_two_devices_fails() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    let broker = AuditBroker::new();
    broker.register(path("full"), full_device()).unwrap();
    broker
        .register(path("good"), file_device(&good, FormatOptions::default()))
        .unwrap();

    broker.log_request(&password_write()).unwrap();
    broker.log_response(&password_write()).unwrap();
    assert_eq!(lines(&std::fs::read(&good).unwrap()).len(), 2);
}

#[test]
fn every_device_gets_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    let broker = AuditBroker::new();
    enable(
        &broker,
        "a",
        json!({"type": "file", "options": {"file_path": a.to_str().unwrap()}}),
    );
    enable(
        &broker,
        "b",
        json!({"type": "file", "options": {"file_path": b.to_str().unwrap()}}),
    );
    broker.log_request(&password_write()).unwrap();
    assert_eq!(lines(&std::fs::read(&a).unwrap()).len(), 1);
    assert_eq!(lines(&std::fs::read(&b).unwrap()).len(), 1);
    assert_eq!(broker.paths(), vec![path("a"), path("b")]);
}

#[test]
fn a_path_in_use_is_refused_and_disabling_stops_logging() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.log");
    let broker = AuditBroker::new();
    broker
        .register(path("file"), file_device(&file, FormatOptions::default()))
        .unwrap();
    let err = broker
        .register(path("file/"), file_device(&file, FormatOptions::default()))
        .unwrap_err();
    assert!(
        matches!(err, AuditError::AlreadyEnabled(ref p) if p == "file/"),
        "{err:?}"
    );

    assert!(broker.deregister(&path("file")).is_some());
    assert!(broker.deregister(&path("file")).is_none());
    assert!(!broker.is_registered(&path("file")));
    broker.log_request(&password_write()).unwrap();
    assert!(std::fs::read(&file).unwrap().is_empty());
}

#[test]
fn audit_hash_matches_the_hash_written_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.log");
    let broker = AuditBroker::new();
    enable(
        &broker,
        "file",
        json!({"type": "file", "options": {"file_path": file.to_str().unwrap()}}),
    );
    broker.log_request(&password_write()).unwrap();

    let logged = lines(&std::fs::read(&file).unwrap()).remove(0);
    let hashed = broker.hash(&path("file"), SECRET).unwrap();
    assert_eq!(logged["request"]["data"]["data"]["password"], hashed);
    assert_eq!(
        logged["request"]["client_token"],
        broker.hash(&path("file"), TOKEN).unwrap()
    );
    assert!(matches!(
        broker.hash(&path("nope"), SECRET),
        Err(AuditError::NotFound(_))
    ));
}

#[test]
fn no_plaintext_secret_or_token_in_a_file_written_with_hashing_on() {
    let dir = tempfile::tempdir().unwrap();
    let hashed = dir.path().join("hashed.log");
    let raw = dir.path().join("raw.log");
    let broker = AuditBroker::new();
    enable(
        &broker,
        "hashed",
        json!({"type": "file", "options": {"file_path": hashed.to_str().unwrap()}}),
    );
    enable(
        &broker,
        "raw",
        json!({"type": "file", "options": {"file_path": raw.to_str().unwrap(), "log_raw": "true"}}),
    );

    let input = with_response(password_write(), json!({"data": {"password": SECRET}}));
    broker.log_request(&input).unwrap();
    broker.log_response(&input).unwrap();

    let hashed_text = std::fs::read_to_string(&hashed).unwrap();
    assert_eq!(hashed_text.lines().count(), 2);
    for needle in [SECRET, TOKEN, ACCESSOR] {
        assert!(
            !hashed_text.contains(needle),
            "{needle:?} leaked into the hashed log"
        );
    }
    // The control: the same entries, raw, do contain them, so the grep above
    // would have caught a leak.
    let raw_text = std::fs::read_to_string(&raw).unwrap();
    assert!(raw_text.contains(SECRET) && raw_text.contains(TOKEN));
}

#[test]
fn broker_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AuditBroker>();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.log");
    let broker = Arc::new(AuditBroker::new());
    broker
        .register(path("file"), file_device(&file, FormatOptions::default()))
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let broker = Arc::clone(&broker);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    broker.log_request(&password_write()).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(lines(&std::fs::read(&file).unwrap()).len(), 200);
}
