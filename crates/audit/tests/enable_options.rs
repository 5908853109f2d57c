//! `sys/audit/:path` bodies: weak typing, validation, the list shape.

mod common;

use coffer_audit::{
    AuditError, AuditPath, AuditTable, AuditTableEntry, DeviceSettings, EnableRequest, FileMode,
    FileSettings, FileTarget, FormatOptions, open_device,
};
use serde_json::{Value, json};
use std::path::PathBuf;

fn entry(body: Value) -> Result<AuditTableEntry, AuditError> {
    let req: EnableRequest = serde_json::from_value(body).expect("body deserializes");
    AuditTableEntry::new(&AuditPath::parse("file").expect("valid path"), req)
}

fn file_settings(body: Value) -> FileSettings {
    match entry(body)
        .expect("valid options")
        .settings()
        .expect("settings")
    {
        DeviceSettings::File(s) => s,
        other => panic!("not a file device: {other:?}"),
    }
}

fn option_error(body: Value) -> (String, String) {
    match entry(body) {
        Err(AuditError::InvalidOption { option, reason }) => (option, reason),
        other => panic!("expected an invalid option, got {other:?}"),
    }
}

#[test]
fn defaults_match_vaults_file_device() {
    let s = file_settings(json!({"type": "file", "options": {"file_path": "/var/log/audit.log"}}));
    assert_eq!(
        s.target,
        FileTarget::Path(PathBuf::from("/var/log/audit.log"))
    );
    assert_eq!(s.mode, FileMode::Set(0o600));
    assert_eq!(s.format, FormatOptions::default());
    assert!(!s.format.log_raw);
    assert!(s.format.hmac_accessor);
}

#[test]
fn vault_cli_strings_are_weakly_typed() {
    let s = file_settings(json!({
        "type": "file",
        "local": "true",
        "options": {
            "file_path": "/tmp/a.log", "log_raw": "true", "hmac_accessor": "false",
            "mode": "0640", "format": "json", "prefix": "vault: ", "elide_list_responses": "1"
        }
    }));
    assert!(s.format.log_raw);
    assert!(!s.format.hmac_accessor);
    assert!(s.format.elide_list_responses);
    assert_eq!(s.format.prefix, "vault: ");
    assert_eq!(s.mode, FileMode::Set(0o640));
    let e = entry(json!({"type": "file", "local": "true", "options": {"file_path": "/tmp/a.log"}}))
        .unwrap();
    assert!(e.local);
}

