//! Test-only helpers for Coffer: the storage backend conformance suite and its
//! crash-consistency harness (later also the `TestServer` and SoftHSM2 fixtures).
//!
//! This crate is only ever a `[dev-dependencies]` entry. Production crates must
//! never depend on it, and it must never depend on a concrete backend, engine
//! or the server: backends come in through [`coffer_core::storage::Backend`].

pub mod conformance;
