//! The runs table: a run from its acceptance (queued or running) to its recorded end.

use std::sync::LazyLock;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CatalogError, Page};
use crate::clock;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Success,
    Error,
    Timeout,
    LimitExceeded,
    Cancelled,
    Interrupted,
}

impl RunStatus {
    pub const ALL: [RunStatus; 8] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Success,
        RunStatus::Error,
        RunStatus::Timeout,
        RunStatus::LimitExceeded,
        RunStatus::Cancelled,
        RunStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Success => "success",
            RunStatus::Error => "error",
            RunStatus::Timeout => "timeout",
            RunStatus::LimitExceeded => "limit_exceeded",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What a run executes: a script from the catalog, or code sent with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Script,
    Exec,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Script => "script",
            RunKind::Exec => "exec",
        }
    }

    pub fn parse(text: &str) -> Option<RunKind> {
        [RunKind::Script, RunKind::Exec]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// A file a run left in its working directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFile {
    pub name: String,
    pub size: u64,
}

/// A run about to start.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// None for an ad-hoc run (its kind is `exec`).
    pub script_id: Option<i64>,
    pub script_path: String,
    pub params: Value,
    pub ignored_params: Vec<String>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunEnd {
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub data: Option<Value>,
    pub stdout_preview: Option<String>,
    pub output_file: Option<String>,
    pub output_size: Option<u64>,
    pub output_content_type: Option<String>,
    pub stderr: String,
    pub files: Vec<RunFile>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// The lines the run printed, as JSON lines, when small enough to keep in the record.
    pub event_log: Option<String>,
}

/// A run as recorded.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: i64,
    /// None for an ad-hoc run.
    pub script_id: Option<i64>,
    /// The script's path, or `exec:python` / `exec:node` for an ad-hoc run.
    pub script_path: String,
    pub kind: RunKind,
    pub status: RunStatus,
    pub params: Option<Value>,
    pub ignored_params: Vec<String>,
    pub run_dir: Option<String>,
    pub queued_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub exit_code: Option<i32>,
    pub data: Option<Value>,
    pub stdout_preview: Option<String>,
    pub output_file: Option<String>,
    pub output_size: Option<i64>,
    pub output_content_type: Option<String>,
    pub stderr: Option<String>,
    pub files: Vec<RunFile>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub script_id: Option<i64>,
    pub kind: Option<RunKind>,
    pub status: Option<RunStatus>,
    /// Only runs queued at or after this instant (ISO 8601, compared in UTC).
    pub since: Option<String>,
    /// Only runs queued before this instant.
    pub until: Option<String>,
    pub page: u32,
    pub page_size: u32,
}

const RUN_COLUMNS: &str =
    "id, script_id, script_path, kind, status, params, ignored_params, run_dir,
    queued_at, started_at, finished_at, duration_ms, exit_code, data, stdout_preview, output_file,
    output_size, output_content_type, stderr, files, error_code, error_message";

/// The statements of every run's life, built once: the cache of prepared statements is
/// keyed by their text, which need not be formatted again on each run.
static BY_ID_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"));
static FINISH_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE runs SET status = ?2, exit_code = ?3, duration_ms = ?4, data = ?5, stdout_preview = ?6,
             output_file = ?7, output_size = ?8, output_content_type = ?9, stderr = ?10, files = ?11,
             error_code = ?12, error_message = ?13, event_log = ?14, finished_at = ?15
         WHERE id = ?1
         RETURNING {RUN_COLUMNS}"
    )
});

fn json_column<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    column: &str,
) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(column)?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    let status: String = row.get("status")?;
    Ok(Run {
        id: row.get("id")?,
        script_id: row.get("script_id")?,
        script_path: row.get("script_path")?,
        kind: RunKind::parse(&row.get::<_, String>("kind")?).unwrap_or(RunKind::Script),
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Error),
        params: json_column(row, "params")?,
        ignored_params: json_column(row, "ignored_params")?.unwrap_or_default(),
        run_dir: row.get("run_dir")?,
        queued_at: row.get("queued_at")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        duration_ms: row.get("duration_ms")?,
        exit_code: row.get("exit_code")?,
        data: json_column(row, "data")?,
        stdout_preview: row.get("stdout_preview")?,
        output_file: row.get("output_file")?,
        output_size: row.get("output_size")?,
        output_content_type: row.get("output_content_type")?,
        stderr: row.get("stderr")?,
        files: json_column(row, "files")?.unwrap_or_default(),
        error_code: row.get("error_code")?,
        error_message: row.get("error_message")?,
    })
}