#[test]
fn hvac_json_types_are_accepted_and_kept_as_strings() {
    let e = entry(json!({
        "type": "file",
        "description": null,
        "local": false,
        "options": {"path": "/tmp/vault.log", "log_raw": true}
    }))
    .unwrap();
    assert_eq!(e.options.get("log_raw").map(String::as_str), Some("true"));
    assert_eq!(e.description, "");
    match e.settings().unwrap() {
        DeviceSettings::File(s) => {
            assert!(s.format.log_raw);
            assert_eq!(s.target, FileTarget::Path(PathBuf::from("/tmp/vault.log")));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stdout_and_discard_are_special_file_paths() {
    let s = file_settings(json!({"type": "file", "options": {"file_path": "stdout"}}));
    assert_eq!(s.target, FileTarget::Stdout);
    let s = file_settings(json!({"type": "file", "options": {"file_path": "discard"}}));
    assert_eq!(s.target, FileTarget::Discard);
}

#[test]
fn mode_0000_means_leave_the_mode_alone() {
    let s =
        file_settings(json!({"type": "file", "options": {"file_path": "/tmp/x", "mode": "0000"}}));
    assert_eq!(s.mode, FileMode::Keep);
}

#[test]
fn unknown_option_is_refused_by_name() {
    let (option, reason) =
        option_error(json!({"type": "file", "options": {"file_path": "/tmp/x", "filepath": "/y"}}));
    assert_eq!(option, "filepath");
    assert!(reason.contains("unknown option"), "{reason}");
}

#[test]
fn bad_values_name_the_option() {
    let cases = [
        (json!({"log_raw": "maybe"}), "log_raw"),
        (json!({"hmac_accessor": "yes please"}), "hmac_accessor"),
        (json!({"mode": "rw-------"}), "mode"),
        (json!({"mode": "0755"}), "mode"),
        (json!({"format": "xml"}), "format"),
    ];
    for (extra, name) in cases {
        let mut options = json!({"file_path": "/tmp/x"});
        for (k, v) in extra.as_object().unwrap() {
            options[k] = v.clone();
        }
        let (option, reason) = option_error(json!({"type": "file", "options": options}));
        assert_eq!(option, name, "{reason}");
        let msg = AuditError::InvalidOption { option, reason }.to_string();
        assert!(msg.contains(name), "{msg}");
    }
}

#[test]
fn file_path_is_required() {
    let (option, reason) = option_error(json!({"type": "file", "options": {}}));
    assert_eq!(option, "file_path");
    assert!(reason.contains("required"));
    let (option, _) = option_error(json!({"type": "file", "options": {"file_path": " "}}));
    assert_eq!(option, "file_path");
}

#[test]
fn jsonx_socket_syslog_and_enterprise_options_are_clearly_not_supported() {
    for body in [
        json!({"type": "file", "options": {"file_path": "/tmp/x", "format": "jsonx"}}),
        json!({"type": "socket", "options": {"address": "127.0.0.1:9090"}}),
        json!({"type": "syslog", "options": {"tag": "vault"}}),
        json!({"type": "file", "options": {"file_path": "/tmp/x", "filter": "mount_type == kv"}}),
    ] {
        let err = entry(body.clone()).unwrap_err();
        assert!(
            matches!(err, AuditError::NotSupported(_)),
            "{body}: {err:?}"
        );
        assert!(err.to_string().contains("not supported"), "{err}");
    }
    let err = entry(json!({"type": "socket"})).unwrap_err();
    assert!(err.to_string().contains("\"socket\""), "{err}");
}

#[test]
fn unknown_or_missing_type_is_refused() {
    let err = entry(json!({"type": "kafka", "options": {}})).unwrap_err();
    assert!(
        matches!(err, AuditError::UnknownType(ref t) if t == "kafka"),
        "{err:?}"
    );
    let err = entry(json!({"options": {"file_path": "/tmp/x"}})).unwrap_err();
    assert!(err.to_string().contains("type is required"), "{err}");
}

#[test]
fn nested_option_values_and_bad_local_are_body_errors() {
    let r: Result<EnableRequest, _> =
        serde_json::from_value(json!({"type": "file", "options": {"file_path": ["/a"]}}));
    assert!(r.unwrap_err().to_string().contains("options.file_path"));
    let r: Result<EnableRequest, _> =
        serde_json::from_value(json!({"type": "file", "local": "perhaps"}));
    assert!(r.unwrap_err().to_string().contains("local"));
}

#[test]
fn paths_are_normalised_with_one_trailing_slash() {
    assert_eq!(
        AuditPath::parse("file").expect("valid path").as_str(),
        "file/"
    );
    assert_eq!(AuditPath::parse("/team/a/").unwrap().as_str(), "team/a/");
    for bad in ["", "/", "a//b", "../x", "a b"] {
        assert!(AuditPath::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn list_entry_has_vaults_shape_and_round_trips() {
    let e = entry(json!({
        "type": "file",
        "description": "Store logs in a file",
        "options": {"file_path": "/var/log/vault.log"}
    }))
    .unwrap();
    let table: AuditTable = [(e.path.clone(), e)].into();
    let listed = serde_json::to_value(&table).unwrap();
    assert_eq!(
        listed,
        json!({
            "file/": {
                "type": "file",
                "description": "Store logs in a file",
                "options": {"file_path": "/var/log/vault.log"},
                "local": false,
                "path": "file/"
            }
        })
    );
    let back: AuditTable = serde_json::from_value(listed).unwrap();
    assert_eq!(back, table);
}

#[test]
fn opening_a_file_device_in_a_missing_directory_fails_at_enable_time() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/audit.log");
    let e = entry(json!({"type": "file", "options": {"file_path": missing.to_str().unwrap()}}))
        .unwrap();
    let err = open_device(&e, common::salt(1)).unwrap_err();
    assert!(matches!(err, AuditError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn open_device_builds_each_file_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    for file_path in [path.to_str().unwrap(), "stdout", "discard"] {
        let e = entry(json!({"type": "file", "options": {"file_path": file_path}})).unwrap();
        let device = open_device(&e, common::salt(1)).unwrap();
        assert_eq!(device.kind(), "file");
    }
    assert!(path.exists());
}
