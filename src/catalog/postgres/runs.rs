//! The runs table on PostgreSQL: a run from its acceptance to its recorded end.

use std::path::PathBuf;

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{text, PgCatalog};
use crate::catalog::{CatalogError, NewRun, Page, Run, RunEnd, RunFilter, RunKind, RunStatus};
use crate::clock;

pub(super) const RUN_COLUMNS: &str =
    "id, script_id, script_path, kind, status, params, ignored_params, run_dir,
    queued_at, started_at, finished_at, duration_ms, exit_code, data, stdout_preview, output_file,
    output_size, output_content_type, stderr, files, error_code, error_message";

fn json_column<T: serde::de::DeserializeOwned>(row: &Row, column: &str) -> Option<T> {
    row.get::<_, Option<&str>>(column)
        .and_then(|text| serde_json::from_str(text).ok())
}

pub(super) fn run_from_row(row: &Row) -> Run {
    Run {
        id: row.get("id"),
        script_id: row.get("script_id"),
        script_path: row.get("script_path"),
        kind: RunKind::parse(row.get("kind")).unwrap_or(RunKind::Script),
        status: RunStatus::parse(row.get("status")).unwrap_or(RunStatus::Error),
        params: json_column(row, "params"),
        ignored_params: json_column(row, "ignored_params").unwrap_or_default(),
        run_dir: row.get("run_dir"),
        queued_at: row.get("queued_at"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
        duration_ms: row.get("duration_ms"),
        exit_code: row
            .get::<_, Option<i64>>("exit_code")
            .map(|code| i32::try_from(code).unwrap_or(i32::MIN)),
        data: json_column(row, "data"),
        stdout_preview: text::load_opt(row.get("stdout_preview")),
        output_file: row.get("output_file"),
        output_size: row.get("output_size"),
        output_content_type: row.get("output_content_type"),
        stderr: text::load_opt(row.get("stderr")),
        files: json_column(row, "files").unwrap_or_default(),
        error_code: row.get("error_code"),
        error_message: text::load_opt(row.get("error_message")),
    }
}

fn saturating(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl PgCatalog {
    /// Records a new run (queued, or starting now) and its folder, which `run_dir` names once
    /// the id is known; returns the id. One statement: the id comes from the sequence first.
    pub async fn start_run(
        &self,
        run: NewRun,
        run_dir: impl FnOnce(i64) -> PathBuf,
        queued: bool,
    ) -> Result<i64, CatalogError> {
        let client = self.client().await?;
        let next = client
            .prepare_cached("SELECT nextval(pg_get_serial_sequence('runs', 'id'))")
            .await?;
        let id: i64 = client.query_one(&next, &[]).await?.get(0);
        let insert = client
            .prepare_cached(
                "INSERT INTO runs (id, script_id, script_path, status, params, ignored_params,
                                   queued_at, started_at, kind, run_dir)
                 VALUES ($1, $2, $3, CASE WHEN $4 THEN 'queued' ELSE 'running' END, $5, $6, $7,
                         CASE WHEN $4 THEN NULL ELSE $7 END,
                         CASE WHEN $2::bigint IS NULL THEN 'exec' ELSE 'script' END, $8)",
            )
            .await?;
        let values: [&(dyn ToSql + Sync); 8] = [
            &id,
            &run.script_id,
            &run.script_path,
            &queued,
            &serde_json::to_string(&run.params)?,
            &serde_json::to_string(&run.ignored_params)?,
            &clock::now_text(),
            &run_dir(id).display().to_string(),
        ];
        client.execute(&insert, &values).await?;
        Ok(id)
    }

    /// A queued run leaves the queue.
    pub async fn mark_run_running(&self, id: i64) -> Result<(), CatalogError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE runs SET status = 'running', started_at = $2
                 WHERE id = $1 AND status = 'queued'",
                &[&id, &clock::now_text()],
            )
            .await?;
        Ok(())
    }

    pub async fn set_run_pid(&self, id: i64, pid: u32) -> Result<(), CatalogError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE runs SET pid = $2 WHERE id = $1",
                &[&id, &i64::from(pid)],
            )
            .await?;
        Ok(())
    }

    /// Marks runs a stopped gateway left queued or running as interrupted; returns their
    /// (id, pid).
    pub async fn interrupt_leftover_runs(&self) -> Result<Vec<(i64, Option<u32>)>, CatalogError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "UPDATE runs SET status = 'interrupted', error_code = 'interrupted',
                     error_message = 'the gateway stopped while this run was queued or running',
                     finished_at = sg_now()
                 WHERE status IN ('queued', 'running')
                 RETURNING id, pid",
                &[],
            )
            .await?;
        let mut leftovers: Vec<(i64, Option<u32>)> = rows
            .iter()
            .map(|row| {
                let pid: Option<i64> = row.get(1);
                (row.get(0), pid.and_then(|pid| u32::try_from(pid).ok()))
            })
            .collect();
        leftovers.sort_unstable();
        Ok(leftovers)
    }

    /// Records how a run ended and its script's run statistics, atomically; returns the
    /// finished record.
    pub async fn finish_run(&self, id: i64, end: RunEnd) -> Result<Run, CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let finish = tx
            .prepare_cached(&format!(
                "UPDATE runs SET status = $2, exit_code = $3, duration_ms = $4, data = $5,
                     stdout_preview = $6, output_file = $7, output_size = $8,
                     output_content_type = $9, stderr = $10, files = $11, error_code = $12,
                     error_message = $13, event_log = $14, finished_at = $15
                 WHERE id = $1
                 RETURNING {RUN_COLUMNS}"
            ))
            .await?;
        let values: [&(dyn ToSql + Sync); 15] = [
            &id,
            &end.status.as_str(),
            &end.exit_code.map(i64::from),
            &saturating(end.duration_ms),
            &end.data.as_ref().map(serde_json::to_string).transpose()?,
            &text::store_opt(&end.stdout_preview),
            &end.output_file,
            &end.output_size.map(saturating),
            &end.output_content_type,
            &text::store(&end.stderr),
            &serde_json::to_string(&end.files)?,
            &end.error_code,
            &text::store_opt(&end.error_message),
            &text::store_opt(&end.event_log),
            &clock::now_text(),
        ];
        let run = run_from_row(&tx.query_one(&finish, &values).await?);
        if let Some(script_id) = run.script_id {
            let statistics = tx
                .prepare_cached(
                    "UPDATE scripts SET last_run_at = $2, last_run_status = $3,
                         run_count = run_count + 1
                     WHERE id = $1",
                )
                .await?;
            tx.execute(
                &statistics,
                &[&script_id, &run.finished_at, &end.status.as_str()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(run)
    }

    /// The printed lines kept in a run's record, if they were small enough to be kept there.
    pub async fn run_event_log(&self, id: i64) -> Result<Option<String>, CatalogError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT event_log FROM runs WHERE id = $1", &[&id])
            .await?;
        Ok(row.and_then(|row| text::load_opt(row.get(0))))
    }

    pub async fn run(&self, id: i64) -> Result<Option<Run>, CatalogError> {
        let client = self.client().await?;
        let by_id = client
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
            .await?;
        Ok(client
            .query_opt(&by_id, &[&id])
            .await?
            .as_ref()
            .map(run_from_row))
    }

    pub async fn list_runs(&self, filter: RunFilter) -> Result<Page<Run>, CatalogError> {
        let client = self.client().await?;
        let conditions = "($1::bigint IS NULL OR script_id = $1)
            AND ($2::text IS NULL OR status = $2)
            AND ($3::text IS NULL OR queued_at >= sg_time_text($3))
            AND ($4::text IS NULL OR queued_at < sg_time_text($4))
            AND ($5::text IS NULL OR kind = $5)";
        let status = filter.status.map(RunStatus::as_str);
        let kind = filter.kind.map(RunKind::as_str);
        let bounds: [&(dyn ToSql + Sync); 5] = [
            &filter.script_id,
            &status,
            &filter.since,
            &filter.until,
            &kind,
        ];
        let total: i64 = client
            .query_one(
                &format!("SELECT COUNT(*) FROM runs WHERE {conditions}"),
                &bounds,
            )
            .await?
            .get(0);
        let limit = i64::from(filter.page_size);
        let offset = i64::from(filter.page.saturating_sub(1)) * limit;
        let mut values = bounds.to_vec();
        values.extend([&limit as &(dyn ToSql + Sync), &offset]);
        let rows = client
            .query(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE {conditions}
                     ORDER BY id DESC LIMIT $6 OFFSET $7"
                ),
                &values,
            )
            .await?;
        Ok(Page {
            items: rows.iter().map(run_from_row).collect(),
            total,
        })
    }
}
