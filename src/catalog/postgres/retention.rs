//! Pruning the run history on PostgreSQL: finished runs past an age, and each script's oldest
//! beyond a cap. Queued and running runs are never touched.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::PgCatalog;
use crate::catalog::{CatalogError, PrunedRun};

const FINISHED: &str = "status NOT IN ('queued', 'running')";

fn pruned(rows: &[tokio_postgres::Row]) -> Vec<PrunedRun> {
    let mut runs: Vec<PrunedRun> = rows
        .iter()
        .map(|row| PrunedRun {
            id: row.get(0),
            run_dir: row.get(1),
        })
        .collect();
    runs.sort_unstable_by_key(|run| run.id);
    runs
}

impl PgCatalog {
    /// Deletes finished runs that ended at least `age` ago; returns them with their folders.
    pub async fn delete_runs_older_than(
        &self,
        age: Duration,
    ) -> Result<Vec<PrunedRun>, CatalogError> {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if age >= since_epoch {
            // Nothing ended before 1970, and PostgreSQL's calendar would overflow on the way.
            return Ok(vec![]);
        }
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "DELETE FROM runs
                     WHERE {FINISHED} AND finished_at IS NOT NULL
                       AND finished_at <= to_char(
                           (clock_timestamp() - make_interval(secs => $1)) AT TIME ZONE 'UTC',
                           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
                     RETURNING id, run_dir"
                ),
                &[&(age.as_secs() as f64)],
            )
            .await?;
        Ok(pruned(&rows))
    }

    /// Deletes each script's finished runs beyond its `keep` newest (runs in progress count
    /// among the newest but are never deleted); returns them.
    pub async fn delete_runs_beyond_cap(&self, keep: u64) -> Result<Vec<PrunedRun>, CatalogError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "DELETE FROM runs
                     WHERE id IN (
                         SELECT id FROM (
                             SELECT id, status, ROW_NUMBER() OVER (
                                 PARTITION BY script_id ORDER BY id DESC) AS newest
                             FROM runs
                         ) ranked WHERE newest > $1 AND {FINISHED}
                     )
                     RETURNING id, run_dir"
                ),
                &[&i64::try_from(keep).unwrap_or(i64::MAX)],
            )
            .await?;
        Ok(pruned(&rows))
    }
}
