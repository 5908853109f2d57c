//! The one error type of config loading, and the source position it points at.
//!
//! Every message starts with `FILE:LINE:` (syntax errors add `:COLUMN`), then the
//! stanza (`listener "tcp"`), then the field, so an operator can jump straight to
//! the offending line. Messages never echo string values: the PKCS#11 PIN is a
//! string and must not end up in a log.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A position in a config file: the file as it was named, and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as given on the command line or found in a `-config` directory.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file or directory named by `-config` could not be read.
    #[error("{}: cannot read config: {source}", path.display())]
    Read {
        /// The path that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// No config file was given, or a `-config` directory holds no `*.hcl`/`*.json` file.
    #[error("{}", no_files_message(.dir))]
    NoFiles {
        /// The directory that was empty, if the problem was a directory.
        dir: Option<PathBuf>,
    },

    /// The file is not valid HCL (or JSON); position as reported by the parser.
    #[error("{}:{line}:{column}: syntax error: {message}{}", file.display(), hint_suffix(.hint))]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message (without the source line, which may hold the PIN).
        message: String,
        /// What the operator most likely has to change.
        hint: Option<String>,
    },

    /// A key or stanza that Coffer does not know (a typo, or a Vault option it lacks).
    #[error("{at}: {}unknown field \"{field}\"{}", context_prefix(.context), hint_suffix(.hint))]
    UnknownField {
        /// Where the field is.
        at: Location,
        /// The enclosing stanza, e.g. `listener "tcp"`; empty at top level.
        context: String,
        /// The unknown name.
        field: String,
        /// The accepted names, or a better spelling.
        hint: Option<String>,
    },

    /// A known field with a value of the wrong shape or out of range.
    #[error("{at}: {}{field}: {message}", context_prefix(.context))]
    InvalidValue {
        /// Where the value is.
        at: Location,
        /// The enclosing stanza; empty at top level.
        context: String,
        /// The field name.
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },

    /// A field that must be set (in the file or, for the seal, via its env var) is not.
    #[error("{}{}missing required field \"{field}\"{}", location_prefix(.at), context_prefix(.context), hint_suffix(.hint))]
    MissingField {
        /// The stanza that lacks the field (none for a seal set up only by env).
        at: Option<Location>,
        /// The stanza, e.g. `seal "pkcs11"`.
        context: String,
        /// The missing field.
        field: String,
        /// Where else it may come from (an environment variable).
        hint: Option<String>,
    },

    /// An environment variable override holds a value that does not parse.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable name, e.g. `VAULT_HSM_SLOT`.
        var: String,
        /// What is wrong and what is expected.
        message: String,
    },

    /// The stanzas do not fit together (two storages, two enabled seals, entropy
    /// without an HSM, a TLS listener without certificate, no listener, ...).
    #[error("{}{message}", location_prefix(.at))]
    Invalid {
        /// The stanza or field that breaks the rule, when there is one.
        at: Option<Location>,
        /// The rule that is broken.
        message: String,
    },
}

impl ConfigError {
    /// The file and line the error points at, when it points at one.
    pub fn location(&self) -> Option<Location> {
        match self {
            Self::Syntax { file, line, .. } => Some(Location {
                file: file.clone(),
                line: *line,
            }),
            Self::UnknownField { at, .. } | Self::InvalidValue { at, .. } => Some(at.clone()),
            Self::MissingField { at, .. } | Self::Invalid { at, .. } => at.clone(),
            Self::Read { .. } | Self::NoFiles { .. } | Self::Env { .. } => None,
        }
    }

    /// Shorthand for a value error inside a stanza.
    pub(crate) fn invalid_value(
        at: &Location,
        context: &str,
        field: &str,
        message: impl Into<String>,
    ) -> Self {
        Self::InvalidValue {
            at: at.clone(),
            context: context.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// Shorthand for a broken cross-stanza rule at a known position.
    pub(crate) fn invalid_at(at: &Location, message: impl Into<String>) -> Self {
        Self::Invalid {
            at: Some(at.clone()),
            message: message.into(),
        }
    }
}

fn no_files_message(dir: &Option<PathBuf>) -> String {
    match dir {
        Some(dir) => format!(
            "{}: directory holds no *.hcl or *.json config file",
            dir.display()
        ),
        None => "no config file given (use -config=FILE or -config=DIR)".to_owned(),
    }
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
}

fn context_prefix(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!("{context}: ")
    }
}

fn location_prefix(at: &Option<Location>) -> String {
    at.as_ref().map(|at| format!("{at}: ")).unwrap_or_default()
}
