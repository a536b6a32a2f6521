//! Running a script by id: synchronous or async runs, the runs active now, and terminate.

use actix_web::http::header;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::catalog::{Run, RunStatus, Script};
use crate::error::{ApiError, ErrorBody};
use crate::openapi::schemas::RunStatusName;
use crate::runner::{RunRequest, Runner, Staging, Submitted};

use super::first_scan::{await_first_scan, Wanted};
use crate::api::events;
use crate::api::lookup::find_script;
use crate::api::run_input;
use crate::api::runs::RunResultFields;
use crate::api::{resource, AppState, Gate};

/// Registered before the `/scripts/{id}` routes, which would otherwise capture `running`.
pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/scripts/running",
        Gate::RunReads,
        [(Method::GET, web::to(list_running))],
    ))
    .service(resource(
        "/scripts/{id}/run",
        Gate::Run,
        [
            (Method::GET, web::to(run_script_get)),
            (Method::POST, web::to(run_script_post)),
        ],
    ))
    .service(resource(
        "/scripts/{id}/terminate",
        Gate::Admin,
        [(Method::POST, web::to(terminate_script))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(list_running, run_script_get, run_script_post, terminate_script))]
pub(super) struct RunApi;

/// The answer to a run: `status` is `success` or `error`, and the result (`data`, or
/// `type: "file"` with a `url`) sits at the top level, as in the original gateway.
#[derive(Serialize, ToSchema)]
#[schema(as = RunResult)]
pub struct RunResultView {
    status: ResultStatus,
    #[schema(value_type = RunStatusName)]
    run_status: RunStatus,
    /// Null for an ad-hoc run.
    script_id: Option<i64>,
    run_id: i64,
    #[serde(flatten)]
    result: RunResultFields,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ResultStatus {
    Success,
    Error,
}

/// A run accepted to go on in the background; poll `url` or follow `events_url`.
#[derive(Serialize, ToSchema)]
#[schema(as = RunAccepted)]
pub(crate) struct AcceptedView {
    run_id: i64,
    #[schema(value_type = String, example = "queued")]
    status: &'static str,
    /// Whether it waits for a free slot.
    queued: bool,
    url: String,
    events_url: String,
}

/// The runs of a script that were stopped.
#[derive(Serialize, ToSchema)]
#[schema(as = Terminated)]
struct TerminateView {
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
    script_id: i64,
    /// The ids of the runs that were stopped.
    cancelled: Vec<i64>,
}

/// A run queued or running now.
#[derive(Serialize, ToSchema)]
#[schema(as = ActiveRun)]
struct ActiveRunView {
    run_id: i64,
    /// Null for an ad-hoc run.
    script_id: Option<i64>,
    script_path: String,
    #[schema(value_type = String, example = "running")]
    status: &'static str,
    queue_position: Option<usize>,
    pid: Option<u32>,
}

/// Every run queued or running now, oldest first.
#[derive(Serialize, ToSchema)]
#[schema(as = ActiveRuns)]
struct ActiveRunsView {
    total: usize,
    items: Vec<ActiveRunView>,
}

/// Runs a script with its parameters in the query string.
///
/// For scripts without file parameters. Every loaded script also has its own typed operation on `/api/scripts/ID/run`. Add
/// `async=true` (or `Prefer: respond-async`) to get 202 at once, `wait=S` to wait at most S
/// seconds, `timeout=S` to shorten this run's timeout; a script that declares a parameter of
/// that name takes the value, and the option is then written `_async`, `_wait`, `_timeout`.
/// `Accept: text/event-stream` follows the run live. A script that fails still answers 200,
/// with `status: "error"` and `error.code` `script_failed`, `timeout` or `limit_exceeded`.
#[utoipa::path(
    get,
    path = "/scripts/{id}/run",
    tag = "run",
    params(
        ("id" = i64, Path, description = "The script's id"),
        ("params" = Option<std::collections::HashMap<String, String>>, Query, style = Form, explode,
            description = "The script's parameters, by name"),
        RunOptionsRequest,
    ),
    responses(
        (status = 200, description = "The run ended (successfully or not)", content(
            (RunResultView = "application/json"),
            (events::RunEventView = "text/event-stream"),
        )),
        (status = 202, description = "Accepted: the run goes on in the background", body = AcceptedView),
        (status = 400, description = "Bad parameters (`invalid_params`, with `details`) or options", body = ErrorBody),
        (status = 404, description = "No script with this id", body = ErrorBody),
        (status = 409, description = "The script is disabled (`script_disabled`), or its file changed since the last scan (`script_changed`)", body = ErrorBody),
        (status = 422, description = "The script's schema could not be loaded (`schema_not_loadable`)", body = ErrorBody),
        (status = 429, description = "Too many runs waiting (`too_many_runs`); retry after `Retry-After`", body = ErrorBody),
        (status = 503, description = "Shutting down, the interpreter is missing, or the first scan has not reached this id yet (`scanning`; retry after `Retry-After`)", body = ErrorBody),
    )
)]
async fn run_script_get(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    await_first_scan(&state, Wanted::Id(id)).await?;
    let script = state.runner.runnable(id).await?;
    run_with_query(&state, script, &request).await
}

