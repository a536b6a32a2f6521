//! Interpreter sessions over HTTP: create, list, read, execute in and end a session, and the
//! one-shot `/interpreter/execute`. Every route is behind the exec gate, and answers 403
//! `exec_disabled` while the `exec_enabled` setting is off.

use std::collections::BTreeMap;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

use crate::deps::RunDeps;
use crate::domain::Runtime;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::sessions::{NewSession, SessionRuntime};

use super::events::wants_event_stream;
use super::session_stream::{self, SessionEventView};
use super::{resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/sessions",
        Gate::Exec,
        [
            (Method::GET, web::to(list_sessions)),
            (Method::POST, web::to(create_session)),
        ],
    ))
    .service(resource(
        "/sessions/{id}",
        Gate::Exec,
        [
            (Method::GET, web::to(get_session)),
            (Method::DELETE, web::to(delete_session)),
        ],
    ))
    .service(resource(
        "/sessions/{id}/execute",
        Gate::Exec,
        [(Method::POST, web::to(execute_in_session))],
    ))
    .service(resource(
        "/interpreter/execute",
        Gate::Exec,
        [(Method::POST, web::to(execute_once))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(
    list_sessions,
    create_session,
    get_session,
    delete_session,
    execute_in_session,
    execute_once
))]
pub struct SessionsApi;

/// Refuses while exec is off, or on without any key on a non-loopback address.
pub(super) fn enabled(state: &AppState) -> Result<(), ApiError> {
    Ok(state.sessions.check_enabled(state.access.required())?)
}

/// A JSON object body, read only once exec is known to be on (so a disabled gateway answers
/// 403 whatever the body).
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON body: {e}")))?;
    super::object_body(value)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// The interpreter: `python`, or `node` (a persistent `vm` context).
    #[schema(pattern = "^(python|node)$")]
    runtime: String,
    /// Variables added to the session's clean environment.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// The path of a script of the same runtime whose dependency set the session gets (on
    /// `PYTHONPATH` / `NODE_PATH`, installed first if its cache is missing), e.g.
    /// `python/reports/monthly.py`.
    deps_of: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// Python source; the value of a final expression is returned as `result`.
    code: String,
    /// Seconds before the code is interrupted (SIGINT); never beyond `timeout_sec`.
    #[schema(minimum = 0.001)]
    timeout: Option<f64>,
}

/// The query options of `execute`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecuteOptions {
    /// `true` answers with Server-Sent Events, as `Accept: text/event-stream` does.
    #[serde(default)]
    stream: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterpreterRequest {
    code: String,
    #[schema(minimum = 0.001)]
    timeout: Option<f64>,
    /// Variables added to the throw-away session's environment (`env` is accepted too, the
    /// name session creation uses).
    #[serde(default, alias = "env")]
    envs: BTreeMap<String, String>,
}

/// A live session.
#[derive(ToSchema)]
#[schema(as = Session)]
#[allow(dead_code)]
struct SessionDoc {
    id: String,
    /// `python` or `node`.
    runtime: String,
    /// `idle` or `busy`.
    status: String,
    created_at: String,
    last_used_at: String,
    /// The worker's pid (and process group).
    pid: u32,
    calls: u64,
}

/// Every live session.
#[derive(ToSchema)]
#[schema(as = SessionList)]
#[allow(dead_code)]
struct SessionListDoc {
    items: Vec<SessionDoc>,
    total: usize,
}

/// An exception the code raised.
#[derive(ToSchema)]
#[schema(as = ExecutionError)]
#[allow(dead_code)]
struct ExecutionErrorDoc {
    name: String,
    value: String,
    traceback: String,
}

/// What one call produced. `status`: `ok`; `error` (an exception, in `error`);
/// `interrupted` (the timeout's SIGINT stopped it; the session lives on); `exit` (the session
/// ended: `exit()`, the worker died, or it ignored SIGINT and was killed after the grace
/// period, which `error.name` `Killed` says).
#[derive(ToSchema)]
#[schema(as = ExecutionResult)]
#[allow(dead_code)]
struct ExecutionDoc {
    #[schema(pattern = "^(ok|error|interrupted|exit)$")]
    status: String,
    stdout: String,
    stderr: String,
    /// The repr of the final expression's value, or null.
    result: Option<String>,
    error: Option<ExecutionErrorDoc>,
    exit_code: Option<i64>,
    truncated: bool,
    duration_ms: u64,
}

/// Every live session.
#[utoipa::path(get, path = "/sessions", tag = "sessions",
    responses((status = 200, description = "Every live session", body = SessionListDoc),
        (status = 403, description = "Exec is off (`exec_disabled`) or the key lacks the exec scope", body = ErrorBody)))]
async fn list_sessions(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let items = state.sessions.list();
    Ok(HttpResponse::Ok().json(json!({"total": items.len(), "items": items})))
}

