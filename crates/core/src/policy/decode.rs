//! [`Entry`] tree → [`PathRule`]s: the keys and values the policy language
//! accepts, each refusal naming its line.
//!
//! Top level: `name` (ignored, as Vault does) and `path` stanzas. In a stanza:
//! `capabilities`, `policy` (legacy), `required_parameters`,
//! `allowed_parameters`, `denied_parameters`, `min_wrapping_ttl`,
//! `max_wrapping_ttl`, `subscribe_event_types`, `comment`. Vault Enterprise's
//! `control_group` and `mfa_methods` are refused rather than ignored: dropping
//! them would grant without the approval or MFA the author asked for.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::capability::{Capabilities, Capability, legacy_policy};
use super::error::{PolicyError, did_you_mean, echo};
use super::parameters::{ParameterRules, ParameterValue};
use super::pattern::PathPattern;
use super::rules::PathRule;
use super::tree::{Entry, Item, Node};

const TOP_LEVEL_KEYS: [&str; 2] = ["name", "path"];

const RULE_KEYS: [&str; 9] = [
    "capabilities",
    "policy",
    "required_parameters",
    "allowed_parameters",
    "denied_parameters",
    "min_wrapping_ttl",
    "max_wrapping_ttl",
    "subscribe_event_types",
    "comment",
];

const ENTERPRISE_KEYS: [&str; 2] = ["control_group", "mfa_methods"];

/// Decodes the entries of policy `policy` into its rules, in text order.
pub(super) fn rules(policy: &str, entries: Vec<Entry>) -> Result<Vec<PathRule>, PolicyError> {
    let at = At { policy };
    let mut rules = Vec::new();
    for entry in entries {
        match entry.key.as_str() {
            "name" => {
                if !matches!(entry.value, Node::Str(_)) {
                    return Err(at.invalid(entry.line, "", "name must be a string"));
                }
            }
            "path" => path_stanzas(&at, entry, &mut rules)?,
            other => {
                return Err(at.invalid(entry.line, "", unknown_key(other, &TOP_LEVEL_KEYS)));
            }
        }
    }
    // JSON objects come back sorted by key; report rules in text order.
    rules.sort_by_key(|r| r.line);
    Ok(rules)
}

/// Error construction for one policy.
struct At<'a> {
    policy: &'a str,
}

impl At<'_> {
    fn invalid(&self, line: usize, context: &str, message: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            policy: self.policy.to_owned(),
            line,
            context: context.to_owned(),
            message: message.into(),
        }
    }
}

/// `path "p" { }` (one label), `{"path": {"p": {}}}` or `{"path": [{"p": {}}]}`.
fn path_stanzas(at: &At<'_>, entry: Entry, out: &mut Vec<PathRule>) -> Result<(), PolicyError> {
    if entry.block && entry.labels.len() != 1 {
        return Err(at.invalid(entry.line, "", label_message()));
    }
    match (entry.labels.as_slice(), entry.value) {
        ([pattern], Node::Map(body)) => {
            out.push(rule(at, pattern, entry.line, body)?);
        }
        ([], Node::Map(stanzas)) => {
            for stanza in stanzas {
                out.push(labelled_rule(at, stanza)?);
            }
        }
        ([], Node::List(items)) => {
            for item in items {
                let Node::Map(stanzas) = item.node else {
                    return Err(at.invalid(item.line, "", path_shape_message()));
                };
                for stanza in stanzas {
                    out.push(labelled_rule(at, stanza)?);
                }
            }
        }
        _ => return Err(at.invalid(entry.line, "", path_shape_message())),
    }
    Ok(())
}

fn label_message() -> &'static str {
    "a path stanza takes exactly one label: path \"secret/*\" { ... }"
}

fn path_shape_message() -> &'static str {
    "path must be a stanza: path \"secret/*\" { capabilities = [\"read\"] }"
}

/// A JSON-style stanza: the key is the pattern, the value the body (an object,
/// or HCL1-JSON's list of objects).
fn labelled_rule(at: &At<'_>, stanza: Entry) -> Result<PathRule, PolicyError> {
    let context = format!("path {}", echo(&stanza.key));
    match stanza.value {
        Node::Map(body) => rule(at, &stanza.key, stanza.line, body),
        Node::List(items)
            if !items.is_empty() && items.iter().all(|i| matches!(i.node, Node::Map(_))) =>
        {
            let body = items
                .into_iter()
                .flat_map(|item| match item.node {
                    Node::Map(entries) => entries,
                    _ => Vec::new(),
                })
                .collect();
            rule(at, &stanza.key, stanza.line, body)
        }
        other => Err(at.invalid(
            stanza.line,
            &context,
            format!("must be an object of settings, not {}", other.describe()),
        )),
    }
}

