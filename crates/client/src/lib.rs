//! `coffer_client`: a typed async client for Coffer's (and HashiCorp Vault's) `/v1` HTTP API.
//!
//! It reads the same environment the `vault` CLI reads (`VAULT_ADDR`, `VAULT_TOKEN`,
//! `VAULT_CACERT`, `VAULT_SKIP_VERIFY`, plus `COFFER_*` aliases), speaks TLS through rustls with
//! the `ring` provider, sends `X-Vault-Token` / `X-Vault-Request: true` on every request, and turns
//! the server's `{"errors": [...]}` envelope into one [`Error`] whose message reads like vault's.
//!
//! This crate is a pure HTTP client: it must never depend on the server, core, engine or storage
//! crates, so that it can be used against any Vault-compatible address.

mod audit;
mod client;
mod config;
mod error;
mod generate_root;
mod kv_mount;
mod leases;
mod mounts;
mod policies;
mod rekey;
mod response;
mod secret_string;
mod sys;
mod tls;
mod token;
mod token_helper;

pub use audit::{AuditDevice, EnableAudit};
pub use client::{Client, Method, RawResponse};
pub use config::{Config, DEFAULT_ADDRESS};
pub use error::Error;
pub use generate_root::{
    DEFAULT_OTP_LENGTH, DecodeError, GenerateRootStatus, decode_root_token, generate_otp,
};
pub use kv_mount::KvMount;
pub use leases::RevokeLease;
pub use mounts::{EnableMount, MountConfigInput, MountConfigOutput, MountOutput, TuneMount};
pub use rekey::{RekeyInitRequest, RekeyResult, RekeyStatus, RekeyTarget, RekeyUpdate};
pub use response::{Secret, SecretAuth};
pub use secret_string::SecretString;
pub use sys::{InitRequest, InitResponse, LeaderStatus, SealStatus};
pub use token::{TokenCreateRequest, TokenTarget};
pub use token_helper::TokenHelper;

/// Result type of every fallible call in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
