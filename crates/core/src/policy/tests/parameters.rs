//! Parameter constraints, with the documentation's examples
//! (<https://developer.hashicorp.com/vault/docs/concepts/policies#parameter-constraints>).

use serde_json::{Value, json};

use super::acl;
use crate::policy::AclOperation::{Create, Delete, List, Read, Update};
use crate::policy::{Acl, AclOperation, ParameterViolation, Reason};

fn one(path: &str, body: &str) -> Acl {
    acl(&[("p", &format!("path \"{path}\" {{\n{body}}}\n"))])
}

fn verdict(acl: &Acl, op: AclOperation, path: &str, data: Value) -> Result<(), Reason> {
    let d = acl.allowed(op, path, &data);
    if d.allowed { Ok(()) } else { Err(d.reason) }
}

fn violation(v: ParameterViolation) -> Result<(), Reason> {
    Err(Reason::Parameter(v))
}

#[test]
fn doc_example_required_parameters_must_all_be_present() {
    let acl = one(
        "secret/profile",
        "  capabilities = [\"create\"]\n  required_parameters = [\"name\", \"id\"]\n",
    );
    let path = "secret/profile";
    assert_eq!(
        verdict(&acl, Create, path, json!({"name": "n", "id": 1})),
        Ok(())
    );
    assert_eq!(
        verdict(&acl, Create, path, json!({"name": "n"})),
        violation(ParameterViolation::MissingRequired("id".into()))
    );
    assert!(verdict(&acl, Create, path, Value::Null).is_err());
}

#[test]
fn doc_example_empty_value_list_allows_any_value_of_only_that_parameter() {
    // "The password value can be anything. However, the user cannot update
    // other parameter values such as token_ttl."
    let acl = one(
        "auth/userpass/users/*",
        "  capabilities = [\"update\"]\n  allowed_parameters = {\n    \"password\" = []\n  }\n",
    );
    let path = "auth/userpass/users/alice";
    assert_eq!(
        verdict(&acl, Update, path, json!({"password": "anything"})),
        Ok(())
    );
    assert_eq!(
        verdict(
            &acl,
            Update,
            path,
            json!({"password": "x", "token_ttl": "1h"})
        ),
        violation(ParameterViolation::NotAllowed("token_ttl".into()))
    );
}

#[test]
fn doc_example_populated_value_list_allows_only_those_values() {
    let acl = one(
        "transit/keys/*",
        "  capabilities = [\"create\", \"update\"]\n  allowed_parameters = {\n    \"auto_rotate_period\" = [\"8h\", \"24h\", \"5d\"]\n  }\n",
    );
    let path = "transit/keys/app";
    assert_eq!(
        verdict(&acl, Update, path, json!({"auto_rotate_period": "24h"})),
        Ok(())
    );
    assert_eq!(
        verdict(&acl, Update, path, json!({"auto_rotate_period": "1h"})),
        violation(ParameterViolation::NotAllowed("auto_rotate_period".into()))
    );
    // No data at all passes the allowed/denied checks.
    assert_eq!(verdict(&acl, Update, path, json!({})), Ok(()));
}

#[test]
fn doc_example_star_key_opens_the_other_parameters() {
    // "bar" only "zip" or "zap", "but any other parameters may be created with any value"
    let acl = one(
        "secret/foo",
        "  capabilities = [\"create\"]\n  allowed_parameters = {\n    \"bar\" = [\"zip\", \"zap\"]\n    \"*\"   = []\n  }\n",
    );
    assert_eq!(
        verdict(&acl, Create, "secret/foo", json!({"bar": "zap", "x": 1})),
        Ok(())
    );
    assert!(verdict(&acl, Create, "secret/foo", json!({"bar": "zop"})).is_err());
}

#[test]
fn doc_example_denied_empty_list_denies_the_parameter_entirely() {
    let acl = one(
        "auth/userpass/users/*",
        "  capabilities = [\"update\"]\n  denied_parameters = {\n    \"token_policies\" = []\n    \"policies\" = []\n  }\n",
    );
    let path = "auth/userpass/users/bob";
    assert_eq!(
        verdict(&acl, Update, path, json!({"password": "p"})),
        Ok(())
    );
    assert_eq!(
        verdict(
            &acl,
            Update,
            path,
            json!({"password": "p", "policies": "default"})
        ),
        violation(ParameterViolation::Denied("policies".into()))
    );
}

