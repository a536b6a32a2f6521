//! A script's recent runs with their output lines, newest first.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::catalog::{Run, RunFilter, RunStatus};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::openapi::schemas::RunStatusName;

use crate::api::lookup::find_script;
use crate::api::{resource, AppState, Gate};

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 200;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/scripts/{id}/logs",
        Gate::Admin,
        [(Method::GET, web::to(get_script_logs))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(get_script_logs))]
pub(super) struct ScriptLogsApi;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ScriptLogsRequest {
    /// Runs to include, newest first: 1 to 200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A script's recent runs with their output, and the same output as log lines.
#[derive(Serialize, ToSchema)]
#[schema(as = ScriptLogs)]
struct ScriptLogsView {
    script_id: i64,
    path: String,
    runs: Vec<RunLogView>,
    /// `"<finished_at> [run <id> <status>] <line>"` for each stdout then stderr line of
    /// each run, newest run first.
    lines: Vec<String>,
}

/// One run's output.
#[derive(Serialize, ToSchema)]
#[schema(as = RunLog)]
struct RunLogView {
    run_id: i64,
    #[schema(value_type = RunStatusName)]
    status: RunStatus,
    started_at: Option<String>,
    finished_at: Option<String>,
    duration_ms: Option<i64>,
    exit_code: Option<i32>,
    /// The run's `data` as JSON text, or the start of a non-JSON stdout.
    stdout: String,
    stderr: String,
}

impl RunLogView {
    fn of(run: &Run) -> RunLogView {
        let stdout = match &run.data {
            Some(data) => data.to_string(),
            None => run.stdout_preview.clone().unwrap_or_default(),
        };
        RunLogView {
            run_id: run.id,
            status: run.status,
            started_at: run.started_at.clone(),
            finished_at: run.finished_at.clone(),
            duration_ms: run.duration_ms,
            exit_code: run.exit_code,
            stdout,
            stderr: run.stderr.clone().unwrap_or_default(),
        }
    }

    /// The log lines of this run, stamped with its end (or start, while it is going).
    fn lines(&self, queued_at: &str) -> impl Iterator<Item = String> + '_ {
        let when = self
            .finished_at
            .as_deref()
            .or(self.started_at.as_deref())
            .unwrap_or(queued_at)
            .to_string();
        let tag = format!("[run {} {}]", self.run_id, self.status.as_str());
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .map(move |line| format!("{when} {tag} {line}"))
    }
}

/// The output lines of `runs`, in their order, each stamped with its run's time, id and
/// status.
pub(crate) fn run_log_lines(runs: &[Run]) -> Vec<String> {
    runs.iter()
        .flat_map(|run| {
            let lines: Vec<String> = RunLogView::of(run).lines(&run.queued_at).collect();
            lines
        })
        .collect()
}

fn logs_view(script_id: i64, path: String, runs: &[Run]) -> ScriptLogsView {
    let views: Vec<RunLogView> = runs.iter().map(RunLogView::of).collect();
    let lines = views
        .iter()
        .zip(runs)
        .flat_map(|(view, run)| view.lines(&run.queued_at))
        .collect();
    ScriptLogsView {
        script_id,
        path,
        runs: views,
        lines,
    }
}

/// The script's recent runs, newest first, with stdout and stderr (the original gateway's
/// per-script logs).
#[utoipa::path(
    get,
    path = "/scripts/{id}/logs",
    tag = "runs",
    params(("id" = i64, Path, description = "The script's id"), ScriptLogsRequest),
    responses(
        (status = 200, description = "The runs and their lines", body = ScriptLogsView),
        (status = 400, description = "`limit` is not between 1 and 200 (`invalid_query`)", body = ErrorBody),
        (status = 404, description = "No script with this id", body = ErrorBody),
    )
)]
async fn get_script_logs(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    query: web::Query<ScriptLogsRequest>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        let message = format!("limit must be between 1 and {MAX_LIMIT}, not {limit}");
        return Err(ApiError::new(ErrorCode::InvalidQuery, message));
    }
    let id = id.into_inner();
    let script = find_script(&state, id).await?;
    let filter = RunFilter {
        script_id: Some(id),
        page: 1,
        page_size: limit,
        ..Default::default()
    };
    let runs = state.catalog.list_runs(filter).await?.items;
    Ok(HttpResponse::Ok().json(logs_view(id, script.path, &runs)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(id: i64, status: RunStatus) -> Run {
        Run {
            script_id: Some(3),
            status,
            queued_at: "T0".into(),
            started_at: Some("T1".into()),
            finished_at: Some("T2".into()),
            duration_ms: Some(5),
            ..crate::catalog::builders::run(id)
        }
    }

    #[test]
    fn lines_carry_each_runs_time_id_and_status() {
        let mut newest = run(9, RunStatus::Running);
        newest.finished_at = None;
        newest.stderr = Some("working".into());
        let mut failed = run(8, RunStatus::Error);
        failed.stderr = Some("first\nsecond".into());
        failed.data = Some(json!({"n": 1}));
        let mut text = run(7, RunStatus::Success);
        text.stdout_preview = Some("plain text".into());
        let quiet = run(6, RunStatus::Success);
        let view = logs_view(3, "python/a.py".into(), &[newest, failed, text, quiet]);
        assert_eq!(
            view.lines,
            [
                "T1 [run 9 running] working",
                "T2 [run 8 error] {\"n\":1}",
                "T2 [run 8 error] first",
                "T2 [run 8 error] second",
                "T2 [run 7 success] plain text",
            ]
        );
        assert_eq!(view.runs[1].stdout, r#"{"n":1}"#);
        assert_eq!(view.runs[3].stdout, "");
    }
}
