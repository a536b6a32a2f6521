//! The original gateway's upkeep routes, mapped onto this gateway's own features: its log
//! files onto the gateway's recent log lines and the runs' output, its temp-file cleanup onto
//! run retention. Its local-file access patterns have no counterpart (a `file` parameter is
//! always an upload here); those routes answer so.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::catalog::{RunFilter, ScriptFilter};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::retention::{Policy, EVERY};

use super::{resource, AppState, Gate};

const DEFAULT_LINES: usize = 100;
const MAX_LINES: usize = 10_000;
/// Runs of one script read for one day's log file.
const RUNS_PER_DAY_READ: u32 = 200;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let route = |path: &'static str, method: Method, handler| {
        resource(path, Gate::Admin, [(method, handler)])
    };
    cfg.service(route("/logs/gateway", Method::GET, web::to(gateway_logs)))
        .service(route("/logs/cleanup", Method::POST, web::to(cleanup_logs)))
        .service(route(
            "/scripts/logs/file/{filename}",
            Method::GET,
            web::to(script_log_file),
        ))
        .service(route(
            "/temp-files/status",
            Method::GET,
            web::to(temp_status),
        ))
        .service(route(
            "/temp-files/cleanup",
            Method::POST,
            web::to(temp_cleanup),
        ))
        .service(route(
            "/temp-files/interval",
            Method::POST,
            web::to(temp_interval),
        ))
        .service(resource(
            "/file-access/patterns",
            Gate::Admin,
            [
                (Method::GET, web::to(get_patterns)),
                (Method::POST, web::to(set_patterns)),
            ],
        ));
}

#[derive(OpenApi)]
#[openapi(paths(
    gateway_logs,
    cleanup_logs,
    script_log_file,
    temp_status,
    temp_cleanup,
    temp_interval,
    get_patterns,
    set_patterns
))]
pub struct OriginalUpkeepApi;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogsRequest {
    /// `YYYY-MM-DD` (UTC); default today.
    date: Option<String>,
    /// The last this many lines (default 100, at most 10000).
    lines: Option<usize>,
}

#[derive(Serialize, ToSchema)]
struct GatewayLogsView {
    /// The lines, oldest first, one per line.
    logs: String,
    date: String,
}

fn today() -> String {
    crate::clock::now_text()[..10].to_string()
}

fn checked_date(date: Option<&str>) -> Result<String, ApiError> {
    let Some(date) = date.filter(|d| !d.is_empty()) else {
        return Ok(today());
    };
    let number = |range: std::ops::Range<usize>| {
        date.get(range)
            .filter(|part| part.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|part| part.parse::<u32>().ok())
    };
    // Bytes, not string slices: a multibyte character across a boundary must not panic.
    let shaped = date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-';
    let valid = shaped
        && number(0..4).is_some()
        && number(5..7).is_some_and(|m| (1..=12).contains(&m))
        && number(8..10).is_some_and(|d| (1..=31).contains(&d));
    if valid {
        Ok(date.to_string())
    } else {
        Err(query_error(format!(
            "date must be YYYY-MM-DD, not {date:?}"
        )))
    }
}

fn checked_lines(lines: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match lines.unwrap_or(default) {
        n @ 1..=MAX_LINES => Ok(n),
        n => Err(query_error(format!(
            "lines must be between 1 and {MAX_LINES}, not {n}"
        ))),
    }
}

/// The gateway's own latest log lines of a day (it keeps the last 2000 in memory; all of
/// them go to stderr, where a supervisor or `docker compose logs` keeps them).
#[utoipa::path(get, path = "/logs/gateway", tag = "system", params(LogsRequest),
    responses((status = 200, description = "The lines", body = GatewayLogsView), (status = 400, description = "A bad date or line count", body = ErrorBody)))]
async fn gateway_logs(query: web::Query<LogsRequest>) -> Result<HttpResponse, ApiError> {
    let date = checked_date(query.date.as_deref())?;
    let lines = checked_lines(query.lines, DEFAULT_LINES)?;
    let mut logs = crate::telemetry::recent_lines(Some(&date), lines).join("\n");
    if !logs.is_empty() {
        logs.push('\n');
    }
    Ok(HttpResponse::Ok().json(GatewayLogsView { logs, date }))
}

