//! The JSON shape of entries and what gets hashed.

mod common;

use coffer_audit::format::rfc3339_nano;
use coffer_audit::{
    AuditAuth, AuditRequest, AuditResponse, AuditWrapInfo, AuditedHeader, FormatOptions, LogInput,
    SecretText,
};
use common::*;
use serde_json::json;
use std::time::{Duration, UNIX_EPOCH};

fn raw() -> FormatOptions {
    FormatOptions {
        log_raw: true,
        ..FormatOptions::default()
    }
}

#[test]
fn request_entry_has_vaults_shape_with_tokens_and_data_hashed() {
    let f = formatter(FormatOptions::default());
    let input = kv_write(json!({"data": {"password": SECRET}}));
    let e = one_line(&f.format_request(&input).unwrap());
    let h = |s: &str| f.hash(s);

    assert_eq!(
        e,
        json!({
            "time": "2021-10-10T13:53:51.76Z",
            "type": "request",
            "auth": {
                "client_token": h(TOKEN),
                "accessor": h(ACCESSOR),
                "display_name": "root",
                "policies": ["root"],
                "token_policies": ["root"],
                "metadata": {"team": "ops"},
                "entity_id": "ent-1",
                "policy_results": {
                    "allowed": true,
                    "granting_policies": [{"name": "root", "namespace_id": "root", "type": "acl"}]
                },
                "token_type": "service",
                "token_ttl": 3600,
                "token_issue_time": "2021-10-10T13:53:44Z"
            },
            "request": {
                "id": "829c04a1-0352-2d9d-9bc9-00b928d33df5",
                "operation": "update",
                "mount_point": "secret/",
                "mount_type": "kv",
                "mount_accessor": "kv_1a2b3c4d",
                "client_token": h(TOKEN),
                "client_token_accessor": h(ACCESSOR),
                "namespace": {"id": "root"},
                "path": "secret/data/app",
                "data": {"data": {"password": h(SECRET)}},
                "remote_address": "127.0.0.1",
                "remote_port": 50432
            }
        })
    );
}

#[test]
fn entry_is_one_newline_terminated_line_starting_with_time() {
    let f = formatter(FormatOptions::default());
    let line = f.format_request(&password_write()).unwrap();
    let text = std::str::from_utf8(&line).unwrap();
    assert!(text.ends_with('\n'));
    assert_eq!(text.matches('\n').count(), 1);
    assert!(text.starts_with("{\"time\":"), "{text}");
}

#[test]
fn response_entry_has_vaults_shape_and_hashes_the_issued_token() {
    let f = formatter(FormatOptions::default());
    // A userpass login: no token on the request, a new one in the response.
    let mut input = LogInput::new(
        fixed_time(),
        AuditRequest {
            id: "req-1".to_owned(),
            operation: "update".to_owned(),
            path: "auth/userpass/login/alice".to_owned(),
            mount_type: "userpass".to_owned(),
            data: Some(json!({"password": SECRET})),
            remote_address: "10.0.0.9".to_owned(),
            ..AuditRequest::default()
        },
    );
    input.response = Some(AuditResponse {
        auth: Some(AuditAuth {
            client_token: Some(SecretText::new("hvs.new-login-token")),
            accessor: "acc-new".to_owned(),
            display_name: "userpass-alice".to_owned(),
            policies: vec!["default".to_owned(), "dev".to_owned()],
            token_policies: vec!["default".to_owned(), "dev".to_owned()],
            metadata: [("username".to_owned(), "alice".to_owned())].into(),
            token_type: "service".to_owned(),
            token_ttl: Duration::from_secs(2764800),
            num_uses: 3,
            ..AuditAuth::default()
        }),
        warnings: vec!["endpoint ignored these unrecognized parameters: [x]".to_owned()],
        mount_type: "userpass".to_owned(),
        ..AuditResponse::default()
    });
    input.error = None;
    let e = one_line(&f.format_response(&input).unwrap());
    let h = |s: &str| f.hash(s);

    assert_eq!(
        e,
        json!({
            "time": "2021-10-10T13:53:51.76Z",
            "type": "response",
            "auth": {"token_type": "default"},
            "request": {
                "id": "req-1",
                "operation": "update",
                "mount_type": "userpass",
                "namespace": {"id": "root"},
                "path": "auth/userpass/login/alice",
                "data": {"password": h(SECRET)},
                "remote_address": "10.0.0.9"
            },
            "response": {
                "auth": {
                    "client_token": h("hvs.new-login-token"),
                    "accessor": h("acc-new"),
                    "display_name": "userpass-alice",
                    "policies": ["default", "dev"],
                    "token_policies": ["default", "dev"],
                    "metadata": {"username": "alice"},
                    "num_uses": 3,
                    "token_type": "service",
                    "token_ttl": 2764800
                },
                "mount_type": "userpass",
                "warnings": ["endpoint ignored these unrecognized parameters: [x]"]
            }
        })
    );
}

