//! Parser: happy paths in HCL and JSON, and every refusal with its line.

use std::time::Duration;

use super::{parse_error, policy};
use crate::policy::{Capability, ParameterValue, Policy, PolicyError};

const FULL_HCL: &str = r#"name = "ignored"

# every key a path stanza may hold
path "secret/restricted" {
  comment      = "kv v1"
  capabilities = ["create", "update"]
  policy       = "read"
  required_parameters = ["Name"]
  allowed_parameters = {
    "Foo" = []
    "bar" = ["zip", "zap-*", 5, true, null]
    "*"   = []
  }
  denied_parameters = {
    "admin" = []
  }
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = 90
  subscribe_event_types = ["kv*"]
}

path "/secret/other/*" {
  capabilities = ["list", "subscribe", "recover", "patch", "delete", "sudo"]
}
"#;

const FULL_JSON: &str = r#"{
  "name": "ignored",
  "path": {
    "secret/restricted": {
      "comment": "kv v1",
      "capabilities": ["create", "update"],
      "policy": "read",
      "required_parameters": ["Name"],
      "allowed_parameters": {
        "Foo": [],
        "bar": ["zip", "zap-*", 5, true, null],
        "*": []
      },
      "denied_parameters": {"admin": []},
      "min_wrapping_ttl": "1s",
      "max_wrapping_ttl": 90,
      "subscribe_event_types": ["kv*"]
    },
    "/secret/other/*": {
      "capabilities": ["list", "subscribe", "recover", "patch", "delete", "sudo"]
    }
  }
}"#;

#[test]
fn hcl_policy_with_every_key_parses() {
    let p = policy("Dev ", FULL_HCL);
    assert_eq!(p.name(), "dev");
    assert_eq!(p.text(), FULL_HCL);
    let [restricted, other] = p.rules() else {
        panic!("two rules expected, got {:?}", p.rules());
    };
    assert_eq!(restricted.pattern.as_str(), "secret/restricted");
    assert_eq!(restricted.line, 4);
    assert_eq!(
        restricted.capabilities.to_names(),
        vec!["create", "list", "read", "update"]
    );
    assert_eq!(restricted.parameters.required, vec!["Name".to_owned()]);
    assert!(restricted.parameters.allowed["foo"].is_empty());
    assert_eq!(
        restricted.parameters.allowed["bar"],
        vec![
            ParameterValue::String("zip".into()),
            ParameterValue::String("zap-*".into()),
            ParameterValue::Number(5.into()),
            ParameterValue::Bool(true),
            ParameterValue::Null,
        ]
    );
    assert!(restricted.parameters.allowed["*"].is_empty());
    assert!(restricted.parameters.denied["admin"].is_empty());
    assert_eq!(restricted.min_wrapping_ttl, Some(Duration::from_secs(1)));
    assert_eq!(restricted.max_wrapping_ttl, Some(Duration::from_secs(90)));
    assert_eq!(restricted.subscribe_event_types, vec!["kv*".to_owned()]);

    assert_eq!(other.pattern.as_str(), "secret/other/*");
    assert_eq!(other.line, 22);
    for cap in [
        Capability::List,
        Capability::Subscribe,
        Capability::Recover,
        Capability::Patch,
        Capability::Delete,
        Capability::Sudo,
    ] {
        assert!(other.capabilities.contains(cap), "{cap}");
    }
}

#[test]
fn json_policy_means_the_same_as_hcl() {
    let hcl = policy("dev", FULL_HCL);
    let json = policy("dev", FULL_JSON);
    assert_eq!(json.rules().len(), 2);
    for (h, j) in hcl.rules().iter().zip(json.rules()) {
        assert_eq!(h.pattern, j.pattern);
        assert_eq!(h.capabilities, j.capabilities);
        assert_eq!(h.parameters, j.parameters);
        assert_eq!(h.min_wrapping_ttl, j.min_wrapping_ttl);
        assert_eq!(h.max_wrapping_ttl, j.max_wrapping_ttl);
    }
    assert_eq!(json.rules()[0].line, 4);
}

