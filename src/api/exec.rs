//! `POST /api/exec`: code sent with the request, run once like a script (fresh folder,
//! limits, capture, history, files, async/wait/SSE/cancel). Behind the exec gate, and
//! refused with `exec_disabled` while the `exec_enabled` setting is off.

use std::collections::BTreeMap;

use actix_web::http::Method;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use crate::domain::{parse_options, ArgsMap, RawValue, RunRequest, Runtime};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::runner::{CodeRequest, Input, Staging};

use super::multipart::{read_form, FormLimits, Keep, Part, MAX_PARTS};
use super::run_input::{query_pairs, read_limited};
use super::scripts::{answer, prefers_async, AcceptedView, RunOptionsRequest, RunResultView};
use super::{events, resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/exec",
        Gate::Exec,
        [(Method::POST, web::to(exec_code))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(exec_code), components(schemas(ExecRequest)))]
pub struct ExecApi;

/// Code to run once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ExecRequest {
    /// `python` or `node`.
    #[schema(example = "python")]
    runtime: String,
    /// The program, run as `main.py` / `main.js` (CommonJS) with the run's working folder as
    /// its current directory.
    #[schema(example = "import sys, json\nprint(json.dumps({'args': sys.argv[1:]}))")]
    code: String,
    /// Its command-line arguments.
    #[serde(default)]
    args: Vec<String>,
    /// Variables added to the clean environment (names starting `SG_` are the gateway's).
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Shortens the timeout to this many seconds (never beyond the gateway's).
    #[serde(default)]
    #[schema(exclusive_minimum = 0)]
    timeout: Option<f64>,
    /// Package specifiers (`requests==2.32.3`, `lodash@4`) installed through the shared
    /// dependency caches; `requirements` is another name for it.
    #[serde(default, alias = "requirements")]
    packages: Vec<String>,
}

/// Runs code once, exactly like a script run.
///
/// Send JSON (`{"runtime", "code", "args", "env", "timeout", "packages"}`), or multipart with
/// those fields as text (`args`, `env` and `packages` as JSON; or all of them as JSON in a
/// `payload` field) and any number of input files, which the code finds in its working
/// folder under their names. `data` comes from JSON stdout; files the code writes there are
/// listed and downloadable (`/api/runs/ID/files/NAME`); the run is in the history with
/// `script_id: null` and `kind: "exec"`. `async=true`, `wait=S`, `Accept:
/// text/event-stream` and cancelling work as for scripts. Needs a key with the `exec` scope
/// (or an admin key) and the `exec_enabled` setting.
#[utoipa::path(
    post,
    path = "/exec",
    tag = "exec",
    params(RunOptionsRequest),
    request_body(content(
        (ExecRequest = "application/json"),
        (Object = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "The run ended (successfully or not)", content(
            (RunResultView = "application/json"),
            (events::RunEventView = "text/event-stream"),
        )),
        (status = 202, description = "Accepted: the run goes on in the background", body = AcceptedView),
        (status = 400, description = "A field is missing or not valid (`invalid_request`, `invalid_json`), or an option (`invalid_query`)", body = ErrorBody),
        (status = 403, description = "Exec is off (`exec_disabled`), or the key lacks the exec scope", body = ErrorBody),
        (status = 413, description = "The body is too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Not JSON or multipart (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "Too many runs waiting (`too_many_runs`); retry after `Retry-After`", body = ErrorBody),
        (status = 503, description = "Shutting down, or the interpreter is missing", body = ErrorBody),
    )
)]
async fn exec_code(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !state.settings.current().exec_enabled {
        return Err(ApiError::new(
            ErrorCode::ExecDisabled,
            "ad-hoc runs are off; the operator turns them on with the exec_enabled setting (--exec-enabled, SG_EXEC_ENABLED)",
        ));
    }
    super::sessions::enabled(&state)?;
    let mut options_request = RunRequest::from_query_pairs(query_pairs(&request), false);
    options_request.prefer_async = prefers_async(&request);
    let no_parameters =
        ArgsMap::parse(Value::Object(Default::default())).map_err(|e| ApiError::internal(&e))?;
    let mut options = parse_options(&no_parameters, &mut options_request)
        .map_err(|e| ApiError::new(ErrorCode::InvalidQuery, e.0))?;
    let mut staging = state.runner.staging();
    let (body, inputs) = read_request(&state, &request, payload, &mut staging).await?;
    if let Some(seconds) = body.timeout {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(invalid("timeout must be a positive number of seconds"));
        }
        let asked = std::time::Duration::from_secs_f64(seconds.min(86_400.0));
        options.timeout = Some(options.timeout.map_or(asked, |t| t.min(asked)));
    }
    let runtime = Runtime::parse(&body.runtime).ok_or_else(|| {
        invalid(format!(
            "runtime must be python or node, not {:?}",
            body.runtime
        ))
    })?;
    let code = CodeRequest {
        runtime,
        code: body.code,
        args: body.args,
        env: body.env,
        packages: body.packages,
        inputs,
        options,
    };
    let submitted = state.runner.submit_code(code, staging).await?;
    answer(&state, submitted, &request).await
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message)
}

