//! Behaviour tests across parser and evaluator, one file per concern. Doc
//! examples are quoted from
//! <https://developer.hashicorp.com/vault/docs/concepts/policies>.

mod builtin;
mod evaluate;
mod parameters;
mod parse;
mod priority;
mod properties;

use serde_json::Value;

use super::{Acl, AclOperation, Decision, Policy};

/// Parses or fails the test with the parser's message.
fn policy(name: &str, text: &str) -> Policy {
    match Policy::parse(name, text) {
        Ok(p) => p,
        Err(e) => panic!("policy {name} should parse: {e}"),
    }
}

/// An ACL of the given `(name, text)` policies.
fn acl(policies: &[(&str, &str)]) -> Acl {
    let parsed: Vec<Policy> = policies.iter().map(|(n, t)| policy(n, t)).collect();
    match Acl::new(&parsed) {
        Ok(acl) => acl,
        Err(e) => panic!("ACL should build: {e}"),
    }
}

/// The parse error of `text` (as policy `p`), as displayed.
fn parse_error(text: &str) -> String {
    match Policy::parse("p", text) {
        Ok(_) => panic!("expected a parse error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn check(acl: &Acl, op: AclOperation, path: &str) -> Decision {
    acl.allowed(op, path, &Value::Null)
}

fn can(acl: &Acl, op: AclOperation, path: &str) -> bool {
    check(acl, op, path).allowed
}
