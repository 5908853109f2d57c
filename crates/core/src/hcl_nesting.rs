//! A bound on how deeply HCL text nests, checked before hcl-edit parses it.
//!
//! hcl-edit's expression parser backtracks, and on unclosed nested
//! expressions its time doubles with each level: the `server_config` fuzz
//! target found 700 bytes of config that took 13 s, and 110 bytes of
//! `a = 1<1%1[1<1%1[...` nested 18 deep take about 3 s. Policies reach the
//! same parser through `sys/policy`, so one request could hold a worker for
//! minutes. Real configs and policies nest three or four levels; anything
//! past [`MAX_NESTING`] is refused with its position before parsing.
//!
//! The scan follows HCL's lexical structure closely enough to count only
//! what the parser will nest: brackets, braces and parentheses in
//! expressions, and `${`/`%{` template sequences in quoted strings and
//! heredocs. Text in comments, and brackets inside string literals, do
//! not count.

/// The deepest nesting accepted (brackets, braces, parentheses and template
/// sequences together). At 10, the worst inputs known parse in milliseconds.
pub const MAX_NESTING: usize = 10;

/// Text that nests deeper than [`MAX_NESTING`], at the opening that went past it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expressions nested more than {MAX_NESTING} levels deep (brackets, braces, parentheses \
     and template sequences) are not supported"
)]
pub struct TooDeep {
    /// 1-based line of the opening past the limit.
    pub line: usize,
    /// 1-based column (in characters) of that opening.
    pub column: usize,
}

/// What the scanner is inside of.
#[derive(Debug)]
enum Frame {
    /// `(`, `[` or `{` in an expression, or a template's `${` / `%{`.
    Code,
    /// A quoted string.
    Quoted,
    /// A heredoc, until a line holding only its marker.
    Heredoc(String),
}

/// Checks that `text` nests at most [`MAX_NESTING`] levels.
pub fn check(text: &str) -> Result<(), TooDeep> {
    let mut scan = Scanner {
        chars: text.chars().peekable(),
        stack: Vec::new(),
        depth: 0,
        line: 1,
        column: 0,
    };
    let mut at_line_start = true;
    while let Some(c) = scan.next() {
        if at_line_start && let Some(Frame::Heredoc(marker)) = scan.stack.last() {
            let rest: String = std::iter::once(c)
                .chain(scan.chars.clone().take_while(|&n| n != '\n'))
                .collect();
            if rest.trim() == marker {
                scan.stack.pop();
            }
        }
        at_line_start = c == '\n';
        match scan.stack.last() {
            Some(Frame::Quoted) => match c {
                '\\' => {
                    scan.next_if(|n| n != '\n');
                }
                '"' | '\n' => {
                    scan.stack.pop();
                }
                '$' | '%' => scan.template_sequence(c)?,
                _ => {}
            },
            Some(Frame::Heredoc(_)) => {
                if matches!(c, '$' | '%') {
                    scan.template_sequence(c)?;
                }
            }
            None | Some(Frame::Code) => match c {
                '"' => scan.stack.push(Frame::Quoted),
                '(' | '[' | '{' => scan.open()?,
                ')' | ']' | '}' => scan.close(),
                '#' => scan.skip_line(),
                '/' if scan.next_if(|n| n == '/').is_some() => scan.skip_line(),
                '/' if scan.next_if(|n| n == '*').is_some() => scan.skip_block_comment(),
                '<' if scan.next_if(|n| n == '<').is_some() => scan.heredoc_start(),
                _ => {}
            },
        }
    }
    Ok(())
}

/// The scan's position and what it is inside of.
struct Scanner<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    stack: Vec<Frame>,
    /// How many [`Frame::Code`] frames are open.
    depth: usize,
    line: usize,
    column: usize,
}