/// Runs `script` with its parameters in the query string.
pub(super) async fn run_with_query(
    state: &AppState,
    script: Script,
    request: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let run_request = RunRequest::from_query_pairs(run_input::query_pairs(request), true);
    start(state, script, run_request, state.runner.staging(), request).await
}

/// Runs a script with its parameters in the body.
///
/// The body is a JSON object, a form, or multipart fields and files (files by parameter
/// name; a `payload` field may hold the other parameters as JSON). The query string carries
/// only the gateway's options (`async`, `wait`, `timeout`).
#[utoipa::path(
    post,
    path = "/scripts/{id}/run",
    tag = "run",
    params(("id" = i64, Path, description = "The script's id"), RunOptionsRequest),
    request_body(description = "The script's parameters, by name", content(
        (Object = "application/json"),
        (Object = "multipart/form-data"),
        (Object = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "The run ended (successfully or not)", content(
            (RunResultView = "application/json"),
            (events::RunEventView = "text/event-stream"),
        )),
        (status = 202, description = "Accepted: the run goes on in the background", body = AcceptedView),
        (status = 400, description = "Bad parameters (`invalid_params`, with `details`), body or options", body = ErrorBody),
        (status = 404, description = "No script with this id", body = ErrorBody),
        (status = 409, description = "The script is disabled (`script_disabled`), or its file changed since the last scan (`script_changed`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Not JSON, a form or multipart (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "The script's schema could not be loaded (`schema_not_loadable`)", body = ErrorBody),
        (status = 429, description = "Too many runs waiting (`too_many_runs`); retry after `Retry-After`", body = ErrorBody),
        (status = 503, description = "Shutting down, the interpreter is missing, or the first scan has not reached this id yet (`scanning`; retry after `Retry-After`)", body = ErrorBody),
    )
)]
async fn run_script_post(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    await_first_scan(&state, Wanted::Id(id)).await?;
    let script = state.runner.runnable(id).await?;
    run_with_body(&state, script, &request, payload).await
}

/// Runs `script` with its parameters in the body.
pub(super) async fn run_with_body(
    state: &AppState,
    script: Script,
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Known before the body is read, so uploads the script cannot take are never stored.
    let accepted = Runner::parameter_names(&script)?;
    let settings = state.runner.settings();
    let limits = run_input::BodyLimits {
        json_bytes: settings.max_json_body_bytes,
        multipart_bytes: settings.max_body_bytes,
    };
    let mut staging = state.runner.staging();
    let run_request =
        run_input::read_body(request, payload, &mut staging, limits, &accepted).await?;
    start(state, script, run_request, staging, request).await
}

/// Submits the run, then answers the way the caller asked: the result (the default),
/// 202 at once (`async`), the result if it comes within `wait` seconds, or an event stream.
async fn start(
    state: &AppState,
    script: Script,
    mut run_request: RunRequest,
    staging: Staging,
    request: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    run_request.prefer_async = prefers_async(request);
    let submitted = state.runner.submit(script, run_request, staging).await?;
    answer(state, submitted, request).await
}