/// Starts a session: a Python worker in a folder of its own.
#[utoipa::path(post, path = "/sessions", tag = "sessions", request_body = CreateSessionRequest,
    responses((status = 201, description = "The new session", body = SessionDoc),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 403, description = "Exec is off (`exec_disabled`) or the key lacks the exec scope", body = ErrorBody),
        (status = 404, description = "No script at `deps_of`", body = ErrorBody),
        (status = 409, description = "The dependency set of `deps_of` cannot be installed (`dependencies_failed`)", body = ErrorBody),
        (status = 429, description = "`max_sessions` are alive (`too_many_sessions`)", body = ErrorBody)))]
async fn create_session(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let body: CreateSessionRequest = parse(&body)?;
    let runtime = match body.runtime.as_str() {
        "python" => SessionRuntime::Python,
        "node" => SessionRuntime::Node,
        other => {
            let message = format!("runtime must be \"python\" or \"node\", not {other:?}");
            return Err(ApiError::invalid_request(message));
        }
    };
    let env = body.env.into_iter().collect();
    let deps = match body.deps_of {
        Some(path) => Some(dependencies_of(&state, &path, runtime).await?),
        None => None,
    };
    let view = state
        .sessions
        .create(NewSession { runtime, env, deps })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// The dependency environment of the script at `path`, which must be of the session's runtime.
async fn dependencies_of(
    state: &AppState,
    path: &str,
    runtime: SessionRuntime,
) -> Result<RunDeps, ApiError> {
    let script = super::lookup::find_script_at(state, path).await?;
    let matches = matches!(
        (runtime, script.runtime),
        (SessionRuntime::Python, Runtime::Python) | (SessionRuntime::Node, Runtime::Js)
    );
    if !matches {
        let message = format!(
            "deps_of: {} is not a script of the session's runtime",
            script.path
        );
        return Err(ApiError::invalid_request(message));
    }
    Ok(state.deps.prepare_for_run(&script).await?)
}

/// One session.
#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    responses((status = 200, description = "The session", body = SessionDoc),
        (status = 403, description = "Exec is off or the key lacks the exec scope", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody)))]
async fn get_session(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    Ok(HttpResponse::Ok().json(state.sessions.get(&id)?))
}

/// Ends a session: its worker's whole process tree is killed and its folder removed.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    responses((status = 204, description = "Ended"),
        (status = 403, description = "Exec is off or the key lacks the exec scope", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody)))]
async fn delete_session(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    match state.sessions.end(&id).await {
        true => Ok(HttpResponse::NoContent().finish()),
        false => Err(ApiError::not_found(format!(
            "there is no session {:?}",
            *id
        ))),
    }
}

/// Runs code in a session; variables and imports persist between calls.
///
/// `Accept: text/event-stream` (or `stream=true`) follows the call live: `stdout` and
/// `stderr` events carry `{"text"}` as the code writes, then `end` carries the outcome the
/// call answers otherwise. A client that goes away does not stop the call.
#[utoipa::path(post, path = "/sessions/{id}/execute", tag = "sessions", request_body = ExecuteRequest,
    params(("id" = String, Path, description = "The session's id"), ExecuteOptions),
    responses((status = 200, description = "The call's outcome", content(
            (ExecutionDoc = "application/json"),
            (SessionEventView = "text/event-stream"),
        )),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 403, description = "Exec is off or the key lacks the exec scope", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody)))]
async fn execute_in_session(
    state: web::Data<AppState>,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let body: ExecuteRequest = parse(&body)?;
    if streaming(&request)? {
        let events = state
            .sessions
            .execute_streaming(&id, body.code, body.timeout)?;
        return Ok(session_stream::respond(events));
    }
    let reply = state.sessions.execute(&id, body.code, body.timeout).await?;
    Ok(HttpResponse::Ok().json(reply))
}

/// Whether the caller asked to follow the call live.
fn streaming(request: &HttpRequest) -> Result<bool, ApiError> {
    let options = web::Query::<ExecuteOptions>::from_query(request.query_string())
        .map_err(|e| ApiError::new(ErrorCode::InvalidQuery, format!("invalid query: {e}")))?;
    Ok(options.stream || wants_event_stream(request))
}

/// Runs code once in a throw-away Python session (created, used, ended).
#[utoipa::path(post, path = "/interpreter/execute", tag = "sessions", request_body = InterpreterRequest,
    responses((status = 200, description = "The call's outcome", body = ExecutionDoc),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 403, description = "Exec is off or the key lacks the exec scope", body = ErrorBody),
        (status = 429, description = "`max_sessions` are alive (`too_many_sessions`)", body = ErrorBody)))]
async fn execute_once(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let body: InterpreterRequest = parse(&body)?;
    let env = body.envs.into_iter().collect();
    let reply = state
        .sessions
        .execute_once(body.code, body.timeout, env)
        .await?;
    Ok(HttpResponse::Ok().json(reply))
}
