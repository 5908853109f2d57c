//! Parameter constraints of a path rule: `required_parameters`,
//! `allowed_parameters`, `denied_parameters`, and how a request body is held
//! against them.
//!
//! Semantics (<https://developer.hashicorp.com/vault/docs/concepts/policies#parameter-constraints>,
//! plus the list/comma handling of current Vault releases):
//! - required names must be present as keys of the request data;
//! - a request without data passes the allowed/denied checks;
//! - denied wins over allowed; `"*"` in denied refuses any parameter;
//! - with allowed set, a key not listed is refused unless `"*"` is listed;
//! - an empty value list means "any value"; otherwise a value must match one
//!   entry: strings by [`glob_match`], booleans, numbers and null by equality
//!   (no cross-type matching: `"false"` and `false` are different values);
//! - a JSON array value, or a comma-separated string, is taken element-wise:
//!   allowed only if every element is allowed, denied if any element is denied
//!   (stricter than Vault for allowed strings: a glob matching the whole
//!   comma-separated string does not suffice, see `is_allowed`);
//! - keys compare case-insensitively (Vault lowercases policy keys); values of
//!   `policies`/`token_policies` are lowercased before matching, as Vault does,
//!   because policy names are stored lowercase.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

/// One entry of an allowed or denied value list.
#[derive(Debug, Clone, PartialEq)]
pub enum ParameterValue {
    /// A string, with `*` as a prefix and/or suffix glob (see [`glob_match`]).
    String(String),
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(Number),
    /// `null`.
    Null,
}

/// The parameter constraints of one path rule (or of several merged rules
/// with the same pattern).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParameterRules {
    /// Names that must be present in the request data.
    pub required: Vec<String>,
    /// Lowercased name → values allowed (empty = any value). Empty map = no constraint.
    pub allowed: BTreeMap<String, Vec<ParameterValue>>,
    /// Lowercased name → values denied (empty = any value). Empty map = no constraint.
    pub denied: BTreeMap<String, Vec<ParameterValue>>,
}

/// Why a request's data broke a rule's parameter constraints. Carries the
/// parameter *name* only, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterViolation {
    /// A `required_parameters` name is absent.
    MissingRequired(String),
    /// A parameter (or `*`, for "all parameters") is in `denied_parameters`.
    Denied(String),
    /// A parameter, or its value, is not in `allowed_parameters`.
    NotAllowed(String),
}

impl ParameterRules {
    /// Whether no constraint is set at all.
    pub fn is_empty(&self) -> bool {
        self.required.is_empty() && self.allowed.is_empty() && self.denied.is_empty()
    }

    /// Combines the constraints of two rules with the same pattern, as Vault
    /// does: required names are united; for allowed and denied, keys are
    /// united and, for a key on both sides, an empty list (any value) wins,
    /// otherwise the value lists are concatenated.
    pub fn merge(&mut self, other: &ParameterRules) {
        for name in &other.required {
            if !self.required.contains(name) {
                self.required.push(name.clone());
            }
        }
        merge_map(&mut self.allowed, &other.allowed);
        merge_map(&mut self.denied, &other.denied);
    }

    /// Holds request data (a JSON object, or null for none) against the rules.
    pub fn check(&self, data: &Value) -> Result<(), ParameterViolation> {
        let empty = Map::new();
        let data = data.as_object().unwrap_or(&empty);

        // Vault lowercases the required name but looks the key up as sent.
        if let Some(missing) = self
            .required
            .iter()
            .find(|name| !data.contains_key(&name.to_lowercase()))
        {
            return Err(ParameterViolation::MissingRequired(missing.clone()));
        }
        if data.is_empty() {
            return Ok(());
        }

        if !self.denied.is_empty() {
            if self.denied.contains_key("*") {
                return Err(ParameterViolation::Denied("*".to_owned()));
            }
            for (name, value) in data {
                let key = name.to_lowercase();
                if let Some(list) = self.denied.get(&key)
                    && is_denied(&normalize(&key, value), list)
                {
                    return Err(ParameterViolation::Denied(name.clone()));
                }
            }
        }

        if self.allowed.is_empty() {
            return Ok(());
        }
        let any_name = self.allowed.contains_key("*");
        for (name, value) in data {
            let key = name.to_lowercase();
            match self.allowed.get(&key) {
                Some(list) if !is_allowed(&normalize(&key, value), list) => {
                    return Err(ParameterViolation::NotAllowed(name.clone()));
                }
                Some(_) => {}
                None if any_name => {}
                None => return Err(ParameterViolation::NotAllowed(name.clone())),
            }
        }
        Ok(())
    }
}

/// Vault's value glob: `*x` matches values ending in `x`, `x*` values starting
/// with `x`, `*x*` values containing `x`; anything else (including a lone `*`)
/// must be equal.
pub fn glob_match(pattern: &str, value: &str) -> bool {
    if pattern.len() < 2 {
        return pattern == value;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), Some(_)) => {
            let middle = rest.strip_suffix('*').unwrap_or(rest);
            value.contains(middle)
        }
        (Some(suffix), None) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => pattern == value,
    }
}

fn merge_map(
    into: &mut BTreeMap<String, Vec<ParameterValue>>,
    from: &BTreeMap<String, Vec<ParameterValue>>,
) {
    for (key, values) in from {
        match into.get_mut(key) {
            Some(existing) if existing.is_empty() => {}
            Some(existing) if values.is_empty() => existing.clear(),
            Some(existing) => existing.extend(values.iter().cloned()),
            None => {
                into.insert(key.clone(), values.clone());
            }
        }
    }
}

