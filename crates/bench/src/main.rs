//! `coffer-bench`: a load generator for Vault-compatible servers (Coffer, Vault, OpenBao).
//!
//! It drives a running server over plain HTTP(S) with N concurrent clients for a fixed time
//! per scenario and prints ops/s, p50/p99 latency and errors (see docs/PERFORMANCE.md). It
//! must never depend on Coffer's own crates, so the same binary measures any server the same
//! way; and it refuses non-loopback targets unless `--allow-remote` is given. Every run is
//! bounded: phases are capped, requests time out, and the tool stops by itself.

mod args;
mod compare;
mod http;
mod report;
mod runner;
mod scenario;
mod stats;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;

use crate::args::Args;
use crate::http::VaultHttp;
use crate::report::{CompareReport, LevelResult, Report, say};
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
    let compare_target = args.compare_target()?;
    if compare_target.is_some()
        && let Some(name) = args
            .scenario
            .iter()
            .find(|n| scenario::build(n).is_some_and(|s| !s.needs_server()))
    {
        anyhow::bail!(
            "scenario {name} runs in this process, not on a server: run it without --compare"
        );
    }
    let client = VaultHttp::new(target, args.token.as_deref(), args)?;
    let compare_client = compare_target
        .map(|url| VaultHttp::new(url, args.compare_token(), args))
        .transpose()?;
    let phases = Phases {
        warmup: args.warmup,
        duration: args.duration,
        request_timeout: args.request_timeout,
    };

    // Human lines go to stdout, or to stderr when stdout carries the JSON document.
    let per_level = args.warmup + args.duration;
    let (servers, runs_per_level) = match compare_client {
        Some(_) => (
            format!(" x 2 servers x {} round(s)", args.rounds),
            2 * usize::try_from(args.rounds)?,
        ),
        None => (String::new(), 1),
    };
    say(
        args.json,
        &format!(
            "coffer-bench: {} scenario(s) x {} client count(s){servers}, {} warm-up + {} each (~{} total plus setup)",
            args.scenario.len(),
            args.clients.len(),
            humantime::format_duration(args.warmup),
            humantime::format_duration(args.duration),
            humantime::format_duration(
                per_level
                    * u32::try_from(args.scenario.len() * args.clients.len() * runs_per_level)?
            ),
        ),
    );

    let (results, compared) = match &compare_client {
        None => (run_each(args, &client, phases).await?, None),
        Some(other) => {
            let levels = compare::run_all(args, &client, other, phases).await?;
            let primary = levels.iter().map(|l| l.primary.clone()).collect();
            (primary, Some(levels))
        }
    };

    if args.json {
        let doc = Report {
            address: &args.address,
            warmup_s: args.warmup.as_secs_f64(),
            results: &results,
            compare: compared.as_deref().map(|levels| CompareReport {
                address: args.compare.as_deref().unwrap_or_default(),
                rounds: args.rounds,
                levels,
            }),
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }

    // A level in which not a single op succeeded means the numbers are meaningless.
    let compared_results = compared.iter().flatten().map(|l| &l.compare);
    if results.iter().chain(compared_results).any(|r| r.ops == 0) {
        eprintln!(
            "coffer-bench: at least one run had no successful operation (see first error above)"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs every scenario of `args` at every client count against one server, printing a line
/// per level.
async fn run_each(
    args: &Args,
    client: &VaultHttp,
    phases: Phases,
) -> anyhow::Result<Vec<LevelResult>> {
    let mut results: Vec<LevelResult> = Vec::new();
    for name in &args.scenario {
        let scenario = runner::set_up(name, client).await?;
        for &clients in &args.clients {
            match runner::run_level(Arc::clone(&scenario), client, clients, phases).await {
                Ok(result) => {
                    say(args.json, &result.human_line());
                    results.push(result);
                }
                Err(e) => {
                    runner::tear_down(scenario.as_ref(), client).await;
                    return Err(e.context(format!("running {name} with {clients} clients")));
                }
            }
        }
        runner::tear_down(scenario.as_ref(), client).await;
    }
    Ok(results)
}