/// Records a new run, queued or starting now; returns its id.
pub fn insert(conn: &Connection, run: &NewRun, queued: bool) -> Result<i64, CatalogError> {
    conn.prepare_cached(
        "INSERT INTO runs (script_id, script_path, status, params, ignored_params, queued_at,
                           started_at, kind)
         VALUES (?1, ?2, CASE WHEN ?5 THEN 'queued' ELSE 'running' END, ?3, ?4, ?6,
                 CASE WHEN ?5 THEN NULL ELSE ?6 END,
                 CASE WHEN ?1 IS NULL THEN 'exec' ELSE 'script' END)",
    )?
    .execute(params![
        run.script_id,
        run.script_path,
        serde_json::to_string(&run.params)?,
        serde_json::to_string(&run.ignored_params)?,
        queued,
        clock::now_text(),
    ])?;
    Ok(conn.last_insert_rowid())
}

/// A queued run leaves the queue.
pub fn mark_running(conn: &Connection, id: i64) -> Result<(), CatalogError> {
    conn.prepare_cached(
        "UPDATE runs SET status = 'running', started_at = ?2 WHERE id = ?1 AND status = 'queued'",
    )?
    .execute(params![id, clock::now_text()])?;
    Ok(())
}

pub fn set_pid(conn: &Connection, id: i64, pid: u32) -> Result<(), CatalogError> {
    conn.prepare_cached("UPDATE runs SET pid = ?2 WHERE id = ?1")?
        .execute(params![id, pid])?;
    Ok(())
}

/// Marks every run a stopped gateway left queued or running as interrupted and returns
/// (run id, pid) of those that had a process.
pub fn interrupt_leftovers(conn: &mut Connection) -> Result<Vec<(i64, Option<u32>)>, CatalogError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let leftovers = {
        let mut statement =
            tx.prepare("SELECT id, pid FROM runs WHERE status IN ('queued', 'running')")?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    tx.execute(
        "UPDATE runs SET status = 'interrupted', error_code = 'interrupted',
             error_message = 'the gateway stopped while this run was queued or running',
             finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE status IN ('queued', 'running')",
        [],
    )?;
    tx.commit()?;
    Ok(leftovers)
}

pub fn set_run_dir(conn: &Connection, id: i64, run_dir: &str) -> Result<(), CatalogError> {
    conn.prepare_cached("UPDATE runs SET run_dir = ?2 WHERE id = ?1")?
        .execute(params![id, run_dir])?;
    Ok(())
}

