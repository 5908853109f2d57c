//! Integration tests of the transit engine through the `Engine` trait, over
//! a real barrier and the in-memory backend, with entropy sources the tests
//! control (counting, failing) and a clock they move by hand.

mod cache;
mod encrypt;
mod entropy;
mod export_backup;
mod keys;
mod props;
mod sign;
mod support;