#[test]
fn error_is_logged_clear_and_omitted_when_there_is_none() {
    let f = formatter(FormatOptions::default());
    let mut input = password_write();
    let ok = one_line(&f.format_request(&input).unwrap());
    assert!(ok.get("error").is_none());

    input.error = Some("permission denied".to_owned());
    let req = one_line(&f.format_request(&input).unwrap());
    let resp = one_line(&f.format_response(&input).unwrap());
    assert_eq!(req["error"], "permission denied");
    assert_eq!(resp["error"], "permission denied");
}

#[test]
fn every_string_in_nested_data_is_hashed_and_other_values_are_untouched() {
    let f = formatter(FormatOptions::default());
    let data = json!({
        "top": "a",
        "n": 42,
        "pi": 2.5,
        "flag": true,
        "nothing": null,
        "list": ["b", 7, ["c", {"deep": "d"}]],
        "obj": {"inner": {"innermost": "e", "count": 0}}
    });
    let input = with_response(kv_write(data.clone()), data);
    let h = |s: &str| f.hash(s);
    let expected = json!({
        "top": h("a"),
        "n": 42,
        "pi": 2.5,
        "flag": true,
        "nothing": null,
        "list": [h("b"), 7, [h("c"), {"deep": h("d")}]],
        "obj": {"inner": {"innermost": h("e"), "count": 0}}
    });

    let req = one_line(&f.format_request(&input).unwrap());
    let resp = one_line(&f.format_response(&input).unwrap());
    assert_eq!(req["request"]["data"], expected);
    assert_eq!(resp["request"]["data"], expected);
    assert_eq!(resp["response"]["data"], expected);
}

#[test]
fn non_hmac_keys_leave_their_values_clear_at_any_depth() {
    let f = formatter(FormatOptions::default());
    let data = json!({"name": "app", "tags": ["x", "y"], "nested": {"name": "inner"}, "pw": "p"});
    let mut input = with_response(kv_write(data.clone()), data);
    input.non_hmac_request_keys = vec!["name".to_owned(), "tags".to_owned()];
    input.non_hmac_response_keys = vec!["pw".to_owned()];
    let h = |s: &str| f.hash(s);

    let resp = one_line(&f.format_response(&input).unwrap());
    assert_eq!(
        resp["request"]["data"],
        json!({"name": "app", "tags": ["x", "y"], "nested": {"name": "inner"}, "pw": h("p")})
    );
    assert_eq!(
        resp["response"]["data"],
        json!({"name": h("app"), "tags": [h("x"), h("y")], "nested": {"name": h("inner")}, "pw": "p"})
    );
}

#[test]
fn log_raw_leaves_tokens_accessors_and_data_in_the_clear() {
    let f = formatter(raw());
    let input = with_response(password_write(), json!({"password": SECRET}));
    let e = one_line(&f.format_response(&input).unwrap());
    assert_eq!(e["auth"]["client_token"], TOKEN);
    assert_eq!(e["auth"]["accessor"], ACCESSOR);
    assert_eq!(e["request"]["client_token"], TOKEN);
    assert_eq!(e["request"]["client_token_accessor"], ACCESSOR);
    assert_eq!(e["request"]["data"]["data"]["password"], SECRET);
    assert_eq!(e["response"]["data"]["password"], SECRET);
}

#[test]
fn hmac_accessor_false_hashes_tokens_but_not_accessors() {
    let f = formatter(FormatOptions {
        hmac_accessor: false,
        ..FormatOptions::default()
    });
    let e = one_line(&f.format_request(&password_write()).unwrap());
    assert_eq!(e["auth"]["accessor"], ACCESSOR);
    assert_eq!(e["request"]["client_token_accessor"], ACCESSOR);
    assert_eq!(e["auth"]["client_token"], f.hash(TOKEN));
    assert_eq!(e["request"]["client_token"], f.hash(TOKEN));
    assert_eq!(e["request"]["data"]["data"]["password"], f.hash(SECRET));
}

