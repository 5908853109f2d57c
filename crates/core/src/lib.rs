//! The Coffer domain: storage contract, barrier and keyring, seals, mounts,
//! router, tokens, ACL policies and the engine interface, one folder per
//! concept in the order a request meets them (`node`, `request`, `login`,
//! `engine`, `mount`, `sys`, `token`, `policy`, `audit`, `wrapping`,
//! `ceremony`, `seal`, `storage`), and `ha` for nodes sharing one storage.
//!
//! It must never depend on HTTP, FFI (PKCS#11) or SQL: those live in the
//! `server`, `seal-pkcs11` and `storage-*` crates, which depend on this one.
//! The public surface is what those crates and the engines use; the rest is
//! `pub(crate)`.

mod audit;
pub mod ceremony;
pub mod clock;
pub mod engine;
mod error;
pub mod ha;
pub mod hcl_nesting;
pub mod login;
pub mod managed_keys;
pub mod mount;
mod node;
pub mod policy;
pub mod quota;
mod request;
pub mod seal;
pub mod storage;
pub mod sys;
pub mod token;
mod ttl;
mod wrapping;

pub use error::{CoreError, CoreResult};
pub use node::{ClusterInfo, Core, CoreOptions, metrics};
pub use ttl::Ttl;
