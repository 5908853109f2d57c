//! Runs one scenario at one client count: warm-up, then a fixed measured window; and sets
//! scenarios up and tears them down around that.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::task::JoinSet;

use crate::http::{Refused, VaultHttp};
use crate::report::LevelResult;
use crate::scenario::{self, Scenario};
use crate::stats::Latencies;

/// Timing of one (scenario, clients) run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phases {
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    /// Per-request timeout: how long the last in-flight op may run past the window.
    pub(crate) request_timeout: Duration,
}

/// What one client task saw during the measured window.
#[derive(Debug, Default)]
struct Tally {
    samples: Vec<Duration>,
    /// Shed by the server (429, or 503 with Retry-After): see `http::Refused`.
    refused: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Runs `clients` tasks that call `one_op` back to back until the window closes. Ops that
/// *start* inside the measured window are counted; ops that started during warm-up are not.
pub(crate) async fn run_level(
    scenario: Arc<dyn Scenario>,
    client: &VaultHttp,
    clients: usize,
    phases: Phases,
) -> anyhow::Result<LevelResult> {
    let clients_u64 = u64::try_from(clients)?;
    let measure_start = Instant::now() + phases.warmup;
    let end = measure_start + phases.duration;

    let mut tasks = JoinSet::new();
    for k in 0..clients_u64 {
        let scenario = Arc::clone(&scenario);
        let client = client.clone();
        tasks.spawn(async move {
            let mut tally = Tally::default();
            let mut i = k;
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let outcome = scenario.one_op(&client, i).await;
                let took = started.elapsed();
                i += clients_u64;
                if started < measure_start {
                    continue;
                }
                match outcome {
                    Ok(()) => tally.samples.push(took),
                    Err(e) if e.downcast_ref::<Refused>().is_some() => tally.refused += 1,
                    Err(e) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            tally
        });
    }

    // Belt and braces: even if a request ignored its timeout, the run ends by itself.
    let hard_limit =
        phases.warmup + phases.duration + phases.request_timeout + Duration::from_secs(5);
    let collected = tokio::time::timeout(hard_limit, async {
        let mut all = Tally::default();
        while let Some(joined) = tasks.join_next().await {
            let tally = joined.context("a client task panicked")?;
            all.samples.extend(tally.samples);
            all.refused += tally.refused;
            all.errors += tally.errors;
            if all.first_error.is_none() {
                all.first_error = tally.first_error;
            }
        }
        anyhow::Ok(all)
    })
    .await
    .with_context(|| format!("run did not finish within {hard_limit:?}"))??;

    let latencies = Latencies::from_samples(collected.samples);
    Ok(LevelResult::new(
        scenario.name(),
        clients,
        phases.duration,
        &latencies,
        collected.refused,
        collected.errors,
        collected.first_error,
    ))
}

/// Builds scenario `name` and sets it up on `client`'s server. A failed setup is cleaned up
/// (as far as it got) before its error is returned.
pub(crate) async fn set_up(name: &str, client: &VaultHttp) -> anyhow::Result<Arc<dyn Scenario>> {
    let mut scenario =
        scenario::build(name).with_context(|| format!("unknown scenario {name:?}"))?;
    let setup = scenario.setup(client).await;
    let scenario: Arc<dyn Scenario> = Arc::from(scenario);
    if let Err(e) = setup {
        tear_down(scenario.as_ref(), client).await;
        return Err(e.context(format!("setting up scenario {name}")));
    }
    Ok(scenario)
}

/// Tears `scenario` down on `client`'s server; a failure is only a warning on stderr.
pub(crate) async fn tear_down(scenario: &dyn Scenario, client: &VaultHttp) {
    if let Err(e) = scenario.teardown(client).await {
        eprintln!(
            "coffer-bench: warning: cleaning up after {} failed: {e:#}",
            scenario.name()
        );
    }
}
