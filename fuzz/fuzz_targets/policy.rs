//! ACL policies: text (HCL, or JSON when it starts with `{`) through
//! `Policy::parse`; a policy that parses is merged with the default policy
//! into an `Acl` and asked about paths made from its own patterns (`+` and
//! `*` filled in) and a few fixed ones, with a body that touches parameter
//! constraints.
//!
//! Finds panics and runaway work in the HCL and JSON syntax layers, the
//! decoder (capabilities, parameters, wrapping TTLs), path patterns and
//! their priorities, glob matching and the merge.

#![no_main]

use coffer_core::engine::Operation;
use coffer_core::policy::{Acl, AclOperation, AclRequest, Policy, default_policy};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use std::time::Duration;

const FIXED_PATHS: [&str; 5] = [
    "secret/data/app",
    "sys/policies/acl/x",
    "auth/token/lookup-self",
    "a/b/c/",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::parse("fuzz", text) else {
        return;
    };
    let default = default_policy().expect("the built-in default policy parses");
    let Ok(acl) = Acl::new([&policy, &default]) else {
        return;
    };
    let body = json!({"a": "b", "list": ["x", "y"], "n": 1, "nested": {"k": "v"}});
    let mut paths: Vec<String> = FIXED_PATHS.iter().map(|p| (*p).to_owned()).collect();
    for rule in policy.rules().iter().take(16) {
        let p = rule.pattern.as_str();
        paths.push(p.replace(['+', '*'], "x"));
        paths.push(p.replace('+', "seg").replace('*', ""));
    }
    for path in &paths {
        let _ = acl.capabilities(path);
        let _ = acl.has_access_under(path);
        for op in [
            Operation::Read,
            Operation::Update,
            Operation::List,
            Operation::Delete,
        ] {
            let op = AclOperation::for_request(op, false);
            let _ = acl.check(&AclRequest::new(op, path, &body));
            let _ = acl.check(&AclRequest::new(op, path, &body).wrapped(Duration::from_secs(90)));
        }
    }
});
