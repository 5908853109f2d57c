//! The Coffer server: HCL config, axum HTTP API (Vault-compatible), TLS,
//! wiring of storage, seal and engines, startup banner and shutdown.
//!
//! The only crate that knows axum; it must never be a dependency of `core`,
//! engines, seals or storage crates.

mod banner;
pub mod cluster;
pub mod config;
pub mod engines;
pub mod http;
pub mod listener;
mod logging;
mod mlock;
mod seal_setup;
pub mod server;
pub mod tls;

pub use server::{ServerOptions, run};

/// The version reported by `sys/seal-status`, `sys/health` and the CLI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Build date reported in `sys/seal-status` (set by the build, else empty).
pub const BUILD_DATE: &str = match option_env!("COFFER_BUILD_DATE") {
    Some(d) => d,
    None => "",
};