impl Scanner<'_> {
    fn next(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.column = 0;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn next_if(&mut self, want: impl FnOnce(char) -> bool) -> Option<char> {
        let c = *self.chars.peek()?;
        if want(c) { self.next() } else { None }
    }

    /// Opens a nesting level; past [`MAX_NESTING`] the scan stops here.
    fn open(&mut self) -> Result<(), TooDeep> {
        self.depth += 1;
        self.stack.push(Frame::Code);
        if self.depth > MAX_NESTING {
            return Err(TooDeep {
                line: self.line,
                column: self.column,
            });
        }
        Ok(())
    }

    /// Closes the innermost level; a stray closer is the parser's to report.
    fn close(&mut self) {
        if matches!(self.stack.last(), Some(Frame::Code)) {
            self.stack.pop();
            self.depth -= 1;
        }
    }

    /// After `$` or `%` in a template: `${` / `%{` opens a level, `$$` /
    /// `%%` is an escaped literal.
    fn template_sequence(&mut self, sign: char) -> Result<(), TooDeep> {
        if self.next_if(|n| n == sign).is_some() {
            return Ok(());
        }
        if self.next_if(|n| n == '{').is_some() {
            return self.open();
        }
        Ok(())
    }

    /// Skips to the end of the line, leaving the newline to be read.
    fn skip_line(&mut self) {
        while self.next_if(|n| n != '\n').is_some() {}
    }

    /// Skips past the `*/` that ends a block comment.
    fn skip_block_comment(&mut self) {
        let mut previous = ' ';
        while let Some(c) = self.next() {
            if previous == '*' && c == '/' {
                return;
            }
            previous = c;
        }
    }

    /// After `<<`: `-`, a marker and the end of the line start a heredoc.
    fn heredoc_start(&mut self) {
        self.next_if(|n| n == '-');
        let mut marker = String::new();
        while let Some(c) = self.next_if(|n| n.is_alphanumeric() || n == '_' || n == '-') {
            marker.push(c);
        }
        if !marker.is_empty() && self.chars.peek() == Some(&'\n') {
            self.stack.push(Frame::Heredoc(marker));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("a = {}1{}\n", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn real_configs_and_policies_pass() {
        let policy = r#"
path "secret/data/{{identity.entity.id}}/*" {
  capabilities = ["create", "read"]
  allowed_parameters = { "*" = [] , "ttl" = ["1h", "2h"] }
}
# a comment with ((((((((((((( brackets
/* and [[[[[[[[[[[[[[ more */
"#;
        assert_eq!(check(policy), Ok(()));
        let config = "listener \"tcp\" {\n  telemetry {\n    x = [{a = (1)}]\n  }\n}\n";
        assert_eq!(check(config), Ok(()));
    }

    #[test]
    fn nesting_up_to_the_limit_passes_and_one_more_is_refused_with_its_position() {
        assert_eq!(check(&nested(MAX_NESTING)), Ok(()));
        let err = check(&nested(MAX_NESTING + 1)).expect_err("too deep");
        assert_eq!(
            err,
            TooDeep {
                line: 1,
                column: 5 + MAX_NESTING
            }
        );
        assert!(
            err.to_string().contains("nested more than 10 levels"),
            "{err}"
        );
        // Siblings do not add up: only what is open at once counts.
        assert_eq!(check(&"a = [1] [2] [3] (4) {b = 5}\n".repeat(50)), Ok(()));
    }

    #[test]
    fn the_fuzzer_s_slow_shape_is_refused_at_once() {
        let text = format!("a = {}1!1\n", "1<1%1[".repeat(18));
        let err = check(&text).expect_err("too deep");
        assert_eq!(err.line, 1);
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count_and_cannot_hide_nesting() {
        let inside = format!("a = \"{}\" # {}\n", "[".repeat(40), "(".repeat(40));
        assert_eq!(check(&inside), Ok(()));
        // Closing brackets in strings do not undo real nesting.
        let hiding = format!("a = {}1\n", "[ \"]\" ".repeat(MAX_NESTING + 1));
        assert!(check(&hiding).is_err());
        // An escaped quote does not end the string.
        let escaped = format!("a = \"\\\"{}\"\n", "[".repeat(40));
        assert_eq!(check(&escaped), Ok(()));
    }

    #[test]
    fn template_sequences_count_in_strings_and_heredocs_but_escaped_ones_do_not() {
        let deep = format!("a = \"{}x\"\n", "${[".repeat(6));
        assert!(check(&deep).is_err());
        let escaped = format!("a = \"{}x\"\n", "$${[".repeat(20));
        assert_eq!(check(&escaped), Ok(()));
        let heredoc = format!("a = <<EOT\n{}\nEOT\nb = 1\n", "[".repeat(40));
        assert_eq!(check(&heredoc), Ok(()));
        let heredoc_deep = format!("a = <<-EOT\n  {}\n  EOT\n", "%{[".repeat(6));
        assert!(check(&heredoc_deep).is_err());
        // After the heredoc ends, brackets count again.
        let after = format!("a = <<EOT\nx\nEOT\nb = {}1\n", "[".repeat(MAX_NESTING + 1));
        assert!(check(&after).is_err());
    }

    #[test]
    fn any_text_is_scanned_without_panicking() {
        for text in [
            "",
            "\"",
            "\"\\",
            "<<",
            "<<EOT",
            "/*",
            "$",
            "${",
            "%%",
            "]]]}}})))",
            "\u{fffd}[",
        ] {
            let _ = check(text);
        }
    }
}
