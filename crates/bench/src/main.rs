//! `coffer-bench`: a load generator for Vault-compatible servers (Coffer, Vault, OpenBao).
//!
//! It drives a running server over plain HTTP(S) with N concurrent clients for a fixed time
//! per scenario and prints ops/s, p50/p99 latency and errors (see docs/PERFORMANCE.md). It
//! must never depend on Coffer's own crates, so the same binary measures any server the same
//! way; and it refuses non-loopback targets unless `--allow-remote` is given. Every run is
//! bounded: phases are capped, requests time out, and the tool stops by itself.

mod args;
mod http;
mod report;
mod runner;
mod scenario;
mod stats;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;

use crate::args::Args;
use crate::http::VaultHttp;
use crate::report::{LevelResult, Report};
use crate::runner::Phases;

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("coffer-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("coffer-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.token.is_none()
        && let Some(name) = args
            .scenario
            .iter()
            .find(|n| scenario::build(n).is_some_and(|s| s.needs_server()))
    {
        anyhow::bail!("scenario {name} talks to a server: give --token (or VAULT_TOKEN)");
    }
    let target = args.target()?;
    let client = VaultHttp::new(target, args)?;
    let phases = Phases {
        warmup: args.warmup,
        duration: args.duration,
        request_timeout: args.request_timeout,
    };

    // Human lines go to stdout, or to stderr when stdout carries the JSON document.
    let say = |line: &str| {
        if args.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let per_level = args.warmup + args.duration;
    say(&format!(
        "coffer-bench: {} scenario(s) x {} client count(s), {} warm-up + {} each (~{} total plus setup)",
        args.scenario.len(),
        args.clients.len(),
        humantime::format_duration(args.warmup),
        humantime::format_duration(args.duration),
        humantime::format_duration(
            per_level * u32::try_from(args.scenario.len() * args.clients.len())?
        ),
    ));

    let mut results: Vec<LevelResult> = Vec::new();
    for name in &args.scenario {
        let mut scenario =
            scenario::build(name).with_context(|| format!("unknown scenario {name:?}"))?;
        let setup = scenario.setup(&client).await;
        let scenario: Arc<dyn scenario::Scenario> = Arc::from(scenario);
        if let Err(e) = setup {
            teardown(scenario.as_ref(), &client).await;
            return Err(e.context(format!("setting up scenario {name}")));
        }
        for &clients in &args.clients {
            match runner::run_level(Arc::clone(&scenario), &client, clients, phases).await {
                Ok(result) => {
                    say(&result.human_line());
                    results.push(result);
                }
                Err(e) => {
                    teardown(scenario.as_ref(), &client).await;
                    return Err(e.context(format!("running {name} with {clients} clients")));
                }
            }
        }
        teardown(scenario.as_ref(), &client).await;
    }

    if args.json {
        let doc = Report {
            address: &args.address,
            warmup_s: args.warmup.as_secs_f64(),
            results: &results,
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }

    // A level in which not a single op succeeded means the numbers are meaningless.
    if results.iter().any(|r| r.ops == 0) {
        eprintln!(
            "coffer-bench: at least one run had no successful operation (see first error above)"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn teardown(scenario: &dyn scenario::Scenario, client: &VaultHttp) {
    if let Err(e) = scenario.teardown(client).await {
        eprintln!(
            "coffer-bench: warning: cleaning up after {} failed: {e:#}",
            scenario.name()
        );
    }
}
