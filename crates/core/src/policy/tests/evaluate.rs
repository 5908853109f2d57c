//! Evaluation: operations and capabilities, LIST paths, merging of several
//! policies, deny precedence, wrapping TTLs, sudo, `sys/capabilities`.

use std::time::Duration;

use serde_json::Value;

use super::{acl, can, check, policy};
use crate::engine::Operation;
use crate::policy::AclOperation::{self, Create, Delete, List, Patch, Read, Update};
use crate::policy::{Acl, AclRequest, Capability, Policy, PolicyError, Reason, is_root_protected};

#[test]
fn each_operation_needs_its_own_capability() {
    let cases = [
        ("read", Read),
        ("list", List),
        ("update", Update),
        ("create", Create),
        ("patch", Patch),
        ("delete", Delete),
    ];
    for (cap, op) in cases {
        let acl = acl(&[(
            "p",
            &format!("path \"s/*\" {{\n  capabilities = [\"{cap}\"]\n}}\n"),
        )]);
        for (_, other) in cases {
            let d = check(&acl, other, "s/x");
            assert_eq!(d.allowed, other == op, "{cap} rule, {other:?} request");
            if other != op {
                assert_eq!(d.reason, Reason::MissingCapability(other.capability()));
            }
        }
    }
}

#[test]
fn writes_to_missing_targets_need_create() {
    assert_eq!(AclOperation::for_request(Operation::Update, false), Create);
    assert_eq!(AclOperation::for_request(Operation::Update, true), Update);
    assert_eq!(AclOperation::for_request(Operation::Read, false), Read);
    assert_eq!(AclOperation::from(Operation::List), List);
    let acl = acl(&[("p", "path \"kv/*\" {\n  capabilities = [\"update\"]\n}\n")]);
    let op = AclOperation::for_request(Operation::Update, false);
    assert!(!can(&acl, op, "kv/new"));
    assert!(can(
        &acl,
        AclOperation::for_request(Operation::Update, true),
        "kv/old"
    ));
}

#[test]
fn nothing_matching_means_denied_with_deny_capabilities() {
    let acl = acl(&[("p", "path \"secret/*\" {\n  capabilities = [\"read\"]\n}\n")]);
    let d = check(&acl, Read, "sys/mounts");
    assert!(!d.allowed);
    assert_eq!(d.reason, Reason::NoMatchingRule);
    assert_eq!(d.capabilities, vec!["deny"]);
    assert_eq!(d.matched, None);
    assert!(!check(&Acl::new([]).unwrap_or_default(), Read, "anything").allowed);
}

#[test]
fn a_leading_slash_in_the_request_path_is_ignored() {
    let acl = acl(&[(
        "p",
        "path \"secret/foo\" {\n  capabilities = [\"read\"]\n}\n",
    )]);
    assert!(can(&acl, Read, "/secret/foo"));
}

#[test]
fn list_on_a_trailing_slash_path_uses_the_rule_without_the_slash() {
    let acl = acl(&[(
        "p",
        "path \"secret/metadata/app\" {\n  capabilities = [\"list\"]\n}\n",
    )]);
    assert!(can(&acl, List, "secret/metadata/app/"));
    // Only LIST gets that fallback.
    assert!(!can(&acl, Read, "secret/metadata/app/"));
}

#[test]
fn list_with_plus_rule_matches_the_trailing_slash_path() {
    let acl = acl(&[("p", "path \"kv/+\" {\n  capabilities = [\"list\"]\n}\n")]);
    assert!(can(&acl, List, "kv/app/"));
    assert!(!can(&acl, List, "kv/app/deeper/"));
}

#[test]
fn list_cannot_bypass_a_more_specific_deny() {
    // The trimmed path "kv/private" matches "kv/+" (list), the full path
    // "kv/private/" matches the deny glob, which is more specific.
    let acl = acl(&[(
        "p",
        "path \"kv/+\" {\n  capabilities = [\"list\"]\n}\npath \"kv/private/*\" {\n  capabilities = [\"deny\"]\n}\n",
    )]);
    let d = check(&acl, List, "kv/private/");
    assert!(!d.allowed);
    assert_eq!(d.reason, Reason::ExplicitDeny);
    assert!(can(&acl, List, "kv/public/"));
}