/// Policy names are stored lowercase, so a mixed-case name must not slip past
/// a constraint on them.
fn normalize(key: &str, value: &Value) -> Value {
    if key != "policies" && key != "token_policies" {
        return value.clone();
    }
    match value {
        Value::String(s) => Value::String(s.to_lowercase()),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Value::String(s.to_lowercase()),
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn is_allowed(value: &Value, list: &[ParameterValue]) -> bool {
    if list.is_empty() {
        return true;
    }
    match value {
        Value::Array(items) => items.iter().all(|item| in_list(item, list)),
        // A comma-separated string is allowed only if every element is (or if
        // the policy lists the whole string literally). Unlike Vault, a glob
        // matching the whole string is not enough: "baz/*" must not let
        // "baz/x,admin" through to a field the backend splits on commas.
        Value::String(s) => match comma_pieces(s) {
            Some(pieces) => {
                pieces.iter().all(|piece| in_list(piece, list))
                    || list
                        .iter()
                        .any(|e| matches!(e, ParameterValue::String(p) if p == s))
            }
            None => in_list(value, list),
        },
        _ => in_list(value, list),
    }
}

fn is_denied(value: &Value, list: &[ParameterValue]) -> bool {
    if list.is_empty() || in_list(value, list) {
        return true;
    }
    match value {
        Value::Array(items) => items.iter().any(|item| in_list(item, list)),
        Value::String(s) => {
            comma_pieces(s).is_some_and(|pieces| pieces.iter().any(|p| in_list(p, list)))
        }
        _ => false,
    }
}

/// The trimmed pieces of a comma-separated string, if it has a comma. Vault
/// assumes any string may be a comma-separated list field; a string without a
/// comma is a single value and was already compared whole. Unlike Vault, an
/// empty string is never read as an empty list (that would let `""` past an
/// allowed list that does not name it).
fn comma_pieces(s: &str) -> Option<Vec<Value>> {
    s.contains(',').then(|| {
        s.split(',')
            .map(|piece| Value::String(piece.trim().to_owned()))
            .collect()
    })
}

fn in_list(value: &Value, list: &[ParameterValue]) -> bool {
    list.iter().any(|entry| match (entry, value) {
        (ParameterValue::String(p), Value::String(v)) => glob_match(p, v),
        (ParameterValue::Bool(p), Value::Bool(v)) => p == v,
        (ParameterValue::Number(p), Value::Number(v)) => numbers_equal(p, v),
        (ParameterValue::Null, Value::Null) => true,
        _ => false,
    })
}

fn numbers_equal(a: &Number, b: &Number) -> bool {
    match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => a.as_f64().is_some_and(|x| b.as_f64() == Some(x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &str) -> ParameterValue {
        ParameterValue::String(v.to_owned())
    }

    fn map(entries: &[(&str, Vec<ParameterValue>)]) -> BTreeMap<String, Vec<ParameterValue>> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn value_globs_match_prefix_suffix_and_infix() {
        assert!(glob_match("foo-*", "foo-bar"));
        assert!(!glob_match("foo-*", "bar-foo"));
        assert!(glob_match("*-prod", "db-prod"));
        assert!(!glob_match("*-prod", "db-prod-2"));
        assert!(glob_match("*mid*", "a-mid-b"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        // A lone "*" is not a glob: Vault compares it literally.
        assert!(glob_match("*", "*"));
        assert!(!glob_match("*", "anything"));
    }

    #[test]
    fn merge_unites_keys_and_lets_any_value_win() {
        let mut a = ParameterRules {
            required: vec!["name".into()],
            allowed: map(&[("bar", vec![s("zip")]), ("any", vec![])]),
            denied: map(&[]),
        };
        let b = ParameterRules {
            required: vec!["name".into(), "id".into()],
            allowed: map(&[
                ("bar", vec![s("zap")]),
                ("any", vec![s("x")]),
                ("new", vec![]),
            ]),
            denied: map(&[("bad", vec![])]),
        };
        a.merge(&b);
        assert_eq!(a.required, vec!["name".to_owned(), "id".to_owned()]);
        assert_eq!(a.allowed["bar"], vec![s("zip"), s("zap")]);
        assert!(a.allowed["any"].is_empty());
        assert!(a.allowed["new"].is_empty());
        assert!(a.denied["bad"].is_empty());
    }

    #[test]
    fn numbers_compare_by_value_and_never_against_strings() {
        let rules = ParameterRules {
            allowed: map(&[("n", vec![ParameterValue::Number(5.into())])]),
            ..Default::default()
        };
        assert!(rules.check(&json!({"n": 5})).is_ok());
        assert!(rules.check(&json!({"n": 5.0})).is_ok());
        assert!(rules.check(&json!({"n": "5"})).is_err());
    }

    #[test]
    fn policy_names_are_matched_case_insensitively() {
        let rules = ParameterRules {
            denied: map(&[("token_policies", vec![s("admin")])]),
            ..Default::default()
        };
        assert!(rules.check(&json!({"token_policies": "Admin"})).is_err());
        assert!(
            rules
                .check(&json!({"token_policies": ["dev", "ADMIN"]}))
                .is_err()
        );
        assert!(rules.check(&json!({"token_policies": ["dev"]})).is_ok());
    }

    #[test]
    fn an_empty_string_is_not_read_as_an_empty_list() {
        let rules = ParameterRules {
            allowed: map(&[("bar", vec![s("zip")])]),
            ..Default::default()
        };
        assert_eq!(
            rules.check(&json!({"bar": ""})),
            Err(ParameterViolation::NotAllowed("bar".into()))
        );
    }
}
