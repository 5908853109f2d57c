//! The built-in policies and the names they reserve.

use serde_json::{Value, json};

use super::policy;
use crate::policy::AclOperation::{Create, Delete, List, Read, Update};
use crate::policy::{
    Acl, DEFAULT_POLICY_TEXT, Policy, default_policy, is_assignable, is_deletable, is_writable,
    response_wrapping_policy,
};

fn default_acl() -> Acl {
    let default = match default_policy() {
        Ok(p) => p,
        Err(e) => panic!("the default policy must parse: {e}"),
    };
    Acl::new([&default]).unwrap_or_default()
}

#[test]
fn default_policy_lets_a_token_manage_itself() {
    let acl = default_acl();
    let none = Value::Null;
    assert!(acl.allowed(Read, "auth/token/lookup-self", &none).allowed);
    assert!(
        acl.allowed(Update, "auth/token/renew-self", &json!({"increment": "1h"}))
            .allowed
    );
    assert!(acl.allowed(Update, "auth/token/revoke-self", &none).allowed);
    assert!(
        acl.allowed(Update, "sys/capabilities-self", &json!({"paths": ["a"]}))
            .allowed
    );
    assert!(acl.allowed(Update, "sys/leases/renew", &none).allowed);
    assert!(acl.allowed(Update, "sys/leases/lookup", &none).allowed);
    assert!(
        acl.allowed(Read, "sys/internal/ui/resultant-acl", &none)
            .allowed
    );
}

#[test]
fn default_policy_grants_cubbyhole_wrapping_and_hashing() {
    let acl = default_acl();
    let none = Value::Null;
    for op in [Create, Read, Update, Delete] {
        assert!(acl.allowed(op, "cubbyhole/notes", &none).allowed, "{op:?}");
    }
    assert!(acl.allowed(List, "cubbyhole/", &none).allowed);
    for path in [
        "sys/wrapping/wrap",
        "sys/wrapping/lookup",
        "sys/wrapping/unwrap",
    ] {
        assert!(acl.allowed(Update, path, &none).allowed, "{path}");
    }
    assert!(acl.allowed(Update, "sys/tools/hash", &none).allowed);
    assert!(
        acl.allowed(Update, "sys/tools/hash/sha2-512", &none)
            .allowed
    );
    assert!(
        acl.allowed(Read, "identity/oidc/provider/default/authorize", &none)
            .allowed
    );
}

#[test]
fn default_policy_grants_lookup_self_but_not_secret_reads() {
    let acl = default_acl();
    let none = Value::Null;
    assert!(acl.allowed(Read, "auth/token/lookup-self", &none).allowed);
    assert!(!acl.allowed(Read, "secret/data/app", &none).allowed);
    assert!(!acl.allowed(List, "secret/metadata/", &none).allowed);
    assert!(!acl.allowed(Read, "sys/mounts", &none).allowed);
    assert!(!acl.allowed(Update, "sys/policies/acl/admin", &none).allowed);
    assert!(!acl.allowed(Update, "auth/token/create", &none).allowed);
    assert!(!acl.allowed(Read, "auth/token/lookup", &none).allowed);
    assert_eq!(acl.capabilities("secret/data/app"), vec!["deny"]);
    assert_eq!(acl.capabilities("auth/token/lookup-self"), vec!["read"]);
}

#[test]
fn default_policy_text_is_what_the_policy_reads_back() {
    let default = default_policy().ok();
    assert_eq!(
        default.as_ref().map(Policy::text),
        Some(DEFAULT_POLICY_TEXT)
    );
    assert_eq!(default.as_ref().map(Policy::name), Some("default"));
    // Its identity rules are templated and kept for later, not evaluated now.
    let templated = default
        .iter()
        .flat_map(|p| p.rules())
        .filter(|r| r.pattern.is_templated())
        .count();
    assert_eq!(templated, 2);
}

#[test]
fn default_policy_combines_with_others() {
    let dev = policy(
        "dev",
        "path \"secret/data/*\" {\n  capabilities = [\"read\"]\n}\n",
    );
    let default = default_policy().ok();
    let mut policies: Vec<&Policy> = default.iter().collect();
    policies.push(&dev);
    let acl = Acl::new(policies).unwrap_or_default();
    let none = Value::Null;
    assert!(acl.allowed(Read, "secret/data/app", &none).allowed);
    assert!(acl.allowed(Read, "auth/token/lookup-self", &none).allowed);
}

#[test]
fn response_wrapping_policy_only_reaches_the_wrapped_response() {
    let wrapping = response_wrapping_policy().ok();
    let acl = Acl::new(wrapping.iter()).unwrap_or_default();
    let none = Value::Null;
    assert!(acl.allowed(Read, "cubbyhole/response", &none).allowed);
    assert!(acl.allowed(Update, "sys/wrapping/unwrap", &none).allowed);
    assert!(!acl.allowed(Read, "cubbyhole/other", &none).allowed);
    assert!(!acl.allowed(Read, "auth/token/lookup-self", &none).allowed);
}

#[test]
fn root_is_fixed_and_default_cannot_be_deleted() {
    assert!(!is_writable("root"));
    assert!(!is_writable(" Root "));
    assert!(!is_deletable("root"));
    assert!(is_writable("default"));
    assert!(!is_deletable("default"));
    assert!(!is_writable("response-wrapping"));
    assert!(!is_assignable("response-wrapping"));
    assert!(is_writable("dev") && is_deletable("dev") && is_assignable("dev"));
    assert!(Policy::parse("root", "").is_err());
    let root = Policy::root();
    assert!(root.is_root() && root.rules().is_empty() && root.text().is_empty());
}

#[test]
fn a_user_policy_named_like_root_gains_nothing() {
    // Only Policy::root() makes a root ACL; the name alone is refused at parse.
    let err = Policy::parse("ROOT", "path \"*\" {\n  capabilities = [\"sudo\"]\n}\n").err();
    assert!(err.is_some());
}