#[test]
fn list_prefers_the_most_specific_rule_granting_list() {
    // "kv/app/*" is more specific but has no list; "kv/+" (trimmed form) grants it
    // and nothing denies, so the list-granting rule decides.
    let acl = acl(&[(
        "p",
        "path \"kv/+\" {\n  capabilities = [\"list\"]\n}\npath \"kv/app/*\" {\n  capabilities = [\"read\"]\n}\n",
    )]);
    assert!(can(&acl, List, "kv/app/"));
    assert!(can(&acl, Read, "kv/app/x"));
}

#[test]
fn same_pattern_in_several_policies_unites_capabilities() {
    let acl = acl(&[
        (
            "reader",
            "path \"secret/*\" {\n  capabilities = [\"read\"]\n}\n",
        ),
        (
            "writer",
            "path \"secret/*\" {\n  capabilities = [\"create\", \"update\"]\n}\n",
        ),
        (
            "lister",
            "path \"secret/*\" {\n  capabilities = [\"list\", \"read\"]\n}\n",
        ),
    ]);
    let d = check(&acl, Read, "secret/x");
    assert!(d.allowed);
    assert_eq!(d.capabilities, vec!["create", "list", "read", "update"]);
    assert_eq!(
        d.granting_policies,
        vec!["reader".to_owned(), "lister".to_owned()]
    );
    assert!(can(&acl, Create, "secret/x"));
    assert!(!can(&acl, Delete, "secret/x"));
}

#[test]
fn deny_in_any_policy_wins_for_the_same_pattern_in_either_order() {
    let grant = (
        "grant",
        "path \"secret/x\" {\n  capabilities = [\"read\", \"sudo\"]\n}\n",
    );
    let deny = (
        "deny",
        "path \"secret/x\" {\n  capabilities = [\"deny\"]\n}\n",
    );
    for order in [[grant, deny], [deny, grant]] {
        let acl = acl(&order);
        let d = check(&acl, Read, "secret/x");
        assert!(!d.allowed);
        assert_eq!(d.reason, Reason::ExplicitDeny);
        assert_eq!(d.capabilities, vec!["deny"]);
        assert!(!d.sudo);
    }
}

#[test]
fn a_stanza_with_no_capabilities_shadows_lower_priority_grants() {
    let acl = acl(&[(
        "p",
        "path \"secret/*\" {\n  capabilities = [\"read\"]\n}\npath \"secret/locked\" {}\n",
    )]);
    assert!(!can(&acl, Read, "secret/locked"));
    assert_eq!(acl.capabilities("secret/locked"), vec!["deny"]);
}

#[test]
fn templated_rules_are_skipped_without_identities() {
    let acl = acl(&[(
        "p",
        "path \"secret/{{identity.entity.id}}/*\" {\n  capabilities = [\"read\"]\n}\n",
    )]);
    assert!(!can(&acl, Read, "secret/{{identity.entity.id}}/x"));
}

#[test]
fn root_cannot_be_combined_with_other_policies() {
    let other = policy("dev", "path \"a\" {\n  capabilities = [\"read\"]\n}\n");
    let err = Acl::new([&Policy::root(), &other]).err();
    assert_eq!(err, Some(PolicyError::RootWithOthers));
    let root = Acl::new([&Policy::root()]).unwrap_or_default();
    assert!(root.is_root());
}

#[test]
fn root_is_allowed_everything_with_sudo() {
    let root = Acl::root();
    let data = serde_json::json!({"anything": "goes"});
    for op in [Read, List, Update, Create, Patch, Delete] {
        let d = root
            .allowed(op, "sys/raw/core/keyring", &data)
            .require_sudo();
        assert!(d.allowed && d.sudo && d.root);
        assert_eq!(d.reason, Reason::Root);
        assert_eq!(d.capabilities, vec!["root"]);
    }
    assert_eq!(root.capabilities("any/path"), vec!["root"]);
}

