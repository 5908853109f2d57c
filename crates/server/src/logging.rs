//! Structured logs to stderr, with a level that SIGHUP can change.

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Changes the log level of the running process.
pub(crate) struct LogControl {
    handle: reload::Handle<EnvFilter, tracing_subscriber::Registry>,
}

/// Maps Vault's level names (`err`, `warn`, ...) to a filter directive.
pub(crate) fn filter_for(level: &str) -> anyhow::Result<EnvFilter> {
    let directive = match level.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" | "" => "info",
        "warn" | "warning" => "warn",
        "err" | "error" => "error",
        other => {
            anyhow::bail!("unknown log level {other:?}: use trace, debug, info, warn or error")
        }
    };
    Ok(EnvFilter::new(format!(
        "{directive},hyper=warn,h2=warn,rustls=warn,tower=warn"
    )))
}

/// Installs the global subscriber (once per process).
pub(crate) fn init(level: &str) -> anyhow::Result<LogControl> {
    let (filter, handle) = reload::Layer::new(filter_for(level)?);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .try_init()
        .context("installing the log subscriber")?;
    Ok(LogControl { handle })
}

impl LogControl {
    /// Applies a new level.
    pub(crate) fn set_level(&self, level: &str) -> anyhow::Result<()> {
        self.handle
            .reload(filter_for(level)?)
            .context("changing the log level")
    }
}