#[derive(Serialize, ToSchema)]
struct CleanedView {
    /// Runs pruned (a script's logs are its runs' output).
    script: u64,
    /// Gateway lines dropped from memory.
    gateway: usize,
}

#[derive(Serialize, ToSchema)]
struct CleanupLogsView {
    status: &'static str,
    cleaned: CleanedView,
    message: String,
}

/// Removes expired logs: runs past the retention settings (a script's logs are its runs'
/// output) and the gateway's lines kept in memory.
#[utoipa::path(post, path = "/logs/cleanup", tag = "system",
    responses((status = 200, description = "What was removed", body = CleanupLogsView)))]
async fn cleanup_logs(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pruned = state.retention.prune(state.retention.policy()).await?;
    let gateway = crate::telemetry::forget_recent();
    Ok(HttpResponse::Ok().json(CleanupLogsView {
        status: "success",
        cleaned: CleanedView {
            script: pruned.runs_deleted,
            gateway,
        },
        message: format!(
            "pruned {} runs past run_retention_days / max_runs_per_script and dropped {gateway} gateway lines kept in memory (stderr keeps every line)",
            pruned.runs_deleted
        ),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogFileRequest {
    /// The last this many lines (default 1000, at most 10000).
    lines: Option<usize>,
}

#[derive(Serialize, ToSchema)]
struct LogFileView {
    logs: String,
    filename: String,
}

/// A script's log "file" of one day, as the original named them (`<name>_<YYYY-MM-DD>.log`):
/// the output lines of that day's runs of every script with that file name.
#[utoipa::path(get, path = "/scripts/logs/file/{filename}", tag = "runs",
    params(("filename" = String, Path, description = "`<script name>_<YYYY-MM-DD>.log`"), LogFileRequest),
    responses((status = 200, description = "The lines", body = LogFileView), (status = 400, description = "Not a `.log` name with a date", body = ErrorBody), (status = 404, description = "No runs of such a script that day", body = ErrorBody)))]
async fn script_log_file(
    state: web::Data<AppState>,
    filename: web::Path<String>,
    query: web::Query<LogFileRequest>,
) -> Result<HttpResponse, ApiError> {
    let filename = filename.into_inner();
    let lines = checked_lines(query.lines, 1000)?;
    let (name, date) = filename
        .strip_suffix(".log")
        .and_then(|stem| stem.rsplit_once('_'))
        .ok_or_else(|| request_error("the file name must be <script name>_<YYYY-MM-DD>.log"))?;
    let date = checked_date(Some(date)).map_err(|e| request_error(&e.message))?;
    let found = state
        .catalog
        .list_scripts(ScriptFilter {
            search: Some(name.to_string()),
            page: 1,
            page_size: 1000,
            ..ScriptFilter::default()
        })
        .await?;
    let mut runs = Vec::new();
    for script in found.items.iter().filter(|s| s.name == name) {
        let filter = RunFilter {
            script_id: Some(script.id),
            since: Some(format!("{date}T00:00:00Z")),
            until: Some(format!("{date}T23:59:59.999Z")),
            page: 1,
            page_size: RUNS_PER_DAY_READ,
            ..RunFilter::default()
        };
        runs.extend(state.catalog.list_runs(filter).await?.items);
    }
    runs.sort_by_key(|run| run.id);
    let all: Vec<String> = super::scripts::run_log_lines(&runs);
    if all.is_empty() {
        return Err(ApiError::not_found(format!(
            "file not found: no runs of a script named {name:?} on {date}"
        )));
    }
    let skip = all.len().saturating_sub(lines);
    let mut logs = all[skip..].join("\n");
    logs.push('\n');
    Ok(HttpResponse::Ok().json(LogFileView { logs, filename }))
}

#[derive(Serialize, ToSchema)]
struct TempStatusView {
    /// The hourly retention pass is always scheduled.
    is_running: bool,
    cleanup_interval_hours: f64,
    /// Where run folders (uploads, outputs, scratch) live.
    temp_dirs: Vec<String>,
    message: &'static str,
}

const TEMP_FILES: &str = "temporary files here are run folders (uploads, outputs, scratch space); \
     an hourly pass removes them with their runs per run_retention_days and max_runs_per_script";

/// How temporary files are cleaned here.
#[utoipa::path(get, path = "/temp-files/status", tag = "system",
    responses((status = 200, description = "The schedule", body = TempStatusView)))]
