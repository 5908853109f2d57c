//! Work that outlives the request that started it: the token and lease
//! tidies and the deletion of a disabled mount's data. The request answers
//! at once (202, as Vault's tidies do); the job runs on a task of its own,
//! one per name at a time, and logs what it did when it ends. Its last
//! state stays readable (`sys/leases/tidy-status`, `auth/token/tidy-status`)
//! until the node seals.
//!
//! A job holds no lock on the node's state while it works, but it ends with
//! the served state: a seal or an HA step-down aborts every running job
//! (under the state lock, so never inside a step that holds
//! `Core::unsealed`, which the jobs' mount-table edits do). Mount deletions
//! are recorded in the mount tables and start again at the next unseal.

use crate::engine::{Response, ResponseStatus};
use crate::error::CoreResult;
use crate::node::Core;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JobState {
    Running,
    Finished(String),
    Failed(String),
}

/// One job's latest run.
#[derive(Debug, Clone)]
pub(crate) struct JobStatus {
    pub(crate) state: JobState,
    pub(crate) started: SystemTime,
    pub(crate) finished: Option<SystemTime>,
}

impl JobStatus {
    /// The `tidy-status` shape: `state` (`Running`, `Finished`, `Error`),
    /// `message` or `error`, and the RFC 3339 times.
    fn json(&self) -> Value {
        let (state, message, error) = match &self.state {
            JobState::Running => ("Running", Value::Null, Value::Null),
            JobState::Finished(m) => ("Finished", json!(m), Value::Null),
            JobState::Failed(e) => ("Error", Value::Null, json!(e)),
        };
        json!({
            "state": state,
            "message": message,
            "error": error,
            "time_started": crate::clock::rfc3339(self.started),
            "time_finished": self.finished.map(crate::clock::rfc3339),
        })
    }
}

/// Finished runs kept (their status stays readable) before the oldest go.
const KEPT_RUNS: usize = 64;

/// The node's jobs by name.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    runs: Mutex<HashMap<String, JobStatus>>,
    running: Mutex<HashMap<String, tokio::task::AbortHandle>>,
}

impl Jobs {
    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<String, JobStatus>> {
        self.runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The latest run of `name`, if any since the node unsealed.
    pub(crate) fn status(&self, name: &str) -> Option<JobStatus> {
        self.runs().get(name).cloned()
    }

    /// How many jobs are running now.
    pub(crate) fn running(&self) -> usize {
        self.runs()
            .values()
            .filter(|s| s.state == JobState::Running)
            .count()
    }

    fn handles(&self) -> std::sync::MutexGuard<'_, HashMap<String, tokio::task::AbortHandle>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Aborts the running jobs and forgets every run (at seal and step-down,
    /// with the state lock held exclusively).
    pub(crate) fn clear(&self) {
        for (name, job) in self.handles().drain() {
            job.abort();
            tracing::info!(job = %name, "stopped: the node sealed or stepped down");
        }
        self.runs().clear();
    }

    /// Records a new run of `name` unless one is running (then `false`);
    /// past [`KEPT_RUNS`], the oldest finished runs are forgotten.
    fn begin(&self, name: &str) -> bool {
        let mut runs = self.runs();
        if runs.get(name).is_some_and(|s| s.state == JobState::Running) {
            return false;
        }
        if runs.len() >= KEPT_RUNS {
            let mut finished: Vec<(SystemTime, String)> = runs
                .iter()
                .filter_map(|(n, s)| s.finished.map(|t| (t, n.clone())))
                .collect();
            finished.sort();
            for (_, old) in finished.iter().take(runs.len() + 1 - KEPT_RUNS) {
                runs.remove(old);
            }
        }
        runs.insert(
            name.to_owned(),
            JobStatus {
                state: JobState::Running,
                started: SystemTime::now(),
                finished: None,
            },
        );
        true
    }

    fn finish(&self, name: &str, state: JobState) {
        self.handles().remove(name);
        if let Some(s) = self.runs().get_mut(name) {
            s.state = state;
            s.finished = Some(SystemTime::now());
        }
    }
}

impl Core {
    /// Starts `work` as job `name` unless a run of it is going on; `false`
    /// then. `work` returns what it did, in a sentence for the log and the
    /// status.
    pub(crate) fn start_job<F>(
        self: &Arc<Self>,
        name: impl Into<String>,
        work: impl FnOnce(Arc<Core>) -> F,
    ) -> bool
    where
        F: Future<Output = CoreResult<String>> + Send + 'static,
    {
        let name = name.into();
        if !self.jobs.begin(&name) {
            return false;
        }
        tracing::info!(job = %name, "started");
        let name_of_task = name.clone();
        let core = Arc::clone(self);
        let work = work(Arc::clone(self));
        let mut handles = self.jobs.handles();
        let task = tokio::spawn(async move {
            let began = Instant::now();
            let state = match work.await {
                Ok(done) => {
                    tracing::info!(job = %name, seconds = began.elapsed().as_secs_f64(), "{done}");
                    JobState::Finished(done)
                }
                Err(e) => {
                    tracing::warn!(
                        job = %name,
                        seconds = began.elapsed().as_secs_f64(),
                        error = %e,
                        "stopped before the end"
                    );
                    JobState::Failed(e.to_string())
                }
            };
            core.jobs.finish(&name, state);
        });
        // Registered before the task can finish (it takes this lock first).
        handles.insert(name_of_task, task.abort_handle());
        true
    }

    /// Starts tidy job `name` and gives Vault's answer: 202 with a warning
    /// that says where to look (`status_path`), or that one is running.
    pub(crate) fn start_tidy<F>(
        self: &Arc<Self>,
        name: &'static str,
        status_path: &str,
        work: impl FnOnce(Arc<Core>) -> F,
    ) -> Response
    where
        F: Future<Output = CoreResult<String>> + Send + 'static,
    {
        let warning = if self.start_job(name, work) {
            format!(
                "Tidy operation successfully started. Any information from the operation will \
                 be printed to Coffer's server logs and shown at {status_path}."
            )
        } else {
            "Tidy operation already in progress.".to_owned()
        };
        Response {
            status: ResponseStatus::Code(202),
            ..Response::default()
        }
        .warn(warning)
    }

    /// A `tidy-status` read of job `name`: `Inactive` before the first run.
    pub(crate) fn tidy_status(&self, name: &str) -> Response {
        Response::data(self.jobs.status(name).map_or_else(
            || {
                json!({"state": "Inactive", "message": null, "error": null,
                      "time_started": null, "time_finished": null})
            },
            |s| s.json(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_job_is_not_started_twice_and_old_runs_are_forgotten() {
        let jobs = Jobs::default();
        assert!(jobs.begin("tidy"));
        assert!(!jobs.begin("tidy"), "one run at a time");
        jobs.finish("tidy", JobState::Finished("done".to_owned()));
        for i in 0..(KEPT_RUNS * 2) {
            let name = format!("deletion {i}");
            assert!(jobs.begin(&name));
            jobs.finish(&name, JobState::Finished("done".to_owned()));
        }
        assert!(jobs.runs().len() <= KEPT_RUNS);
        assert!(jobs.status("tidy").is_none(), "the oldest run went first");
        assert!(
            jobs.status(&format!("deletion {}", KEPT_RUNS * 2 - 1))
                .is_some()
        );
        assert!(jobs.begin("tidy"), "a finished job starts again");
        assert_eq!(jobs.running(), 1);
    }
}
