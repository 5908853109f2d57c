//! The formatter behind `policy fmt`: a policy's HCL re-emitted in one layout, the one
//! `vault policy fmt` produces: two-space indents, `=` aligned across consecutive one-line
//! attributes, a blank line between top-level blocks, lists kept on one line when they were
//! written on one line (else one item per line with a trailing comma), objects one entry per
//! line, and every comment kept where it was.
//!
//! Only the layout changes: keys, labels, strings and numbers are copied from the source as
//! written, and the result is parsed again and compared with the input, so a file is never
//! rewritten into something that means anything else. It checks HCL syntax (with the line and
//! column of an error); what the rules mean (capabilities, parameters) is checked by the server
//! on `policy write`. The parser is hcl-edit, the one the server reads policies with.

use std::ops::Range;

use hcl::edit::Span;
use hcl::edit::expr::{Array, Expression, Object};
use hcl::edit::parser::parse_body;
use hcl::edit::structure::{Attribute, Block, Body, Structure};

/// Spaces per nesting level.
const INDENT: &str = "  ";

/// Why a policy could not be formatted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FmtError {
    /// The text is not valid HCL.
    #[error("{line}:{column}: syntax error: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A JSON policy: valid for the server, but there is no HCL to format.
    #[error("the policy is JSON; policy fmt formats HCL policies only")]
    Json,
    /// A comment inside a construct the layout rewrites (between a key and its `=`, between
    /// a block's labels); moving it elsewhere is the author's call.
    #[error(
        "{line}: a comment between a key and its value, or between a block's labels, cannot be kept in place: move it to a line of its own"
    )]
    MisplacedComment {
        /// 1-based line of the comment.
        line: usize,
    },
    /// The parser gave a node no position, or the result would not parse back to the same
    /// policy: the file is left untouched.
    #[error("the policy could not be formatted without changing it ({0}); it was left as it is")]
    Unformattable(String),
}

/// Formats policy `text`; the result ends with one newline (empty for an empty policy).
pub(crate) fn format_policy(text: &str) -> Result<String, FmtError> {
    if text.trim_start().starts_with('{') {
        return Err(FmtError::Json);
    }
    coffer_server::hcl_nesting::check(text).map_err(|e| FmtError::Syntax {
        line: e.line,
        column: e.column,
        message: e.to_string(),
    })?;
    let body = parse_body(text).map_err(|e| FmtError::Syntax {
        line: e.location().line(),
        column: e.location().column(),
        message: e.message().to_owned(),
    })?;
    let printer = Printer { src: text };
    let lines = printer.body(&body, 0..text.len(), 0, true)?;
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    let before = hcl::parse(text).map_err(|e| FmtError::Unformattable(e.to_string()))?;
    let after = hcl::parse(&out).map_err(|e| FmtError::Unformattable(e.to_string()))?;
    if before != after {
        return Err(FmtError::Unformattable(
            "the formatted text parses differently".to_owned(),
        ));
    }
    Ok(out)
}

/// What sits between two nodes besides punctuation: comments and blank lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'s> {
    Comment(&'s str),
    Blank,
}

/// The comments and blank lines around a sequence of nodes (body items, list items, object
/// entries): before each node, on the line each node ends on, and after the last one.
#[derive(Debug, Default)]
struct Trivia<'s> {
    before: Vec<Vec<Piece<'s>>>,
    trailing: Vec<Option<&'s str>>,
    after: Vec<Piece<'s>>,
}

/// One rendered node of a sequence.
struct Item<'s> {
    /// The key column (attributes, object entries); `None` for blocks and list items.
    key: Option<&'s str>,
    /// The rest: the value, or the whole block, or the list item; continuation lines carry
    /// their own indentation.
    text: String,
}

impl Item<'_> {
    fn is_multiline(&self) -> bool {
        self.text.contains('\n')
    }
}

struct Printer<'s> {
    src: &'s str,
}

