//! Test-only helpers for Coffer: the node harness ([`node`], [`auth_node`]) with
//! its software seal, test clock and test storage, the default engine list
//! ([`engines`]), the PKCS#11 token fixture ([`token`], SoftHSM2 or kryoptic), a throwaway
//! PostgreSQL server ([`postgres`]), [`runtime::block_on`] for property tests, and the
//! storage backend conformance suite with its crash-consistency harness ([`conformance`]).
//!
//! This crate is only ever a `[dev-dependencies]` entry: production crates must
//! never depend on it. It runs real nodes, so it depends on the engine and auth
//! crates and on in-memory storage, but never on the server or a seal crate
//! (the HSM is reached through `softhsm2-util` and the module path alone, and
//! PostgreSQL through its own binaries).

pub mod auth_node;
pub mod clock;
pub mod conformance;
pub mod engines;
pub mod node;
pub mod postgres;
pub mod runtime;
pub mod soft_seal;
pub mod storage;
pub mod token;
