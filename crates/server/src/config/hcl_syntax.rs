//! HCL text → [`Body`], via hcl-edit (re-exported by hcl-rs as `hcl::edit`),
//! whose nodes carry byte spans: every attribute and block gets its line.
//!
//! Vault parses configs with HCL1; hcl-rs is HCL2. The one difference operators
//! hit is a block with several attributes on one line (`seal "pkcs11" { lib =
//! "/x" slot = "0" }`), which HCL2 rejects; that error gets a hint saying so.

use std::path::Path;

use hcl::edit::Span;
use hcl::edit::expr::Expression;
use hcl::edit::parser::parse_body;
use hcl::edit::structure;
use hcl::edit::template::{Element, Template};

use super::document::{Attr, Block, Body, location};
use super::error::ConfigError;
use super::value::Value;

/// Parses HCL `text` (read from `file`) into a position-carrying [`Body`].
pub(crate) fn parse(file: &Path, text: &str) -> Result<Body, ConfigError> {
    coffer_core::hcl_nesting::check(text).map_err(|e| ConfigError::Syntax {
        file: file.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.to_string(),
        hint: None,
    })?;
    let body = parse_body(text).map_err(|e| syntax_error(file, &e))?;
    Ok(convert_body(file, text, &body))
}

fn syntax_error(file: &Path, error: &hcl::edit::parser::Error) -> ConfigError {
    let message = error.message().to_owned();
    let line_text = error.line();
    let column = error.location().column();
    let hint = if message.contains("expected `}`, newline or identifier")
        && line_text.contains('{')
        && line_text.matches('=').count() >= 2
    {
        Some(
            "put each attribute of a block on its own line: HCL2 rejects `{ a = 1 b = 2 }` \
             on one line, although Vault's older HCL1 parser accepted it"
                .to_owned(),
        )
    } else if line_text
        .get(..column.saturating_sub(1))
        .is_some_and(|before| before.trim_end().ends_with("= 0"))
        && line_text
            .get(column.saturating_sub(1)..)
            .is_some_and(|rest| rest.starts_with(['x', 'X']))
    {
        Some("HCL has no hex number literals; quote the value: \"0x...\"".to_owned())
    } else {
        None
    };
    ConfigError::Syntax {
        file: file.to_path_buf(),
        line: error.location().line(),
        column,
        message,
        hint,
    }
}

fn convert_body(file: &Path, text: &str, body: &structure::Body) -> Body {
    let mut out = Body::default();
    for item in body.iter() {
        let offset = item.span().map_or(0, |s| s.start);
        let at = location(file, text, offset);
        if let Some(attr) = item.as_attribute() {
            out.attrs.push(Attr {
                key: attr.key.as_str().to_owned(),
                value: convert_expr(&attr.value),
                at,
            });
        } else if let Some(block) = item.as_block() {
            out.blocks.push(Block {
                ident: block.ident.as_str().to_owned(),
                labels: block.labels.iter().map(|l| l.as_str().to_owned()).collect(),
                body: convert_body(file, text, &block.body),
                at,
            });
        }
    }
    out
}

fn convert_expr(expr: &Expression) -> Value {
    match expr {
        Expression::Null(_) => Value::Null,
        Expression::Bool(b) => Value::Bool(*b.value()),
        Expression::Number(n) => {
            let n = n.value();
            if let Some(u) = n.as_u64() {
                Value::Int(i128::from(u))
            } else if let Some(i) = n.as_i64() {
                Value::Int(i128::from(i))
            } else {
                n.as_f64()
                    .map_or(Value::Other { kind: "a number" }, Value::Float)
            }
        }
        Expression::String(s) => Value::Str(s.value().clone()),
        Expression::StringTemplate(t) => literal_template(t).map_or(
            Value::Other {
                kind: "an interpolated string (\"${...}\" is not evaluated)",
            },
            Value::Str,
        ),
        Expression::HeredocTemplate(h) => {
            let mut h = (**h).clone();
            h.dedent();
            literal_template(&h.template).map_or(
                Value::Other {
                    kind: "an interpolated heredoc",
                },
                Value::Str,
            )
        }
        Expression::Parenthesis(p) => convert_expr(p.inner()),
        Expression::Array(items) => Value::List(items.iter().map(convert_expr).collect()),
        Expression::Object(_) => Value::Other { kind: "an object" },
        Expression::UnaryOp(op) => negative_number(op).unwrap_or(Value::Other {
            kind: "an expression",
        }),
        _ => Value::Other {
            kind: "an expression",
        },
    }
}

/// `-5` parses as unary minus applied to 5; keep it a number so range errors
/// ("must not be negative") read naturally.
fn negative_number(op: &hcl::edit::expr::UnaryOp) -> Option<Value> {
    if !matches!(op.operator.value(), hcl::edit::expr::UnaryOperator::Neg) {
        return None;
    }
    match convert_expr(&op.expr) {
        Value::Int(i) => Some(Value::Int(-i)),
        Value::Float(f) => Some(Value::Float(-f)),
        _ => None,
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

    fn parse_ok(text: &str) -> Body {
        match parse(Path::new("t.hcl"), text) {
            Ok(body) => body,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    #[test]
    fn blocks_and_attributes_keep_their_lines() {
        let body = parse_ok("ui = true\n\nseal \"pkcs11\" {\n  lib = \"/x\"\n}\n");
        assert_eq!(body.attrs[0].at.line, 1);
        assert_eq!(body.blocks[0].at.line, 3);
        assert_eq!(body.blocks[0].labels, vec!["pkcs11".to_owned()]);
        assert_eq!(body.blocks[0].body.attrs[0].at.line, 4);
    }

    #[test]
    fn repeated_blocks_stay_separate_and_ordered() {
        let body = parse_ok("listener \"tcp\" {\n}\nlistener \"tcp\" {\n}\n");
        assert_eq!(body.blocks.len(), 2);
        assert_eq!(body.blocks[1].at.line, 3);
    }

    #[test]
    fn bare_numbers_stay_numbers_not_templates() {
        let body = parse_ok("slot = 0\nneg = -3\n");
        assert!(matches!(body.attrs[0].value, Value::Int(0)));
        assert!(matches!(body.attrs[1].value, Value::Int(-3)));
    }

    #[test]
    fn unquoted_hex_number_gets_a_quoting_hint() {
        let err = parse(Path::new("t.hcl"), "mechanism = 0x1087\n")
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.starts_with("t.hcl:1:"), "{err}");
        assert!(err.contains("quote the value"), "{err}");
    }
}
