//! `--compare`: the same scenarios against two servers. Each scenario is set up once per
//! server (its own instance: mount names and URLs belong to that server); each client count
//! then runs against the `--address` server and the `--compare` server in turn, `--rounds`
//! times, and the best round of each side is paired into a [`ComparedLevel`].

use std::sync::Arc;

use anyhow::Context as _;

use crate::args::Args;
use crate::http::VaultHttp;
use crate::report::{ComparedLevel, LevelResult, say};
use crate::runner::{self, Phases};
use crate::scenario::Scenario;

/// One server and the scenario instance set up on it. Setup, runs and teardown all go
/// through this pairing, so an instance only ever meets the client it was set up with (its
/// precomputed URLs point at that client's server).
struct Side<'a> {
    /// `coffer` for `--address`, `compare` for `--compare` (as in the ratio line).
    label: &'static str,
    client: &'a VaultHttp,
    scenario: Arc<dyn Scenario>,
}

impl<'a> Side<'a> {
    /// Builds scenario `name` and sets it up on `client`'s server.
    async fn set_up(
        label: &'static str,
        name: &str,
        client: &'a VaultHttp,
    ) -> anyhow::Result<Self> {
        let scenario = runner::set_up(name, client)
            .await
            .with_context(|| format!("on the {label} server"))?;
        Ok(Self {
            label,
            client,
            scenario,
        })
    }

    /// One measured run at `clients` clients.
    async fn run(&self, clients: usize, phases: Phases) -> anyhow::Result<LevelResult> {
        runner::run_level(Arc::clone(&self.scenario), self.client, clients, phases)
            .await
            .with_context(|| {
                format!(
                    "running {} with {clients} clients on the {} server",
                    self.scenario.name(),
                    self.label
                )
            })
    }

    /// Removes what setup created on this server (a failure is a warning).
    async fn tear_down(&self) {
        runner::tear_down(self.scenario.as_ref(), self.client).await;
    }
}

/// Runs every scenario of `args` on both servers and returns one pair per (scenario,
/// clients), in order. Both servers are cleaned up after each scenario, also after a failure.
pub(crate) async fn run_all(
    args: &Args,
    primary: &VaultHttp,
    compare: &VaultHttp,
    phases: Phases,
) -> anyhow::Result<Vec<ComparedLevel>> {
    let mut levels = Vec::new();
    for name in &args.scenario {
        let ours = Side::set_up("coffer", name, primary).await?;
        let theirs = match Side::set_up("compare", name, compare).await {
            Ok(side) => side,
            Err(e) => {
                ours.tear_down().await;
                return Err(e);
            }
        };
        let outcome = run_scenario(args, &ours, &theirs, phases, &mut levels).await;
        ours.tear_down().await;
        theirs.tear_down().await;
        outcome?;
    }
    Ok(levels)
}

/// Every client count of one scenario: `--rounds` alternations, then the ratio line.
async fn run_scenario(
    args: &Args,
    ours: &Side<'_>,
    theirs: &Side<'_>,
    phases: Phases,
    levels: &mut Vec<ComparedLevel>,
) -> anyhow::Result<()> {
    for &clients in &args.clients {
        let mut best_ours = None;
        let mut best_theirs = None;
        for round in 1..=args.rounds {
            for (side, best) in [(ours, &mut best_ours), (theirs, &mut best_theirs)] {
                let result = side.run(clients, phases).await?;
                say(
                    args.json,
                    &format!(
                        "{} {}",
                        run_tag(side.label, round, args.rounds),
                        result.human_line()
                    ),
                );
                keep_best(best, result);
            }
        }
        let (Some(primary), Some(compare)) = (best_ours, best_theirs) else {
            anyhow::bail!("--rounds must be at least 1");
        };
        let level = ComparedLevel::new(primary, compare);
        say(args.json, &level.ratio_line());
        levels.push(level);
    }
    Ok(())
}

/// `[coffer]`, or `[coffer 2/3]` when there is more than one round.
fn run_tag(label: &str, round: u32, rounds: u32) -> String {
    if rounds > 1 {
        format!("[{label} {round}/{rounds}]")
    } else {
        format!("[{label}]")
    }
}

/// Keeps `result` if it has more ops/s than the best so far (the earlier round on a tie).
fn keep_best(best: &mut Option<LevelResult>, result: LevelResult) {
    if best
        .as_ref()
        .is_none_or(|b| result.ops_per_sec > b.ops_per_sec)
    {
        *best = Some(result);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::Latencies;

    fn result(ops: u64, errors: u64) -> LevelResult {
        let lat = Latencies::from_samples(vec![
            Duration::from_millis(1);
            usize::try_from(ops).unwrap()
        ]);
        LevelResult::new("mixed", 4, Duration::from_secs(1), &lat, 0, errors, None)
    }

    #[test]
    fn the_round_with_most_ops_per_second_is_kept() {
        let mut best = None;
        for (ops, errors) in [(50, 1), (80, 2), (70, 3), (80, 4)] {
            keep_best(&mut best, result(ops, errors));
        }
        let best = best.unwrap();
        assert_eq!(best.ops, 80);
        assert_eq!(best.errors, 2, "a tie keeps the earlier round");
    }

    #[test]
    fn run_lines_are_tagged_with_the_server_and_the_round_when_there_are_several() {
        assert_eq!(run_tag("coffer", 1, 1), "[coffer]");
        assert_eq!(run_tag("compare", 2, 3), "[compare 2/3]");
    }
}
