//! Integration tests of the KV engines over a real barrier and the
//! in-memory backend, with a clock the tests move by hand.

mod cubbyhole;
mod existence;
mod props;
mod support;
mod v1;
mod v2_config;
mod v2_data;
mod v2_metadata;
mod v2_versions;