#[test]
fn wrap_info_token_is_always_hashed_and_accessors_follow_hmac_accessor() {
    let input = |_: ()| {
        let mut i = with_response(password_write(), json!({}));
        if let Some(r) = i.response.as_mut() {
            r.wrap_info = Some(AuditWrapInfo {
                token: SecretText::new("wrapping-token-id"),
                accessor: "wrap-acc".to_owned(),
                ttl: Duration::from_secs(300),
                creation_time: UNIX_EPOCH + Duration::new(1_475_087_660, 569_614_960),
                creation_path: "sys/wrapping/wrap".to_owned(),
                wrapped_accessor: "inner-acc".to_owned(),
            });
        }
        i.request.wrap_ttl = Some(Duration::from_secs(300));
        i
    };
    let hashed = formatter(FormatOptions::default());
    let e = one_line(&hashed.format_response(&input(())).unwrap());
    assert_eq!(e["request"]["wrap_ttl"], 300);
    assert_eq!(
        e["response"]["wrap_info"],
        json!({
            "accessor": hashed.hash("wrap-acc"),
            "creation_path": "sys/wrapping/wrap",
            "creation_time": "2016-09-28T18:34:20.56961496Z",
            "token": hashed.hash("wrapping-token-id"),
            "ttl": 300,
            "wrapped_accessor": hashed.hash("inner-acc")
        })
    );
    assert!(e["response"].get("data").is_none(), "empty data is omitted");

    let clear_acc = formatter(FormatOptions {
        hmac_accessor: false,
        ..FormatOptions::default()
    });
    let e = one_line(&clear_acc.format_response(&input(())).unwrap());
    assert_eq!(e["response"]["wrap_info"]["accessor"], "wrap-acc");
    assert_eq!(e["response"]["wrap_info"]["wrapped_accessor"], "inner-acc");
    assert_eq!(
        e["response"]["wrap_info"]["token"],
        clear_acc.hash("wrapping-token-id")
    );
}

#[test]
fn audited_headers_are_hashed_only_when_configured() {
    let f = formatter(FormatOptions::default());
    let mut input = password_write();
    input.request.headers = vec![
        AuditedHeader {
            name: "X-Forwarded-For".to_owned(),
            values: vec!["10.1.1.1".to_owned()],
            hmac: false,
        },
        AuditedHeader {
            name: "X-Api-Key".to_owned(),
            values: vec!["k1".to_owned()],
            hmac: true,
        },
    ];
    let e = one_line(&f.format_request(&input).unwrap());
    assert_eq!(
        e["request"]["headers"],
        json!({"x-forwarded-for": ["10.1.1.1"], "x-api-key": [f.hash("k1")]})
    );
}

#[test]
fn elide_list_responses_replaces_keys_by_counts_on_list_only() {
    let f = formatter(FormatOptions {
        elide_list_responses: true,
        ..FormatOptions::default()
    });
    let data = json!({"keys": ["a", "b", "c"], "key_info": {"a": {}, "b": {}}, "other": "x"});
    let mut input = with_response(kv_write(json!({})), data);
    input.request.operation = "list".to_owned();
    let e = one_line(&f.format_response(&input).unwrap());
    assert_eq!(
        e["response"]["data"],
        json!({"keys": 3, "key_info": 2, "other": f.hash("x")})
    );

    input.request.operation = "read".to_owned();
    let e = one_line(&f.format_response(&input).unwrap());
    assert_eq!(
        e["response"]["data"]["keys"].as_array().map(Vec::len),
        Some(3)
    );
}

#[test]
fn prefix_is_written_before_the_json_object() {
    let f = formatter(FormatOptions {
        prefix: "@cee: ".to_owned(),
        ..FormatOptions::default()
    });
    let line = f.format_request(&password_write()).unwrap();
    let text = std::str::from_utf8(&line).unwrap();
    let json = text.strip_prefix("@cee: ").expect("prefix first");
    serde_json::from_str::<serde_json::Value>(json).unwrap();
}

#[test]
fn time_is_go_rfc3339nano_in_utc() {
    assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    assert_eq!(
        rfc3339_nano(UNIX_EPOCH + Duration::new(1, 500_000_000)),
        "1970-01-01T00:00:01.5Z"
    );
    assert_eq!(
        rfc3339_nano(UNIX_EPOCH + Duration::new(1, 123_456_789)),
        "1970-01-01T00:00:01.123456789Z"
    );
}

#[test]
fn same_input_gives_the_same_hash_per_salt_and_differs_across_salts() {
    let a = coffer_audit::Formatter::new(salt(1), FormatOptions::default());
    let b = coffer_audit::Formatter::new(salt(2), FormatOptions::default());
    let ea = one_line(&a.format_request(&password_write()).unwrap());
    let ea2 = one_line(&a.format_request(&password_write()).unwrap());
    let eb = one_line(&b.format_request(&password_write()).unwrap());
    let pw = |e: &serde_json::Value| e["request"]["data"]["data"]["password"].clone();
    assert_eq!(pw(&ea), pw(&ea2));
    assert_ne!(pw(&ea), pw(&eb));
    assert_eq!(pw(&ea), a.hash(SECRET));
    assert!(a.hash(SECRET).starts_with("hmac-sha256:"));
}

#[test]
fn debug_of_an_exchange_never_shows_its_data_or_path() {
    let request = coffer_audit::AuditRequest {
        operation: "update".to_owned(),
        path: "secret/data/payroll".to_owned(),
        data: Some(serde_json::json!({"password": "hunter2"})),
        ..coffer_audit::AuditRequest::default()
    };
    let response = coffer_audit::AuditResponse {
        data: Some(serde_json::json!({"password": "hunter2"})),
        ..coffer_audit::AuditResponse::default()
    };
    let shown = format!("{request:?} {response:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("payroll"),
        "{shown}"
    );
}
