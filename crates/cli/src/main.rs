//! `coffer`: the command-line interface of the Coffer secrets server, mirroring the `vault` CLI
//! (`server`, `status`, `operator init|unseal|seal|generate-root|rekey`, `login`, `secrets`,
//! `kv`, `lease`, `read`, `write`, `list`, `delete`, `unwrap`, `token`, `policy`, `audit`)
//! including its single-dash flags, tables and exit codes, plus `hsm doctor`.
//!
//! Everything but `server` and `hsm doctor` talks to a server over HTTP through
//! `coffer_client`; `server` calls `coffer_server::run`, and `hsm doctor` runs
//! `coffer_server::hsm_probe` in a child process. This crate must never reach into core,
//! engine, seal or storage crates.

mod api_path;
mod argv;
mod cli;
mod commands;
mod context;
mod data;
mod flags;
mod format;
mod pipe;
mod table;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc, not glibc's malloc: a long-running server's RSS stays flat
/// (docs/RELIABILITY.md, soak), where glibc's per-thread arenas kept growing.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    pipe::quiet_on_broken_pipe();
    let args = argv::normalise(std::env::args_os());
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with exit 0; usage errors exit 1, as vault's do.
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    ExitCode::from(commands::run(cli).await)
}
