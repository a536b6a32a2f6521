//! The run queue shared by the nodes of one PostgreSQL catalog (docs/scale-out.md): workers
//! register and heartbeat, claim queued runs with `FOR UPDATE SKIP LOCKED` within each
//! script's concurrency limit, and a reaper hands the runs of a silent worker back as
//! interrupted. No broker: the rows and their locks are the protocol.

use std::time::Duration;

use super::runs::{run_from_row, RUN_COLUMNS};
use super::PgCatalog;
use crate::catalog::{CatalogError, Run};

/// The advisory lock only one reaper holds at a time ("SGREAPER").
const REAPER_LOCK: i64 = 0x5347_5245_4150_4552;

/// How many full scripts one claim steps over before it gives up until the next.
const CLAIM_WINDOW: usize = 32;

/// What a cancel request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was queued: now cancelled, and never claimed.
    WasQueued,
    /// It is running on a worker, which is asked to stop it.
    Running,
    /// It had already ended, or never was.
    NotActive,
}

/// A worker's runs as the catalog sees them after a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Runs still leased to the worker (their leases extended).
    pub leased: Vec<i64>,
    /// Of those, the ones a client asked to cancel.
    pub cancel_requested: Vec<i64>,
    /// Whether the worker is still registered; false once the reaper gave it up.
    pub alive: bool,
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