/// Records how a run ended and updates its script's run statistics, atomically; returns
/// the finished record (read back by the same statement that wrote it).
pub fn finish(conn: &Connection, id: i64, end: &RunEnd) -> Result<Run, CatalogError> {
    super::in_write_transaction(conn, |tx| {
        let run = tx.prepare_cached(&FINISH_SQL)?.query_row(
            params![
                id,
                end.status.as_str(),
                end.exit_code,
                i64::try_from(end.duration_ms).unwrap_or(i64::MAX),
                end.data.as_ref().map(serde_json::to_string).transpose()?,
                end.stdout_preview,
                end.output_file,
                end.output_size
                    .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                end.output_content_type,
                end.stderr,
                serde_json::to_string(&end.files)?,
                end.error_code,
                end.error_message,
                end.event_log,
                clock::now_text(),
            ],
            run_from_row,
        )?;
        if let Some(script_id) = run.script_id {
            tx.prepare_cached(
            "UPDATE scripts SET last_run_at = ?2, last_run_status = ?3, run_count = run_count + 1
             WHERE id = ?1",
        )?
        .execute(params![script_id, run.finished_at, end.status.as_str()])?;
        }
        Ok(run)
    })
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<Run>, CatalogError> {
    Ok(conn
        .prepare_cached(&BY_ID_SQL)?
        .query_row([id], run_from_row)
        .optional()?)
}

/// The printed lines kept in a run's record, if they were small enough to be kept there.
pub fn event_log(conn: &Connection, id: i64) -> Result<Option<String>, CatalogError> {
    Ok(conn
        .prepare_cached("SELECT event_log FROM runs WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?
        .flatten())
}

pub fn list(conn: &Connection, filter: &RunFilter) -> Result<Page<Run>, CatalogError> {
    // `queued_at` is stored as `%Y-%m-%dT%H:%M:%fZ`: bounds in that same form compare as text.
    let conditions = "(?1 IS NULL OR script_id = ?1) AND (?2 IS NULL OR status = ?2)
        AND (?3 IS NULL OR queued_at >= strftime('%Y-%m-%dT%H:%M:%fZ', ?3))
        AND (?4 IS NULL OR queued_at < strftime('%Y-%m-%dT%H:%M:%fZ', ?4))
        AND (?7 IS NULL OR kind = ?7)";
    let status = filter.status.map(RunStatus::as_str);
    let kind = filter.kind.map(RunKind::as_str);
    let (since, until) = (filter.since.as_deref(), filter.until.as_deref());
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM runs WHERE {conditions}"),
        params![
            filter.script_id,
            status,
            since,
            until,
            None::<i64>,
            None::<i64>,
            kind
        ],
        |r| r.get(0),
    )?;
    let offset = i64::from(filter.page.saturating_sub(1)) * i64::from(filter.page_size);
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE {conditions} ORDER BY id DESC LIMIT ?5 OFFSET ?6"
    );
    let mut statement = conn.prepare(&sql)?;
    let items = statement
        .query_map(
            params![
                filter.script_id,
                status,
                since,
                until,
                filter.page_size,
                offset,
                kind
            ],
            run_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::builders::{run_end, script_upsert};
    use crate::catalog::{scripts, Catalog, ScriptUpsert};
    use serde_json::json;

    fn setup() -> (
        tempfile::TempDir,
        r2d2::PooledConnection<r2d2_sqlite::SqliteConnectionManager>,
        i64,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("gateway.db")).unwrap();
        let conn = catalog.pool().get().unwrap();
        let upsert = ScriptUpsert {
            name: "a".into(),
            file_hash: "h".into(),
            ..script_upsert("python/a.py")
        };
        scripts::upsert(&conn, &upsert).unwrap();
        (dir, conn, 1)
    }

    fn end(status: RunStatus) -> RunEnd {
        RunEnd {
            duration_ms: 12,
            data: Some(json!({"ok": true})),
            stderr: "warn".into(),
            files: vec![RunFile {
                name: "out.csv".into(),
                size: 3,
            }],
            ..run_end(status)
        }
    }

    #[test]
    fn a_finished_run_updates_its_script() {
        let (_dir, conn, script_id) = setup();
        let new = NewRun {
            script_id: Some(script_id),
            script_path: "python/a.py".into(),
            params: json!({"n": 1}),
            ignored_params: vec!["x".into()],
        };
        let id = insert(&conn, &new, false).unwrap();
        assert_eq!(
            by_id(&conn, id).unwrap().unwrap().status,
            RunStatus::Running
        );
        finish(&conn, id, &end(RunStatus::Success)).unwrap();
        let run = by_id(&conn, id).unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Success);
        assert_eq!(run.data, Some(json!({"ok": true})));
        assert_eq!(run.params, Some(json!({"n": 1})));
        assert_eq!(run.ignored_params, ["x"]);
        assert_eq!(
            run.files,
            [RunFile {
                name: "out.csv".into(),
                size: 3
            }]
        );
        let script = scripts::by_id(&conn, script_id).unwrap().unwrap();
        assert_eq!(
            (script.run_count, script.last_run_status.as_deref()),
            (1, Some("success"))
        );
        assert_eq!(script.last_run_at, run.finished_at);
    }

    #[test]
    fn runs_are_listed_newest_first_with_filters() {
        let (_dir, conn, script_id) = setup();
        let new = NewRun {
            script_id: Some(script_id),
            script_path: "python/a.py".into(),
            params: json!({}),
            ignored_params: vec![],
        };
        for status in [RunStatus::Success, RunStatus::Error, RunStatus::Success] {
            let id = insert(&conn, &new, false).unwrap();
            finish(&conn, id, &end(status)).unwrap();
        }
        let page = list(
            &conn,
            &RunFilter {
                page: 1,
                page_size: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            page.items.iter().map(|r| r.id).collect::<Vec<_>>(),
            [3, 2, 1]
        );
        let errors = list(
            &conn,
            &RunFilter {
                status: Some(RunStatus::Error),
                page: 1,
                page_size: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((errors.total, errors.items[0].id), (1, 2));
        let other = list(
            &conn,
            &RunFilter {
                script_id: Some(99),
                page: 1,
                page_size: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(other.total, 0);
    }
}

#[cfg(test)]
mod lifecycle_tests {
    use super::*;
    use crate::catalog::builders::script_upsert;
    use crate::catalog::{scripts, Catalog, ScriptUpsert};
    use serde_json::json;

    #[test]
    fn queued_runs_start_and_leftovers_are_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("gateway.db")).unwrap();
        let mut conn = catalog.pool().get().unwrap();
        let upsert = ScriptUpsert {
            name: "a".into(),
            file_hash: "h".into(),
            ..script_upsert("python/a.py")
        };
        scripts::upsert(&conn, &upsert).unwrap();
        let new = NewRun {
            script_id: Some(1),
            script_path: "python/a.py".into(),
            params: json!({}),
            ignored_params: vec![],
        };
        let queued = insert(&conn, &new, true).unwrap();
        let running = insert(&conn, &new, false).unwrap();
        let run = by_id(&conn, queued).unwrap().unwrap();
        assert_eq!((run.status, run.started_at), (RunStatus::Queued, None));
        mark_running(&conn, queued).unwrap();
        let run = by_id(&conn, queued).unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Running);
        assert!(run.started_at.is_some());
        set_pid(&conn, running, 4321).unwrap();
        let mut left = interrupt_leftovers(&mut conn).unwrap();
        left.sort();
        assert_eq!(left, [(queued, None), (running, Some(4321))]);
        assert_eq!(
            by_id(&conn, running).unwrap().unwrap().status,
            RunStatus::Interrupted
        );
        assert!(interrupt_leftovers(&mut conn).unwrap().is_empty());
    }
}