impl<'s> Printer<'s> {
    /// The source text of a node.
    fn text(&self, span: &Range<usize>) -> &'s str {
        &self.src[span.clone()]
    }

    /// The lines of a body whose items lie in `region`, at nesting `level`.
    fn body(
        &self,
        body: &Body,
        region: Range<usize>,
        level: usize,
        top_level: bool,
    ) -> Result<Vec<String>, FmtError> {
        let spans = body
            .iter()
            .map(|s| span_of(s.span()))
            .collect::<Result<Vec<_>, _>>()?;
        let trivia = self.trivia(&spans, region)?;
        let items = body
            .iter()
            .map(|structure| match structure {
                Structure::Attribute(attr) => self.attribute(attr, level),
                Structure::Block(block) => self.block(block, level),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.lines(&items, &trivia, level, top_level))
    }

    fn attribute(&self, attr: &Attribute, level: usize) -> Result<Item<'s>, FmtError> {
        let key = span_of(attr.key.span())?;
        let value = span_of(attr.value.span())?;
        self.forbid_comments(key.end..value.start)?;
        Ok(Item {
            key: Some(self.text(&key)),
            text: self.expr(&attr.value, level)?,
        })
    }

    fn block(&self, block: &Block, level: usize) -> Result<Item<'s>, FmtError> {
        let whole = span_of(block.span())?;
        let mut header = vec![self.text(&span_of(block.ident.span())?)];
        let mut header_end = span_of(block.ident.span())?.end;
        for label in &block.labels {
            let span = span_of(label.span())?;
            self.forbid_comments(header_end..span.start)?;
            header.push(self.text(&span));
            header_end = span.end;
        }
        let open = self.find_open_brace(header_end..whole.end)?;
        let close = whole.end - 1;
        if self.src.as_bytes().get(close) != Some(&b'}') {
            return Err(FmtError::Unformattable(format!(
                "no closing brace at byte {close}"
            )));
        }
        let inner = self.body(&block.body, open + 1..close, level + 1, false)?;
        let header = header.join(" ");
        let text = if inner.is_empty() {
            format!("{header} {{}}")
        } else {
            format!(
                "{header} {{\n{}\n{}}}",
                inner.join("\n"),
                INDENT.repeat(level)
            )
        };
        Ok(Item { key: None, text })
    }

    /// An expression starting on a line at nesting `level`: lists and objects are laid out,
    /// everything else is copied as written.
    fn expr(&self, expr: &Expression, level: usize) -> Result<String, FmtError> {
        match expr {
            Expression::Array(array) => self.array(array, level),
            Expression::Object(object) => self.object(object, level),
            other => Ok(self.text(&span_of(other.span())?).to_owned()),
        }
    }

    fn array(&self, array: &Array, level: usize) -> Result<String, FmtError> {
        let whole = span_of(array.span())?;
        let spans = array
            .iter()
            .map(|e| span_of(e.span()))
            .collect::<Result<Vec<_>, _>>()?;
        let trivia = self.trivia(&spans, whole.start + 1..whole.end - 1)?;
        let values = array
            .iter()
            .map(|e| self.expr(e, level + 1))
            .collect::<Result<Vec<_>, _>>()?;
        let has_comments = trivia
            .after
            .iter()
            .chain(trivia.before.iter().flatten())
            .any(|p| matches!(p, Piece::Comment(_)))
            || trivia.trailing.iter().any(Option::is_some);
        let one_line = !self.text(&whole).contains('\n')
            && !has_comments
            && values.iter().all(|v| !v.contains('\n'));
        if one_line {
            return Ok(format!("[{}]", values.join(", ")));
        }
        let items: Vec<Item<'s>> = values
            .into_iter()
            .map(|v| Item {
                key: None,
                text: format!("{v},"),
            })
            .collect();
        let lines = self.lines(&items, &trivia, level + 1, false);
        Ok(format!(
            "[\n{}\n{}]",
            lines.join("\n"),
            INDENT.repeat(level)
        ))
    }

    fn object(&self, object: &Object, level: usize) -> Result<String, FmtError> {
        let whole = span_of(object.span())?;
        let mut spans = Vec::new();
        let mut items = Vec::new();
        for (key, value) in object.iter() {
            let key_span = span_of(key.span())?;
            let value_span = span_of(value.expr().span())?;
            self.forbid_comments(key_span.end..value_span.start)?;
            spans.push(key_span.start..value_span.end);
            items.push(Item {
                key: Some(self.text(&key_span)),
                text: self.expr(value.expr(), level + 1)?,
            });
        }
        let trivia = self.trivia(&spans, whole.start + 1..whole.end - 1)?;
        let lines = self.lines(&items, &trivia, level + 1, false);
        if lines.is_empty() {
            return Ok("{}".to_owned());
        }
        Ok(format!(
            "{{\n{}\n{}}}",
            lines.join("\n"),
            INDENT.repeat(level)
        ))
    }

    /// Lays out a sequence at nesting `level`: comments and blank lines where they were, `=`
    /// aligned across runs of one-line keyed items, trailing comments after their item.
    fn lines(
        &self,
        items: &[Item<'s>],
        trivia: &Trivia<'s>,
        level: usize,
        top_level: bool,
    ) -> Vec<String> {
        let indent = INDENT.repeat(level);
        let widths = key_widths(items, trivia);
        let mut out: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let before = &trivia.before[i];
            // Top-level blocks (and multi-line attributes) stand apart, as vault prints them.
            let apart = top_level
                && i > 0
                && (item.is_multiline() || items[i - 1].is_multiline())
                && before.first() != Some(&Piece::Blank);
            if apart {
                out.push(String::new());
            }
            push_pieces(&mut out, before, &indent);
            let mut line = match item.key {
                Some(key) => {
                    let pad = widths[i].saturating_sub(key.chars().count());
                    format!("{indent}{key}{} = {}", " ".repeat(pad), item.text)
                }
                None => format!("{indent}{}", item.text),
            };
            if let Some(comment) = trivia.trailing[i] {
                line.push(' ');
                line.push_str(comment);
            }
            out.push(line);
        }
        push_pieces(&mut out, &trivia.after, &indent);
        out
    }

    /// Collects the comments and blank lines between the nodes at `spans` inside `region`.
    fn trivia(&self, spans: &[Range<usize>], region: Range<usize>) -> Result<Trivia<'s>, FmtError> {
        let mut trivia = Trivia {
            before: vec![Vec::new(); spans.len()],
            trailing: vec![None; spans.len()],
            after: Vec::new(),
        };
        let mut cursor = region.start;
        for i in 0..=spans.len() {
            let gap_end = spans.get(i).map_or(region.end, |s| s.start);
            let mut pieces = Vec::new();
            let mut newlines = 0;
            let mut line_started = false;
            for token in Gap::new(self.src, cursor..gap_end) {
                match token? {
                    Token::Newline => {
                        newlines += 1;
                        line_started = true;
                    }
                    Token::Comment { text, .. } => {
                        if !line_started && i > 0 && trivia.trailing[i - 1].is_none() {
                            trivia.trailing[i - 1] = Some(text);
                        } else {
                            push_blank(&mut pieces, newlines, i > 0);
                            pieces.push(Piece::Comment(text));
                        }
                        newlines = 0;
                    }
                    Token::Punct { .. } => {}
                }
            }
            if i < spans.len() {
                push_blank(&mut pieces, newlines, i > 0);
                trivia.before[i] = pieces;
                cursor = spans[i].end;
            } else {
                trivia.after = pieces;
            }
        }
        Ok(trivia)
    }

    /// Refuses a comment in `gap`, where the layout has no place for one.
    fn forbid_comments(&self, gap: Range<usize>) -> Result<(), FmtError> {
        for token in Gap::new(self.src, gap) {
            if let Token::Comment { at, .. } = token? {
                return Err(FmtError::MisplacedComment {
                    line: line_of(self.src, at),
                });
            }
        }
        Ok(())
    }

    /// The position of the `{` opening a block body, searched from the end of its header.
    fn find_open_brace(&self, rest: Range<usize>) -> Result<usize, FmtError> {
        for token in Gap::new(self.src, rest) {
            match token? {
                Token::Comment { at, .. } => {
                    return Err(FmtError::MisplacedComment {
                        line: line_of(self.src, at),
                    });
                }
                Token::Punct { at } if self.src[at..].starts_with('{') => return Ok(at),
                Token::Newline | Token::Punct { .. } => {}
            }
        }
        Err(FmtError::Unformattable("a block without `{`".to_owned()))
    }
}