#[test]
fn json_stanza_bodies_may_be_hcl1_style_lists_of_objects() {
    let p = policy(
        "j",
        r#"{"path": {"a": [{"capabilities": ["read"]}, {"max_wrapping_ttl": "1m"}]}}"#,
    );
    assert_eq!(p.rules()[0].capabilities.to_names(), vec!["read"]);
    assert_eq!(p.rules()[0].max_wrapping_ttl, Some(Duration::from_secs(60)));
}

#[test]
fn json_path_list_form_parses() {
    let p = policy(
        "j",
        r#"{"path": [{"a/*": {"capabilities": ["read"]}}, {"b": {"policy": "deny"}}]}"#,
    );
    assert_eq!(p.rules().len(), 2);
    assert!(p.rules()[1].capabilities.is_deny());
}

#[test]
fn legacy_policy_words_parse_like_their_capabilities() {
    let p = policy(
        "legacy",
        r#"
path "sys/*" {
  policy = "deny"
}
path "secret/*" {
  policy = "write"
}
path "secret/foo" {
  policy = "read"
  capabilities = ["create", "sudo"]
}
"#,
    );
    let names: Vec<Vec<String>> = p
        .rules()
        .iter()
        .map(|r| r.capabilities.to_names())
        .collect();
    assert_eq!(names[0], vec!["deny"]);
    assert_eq!(names[1], vec!["create", "delete", "list", "read", "update"]);
    assert_eq!(names[2], vec!["create", "list", "read", "sudo"]);
}

#[test]
fn deny_in_a_capability_list_keeps_only_deny() {
    let p = policy(
        "d",
        "path \"a\" {\n  capabilities = [\"read\", \"deny\", \"sudo\"]\n}\n",
    );
    assert!(p.rules()[0].capabilities.is_deny());
    assert!(!p.rules()[0].capabilities.contains(Capability::Read));
}

#[test]
fn empty_and_comment_only_policies_have_no_rules() {
    assert!(policy("e", "").rules().is_empty());
    assert!(policy("e", "# nothing yet\n").rules().is_empty());
    assert!(policy("e", "{}").rules().is_empty());
}

#[test]
fn a_stanza_without_capabilities_is_accepted_and_grants_nothing() {
    let p = policy("e", "path \"secret/*\" {}\n");
    assert!(p.rules()[0].capabilities.is_empty());
}

#[test]
fn wrapping_ttls_take_seconds_or_duration_strings() {
    for (value, secs) in [
        ("90", 90),
        ("\"90\"", 90),
        ("\"90s\"", 90),
        ("\"5m\"", 300),
        ("\"1h30m\"", 5400),
    ] {
        let p = policy(
            "w",
            &format!(
                "path \"a\" {{\n  capabilities = [\"read\"]\n  max_wrapping_ttl = {value}\n}}\n"
            ),
        );
        assert_eq!(
            p.rules()[0].max_wrapping_ttl,
            Some(Duration::from_secs(secs)),
            "{value}"
        );
    }
    let p = policy("w", "path \"a\" {\n  min_wrapping_ttl = 0\n}\n");
    assert_eq!(p.rules()[0].min_wrapping_ttl, None);
}

#[test]
fn parameter_maps_also_parse_in_block_form() {
    let p = policy(
        "b",
        "path \"a\" {\n  capabilities = [\"create\"]\n  allowed_parameters {\n    Bar = [\"zip\"]\n  }\n}\n",
    );
    assert_eq!(
        p.rules()[0].parameters.allowed["bar"],
        vec![ParameterValue::String("zip".into())]
    );
}

#[test]
fn templated_paths_parse() {
    let p = policy(
        "t",
        "path \"secret/data/{{identity.entity.id}}/*\" {\n  capabilities = [\"read\"]\n}\n",
    );
    assert!(p.rules()[0].pattern.is_templated());
}

#[test]
fn the_root_name_is_reserved() {
    assert_eq!(
        Policy::parse(" ROOT ", "").err(),
        Some(PolicyError::Reserved("root".into()))
    );
}

// ---- refusals, each pointing at its line ----