/// Answers for a submitted run the way the caller asked: the result, 202 at once, the
/// result within `wait`, or an event stream.
pub(crate) async fn answer(
    state: &AppState,
    submitted: Submitted,
    request: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if events::wants_event_stream(request) {
        return events::stream(state, submitted.run_id, 0).await;
    }
    if submitted.options.respond_async {
        return Ok(accepted(&submitted, "queued"));
    }
    if let Some(wait) = submitted.options.wait {
        return match submitted.finished_within(wait).await {
            Ok(run) => Ok(HttpResponse::Ok().json(run_response(&run?))),
            Err(still_running) => {
                let queued = state.runner.queue_position(still_running.run_id).is_some();
                Ok(accepted(
                    &still_running,
                    if queued { "queued" } else { "running" },
                ))
            }
        };
    }
    let run = submitted.finished().await?;
    Ok(HttpResponse::Ok().json(run_response(&run)))
}

pub(crate) fn prefers_async(request: &HttpRequest) -> bool {
    request
        .headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}

/// `status` is "queued" for a run accepted to run later (the contract's value), or
/// "running" when a `wait` ran out while the run was already executing.
fn accepted(submitted: &Submitted, status: &'static str) -> HttpResponse {
    let url = format!("/api/runs/{}", submitted.run_id);
    HttpResponse::Accepted()
        .insert_header((header::LOCATION, url.clone()))
        .json(AcceptedView {
            run_id: submitted.run_id,
            status,
            queued: submitted.queued,
            events_url: format!("{url}/events"),
            url,
        })
}

/// The original gateway's response shape: `status` is success or error, and the result
/// (`data`, or `type: "file"` with a `url`) sits at the top level.
pub fn run_response(run: &Run) -> RunResultView {
    let status = if run.status == RunStatus::Success {
        ResultStatus::Success
    } else {
        ResultStatus::Error
    };
    RunResultView {
        status,
        run_status: run.status,
        script_id: run.script_id,
        run_id: run.id,
        result: RunResultFields::of(run),
    }
}

/// Stops every queued or running run of the script (the original gateway's route).
#[utoipa::path(
    post,
    path = "/scripts/{id}/terminate",
    tag = "run",
    params(("id" = i64, Path, description = "The script's id")),
    responses(
        (status = 200, description = "The runs that were stopped", body = TerminateView),
        (status = 404, description = "No script with this id", body = ErrorBody),
    )
)]
async fn terminate_script(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let script_id = id.into_inner();
    find_script(&state, script_id).await?;
    let stopped = state.runner.cancel_script(script_id).await;
    Ok(HttpResponse::Ok().json(TerminateView {
        status: "ok",
        script_id,
        cancelled: stopped,
    }))
}

/// Runs queued or running now, oldest first (the original gateway's route).
#[utoipa::path(
    get,
    path = "/scripts/running",
    tag = "run",
    responses((status = 200, description = "The active runs", body = ActiveRunsView))
)]
async fn list_running(state: web::Data<AppState>) -> HttpResponse {
    let items: Vec<ActiveRunView> = state
        .runner
        .active()
        .iter()
        .map(|run| ActiveRunView {
            run_id: run.run_id,
            script_id: run.script_id,
            script_path: run.script_path.clone(),
            status: if run.is_running() {
                "running"
            } else {
                "queued"
            },
            queue_position: state.runner.queue_position(run.run_id),
            pid: run.pid(),
        })
        .collect();
    HttpResponse::Ok().json(ActiveRunsView {
        total: items.len(),
        items,
    })
}

/// The gateway's own options on a run, in the query string.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct RunOptionsRequest {
    /// Answer 202 at once with the run id (also `Prefer: respond-async`).
    #[param(rename = "async")]
    r#async: Option<bool>,
    /// Answer with the result if the run ends within this many seconds, else 202.
    #[param(exclusive_minimum = 0)]
    wait: Option<f64>,
    /// Shorten this run's timeout to this many seconds (never beyond the gateway's).
    #[param(exclusive_minimum = 0)]
    timeout: Option<f64>,
}
