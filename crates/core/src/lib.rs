//! The Coffer domain: storage contract, barrier and keyring, seals, mounts,
//! router, tokens, ACL policies and the engine interface.
//!
//! It must never depend on HTTP, FFI (PKCS#11) or SQL: those live in the
//! `server`, `seal-pkcs11` and `storage-*` crates, which depend on this one.

mod audit_devices;
mod audit_log;
pub mod audit_table;
pub mod auth_token;
mod authorize;
pub mod barrier;
pub mod cidr;
pub mod clock;
pub mod engine;
pub mod error;
pub mod expiration;
pub mod field;
pub mod generate_root;
pub mod init;
pub mod keyring;
pub mod locks;
mod login;
pub mod metrics;
pub mod mount;
pub mod node;
mod plan;
pub mod policy;
pub mod policy_store;
pub mod recovery;
pub mod rekey;
pub mod response_envelope;
pub mod router;
pub mod seal;
pub mod seal_migration;
pub mod seal_rewrap;
pub mod seal_wrap;
mod setup;
pub mod storage;
pub mod system;
mod system_audit;
mod system_auth;
mod system_capabilities;
mod system_leases;
mod system_locked_users;
mod system_policies;
pub mod token;
mod token_create;
pub mod token_params;
mod token_revoke;
pub mod token_role;
mod token_tidy;
mod token_ttl;
pub mod unseal;
pub mod user_lockout;
pub mod view;
mod wrapping;
pub mod wrapping_key;

pub use error::{CoreError, CoreResult};
pub use node::{Core, CoreOptions};
