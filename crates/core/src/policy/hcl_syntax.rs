//! HCL policy text → [`Entry`] tree, through hcl-edit (re-exported by hcl-rs
//! as `hcl::edit`, the crate the server's config loader uses), whose nodes keep
//! byte spans so every key gets its line.
//!
//! Vault parses policies with HCL1; hcl-edit is HCL2. Two HCL1 habits fail
//! under HCL2 and get a hint: several attributes on one line
//! (`path "x" { policy = "read" capabilities = [] }`) and quoted keys in a
//! block (`allowed_parameters { "*" = [] }`, which HCL2 spells
//! `allowed_parameters = { "*" = [] }`).

use hcl::edit::Span;
use hcl::edit::expr::{Expression, ObjectKey, UnaryOperator};
use hcl::edit::parser::parse_body;
use hcl::edit::structure;
use hcl::edit::template::{Element, Template};
use serde_json::Number;

use super::error::PolicyError;
use super::tree::{Entry, Item, Lines, Node};

/// Parses HCL `text` of policy `name` into entries.
pub(super) fn parse(name: &str, text: &str) -> Result<Vec<Entry>, PolicyError> {
    crate::hcl_nesting::check(text).map_err(|e| PolicyError::Syntax {
        policy: name.to_owned(),
        line: e.line,
        column: e.column,
        message: e.to_string(),
        hint: None,
    })?;
    let body = parse_body(text).map_err(|e| syntax_error(name, &e))?;
    let lines = Lines::new(text);
    Ok(convert_body(&lines, &body))
}

fn syntax_error(name: &str, error: &hcl::edit::parser::Error) -> PolicyError {
    let message = error.message().to_owned();
    let source_line = error.line().trim_start();
    let hint = if message.contains("expected `}`, newline or identifier")
        && source_line.contains('{')
        && source_line.matches('=').count() >= 2
    {
        Some(
            "put each attribute on its own line: HCL2 rejects `{ a = 1 b = 2 }` on one \
             line, although Vault's older HCL1 parser accepted it"
                .to_owned(),
        )
    } else if source_line.starts_with('"') {
        Some(
            "quoted keys need the object form, e.g. `allowed_parameters = { \"*\" = [] }` \
             instead of a block `allowed_parameters { ... }`"
                .to_owned(),
        )
    } else {
        None
    };
    PolicyError::Syntax {
        policy: name.to_owned(),
        line: error.location().line(),
        column: error.location().column(),
        message,
        hint,
    }
}

fn convert_body(lines: &Lines, body: &structure::Body) -> Vec<Entry> {
    body.iter()
        .map(|item| {
            let line = lines.line(item.span().map_or(0, |s| s.start));
            if let Some(block) = item.as_block() {
                Entry {
                    key: block.ident.as_str().to_owned(),
                    block: true,
                    labels: block.labels.iter().map(|l| l.as_str().to_owned()).collect(),
                    value: Node::Map(convert_body(lines, &block.body)),
                    line,
                }
            } else if let Some(attr) = item.as_attribute() {
                Entry {
                    key: attr.key.as_str().to_owned(),
                    block: false,
                    labels: Vec::new(),
                    value: convert_expr(lines, &attr.value),
                    line,
                }
            } else {
                // A body holds only attributes and blocks; keep the shape total.
                Entry {
                    key: String::new(),
                    block: false,
                    labels: Vec::new(),
                    value: Node::Unsupported("an unknown structure"),
                    line,
                }
            }
        })
        .collect()
}

fn convert_expr(lines: &Lines, expr: &Expression) -> Node {
    match expr {
        Expression::Null(_) => Node::Null,
        Expression::Bool(b) => Node::Bool(*b.value()),
        Expression::Number(n) => {
            number(n.value()).map_or(Node::Unsupported("a number"), Node::Number)
        }
        Expression::String(s) => Node::Str(s.value().clone()),
        Expression::StringTemplate(t) => literal_template(t).map_or(
            Node::Unsupported("an interpolated string (\"${...}\" is not evaluated)"),
            Node::Str,
        ),
        Expression::HeredocTemplate(h) => {
            let mut h = (**h).clone();
            h.dedent();
            literal_template(&h.template)
                .map_or(Node::Unsupported("an interpolated heredoc"), Node::Str)
        }
        Expression::Parenthesis(p) => convert_expr(lines, p.inner()),
        Expression::Array(items) => Node::List(
            items
                .iter()
                .map(|item| Item {
                    node: convert_expr(lines, item),
                    line: lines.line(item.span().map_or(0, |s| s.start)),
                })
                .collect(),
        ),
        Expression::Object(object) => Node::Map(
            object
                .iter()
                .map(|(key, value)| Entry {
                    key: object_key(key),
                    block: false,
                    labels: Vec::new(),
                    value: convert_expr(lines, value.expr()),
                    line: lines.line(key.span().map_or(0, |s| s.start)),
                })
                .collect(),
        ),
        Expression::UnaryOp(op) if matches!(op.operator.value(), UnaryOperator::Neg) => {
            match convert_expr(lines, &op.expr) {
                Node::Number(n) => negate(&n).map_or(Node::Unsupported("a number"), Node::Number),
                _ => Node::Unsupported("an expression"),
            }
        }
        _ => Node::Unsupported("an expression"),
    }
}