// ---- wrapping TTLs ----

fn wrapping_acl(bounds: &str) -> Acl {
    acl(&[(
        "p",
        &format!(
            "path \"auth/approle/role/my-role/secret-id\" {{\n  capabilities = [\"create\", \"update\"]\n{bounds}}}\n"
        ),
    )])
}

fn wrapped(acl: &Acl, ttl: Option<u64>) -> crate::policy::Decision {
    let data = Value::Null;
    let request = AclRequest::new(Update, "auth/approle/role/my-role/secret-id", &data);
    acl.check(&match ttl {
        Some(secs) => request.wrapped(Duration::from_secs(secs)),
        None => request,
    })
}

#[test]
fn doc_example_min_wrapping_ttl_makes_wrapping_mandatory() {
    // min 1s, max 90s: "This effectively makes response wrapping mandatory for this path"
    let acl = wrapping_acl("  min_wrapping_ttl = \"1s\"\n  max_wrapping_ttl = \"90s\"\n");
    assert_eq!(wrapped(&acl, None).reason, Reason::WrappingRequired);
    assert_eq!(wrapped(&acl, Some(0)).reason, Reason::WrappingRequired);
    assert!(wrapped(&acl, Some(1)).allowed);
    assert!(wrapped(&acl, Some(90)).allowed);
    assert_eq!(wrapped(&acl, Some(91)).reason, Reason::WrappingTtlTooLong);
    let d = wrapped(&acl, Some(30));
    assert_eq!(d.min_wrapping_ttl, Some(Duration::from_secs(1)));
    assert_eq!(d.max_wrapping_ttl, Some(Duration::from_secs(90)));
}

#[test]
fn a_ttl_below_the_minimum_is_refused() {
    let acl = wrapping_acl("  min_wrapping_ttl = \"1m\"\n");
    assert_eq!(wrapped(&acl, Some(59)).reason, Reason::WrappingTtlTooShort);
    assert!(wrapped(&acl, Some(600)).allowed);
}

#[test]
fn merged_wrapping_bounds_keep_the_lowest_values() {
    // "if paths are merged from different stanzas, the lowest value specified
    // for each is the value that will result"
    let a = "path \"w\" {\n  capabilities = [\"read\"]\n  min_wrapping_ttl = \"10s\"\n  max_wrapping_ttl = \"1h\"\n}\n";
    let b = "path \"w\" {\n  capabilities = [\"read\"]\n  min_wrapping_ttl = \"5s\"\n  max_wrapping_ttl = \"10m\"\n}\n";
    let acl = acl(&[("a", a), ("b", b)]);
    let data = Value::Null;
    let d = acl.check(&AclRequest::new(Read, "w", &data).wrapped(Duration::from_secs(7)));
    assert!(d.allowed);
    assert_eq!(d.min_wrapping_ttl, Some(Duration::from_secs(5)));
    assert_eq!(d.max_wrapping_ttl, Some(Duration::from_secs(600)));
}

#[test]
fn merged_bounds_that_cross_deny_everything() {
    let a = "path \"w\" {\n  capabilities = [\"read\"]\n  min_wrapping_ttl = \"10m\"\n}\n";
    let b = "path \"w\" {\n  capabilities = [\"read\"]\n  max_wrapping_ttl = \"1m\"\n}\n";
    let acl = acl(&[("a", a), ("b", b)]);
    let data = Value::Null;
    for secs in [30, 300, 3000] {
        let d = acl.check(&AclRequest::new(Read, "w", &data).wrapped(Duration::from_secs(secs)));
        assert!(!d.allowed, "{secs}");
    }
    let d = acl.check(&AclRequest::new(Read, "w", &data).wrapped(Duration::from_secs(45)));
    assert_eq!(d.reason, Reason::WrappingTtlTooShort);
}

// ---- sudo ----

