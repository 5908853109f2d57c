//! Fixtures shared by the integration tests.
#![allow(dead_code, unreachable_pub, reason = "each test binary uses a subset")]

use coffer_audit::{
    AuditAuth, AuditRequest, AuditResponse, AuditSalt, FormatOptions, Formatter, LogInput,
    PolicyResults, SecretText,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const TOKEN: &str = "hvs.CAESIRoottokenrawvalue";
pub const ACCESSOR: &str = "acc-4c1b2d3e";
pub const SECRET: &str = "hunter2";

/// 2021-10-10T13:53:51.76Z
pub fn fixed_time() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_633_874_031, 760_000_000)
}

pub fn salt(byte: u8) -> AuditSalt {
    AuditSalt::from_bytes(vec![byte; 32]).expect("32-byte salt")
}

pub fn formatter(options: FormatOptions) -> Formatter {
    Formatter::new(salt(7), options)
}

pub fn root_auth() -> AuditAuth {
    AuditAuth {
        client_token: Some(SecretText::new(TOKEN)),
        accessor: ACCESSOR.to_owned(),
        display_name: "root".to_owned(),
        policies: vec!["root".to_owned()],
        token_policies: vec!["root".to_owned()],
        metadata: BTreeMap::from([("team".to_owned(), "ops".to_owned())]),
        entity_id: "ent-1".to_owned(),
        token_type: "service".to_owned(),
        token_ttl: Duration::from_secs(3600),
        token_issue_time: Some(UNIX_EPOCH + Duration::from_secs(1_633_874_024)),
        remaining_uses: 0,
        policy_results: Some(PolicyResults {
            allowed: true,
            granting_policies: vec!["root".to_owned()],
        }),
        ..AuditAuth::default()
    }
}

/// A KV write carrying `{"password": "hunter2"}` with nested data.
pub fn kv_write(data: Value) -> LogInput {
    let mut input = LogInput::new(
        fixed_time(),
        AuditRequest {
            id: "829c04a1-0352-2d9d-9bc9-00b928d33df5".to_owned(),
            operation: "update".to_owned(),
            path: "secret/data/app".to_owned(),
            mount_point: "secret/".to_owned(),
            mount_type: "kv".to_owned(),
            mount_accessor: "kv_1a2b3c4d".to_owned(),
            client_token: Some(SecretText::new(TOKEN)),
            client_token_accessor: ACCESSOR.to_owned(),
            data: Some(data),
            remote_address: "127.0.0.1".to_owned(),
            remote_port: Some(50432),
            ..AuditRequest::default()
        },
    );
    input.auth = Some(root_auth());
    input
}

pub fn password_write() -> LogInput {
    kv_write(json!({"data": {"password": SECRET}}))
}

pub fn with_response(mut input: LogInput, data: Value) -> LogInput {
    input.response = Some(AuditResponse {
        data: Some(data),
        mount_point: "secret/".to_owned(),
        mount_type: "kv".to_owned(),
        mount_accessor: "kv_1a2b3c4d".to_owned(),
        ..AuditResponse::default()
    });
    input
}

/// Parses each line of `bytes` as JSON.
pub fn lines(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

pub fn one_line(bytes: &[u8]) -> Value {
    let mut all = lines(bytes);
    assert_eq!(all.len(), 1, "expected exactly one line");
    all.remove(0)
}
