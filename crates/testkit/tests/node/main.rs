//! Node tests: the core as a whole with real engines mounted (KV, transit,
//! userpass, AppRole from the default engine list), through `Core::handle`
//! and the ceremonies, without HTTP. Tests of one engine or auth method live
//! in that crate; tests of the core alone in `coffer-core`; HTTP-level tests
//! in `coffer-server`.

mod acl;
mod audit;
mod auto_seal;
mod entropy;
mod ha;
mod init_failure;
mod lease_recovery;
mod leases;
mod locked_users;
mod managed_keys;
mod mount_removal;
mod policies;
mod quotas;
mod raw;
mod rekey;
mod rotation;
mod route_guard;
mod seal_migration;
mod seal_races;
mod seal_wrap;
mod storage_units;
mod token_lifetime;
mod token_settings;
mod tokens;
mod wrapping;