fn rule(
    at: &At<'_>,
    pattern: &str,
    line: usize,
    body: Vec<Entry>,
) -> Result<PathRule, PolicyError> {
    let context = format!("path {}", echo(pattern));
    let pattern = PathPattern::parse(pattern).map_err(|e| at.invalid(line, &context, e))?;
    let mut rule = PathRule {
        pattern,
        capabilities: Capabilities::empty(),
        parameters: ParameterRules::default(),
        min_wrapping_ttl: None,
        max_wrapping_ttl: None,
        subscribe_event_types: Vec::new(),
        line,
    };
    let mut seen = HashSet::new();
    let mut wrapping_lines = (line, line);
    for entry in body {
        let key = entry.key.as_str();
        let fail = |message: String| at.invalid(entry.line, &context, message);
        if !seen.insert(key.to_owned()) {
            return Err(fail(format!("{key} is set twice")));
        }
        match key {
            "capabilities" => {
                for (name, item_line) in strings(at, &context, key, entry.value, entry.line)? {
                    let cap = Capability::parse(&name).ok_or_else(|| {
                        at.invalid(item_line, &context, unknown_capability(&name))
                    })?;
                    rule.capabilities.insert(cap);
                }
            }
            "policy" => {
                let Node::Str(word) = entry.value else {
                    return Err(fail(format!(
                        "policy must be a string, not {}",
                        entry.value.describe()
                    )));
                };
                let caps = legacy_policy(&word).ok_or_else(|| {
                    fail(format!(
                        "unknown policy {}; expected one of \"deny\", \"read\", \"write\", \"sudo\"",
                        echo(&word)
                    ))
                })?;
                for cap in caps {
                    rule.capabilities.insert(*cap);
                }
            }
            "required_parameters" => {
                rule.parameters.required = strings(at, &context, key, entry.value, entry.line)?
                    .into_iter()
                    .map(|(name, _)| name)
                    .collect();
            }
            "allowed_parameters" => {
                rule.parameters.allowed =
                    parameter_map(at, &context, key, entry.value, entry.line)?;
            }
            "denied_parameters" => {
                rule.parameters.denied = parameter_map(at, &context, key, entry.value, entry.line)?;
            }
            "min_wrapping_ttl" => {
                rule.min_wrapping_ttl = duration(&entry.value).map_err(fail)?;
                wrapping_lines.0 = entry.line;
            }
            "max_wrapping_ttl" => {
                rule.max_wrapping_ttl = duration(&entry.value).map_err(fail)?;
                wrapping_lines.1 = entry.line;
            }
            "subscribe_event_types" => {
                rule.subscribe_event_types = strings(at, &context, key, entry.value, entry.line)?
                    .into_iter()
                    .map(|(name, _)| name)
                    .collect();
            }
            "comment" => {
                if !matches!(entry.value, Node::Str(_)) {
                    return Err(fail("comment must be a string".to_owned()));
                }
            }
            enterprise if ENTERPRISE_KEYS.contains(&enterprise) => {
                return Err(fail(format!(
                    "{enterprise} is a Vault Enterprise feature Coffer does not support; \
                     remove it (ignoring it would grant access without it)"
                )));
            }
            other => return Err(fail(unknown_key(other, &RULE_KEYS))),
        }
    }
    if let (Some(min), Some(max)) = (rule.min_wrapping_ttl, rule.max_wrapping_ttl)
        && max < min
    {
        return Err(at.invalid(
            wrapping_lines.1.max(wrapping_lines.0),
            &context,
            "max_wrapping_ttl cannot be less than min_wrapping_ttl",
        ));
    }
    Ok(rule)
}

/// A list of strings, each with its line.
fn strings(
    at: &At<'_>,
    context: &str,
    key: &str,
    value: Node,
    line: usize,
) -> Result<Vec<(String, usize)>, PolicyError> {
    let Node::List(items) = value else {
        return Err(at.invalid(
            line,
            context,
            format!("{key} must be a list of strings, not {}", value.describe()),
        ));
    };
    items
        .into_iter()
        .map(|Item { node, line }| match node {
            Node::Str(s) => Ok((s, line)),
            other => Err(at.invalid(
                line,
                context,
                format!("{key} must hold strings, not {}", other.describe()),
            )),
        })
        .collect()
}