#[test]
fn doc_example_denied_values_block_only_those_values() {
    let acl = one(
        "auth/token/roles/*",
        "  capabilities = [\"create\", \"update\"]\n  denied_parameters = {\n    \"allowed_policies\" = [\"admin\"]\n  }\n",
    );
    let path = "auth/token/roles/r";
    assert_eq!(
        verdict(&acl, Update, path, json!({"allowed_policies": "dev"})),
        Ok(())
    );
    assert!(verdict(&acl, Update, path, json!({"allowed_policies": "admin"})).is_err());
    // A list containing the denied value, or a comma-separated string, is denied too.
    assert!(
        verdict(
            &acl,
            Update,
            path,
            json!({"allowed_policies": ["dev", "admin"]})
        )
        .is_err()
    );
    assert!(
        verdict(
            &acl,
            Update,
            path,
            json!({"allowed_policies": "dev, admin"})
        )
        .is_err()
    );
}

#[test]
fn doc_example_denied_star_refuses_every_parameter() {
    let acl = one(
        "transit/keys/*",
        "  capabilities = [\"create\", \"update\"]\n  denied_parameters = {\n    \"*\" = []\n  }\n",
    );
    assert_eq!(verdict(&acl, Create, "transit/keys/k", Value::Null), Ok(()));
    assert_eq!(
        verdict(&acl, Create, "transit/keys/k", json!({"type": "rsa-2048"})),
        violation(ParameterViolation::Denied("*".into()))
    );
}

#[test]
fn denied_takes_precedence_over_allowed() {
    let acl = one(
        "secret/foo",
        "  capabilities = [\"create\"]\n  allowed_parameters = {\n    \"bar\" = []\n  }\n  denied_parameters = {\n    \"bar\" = [\"zip\"]\n  }\n",
    );
    assert_eq!(
        verdict(&acl, Create, "secret/foo", json!({"bar": "zap"})),
        Ok(())
    );
    assert_eq!(
        verdict(&acl, Create, "secret/foo", json!({"bar": "zip"})),
        violation(ParameterViolation::Denied("bar".into()))
    );
}

#[test]
fn doc_example_value_globs_match_prefixes_and_suffixes() {
    let acl = one(
        "secret/foo",
        "  capabilities = [\"create\"]\n  allowed_parameters = {\n    \"bar\" = [\"foo-*\", \"*-suffix\"]\n  }\n",
    );
    assert_eq!(
        verdict(&acl, Create, "secret/foo", json!({"bar": "foo-1"})),
        Ok(())
    );
    assert_eq!(
        verdict(&acl, Create, "secret/foo", json!({"bar": "x-suffix"})),
        Ok(())
    );
    assert!(verdict(&acl, Create, "secret/foo", json!({"bar": "bar-foo-1"})).is_err());
}

#[test]
fn doc_limitation_comma_separated_values_are_checked_element_wise() {
    // The documentation warns that "baz/quux,wibble,wobble,wubble" slips past
    // allowed "baz/*". Coffer checks each element of a comma-separated string
    // (Vault still lets a whole-string glob match through).
    let acl = one(
        "secret/foo",
        "  capabilities = [\"create\", \"update\", \"patch\"]\n  allowed_parameters = {\n    \"bar\" = [\"baz/*\"]\n  }\n",
    );
    let path = "secret/foo";
    assert_eq!(
        verdict(&acl, Update, path, json!({"bar": "baz/quux"})),
        Ok(())
    );
    assert_eq!(
        verdict(&acl, Update, path, json!({"bar": "baz/a, baz/b"})),
        Ok(())
    );
    assert!(
        verdict(
            &acl,
            Update,
            path,
            json!({"bar": "baz/quux,wibble,wobble,wubble"})
        )
        .is_err()
    );
    assert_eq!(
        verdict(&acl, Update, path, json!({"bar": ["baz/a", "baz/b"]})),
        Ok(())
    );
    assert!(verdict(&acl, Update, path, json!({"bar": ["baz/a", "wibble"]})).is_err());
    // A comma-separated string the policy lists literally stays allowed.
    let acl = one(
        "s",
        "  capabilities = [\"update\"]\n  allowed_parameters = {\n    \"tags\" = [\"a,b\"]\n  }\n",
    );
    assert_eq!(verdict(&acl, Update, "s", json!({"tags": "a,b"})), Ok(()));
    assert!(verdict(&acl, Update, "s", json!({"tags": "a,c"})).is_err());
}