#[test]
fn unknown_top_level_key_names_its_line() {
    let err = parse_error("path \"a\" {}\n\npaths \"b\" {}\n");
    assert_eq!(err, "p:3: unknown key \"paths\" (did you mean \"path\"?)");
    let err = parse_error("policy = \"read\"\n");
    assert!(err.starts_with("p:1: unknown key \"policy\""), "{err}");
}

#[test]
fn unknown_stanza_key_suggests_the_spelling() {
    let err = parse_error("path \"secret/*\" {\n  capabilites = [\"read\"]\n}\n");
    assert_eq!(
        err,
        "p:2: path \"secret/*\": unknown key \"capabilites\" (did you mean \"capabilities\"?)"
    );
    let err = parse_error("path \"a\" {\n  frobnicate = 1\n}\n");
    assert!(err.contains("valid keys: capabilities, policy"), "{err}");
}

#[test]
fn unknown_capability_points_at_its_own_line() {
    let err =
        parse_error("path \"a\" {\n  capabilities = [\n    \"read\",\n    \"raed\",\n  ]\n}\n");
    assert_eq!(
        err,
        "p:4: path \"a\": unknown capability \"raed\" (did you mean \"read\"?)"
    );
    let err = parse_error("path \"a\" {\n  capabilities = [\"root\"]\n}\n");
    assert!(err.contains("valid capabilities: create, read"), "{err}");
    let err = parse_error("path \"a\" {\n  capabilities = [\"READ\"]\n}\n");
    assert!(err.contains("did you mean \"read\""), "{err}");
}

#[test]
fn capabilities_must_be_a_list_of_strings() {
    let err = parse_error("path \"a\" {\n  capabilities = \"read\"\n}\n");
    assert_eq!(
        err,
        "p:2: path \"a\": capabilities must be a list of strings, not a string"
    );
    let err = parse_error("path \"a\" {\n  capabilities = [1]\n}\n");
    assert_eq!(
        err,
        "p:2: path \"a\": capabilities must hold strings, not a number"
    );
    let err = parse_error("path \"a\" {\n  capabilities = [\"${x}\"]\n}\n");
    assert!(err.contains("not an interpolated string"), "{err}");
}

#[test]
fn unknown_legacy_policy_word_is_refused() {
    let err = parse_error("path \"a\" {\n  policy = \"admin\"\n}\n");
    assert_eq!(
        err,
        "p:2: path \"a\": unknown policy \"admin\"; expected one of \"deny\", \"read\", \"write\", \"sudo\""
    );
}

#[test]
fn enterprise_only_keys_are_refused_not_ignored() {
    let err =
        parse_error("path \"a\" {\n  capabilities = [\"read\"]\n  mfa_methods = [\"m\"]\n}\n");
    assert!(
        err.starts_with("p:3: path \"a\": mfa_methods is a Vault Enterprise feature"),
        "{err}"
    );
    let err = parse_error("path \"a\" {\n  control_group = {}\n}\n");
    assert!(err.starts_with("p:2: path \"a\": control_group"), "{err}");
}

#[test]
fn misplaced_globs_are_refused_at_the_stanza_line() {
    let err = parse_error("\n\npath \"secret/*/foo\" {\n  capabilities = [\"read\"]\n}\n");
    assert!(
        err.starts_with("p:3: path \"secret/*/foo\": \"*\" is only a glob as the last character"),
        "{err}"
    );
    let err = parse_error("path \"secret/+*\" {}\n");
    assert!(
        err.starts_with("p:1: path \"secret/+*\": \"+*\" is not a valid wildcard"),
        "{err}"
    );
    let err = parse_error("path \"\" {}\n");
    assert!(
        err.starts_with("p:1: path \"\": the path must not be empty"),
        "{err}"
    );
}