/// `{ "name" = [values] }` (or a block, or a JSON list of such objects), keys
/// lowercased as Vault does. Values are never echoed in messages.
fn parameter_map(
    at: &At<'_>,
    context: &str,
    key: &str,
    value: Node,
    line: usize,
) -> Result<BTreeMap<String, Vec<ParameterValue>>, PolicyError> {
    let entries = match value {
        Node::Map(entries) => entries,
        Node::List(items) if items.iter().all(|i| matches!(i.node, Node::Map(_))) => items
            .into_iter()
            .flat_map(|item| match item.node {
                Node::Map(entries) => entries,
                _ => Vec::new(),
            })
            .collect(),
        other => {
            return Err(at.invalid(
                line,
                context,
                format!(
                    "{key} must be an object of parameter names to value lists, e.g. \
                     {key} = {{ \"name\" = [] }}, not {}",
                    other.describe()
                ),
            ));
        }
    };
    let mut map: BTreeMap<String, Vec<ParameterValue>> = BTreeMap::new();
    for entry in entries {
        let context = format!("{context}: {key} {}", echo(&entry.key));
        let Node::List(items) = entry.value else {
            return Err(at.invalid(
                entry.line,
                &context,
                format!(
                    "must be a list of values ([] for any value), not {}",
                    entry.value.describe()
                ),
            ));
        };
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            values.push(match item.node {
                Node::Str(s) => ParameterValue::String(s),
                Node::Bool(b) => ParameterValue::Bool(b),
                Node::Number(n) => ParameterValue::Number(n),
                Node::Null => ParameterValue::Null,
                other => {
                    return Err(at.invalid(
                        item.line,
                        &context,
                        format!(
                            "values must be strings, numbers, booleans or null, not {}",
                            other.describe()
                        ),
                    ));
                }
            });
        }
        if entry.key == "*" && !values.is_empty() {
            return Err(at.invalid(
                entry.line,
                &context,
                "the \"*\" key only takes an empty list: \"*\" = []",
            ));
        }
        let name = entry.key.to_lowercase();
        match map.get_mut(&name) {
            Some(existing) if existing.is_empty() => {}
            Some(existing) if values.is_empty() => existing.clear(),
            Some(existing) => existing.extend(values),
            None => {
                map.insert(name, values);
            }
        }
    }
    Ok(map)
}

/// A wrapping TTL: seconds as a number or digit string, or a duration string
/// (`"90s"`, `"5m"`, `"1h30m"`). Zero means unset, as in Vault.
fn duration(value: &Node) -> Result<Option<Duration>, String> {
    let parsed = match value {
        Node::Number(n) => n
            .as_u64()
            .map(Duration::from_secs)
            .ok_or_else(|| "must be a whole, non-negative number of seconds".to_owned())?,
        Node::Str(s) => {
            let s = s.trim();
            if let Ok(secs) = s.parse::<u64>() {
                Duration::from_secs(secs)
            } else {
                humantime::parse_duration(s).map_err(|_| {
                    format!(
                        "cannot parse {} as a duration; use seconds or e.g. \"90s\", \"5m\", \"1h\"",
                        echo(s)
                    )
                })?
            }
        }
        other => {
            return Err(format!(
                "must be a duration string or a number of seconds, not {}",
                other.describe()
            ));
        }
    };
    Ok((!parsed.is_zero()).then_some(parsed))
}

fn unknown_key(key: &str, valid: &[&str]) -> String {
    match did_you_mean(key, valid) {
        Some(guess) => format!("unknown key {} (did you mean \"{guess}\"?)", echo(key)),
        None => format!(
            "unknown key {}; valid keys: {}",
            echo(key),
            valid.join(", ")
        ),
    }
}

fn unknown_capability(name: &str) -> String {
    let names = Capability::names();
    match did_you_mean(name, &names) {
        Some(guess) => format!(
            "unknown capability {} (did you mean \"{guess}\"?)",
            echo(name)
        ),
        None => format!(
            "unknown capability {}; valid capabilities: {}",
            echo(name),
            names.join(", ")
        ),
    }
}
