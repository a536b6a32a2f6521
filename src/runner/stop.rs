//! Stopping runs: one or all of a script's on request, every one at shutdown, and those an
//! unclean stop left behind.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::catalog::Run;
use crate::process;

use super::{RunError, Runner};

impl Runner {
    /// Stops a queued or running run (its whole process tree) and returns its final record.
    pub async fn cancel(&self, run_id: i64) -> Result<Run, RunError> {
        let Some(active) = self.registry.get(run_id) else {
            let run = self
                .catalog
                .run(run_id)
                .await?
                .ok_or(RunError::RunNotFound(run_id))?;
            return Err(RunError::AlreadyEnded(run_id, run.status.as_str()));
        };
        active.cancel.cancel();
        // A caller told "cancelled" must no longer see the run among the running ones.
        let ended = async {
            let end = active.live.wait_end().await;
            self.registry.wait_gone(run_id).await;
            end
        };
        match tokio::time::timeout(Duration::from_secs(30), ended).await {
            Ok(Some(run)) => Ok((*run).clone()),
            _ => self
                .catalog
                .run(run_id)
                .await?
                .ok_or(RunError::RunNotFound(run_id)),
        }
    }

    /// Cancels every run of a script; returns the ids it stopped.
    pub async fn cancel_script(&self, script_id: i64) -> Vec<i64> {
        let runs: Vec<_> = self
            .registry
            .all()
            .into_iter()
            .filter(|r| r.script_id == Some(script_id))
            .collect();
        for run in &runs {
            run.cancel.cancel();
        }
        for run in &runs {
            let _ = tokio::time::timeout(Duration::from_secs(30), async {
                run.live.wait_end().await;
                self.registry.wait_gone(run.run_id).await;
            })
            .await;
        }
        runs.iter().map(|r| r.run_id).collect()
    }

    /// Refuses new runs, lets those in flight finish for up to `grace`, then stops the rest
    /// and records them as interrupted.
    pub async fn shut_down(&self, grace: Duration) {
        self.accepting.store(false, Ordering::SeqCst);
        if tokio::time::timeout(grace, self.registry.wait_empty())
            .await
            .is_ok()
        {
            return;
        }
        let left = self.registry.all();
        tracing::warn!(
            runs = left.len(),
            "grace period over; stopping the runs still going"
        );
        for run in &left {
            run.interrupt();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.registry.wait_empty()).await;
    }

    /// After an unclean stop: records runs left queued or running as interrupted and kills
    /// any process group they left behind.
    pub async fn recover_leftovers(&self) -> Result<usize, RunError> {
        let leftovers = self.catalog.interrupt_leftover_runs().await?;
        for (run_id, pid) in &leftovers {
            if let Some(pid) = pid {
                if process::kill_leftover_group(*pid, &format!("SG_RUN_ID={run_id}")) {
                    tracing::warn!(
                        run_id,
                        pid,
                        "killed the process group a stopped gateway left running"
                    );
                }
            }
        }
        Ok(leftovers.len())
    }
}