#[test]
fn path_needs_exactly_one_label_and_a_body() {
    let err = parse_error("path \"a\" \"b\" {}\n");
    assert!(
        err.starts_with("p:1: a path stanza takes exactly one label"),
        "{err}"
    );
    let err = parse_error("\npath {\n  capabilities = [\"read\"]\n}\n");
    assert!(
        err.starts_with("p:2: a path stanza takes exactly one label"),
        "{err}"
    );
    let err = parse_error("path = \"a\"\n");
    assert!(err.starts_with("p:1: path must be a stanza"), "{err}");
    let err = parse_error(r#"{"path": {"a": ["read"]}}"#);
    assert!(
        err.starts_with("p:1: path \"a\": must be an object of settings, not a list"),
        "{err}"
    );
}

#[test]
fn a_key_set_twice_is_refused() {
    let err = parse_error("path \"a\" {\n  policy = \"read\"\n  policy = \"write\"\n}\n");
    assert!(err.starts_with("p:3:3: syntax error"), "{err}");
    assert!(err.contains("redefined attribute"), "{err}");
    let err =
        parse_error("path \"a\" {\n  allowed_parameters = {}\n  allowed_parameters {\n  }\n}\n");
    assert_eq!(err, "p:3: path \"a\": allowed_parameters is set twice");
}

#[test]
fn the_star_parameter_only_takes_an_empty_list() {
    let err = parse_error("path \"a\" {\n  allowed_parameters = {\n    \"*\" = [\"x\"]\n  }\n}\n");
    assert_eq!(
        err,
        "p:3: path \"a\": allowed_parameters \"*\": the \"*\" key only takes an empty list: \"*\" = []"
    );
}

#[test]
fn parameter_errors_never_echo_values() {
    let secret = "hunter2-super-secret";
    let err = parse_error(&format!(
        "path \"a\" {{\n  denied_parameters = {{\n    \"pw\" = \"{secret}\"\n  }}\n}}\n"
    ));
    assert!(
        err.starts_with("p:3: path \"a\": denied_parameters \"pw\": must be a list"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");
    let err = parse_error(&format!(
        "path \"a\" {{\n  allowed_parameters = {{\n    \"pw\" = [[\"{secret}\"]]\n  }}\n}}\n"
    ));
    assert!(
        err.contains("values must be strings, numbers, booleans or null, not a list"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");
    let err = parse_error("path \"a\" {\n  allowed_parameters = [\"x\"]\n}\n");
    assert!(
        err.starts_with("p:2: path \"a\": allowed_parameters must be an object"),
        "{err}"
    );
}

#[test]
fn bad_wrapping_ttls_are_refused() {
    let err = parse_error("path \"a\" {\n  min_wrapping_ttl = \"soon\"\n}\n");
    assert!(
        err.starts_with("p:2: path \"a\": cannot parse \"soon\" as a duration"),
        "{err}"
    );
    let err = parse_error("path \"a\" {\n  min_wrapping_ttl = -5\n}\n");
    assert!(err.contains("non-negative number of seconds"), "{err}");
    let err =
        parse_error("path \"a\" {\n  min_wrapping_ttl = \"1h\"\n  max_wrapping_ttl = \"1m\"\n}\n");
    assert_eq!(
        err,
        "p:3: path \"a\": max_wrapping_ttl cannot be less than min_wrapping_ttl"
    );
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let err = parse_error("path \"a\" {\n  capabilities = [\"read\"\n}\n");
    assert!(err.starts_with("p:3:"), "{err}");
    assert!(err.contains("syntax error"), "{err}");
    let err = parse_error("{\n  \"path\": {\n    \"a\": {,}\n  }\n}\n");
    assert!(err.starts_with("p:3:"), "{err}");
}

#[test]
fn a_json_policy_that_is_not_an_object_of_stanzas_is_refused() {
    let err = parse_error(r#"{"path": "secret/*"}"#);
    assert!(err.starts_with("p:1: path must be a stanza"), "{err}");
    let err = parse_error(r#"{"paths": {}}"#);
    assert!(err.contains("unknown key \"paths\""), "{err}");
}

#[test]
fn long_unknown_words_are_cut_in_messages() {
    let word = "x".repeat(300);
    let err = parse_error(&format!(
        "path \"a\" {{\n  capabilities = [\"{word}\"]\n}}\n"
    ));
    assert!(err.len() < 200, "{err}");
}