impl PgCatalog {
    /// Registers a worker with `slots` runs at once; returns its id.
    pub async fn register_worker(
        &self,
        host: &str,
        pid: u32,
        slots: u32,
    ) -> Result<i64, CatalogError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "INSERT INTO workers (host, pid, slots) VALUES ($1, $2, $3) RETURNING id",
                &[&host, &i64::from(pid), &i64::from(slots)],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Records that `worker` is alive and extends the leases of its runs by `lease`.
    pub async fn heartbeat(&self, worker: i64, lease: Duration) -> Result<Heartbeat, CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let alive = tx
            .execute(
                "UPDATE workers SET heartbeat_at = now() WHERE id = $1 AND stopped_at IS NULL",
                &[&worker],
            )
            .await?
            == 1;
        let rows = tx
            .query(
                "UPDATE runs SET lease_until = now() + make_interval(secs => $2)
                 WHERE worker_id = $1 AND status = 'running' AND $3
                 RETURNING id, cancel_requested",
                &[&worker, &seconds(lease), &alive],
            )
            .await?;
        tx.commit().await?;
        let mut leased: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
        let mut cancel_requested: Vec<i64> = rows
            .iter()
            .filter(|row| row.get::<_, bool>(1))
            .map(|row| row.get(0))
            .collect();
        leased.sort_unstable();
        cancel_requested.sort_unstable();
        Ok(Heartbeat {
            leased,
            cancel_requested,
            alive,
        })
    }

    /// A worker that stops on purpose: it takes no more runs and is never reaped.
    pub async fn stop_worker(&self, worker: i64) -> Result<(), CatalogError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE workers SET stopped_at = now() WHERE id = $1 AND stopped_at IS NULL",
                &[&worker],
            )
            .await?;
        Ok(())
    }

    /// Claims the oldest queued run whose script has a free slot, for `worker`, leased for
    /// `lease`; None when nothing can start. Concurrent claims never take the same run (the
    /// row lock, skipped by the others) nor overfill a script (its advisory lock, held while
    /// its running runs are counted).
    pub async fn claim_run(
        &self,
        worker: i64,
        lease: Duration,
    ) -> Result<Option<Run>, CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The claim must read the queue's head from its index, whatever the table's statistics
        // say: a freshly filled queue looks empty to the planner, which then sorts the table.
        tx.batch_execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off")
            .await?;
        let next = tx
            .prepare_cached(
                "SELECT r.id, r.script_id, s.max_concurrent FROM runs r
                 LEFT JOIN scripts s ON s.id = r.script_id
                 WHERE r.status = 'queued' AND NOT r.cancel_requested
                   AND (r.script_id IS NULL OR r.script_id <> ALL($1))
                 ORDER BY r.id
                 LIMIT 1
                 FOR UPDATE OF r SKIP LOCKED",
            )
            .await?;
        let claim = tx
            .prepare_cached(&format!(
                "UPDATE runs SET status = 'running', worker_id = $2, started_at = sg_now(),
                     lease_until = now() + make_interval(secs => $3), attempt = attempt + 1
                 WHERE id = $1
                 RETURNING {RUN_COLUMNS}"
            ))
            .await?;
        // Scripts found full in this claim: their queued runs wait, later runs may start.
        let mut full: Vec<i64> = Vec::new();
        while full.len() < CLAIM_WINDOW {
            let Some(candidate) = tx.query_opt(&next, &[&full]).await? else {
                break;
            };
            let (id, script_id, limit): (i64, Option<i64>, Option<i64>) =
                (candidate.get(0), candidate.get(1), candidate.get(2));
            if let (Some(script_id), Some(limit)) = (script_id, limit) {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&script_id])
                    .await?;
                let running: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM runs WHERE script_id = $1 AND status = 'running'",
                        &[&script_id],
                    )
                    .await?
                    .get(0);
                if running >= limit {
                    full.push(script_id);
                    continue;
                }
            }
            let row = tx
                .query_one(&claim, &[&id, &worker, &seconds(lease)])
                .await?;
            tx.commit().await?;
            return Ok(Some(run_from_row(&row)));
        }
        tx.commit().await?;
        Ok(None)
    }

    /// Asks for a run to stop: a queued run is cancelled at once (no worker will claim it), a
    /// running one is flagged for its worker, which hears of it by its next heartbeat.
    pub async fn request_cancel(&self, id: i64) -> Result<CancelOutcome, CatalogError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "WITH before AS (
                     SELECT id, status FROM runs
                     WHERE id = $1 AND status IN ('queued', 'running') FOR UPDATE)
                 UPDATE runs r SET cancel_requested = true,
                     status = CASE before.status WHEN 'queued' THEN 'cancelled' ELSE r.status END,
                     error_code = CASE before.status WHEN 'queued' THEN 'cancelled'
                         ELSE r.error_code END,
                     error_message = CASE before.status WHEN 'queued'
                         THEN 'the run was cancelled' ELSE r.error_message END,
                     finished_at = CASE before.status WHEN 'queued' THEN sg_now()
                         ELSE r.finished_at END
                 FROM before WHERE r.id = before.id
                 RETURNING before.status",
                &[&id],
            )
            .await?;
        Ok(match row.map(|row| row.get::<_, String>(0)) {
            Some(before) if before == "queued" => CancelOutcome::WasQueued,
            Some(_) => CancelOutcome::Running,
            None => CancelOutcome::NotActive,
        })
    }

    /// Gives up on workers silent for `silence`: they are marked stopped and their runs
    /// interrupted. Returns the interrupted runs' ids; only one node reaps at a time, the
    /// others get an empty list.
    pub async fn reap_silent_workers(&self, silence: Duration) -> Result<Vec<i64>, CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let reaper: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&REAPER_LOCK])
            .await?
            .get(0);
        if !reaper {
            return Ok(vec![]);
        }
        let silent: Vec<i64> = tx
            .query(
                "UPDATE workers SET stopped_at = now()
                 WHERE stopped_at IS NULL AND heartbeat_at < now() - make_interval(secs => $1)
                 RETURNING id",
                &[&seconds(silence)],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let rows = tx
            .query(
                "UPDATE runs SET status = 'interrupted', error_code = 'interrupted',
                     error_message = 'the worker running it stopped answering',
                     finished_at = sg_now(), lease_until = NULL
                 WHERE status = 'running'
                   AND (worker_id = ANY($1)
                        OR (worker_id IS NOT NULL AND lease_until < now()))
                 RETURNING id",
                &[&silent],
            )
            .await?;
        tx.commit().await?;
        let mut interrupted: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
        interrupted.sort_unstable();
        Ok(interrupted)
    }
}