/// The request's fields and its input files (name, staged path), from JSON or multipart.
async fn read_request(
    state: &AppState,
    request: &HttpRequest,
    payload: web::Payload,
    staging: &mut Staging,
) -> Result<(ExecRequest, Vec<Input>), ApiError> {
    let settings = state.runner.settings();
    let content_type = request.content_type().to_ascii_lowercase();
    match content_type.as_str() {
        "multipart/form-data" => {
            let limits = FormLimits {
                max_bytes: settings.max_body_bytes,
                max_memory_bytes: settings.max_json_body_bytes,
                max_parts: MAX_PARTS,
            };
            read_multipart(request, payload, staging, limits).await
        }
        "" | "application/json" | "text/json" => {
            let bytes = read_limited(request, payload, settings.max_json_body_bytes).await?;
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidJson,
                    format!("the body is not valid JSON: {e}"),
                )
            })?;
            Ok((fields(value)?, Vec::new()))
        }
        other => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "unsupported content type {other:?}: send application/json or multipart/form-data"
            ),
        )),
    }
}

/// The fields from a JSON object, with a message naming what is wrong.
fn fields(value: Value) -> Result<ExecRequest, ApiError> {
    if !value.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            "the body must be a JSON object",
        ));
    }
    serde_json::from_value(value).map_err(|e| invalid(format!("invalid exec request: {e}")))
}

/// Text fields become the request (`args`, `env`, `packages` and `timeout` parsed as JSON;
/// a `payload` field supplies what the others do not); file parts are input files.
async fn read_multipart(
    request: &HttpRequest,
    payload: web::Payload,
    staging: &mut Staging,
    limits: FormLimits,
) -> Result<(ExecRequest, Vec<Input>), ApiError> {
    let parts = read_form(request, payload, limits, |name, file_name| {
        Ok(match file_name {
            // The code may come as a file too.
            Some(_) if name == "code" => Keep::Memory,
            Some(file_name) => Keep::File(
                staging
                    .open_upload(file_name)
                    .map_err(|e| ApiError::internal(&e))?,
            ),
            None => Keep::Memory,
        })
    })
    .await?;
    let mut object = serde_json::Map::new();
    let mut from_payload = serde_json::Map::new();
    let mut inputs = Vec::new();
    for part in parts {
        match part {
            Part::File {
                upload:
                    RawValue::Upload {
                        file_name,
                        path,
                        size,
                    },
                ..
            } => inputs.push(Input {
                name: file_name,
                staged: path,
                size,
            }),
            Part::Memory {
                name,
                bytes,
                file_name,
            } => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| invalid(format!("the field {name:?} is not UTF-8 text")))?;
                let value = match name.as_str() {
                    // Browsers send every line break of a text field as CRLF; the code is
                    // kept as it was typed (a file part is kept byte for byte).
                    "code" if file_name.is_none() => Value::String(text.replace("\r\n", "\n")),
                    "runtime" | "code" => Value::String(text),
                    "payload" => match serde_json::from_str(&text) {
                        Ok(Value::Object(map)) => {
                            from_payload = map;
                            continue;
                        }
                        _ => return Err(invalid("the payload field must be a JSON object")),
                    },
                    _ => serde_json::from_str(&text)
                        .map_err(|e| invalid(format!("the field {name:?} must be JSON: {e}")))?,
                };
                object.insert(name, value);
            }
            Part::File { .. } | Part::Skipped { .. } => {}
        }
    }
    for (name, value) in from_payload {
        object.entry(name).or_insert(value);
    }
    Ok((fields(Value::Object(object))?, inputs))
}