#[test]
fn doc_limitation_default_values_are_not_considered() {
    // `no_store` denied as false/"false" only bites when the parameter is sent.
    let body = "  capabilities = [\"create\"]\n  denied_parameters = {\n    \"no_store\" = [false, \"false\"]\n  }\n";
    let acl = one("secret/foo", body);
    assert!(
        verdict(
            &acl,
            Create,
            "secret/foo",
            json!({"no_store": "false", "value": "bar"})
        )
        .is_err()
    );
    assert!(verdict(&acl, Create, "secret/foo", json!({"no_store": false})).is_err());
    assert_eq!(
        verdict(&acl, Create, "secret/foo", json!({"value": "bar"})),
        Ok(())
    );
    // The documented fix: require the parameter.
    let acl = one(
        "secret/foo",
        &format!("{body}  required_parameters = [\"no_store\"]\n"),
    );
    assert_eq!(
        verdict(&acl, Create, "secret/foo", json!({"value": "bar"})),
        violation(ParameterViolation::MissingRequired("no_store".into()))
    );
}

#[test]
fn parameter_names_compare_case_insensitively() {
    let acl = one(
        "s",
        "  capabilities = [\"update\"]\n  allowed_parameters = {\n    \"Foo\" = [\"x\"]\n  }\n",
    );
    assert_eq!(verdict(&acl, Update, "s", json!({"FOO": "x"})), Ok(()));
    assert!(verdict(&acl, Update, "s", json!({"foo": "y"})).is_err());
}

#[test]
fn reads_are_checked_but_list_and_delete_are_not() {
    let acl = one(
        "s/*",
        "  capabilities = [\"read\", \"list\", \"delete\"]\n  denied_parameters = {\n    \"*\" = []\n  }\n",
    );
    let data = json!({"version": "2"});
    assert!(verdict(&acl, Read, "s/x", data.clone()).is_err());
    assert_eq!(verdict(&acl, List, "s/", data.clone()), Ok(()));
    assert_eq!(verdict(&acl, Delete, "s/x", data), Ok(()));
}

#[test]
fn merged_constraints_keep_the_restrictions_of_each_policy() {
    // As in Vault: constraints merge by key, they are not dropped because
    // another policy's stanza for the same pattern had none.
    let acl = acl(&[
        ("open", "path \"s\" {\n  capabilities = [\"update\"]\n}\n"),
        (
            "strict",
            "path \"s\" {\n  capabilities = [\"update\"]\n  allowed_parameters = {\n    \"a\" = [\"1\"]\n  }\n}\n",
        ),
        (
            "wider",
            "path \"s\" {\n  capabilities = [\"update\"]\n  allowed_parameters = {\n    \"a\" = [\"2\"]\n    \"b\" = []\n  }\n}\n",
        ),
    ]);
    assert_eq!(
        verdict(&acl, Update, "s", json!({"a": "1", "b": "z"})),
        Ok(())
    );
    assert_eq!(verdict(&acl, Update, "s", json!({"a": "2"})), Ok(()));
    assert!(verdict(&acl, Update, "s", json!({"a": "3"})).is_err());
    assert!(verdict(&acl, Update, "s", json!({"c": "1"})).is_err());
}

#[test]
fn violations_name_the_parameter_but_never_its_value() {
    let acl = one(
        "s",
        "  capabilities = [\"update\"]\n  denied_parameters = {\n    \"password\" = [\"*\"]\n  }\n  allowed_parameters = {\n    \"password\" = [\"ok-*\"]\n  }\n",
    );
    let d = acl.allowed(Update, "s", &json!({"password": "hunter2"}));
    assert!(!d.allowed);
    let logged = format!("{d} {d:?}");
    assert!(logged.contains("password"), "{logged}");
    assert!(!logged.contains("hunter2"), "{logged}");
}