#[test]
fn root_protected_paths_need_sudo_on_top_of_the_operation() {
    let acl = acl(&[(
        "ops",
        "path \"sys/audit/*\" {\n  capabilities = [\"create\", \"update\", \"sudo\"]\n}\n\
         path \"sys/rotate\" {\n  capabilities = [\"update\"]\n}\n\
         path \"sys/mounts/*\" {\n  capabilities = [\"update\"]\n}\n",
    )]);
    let data = Value::Null;
    let decide = |path: &str| {
        acl.allowed(Update, path, &data)
            .require_sudo_if(is_root_protected(path))
    };
    let audit = decide("sys/audit/file");
    assert!(audit.allowed && audit.sudo);
    let rotate = decide("sys/rotate");
    assert!(!rotate.allowed);
    assert_eq!(rotate.reason, Reason::SudoRequired);
    assert!(decide("sys/mounts/kv").allowed);
}

#[test]
fn sudo_alone_does_not_grant_the_operation() {
    let acl = acl(&[("p", "path \"sys/seal\" {\n  capabilities = [\"sudo\"]\n}\n")]);
    let d = acl.allowed(Update, "sys/seal", &Value::Null).require_sudo();
    assert!(!d.allowed);
    assert!(d.sudo);
    assert_eq!(d.reason, Reason::MissingCapability(Capability::Update));
}

// ---- sys/capabilities ----

#[test]
fn capabilities_report_sorted_names_or_deny() {
    let acl = acl(&[
        (
            "a",
            "path \"secret/*\" {\n  capabilities = [\"update\", \"read\", \"sudo\"]\n}\n",
        ),
        (
            "b",
            "path \"secret/*\" {\n  capabilities = [\"create\"]\n}\npath \"secret/no\" {\n  capabilities = [\"deny\"]\n}\n",
        ),
    ]);
    assert_eq!(
        acl.capabilities("secret/x"),
        vec!["create", "read", "sudo", "update"]
    );
    assert_eq!(acl.capabilities("secret/no"), vec!["deny"]);
    assert_eq!(acl.capabilities("other"), vec!["deny"]);
}

#[test]
fn capabilities_see_the_rule_without_the_trailing_slash() {
    let acl = acl(&[(
        "p",
        "path \"secret/metadata/app\" {\n  capabilities = [\"list\"]\n}\n",
    )]);
    assert_eq!(acl.capabilities("secret/metadata/app/"), vec!["list"]);
}

#[test]
fn decisions_read_well_in_logs() {
    let acl = acl(&[("p", "path \"secret/*\" {\n  capabilities = [\"read\"]\n}\n")]);
    assert_eq!(
        check(&acl, Read, "secret/a").to_string(),
        "allowed by path \"secret/*\": granted"
    );
    assert_eq!(
        check(&acl, Delete, "secret/a").to_string(),
        "denied by path \"secret/*\": the rule lacks the \"delete\" capability"
    );
    assert_eq!(
        check(&acl, Read, "kv/a").to_string(),
        "denied: no policy rule matches the path"
    );
}

#[test]
fn mount_access_counts_any_grant_under_the_mount() {
    let acl = acl(&[(
        "p",
        r#"
path "secret/data/app" { capabilities = ["read"] }
path "other/*" { capabilities = ["deny"] }
path "kv/*" { capabilities = ["list"] }
"#,
    )]);
    assert!(acl.has_access_under("secret/"));
    assert!(acl.has_access_under("kv/"));
    assert!(!acl.has_access_under("other/"));
    assert!(!acl.has_access_under("transit/"));
    let segment = super::acl(&[("s", r#"path "+/config" { capabilities = ["read"] }"#)]);
    assert!(
        segment.has_access_under("transit/"),
        "+/config matches transit/config"
    );
    assert!(Acl::root().has_access_under("anything/"));
    let none = super::acl(&[("q", r#"path "a/b" { capabilities = ["read"] }"#)]);
    assert!(!none.has_access_under("secret/"));
}
