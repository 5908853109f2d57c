//! `log_level = "info"`: how much the server logs.

use std::fmt;

/// Server log verbosity, with Vault's spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    /// `trace`
    Trace,
    /// `debug`
    Debug,
    /// `info` (default)
    #[default]
    Info,
    /// `warn`
    Warn,
    /// `err` or `error`
    Error,
}

impl LogLevel {
    /// Parses `trace`, `debug`, `info`, `warn`, `err`/`error` (any case).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "trace" => Ok(Self::Trace),
            "debug" => Ok(Self::Debug),
            "info" => Ok(Self::Info),
            "warn" => Ok(Self::Warn),
            "err" | "error" => Ok(Self::Error),
            _ => Err(format!(
                "\"{}\" is not a log level (expected trace, debug, info, warn or error)",
                text.trim()
            )),
        }
    }

    /// The name a `tracing` filter understands (`"error"` for `Error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