/// The `=` column of each keyed item: the widest key of its run of one-line keyed items that
/// follow each other without a blank line.
fn key_widths(items: &[Item<'_>], trivia: &Trivia<'_>) -> Vec<usize> {
    let mut widths = vec![0; items.len()];
    let mut run_start = 0;
    for i in 0..=items.len() {
        let joins_run = i < items.len()
            && i > run_start
            && items[i].key.is_some()
            && !items[i].is_multiline()
            && items[i - 1].key.is_some()
            && !items[i - 1].is_multiline()
            && !trivia.before[i].contains(&Piece::Blank);
        if joins_run {
            continue;
        }
        let width = items[run_start..i]
            .iter()
            .filter_map(|item| item.key.map(|k| k.chars().count()))
            .max()
            .unwrap_or(0);
        for w in &mut widths[run_start..i] {
            *w = width;
        }
        run_start = i;
    }
    widths
}

/// A blank line is kept when the source had one (two line ends in a row), except at the very
/// start of a sequence.
fn push_blank(pieces: &mut Vec<Piece<'_>>, newlines: usize, after_something: bool) {
    if newlines >= 2 && (after_something || !pieces.is_empty()) {
        pieces.push(Piece::Blank);
    }
}

fn push_pieces(out: &mut Vec<String>, pieces: &[Piece<'_>], indent: &str) {
    for piece in pieces {
        match piece {
            Piece::Blank => out.push(String::new()),
            Piece::Comment(text) => out.push(format!("{indent}{text}")),
        }
    }
}

fn span_of(span: Option<Range<usize>>) -> Result<Range<usize>, FmtError> {
    span.ok_or_else(|| FmtError::Unformattable("the parser gave a node no position".to_owned()))
}

fn line_of(src: &str, at: usize) -> usize {
    src[..at].matches('\n').count() + 1
}

/// What lies between two nodes: line ends, comments, and punctuation (`=`, `,`, brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'s> {
    Newline,
    /// A comment starting at byte `at`.
    Comment {
        at: usize,
        text: &'s str,
    },
    /// A punctuation character at byte `at`.
    Punct {
        at: usize,
    },
}

/// A lexer over the text between two nodes, which (the parse having succeeded) holds only
/// whitespace, comments and punctuation, never a string.
struct Gap<'s> {
    src: &'s str,
    pos: usize,
    end: usize,
}