/// An object key as text: `foo`, `"foo"` and `"*"` all name a key.
fn object_key(key: &ObjectKey) -> String {
    match key {
        ObjectKey::Ident(ident) => ident.as_str().to_owned(),
        ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
        ObjectKey::Expression(Expression::StringTemplate(t)) => {
            literal_template(t).unwrap_or_else(|| "${...}".to_owned())
        }
        ObjectKey::Expression(_) => "(expression)".to_owned(),
    }
}

fn number(n: &hcl::Number) -> Option<Number> {
    if let Some(u) = n.as_u64() {
        Some(Number::from(u))
    } else if let Some(i) = n.as_i64() {
        Some(Number::from(i))
    } else {
        n.as_f64().and_then(Number::from_f64)
    }
}

fn negate(n: &Number) -> Option<Number> {
    if let Some(i) = n.as_i64() {
        i.checked_neg().map(Number::from)
    } else {
        n.as_f64().and_then(|f| Number::from_f64(-f))
    }
}

/// The text of a template made only of literal parts (no `${}` / `%{}`).
fn literal_template(template: &Template) -> Option<String> {
    let mut out = String::new();
    for element in template.iter() {
        match element {
            Element::Literal(lit) => out.push_str(lit.value()),
            Element::Interpolation(_) | Element::Directive(_) => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<Entry> {
        match parse("t", text) {
            Ok(entries) => entries,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn blocks_attributes_and_object_keys_keep_their_lines() {
        let parsed = entries(
            "# comment\npath \"secret/*\" {\n  capabilities = [\n    \"read\",\n  ]\n  \
             allowed_parameters = {\n    \"*\" = []\n  }\n}\n",
        );
        assert_eq!(parsed[0].key, "path");
        assert_eq!(parsed[0].labels, vec!["secret/*".to_owned()]);
        assert_eq!(parsed[0].line, 2);
        let Node::Map(body) = &parsed[0].value else {
            panic!("block body expected");
        };
        assert_eq!(body[0].line, 3);
        let Node::List(items) = &body[0].value else {
            panic!("list expected");
        };
        assert_eq!(items[0].line, 4);
        let Node::Map(params) = &body[1].value else {
            panic!("object expected");
        };
        assert_eq!((params[0].key.as_str(), params[0].line), ("*", 7));
    }

    #[test]
    fn numbers_booleans_and_negatives_survive() {
        let parsed = entries("a = [1, -2, 1.5, true, null]\n");
        let Node::List(items) = &parsed[0].value else {
            panic!("list expected");
        };
        assert!(matches!(&items[0].node, Node::Number(n) if n.as_u64() == Some(1)));
        assert!(matches!(&items[1].node, Node::Number(n) if n.as_i64() == Some(-2)));
        assert!(matches!(&items[2].node, Node::Number(n) if n.as_f64() == Some(1.5)));
        assert!(matches!(items[3].node, Node::Bool(true)));
        assert!(matches!(items[4].node, Node::Null));
    }

    #[test]
    fn interpolation_is_not_evaluated() {
        let parsed = entries("a = \"${var.x}\"\n");
        assert!(matches!(parsed[0].value, Node::Unsupported(_)));
    }

    #[test]
    fn hcl1_one_line_blocks_get_a_hint() {
        let err = parse("t", "path \"a\" { policy = \"read\" capabilities = [] }\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("t:1:"), "{err}");
        assert!(err.contains("own line"), "{err}");
    }

    #[test]
    fn nesting_past_the_bound_is_refused_before_the_parser_sees_it() {
        // 20 levels of this shape took hcl-edit seconds (found by fuzzing).
        let text = format!(
            "path \"a\" {{\n  capabilities = {}1!1\n}}\n",
            "1<1%1[".repeat(20)
        );
        let started = std::time::Instant::now();
        let err = parse("t", &text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("t:2:"), "{err}");
        assert!(err.contains("nested more than 10 levels"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn hcl1_quoted_block_keys_get_a_hint() {
        let err = parse(
            "t",
            "path \"a\" {\n  allowed_parameters {\n    \"*\" = []\n  }\n}\n",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.starts_with("t:3:"), "{err}");
        assert!(err.contains("object form"), "{err}");
    }
}