async fn temp_status(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(TempStatusView {
        is_running: true,
        cleanup_interval_hours: EVERY.as_secs_f64() / 3600.0,
        temp_dirs: vec![state.runner.runs_dir().display().to_string()],
        message: TEMP_FILES,
    })
}

#[derive(Serialize, ToSchema)]
struct TempCleanupView {
    status: &'static str,
    /// Run folders removed.
    deleted_count: u64,
    runs_deleted: u64,
    bytes_freed: u64,
    message: String,
}

/// Runs the retention pass now, with the settings in force.
#[utoipa::path(post, path = "/temp-files/cleanup", tag = "system",
    responses((status = 200, description = "What was removed", body = TempCleanupView)))]
async fn temp_cleanup(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let policy: Policy = state.retention.policy();
    let pruned = state.retention.prune(policy).await?;
    Ok(HttpResponse::Ok().json(TempCleanupView {
        status: "success",
        deleted_count: pruned.folders_removed,
        runs_deleted: pruned.runs_deleted,
        bytes_freed: pruned.bytes_freed,
        message: format!(
            "removed {} run folders of {} expired runs",
            pruned.folders_removed, pruned.runs_deleted
        ),
    }))
}

#[derive(Serialize, ToSchema)]
struct NotApplicableView {
    /// `not_applicable`: nothing was changed.
    status: &'static str,
    message: &'static str,
}

/// The original's cleanup interval (form field `interval_hours`); here the pass runs hourly
/// and what it removes is set by the retention settings, so nothing changes.
#[utoipa::path(post, path = "/temp-files/interval", tag = "system",
    responses((status = 200, description = "Nothing changed, and why", body = NotApplicableView)))]
async fn temp_interval() -> HttpResponse {
    HttpResponse::Ok().json(NotApplicableView {
        status: "not_applicable",
        message: "the retention pass runs every hour; set run_retention_days and \
                  max_runs_per_script (PUT /api/settings) to choose what it removes",
    })
}

#[derive(Serialize, ToSchema)]
struct PatternsView {
    /// Always empty: scripts are never handed server paths.
    patterns: Vec<String>,
    message: &'static str,
}

const NO_LOCAL_FILES: &str = "ScriptGateway never hands a script a server path: a file \
     parameter is always an upload into the run's own folder, so there are no local-file \
     access patterns to allow";

/// The original's local-file access allowlist, which has no counterpart here.
#[utoipa::path(get, path = "/file-access/patterns", tag = "system",
    responses((status = 200, description = "No patterns, and why", body = PatternsView)))]
async fn get_patterns() -> HttpResponse {
    HttpResponse::Ok().json(PatternsView {
        patterns: Vec::new(),
        message: NO_LOCAL_FILES,
    })
}

/// Setting the original's local-file access allowlist changes nothing here.
#[utoipa::path(post, path = "/file-access/patterns", tag = "system",
    responses((status = 200, description = "Nothing changed, and why", body = NotApplicableView)))]
async fn set_patterns() -> HttpResponse {
    HttpResponse::Ok().json(NotApplicableView {
        status: "not_applicable",
        message: NO_LOCAL_FILES,
    })
}

fn query_error(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, message)
}

fn request_error(message: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::checked_date;

    #[test]
    fn a_date_of_multibyte_characters_is_refused_not_a_panic() {
        // Ten bytes whose fifth falls inside a character (found by schemathesis).
        for date in ["\u{F2393}\u{FF552}\u{FD}", "2026-1é-01", "2026-12-01"] {
            let checked = checked_date(Some(date));
            assert_eq!(checked.is_ok(), date == "2026-12-01", "{date:?}");
        }
    }
}