impl<'s> Gap<'s> {
    fn new(src: &'s str, range: Range<usize>) -> Self {
        Self {
            src,
            pos: range.start,
            end: range.end,
        }
    }
}

impl<'s> Iterator for Gap<'s> {
    type Item = Result<Token<'s>, FmtError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.src.get(self.pos..self.end)?;
        let skipped = rest.len() - rest.trim_start_matches([' ', '\t', '\r']).len();
        self.pos += skipped;
        let rest = &rest[skipped..];
        let first = rest.chars().next()?;
        let at = self.pos;
        let (len, token) = if first == '\n' {
            (1, Token::Newline)
        } else if rest.starts_with('#') || rest.starts_with("//") {
            let len = rest.find('\n').unwrap_or(rest.len());
            let text = rest[..len].trim_end();
            (len, Token::Comment { at, text })
        } else if rest.starts_with("/*") {
            let Some(close) = rest.find("*/") else {
                return Some(Err(FmtError::Unformattable(
                    "an unterminated comment".to_owned(),
                )));
            };
            let text = &rest[..close + 2];
            (close + 2, Token::Comment { at, text })
        } else {
            (first.len_utf8(), Token::Punct { at })
        };
        self.pos += len;
        Some(Ok(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        format_policy(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn messy_policy_gets_vaults_layout() {
        let input = "path \"secret/*\" {\ncapabilities=[\"read\",\"list\"]\n    policy = \"read\"\n}\npath \"sys/mounts\" { capabilities = [\"read\"] }\n";
        assert_eq!(
            fmt(input),
            "path \"secret/*\" {\n  capabilities = [\"read\", \"list\"]\n  policy       = \"read\"\n}\n\n\
             path \"sys/mounts\" {\n  capabilities = [\"read\"]\n}\n"
        );
    }

    #[test]
    fn formatting_is_idempotent() {
        let input = "# ops team\n\npath \"a/*\" {\n  capabilities = [\"read\"] # reads\n\n  \
                     allowed_parameters = {\n    \"x\"         = []\n    \"long_name\" = [\"1\"]\n  }\n}\n";
        let once = fmt(input);
        assert_eq!(once, input, "already formatted text stays as it is");
        assert_eq!(fmt(&once), once);
    }

    #[test]
    fn comments_stay_where_they_were() {
        let input = "# header\n// second\npath \"a\" {\n  # lead\n  capabilities = [\"read\"] /* tail */\n  # end of body\n}\n# footer\n";
        let out = fmt(input);
        for comment in [
            "# header",
            "// second",
            "  # lead",
            "[\"read\"] /* tail */",
            "  # end of body",
            "# footer",
        ] {
            assert!(out.contains(comment), "{comment:?} in\n{out}");
        }
        assert_eq!(fmt(&out), out);
    }

    #[test]
    fn multi_line_lists_get_one_item_per_line_with_trailing_commas() {
        let input = "path \"a\" {\n  capabilities = [\"read\",\n \"list\" # both\n]\n}\n";
        assert_eq!(
            fmt(input),
            "path \"a\" {\n  capabilities = [\n    \"read\",\n    \"list\", # both\n  ]\n}\n"
        );
    }

    #[test]
    fn one_line_objects_are_expanded_and_aligned() {
        let input = "path \"a\" {\n  capabilities = [\"create\"]\n  allowed_parameters = { \"ab\" = [], \"c\" = [\"x\"] }\n}\n";
        assert_eq!(
            fmt(input),
            "path \"a\" {\n  capabilities = [\"create\"]\n  allowed_parameters = {\n    \"ab\" = []\n    \"c\"  = [\"x\"]\n  }\n}\n"
        );
    }

    #[test]
    fn blank_lines_are_kept_once_and_break_alignment() {
        let input = "path \"a\" {\n  a = 1\n\n\n\n  long_key = 2\n}\n\n\n\npath \"b\" {}\n";
        assert_eq!(
            fmt(input),
            "path \"a\" {\n  a = 1\n\n  long_key = 2\n}\n\npath \"b\" {}\n"
        );
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err = format_policy("path \"a\" {\n  capabilities = [\"read\"\n}\n").expect_err("bad");
        let FmtError::Syntax { line, .. } = err else {
            panic!("{err:?}");
        };
        assert!(line >= 2, "{line}");
    }

    #[test]
    fn json_policies_and_misplaced_comments_are_refused() {
        assert_eq!(format_policy("{\"path\": {}}"), Err(FmtError::Json));
        assert_eq!(
            format_policy("path \"a\" {\n  capabilities /* x */ = [\"read\"]\n}\n"),
            Err(FmtError::MisplacedComment { line: 2 })
        );
    }

    #[test]
    fn empty_policy_stays_empty() {
        assert_eq!(fmt(""), "");
        assert_eq!(fmt("\n\n"), "");
        assert_eq!(fmt("# only a comment\n"), "# only a comment\n");
    }
}
