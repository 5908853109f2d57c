//! The Coffer server: HCL config, axum HTTP API (Vault-compatible), TLS,
//! wiring of storage, seal and engines, startup banner and shutdown.
//!
//! The only crate that knows axum; it must never be a dependency of `core`,
//! engines, seals or storage crates.

mod banner;
pub mod cluster;
pub mod config;
pub mod engines;
mod exit_status;
pub mod hsm_probe;
pub mod http;
pub mod listener;
mod logging;
mod mlock;
mod seal_setup;
pub mod server;
mod systemd;
pub mod tls;

/// The nesting bound every HCL input passes before parsing (configs here,
/// policies in core, and `coffer policy fmt`).
pub use coffer_core::hcl_nesting;
pub use exit_status::{EXIT_CONFIGURATION, needs_operator};
pub use server::{ServerOptions, run};

/// The version reported by `sys/seal-status`, `sys/health` and the CLI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// When the source was committed (RFC 3339, UTC), as `sys/seal-status`
/// reports it; empty when the build could not tell (see `build.rs`).
pub const BUILD_DATE: &str = env!("COFFER_BUILD_DATE");
/// The source revision (git commit) built; empty when unknown.
pub const REVISION: &str = env!("COFFER_REVISION");

/// `Coffer v0.1.0 (revision), built date`, as `coffer version` and the
/// server banner print it (Vault's shape).
pub fn version_line() -> String {
    let mut line = format!("Coffer v{VERSION}");
    if !REVISION.is_empty() {
        line.push_str(&format!(" ({REVISION})"));
    }
    if !BUILD_DATE.is_empty() {
        line.push_str(&format!(", built {BUILD_DATE}"));
    }
    line
}
