//! Scripts addressed by their path rather than their catalog id: `/api/run/python/hello.py`
//! (or without the extension, `/api/run/python/hello`) runs a script, and
//! `/api/scripts/by-path/...` reads it. A path names the same script on every machine and
//! across rescans, where an id depends on the order scripts were first seen.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::OpenApi;

use crate::error::{ApiError, ErrorBody, ErrorCode};

use super::first_scan::{await_first_scan, Wanted};
use super::listing::ScriptView;
use super::run::{run_with_body, run_with_query, AcceptedView, RunOptionsRequest, RunResultView};
use crate::api::events;
use crate::api::lookup::find_script_at;
use crate::api::{resource, AppState, Gate};
use crate::runner::Runner;

/// Registered before the `/scripts/{id}` routes.
pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/run/{path:.+}",
        Gate::Run,
        [
            (Method::GET, web::to(run_at_get)),
            (Method::POST, web::to(run_at_post)),
        ],
    ))
    .service(resource(
        "/scripts/by-path/{path:.+}",
        Gate::RunReads,
        [(Method::GET, web::to(get_script_at))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(run_at_get, run_at_post, get_script_at))]
pub(super) struct ByPathApi;

/// Runs the script at a path with its parameters in the query string.
///
/// The same run as `GET /api/scripts/{id}/run`, addressed by the script's path in
/// `scripts_repo` (as the listing shows it, e.g. `python/hello.py`; the extension may be left
/// out when no other script differs only by it). Every loaded script also has its own typed
/// operation on `/api/run/PATH`, named after its path (`run_python_hello_get`).
#[utoipa::path(
    get,
    path = "/run/{path}",
    tag = "run",
    params(
        ("path" = String, Path, description = "The script's path, e.g. `python/hello.py`"),
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
        (status = 400, description = "Bad parameters (`invalid_params`, with `details`) or options, or a path not spelled as a script path (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No script at this path", body = ErrorBody),
        (status = 409, description = "The path leaves out an extension two scripts differ by (`ambiguous_path`), the script is disabled (`script_disabled`), or its file changed since the last scan (`script_changed`)", body = ErrorBody),
        (status = 422, description = "The script's schema could not be loaded (`schema_not_loadable`)", body = ErrorBody),
        (status = 429, description = "Too many runs waiting (`too_many_runs`); retry after `Retry-After`", body = ErrorBody),
        (status = 503, description = "Shutting down, the interpreter is missing, or the first scan has not reached this path yet (`scanning`; retry after `Retry-After`)", body = ErrorBody),
    )
)]
async fn run_at_get(
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let script = runnable_at(&state, checked(&request, &path)?).await?;
    run_with_query(&state, script, &request).await
}

/// Runs the script at a path with its parameters in the body.
///
/// The same run as `POST /api/scripts/{id}/run` (JSON, a form, or multipart with files),
/// addressed by the script's path.
#[utoipa::path(
    post,
    path = "/run/{path}",
    tag = "run",
    params(
        ("path" = String, Path, description = "The script's path, e.g. `python/hello.py`"),
        RunOptionsRequest,
    ),
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
        (status = 400, description = "Bad parameters (`invalid_params`, with `details`), body or options, or a path not spelled as a script path (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No script at this path", body = ErrorBody),
        (status = 409, description = "The path leaves out an extension two scripts differ by (`ambiguous_path`), the script is disabled (`script_disabled`), or its file changed since the last scan (`script_changed`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Not JSON, a form or multipart (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "The script's schema could not be loaded (`schema_not_loadable`)", body = ErrorBody),
        (status = 429, description = "Too many runs waiting (`too_many_runs`); retry after `Retry-After`", body = ErrorBody),
        (status = 503, description = "Shutting down, the interpreter is missing, or the first scan has not reached this path yet (`scanning`; retry after `Retry-After`)", body = ErrorBody),
    )
)]
async fn run_at_post(
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let script = runnable_at(&state, checked(&request, &path)?).await?;
    run_with_body(&state, script, &request, payload).await
}

/// One script, found by its path.
#[utoipa::path(
    get,
    path = "/scripts/by-path/{path}",
    tag = "scripts",
    params(("path" = String, Path, description = "The script's path, e.g. `python/hello.py` (the extension may be left out)")),
    responses(
        (status = 200, description = "The script", body = ScriptView),
        (status = 400, description = "The path is not spelled as a script path (`invalid_path`: an encoded separator, a backslash, NUL, or an empty, `.` or `..` part)", body = ErrorBody),
        (status = 404, description = "No script at this path", body = ErrorBody),
        (status = 409, description = "The path leaves out an extension two scripts differ by (`ambiguous_path`)", body = ErrorBody),
    )
)]
async fn get_script_at(
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let script = find_script_at(&state, checked(&request, &path)?).await?;
    Ok(HttpResponse::Ok().json(ScriptView::from(script)))
}

/// The path a request names, if it is spelled as the listing spells paths: names joined by a
/// plain `/`. An encoded separator (`%2F`, `%5C`), a backslash, NUL, or an empty, `.` or `..`
/// part is refused with 400 `invalid_path` rather than looked up: no script has such a path,
/// and a client that sent one meant something else.
fn checked<'a>(request: &HttpRequest, address: &'a str) -> Result<&'a str, ApiError> {
    let encoded_separator = request.uri().path().as_bytes().windows(3).any(|w| {
        w[0] == b'%' && (w[1..].eq_ignore_ascii_case(b"2f") || w[1..].eq_ignore_ascii_case(b"5c"))
    });
    let refuse = |why: &str| {
        Err(ApiError::new(
            ErrorCode::InvalidPath,
            format!("{why}: {address:?}; a script path is names joined by a plain /, as GET /api/scripts lists it"),
        ))
    };
    if encoded_separator {
        return refuse("a script path has no encoded separator (%2F, %5C)");
    }
    if address.contains(['\\', '\0']) {
        return refuse("a script path has no backslash or NUL");
    }
    if address
        .split('/')
        .any(|part| matches!(part, "" | "." | ".."))
    {
        return refuse("a script path has no empty, `.` or `..` part");
    }
    Ok(address)
}

/// The script at `address`, once the first scan may have listed it, if it may run.
async fn runnable_at(state: &AppState, address: &str) -> Result<crate::catalog::Script, ApiError> {
    await_first_scan(state, Wanted::Path(address)).await?;
    let script = find_script_at(state, address).await?;
    Ok(Runner::enabled(script)?)
}
