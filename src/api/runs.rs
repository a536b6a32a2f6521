//! Run history: list, one run, its output and files, cancel (live events are in `events`).

use actix_files::NamedFile;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::catalog::{Run, RunFilter, RunKind, RunStatus};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::openapi::schemas::{RunKindName, RunStatusName};
use crate::runner;

use super::lookup::{find_run, instant, page_bounds};
use super::{resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/runs",
        Gate::RunReads,
        [(Method::GET, web::to(list_runs))],
    ))
    .service(resource(
        "/runs/{id}",
        Gate::RunReads,
        [(Method::GET, web::to(get_run))],
    ))
    .service(resource(
        "/runs/{id}/output",
        Gate::RunReads,
        [(Method::GET, web::to(get_run_output))],
    ))
    .service(resource(
        "/runs/{id}/cancel",
        Gate::Run,
        [(Method::POST, web::to(cancel_run))],
    ))
    .service(resource(
        "/runs/{id}/files/{name:.*}",
        Gate::RunReads,
        [(Method::GET, web::to(get_run_file))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(list_runs, get_run, get_run_output, cancel_run, get_run_file))]
pub struct RunsApi;

/// The fields a run's result shares between the run response and the history:
/// the output (`data`, or `type: "file"` with a `url`), stderr, the files it wrote, the error.
#[derive(Serialize, ToSchema)]
pub struct RunResultFields {
    duration_ms: Option<i64>,
    exit_code: Option<i32>,
    #[serde(flatten)]
    #[schema(value_type = crate::openapi::schemas::RunOutputDoc)]
    output: RunOutputView,
    stderr: String,
    files: Vec<RunFileView>,
    /// Parameters the caller sent that the script does not declare.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ignored_params: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<RunErrorView>,
}

/// stdout as one JSON value (`data`), or, when it was anything else, a file to fetch.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum RunOutputView {
    /// stdout was not one JSON value: it is kept as a file at `url`.
    File {
        #[serde(rename = "type")]
        kind: OutputKind,
        url: String,
        filename: String,
        size: Option<i64>,
        content_type: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        stdout_preview: Option<String>,
    },
    /// stdout (trimmed) was one JSON value, or empty (`null`).
    Data { data: Value },
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum OutputKind {
    File,
}

/// A file the script wrote into its working folder.
#[derive(Serialize, ToSchema)]
#[schema(as = RunFile)]
struct RunFileView {
    name: String,
    size: u64,
    url: String,
}

/// Why a run did not succeed: `script_failed`, `timeout`, `limit_exceeded`, `cancelled`, ...
#[derive(Serialize, ToSchema)]
#[schema(as = RunError)]
struct RunErrorView {
    code: String,
    message: Option<String>,
}

impl RunResultFields {
    pub fn of(run: &Run) -> RunResultFields {
        let output = match &run.output_file {
            Some(name) => RunOutputView::File {
                kind: OutputKind::File,
                url: format!("/api/runs/{}/output", run.id),
                filename: name.clone(),
                size: run.output_size,
                content_type: run.output_content_type.clone(),
                stdout_preview: run.stdout_preview.clone(),
            },
            None => RunOutputView::Data {
                data: run.data.clone().unwrap_or(Value::Null),
            },
        };
        let files = run
            .files
            .iter()
            .map(|f| RunFileView {
                name: f.name.clone(),
                size: f.size,
                url: file_url(run.id, &f.name),
            })
            .collect();
        RunResultFields {
            duration_ms: run.duration_ms,
            exit_code: run.exit_code,
            output,
            stderr: run.stderr.clone().unwrap_or_default(),
            files,
            ignored_params: run.ignored_params.clone(),
            error: run.error_code.as_ref().map(|code| RunErrorView {
                code: code.clone(),
                message: run.error_message.clone(),
            }),
        }
    }
}

/// A run as the history shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Run)]
pub struct RunView {
    id: i64,
    /// Null for an ad-hoc run (`kind: "exec"`).
    script_id: Option<i64>,
    /// The script's path, or `exec:python` / `exec:node` for an ad-hoc run.
    script_path: String,
    #[schema(value_type = RunKindName)]
    kind: RunKind,
    #[schema(value_type = RunStatusName)]
    status: RunStatus,
    /// The parameters as the script got them (files as `{"file", "size"}`).
    params: Option<Value>,
    queued_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    #[serde(flatten)]
    result: RunResultFields,
    /// Runs ahead of this one, while it waits for a slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_position: Option<usize>,
}

pub fn run_view(run: &Run) -> RunView {
    RunView {
        id: run.id,
        script_id: run.script_id,
        script_path: run.script_path.clone(),
        kind: run.kind,
        status: run.status,
        params: run.params.clone(),
        queued_at: run.queued_at.clone(),
        started_at: run.started_at.clone(),
        finished_at: run.finished_at.clone(),
        result: RunResultFields::of(run),
        queue_position: None,
    }
}

/// One page of the run history.
#[derive(Serialize, ToSchema)]
#[schema(as = RunPage)]
struct RunPageView {
    items: Vec<RunView>,
    total: i64,
    page: u32,
    page_size: u32,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListRunsRequest {
    /// Only runs of this script.
    script_id: Option<i64>,
    /// Only script runs (`script`) or only ad-hoc runs (`exec`).
    #[param(value_type = Option<RunKindName>)]
    kind: Option<String>,
    /// Only runs in this state.
    #[param(value_type = Option<RunStatusName>)]
    status: Option<String>,
    /// Only runs queued at or after this instant: ISO 8601, e.g. `2026-05-01T08:00:00Z`
    /// (UTC unless it carries an offset).
    since: Option<String>,
    /// Only runs queued before this instant (same form as `since`).
    until: Option<String>,
    /// The page, from 1.
    #[param(minimum = 1)]
    page: Option<u32>,
    /// Runs per page, 1 to 500 (default 20).
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<u32>,
}

/// The run history, newest first.
#[utoipa::path(
    get,
    path = "/runs",
    tag = "runs",
    params(ListRunsRequest),
    responses(
        (status = 200, description = "One page of runs", body = RunPageView),
        (status = 400, description = "A filter or page is not valid (`invalid_query`)", body = ErrorBody),
    )
)]
async fn list_runs(
    state: web::Data<AppState>,
    query: web::Query<ListRunsRequest>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidQuery, message);
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(RunStatus::parse(text).ok_or_else(|| {
            let known: Vec<_> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
            invalid(format!(
                "status must be one of {}, not {text:?}",
                known.join(", ")
            ))
        })?),
    };
    let kind = match query.kind.as_deref().filter(|k| !k.is_empty()) {
        None => None,
        Some(text) => Some(
            RunKind::parse(text)
                .ok_or_else(|| invalid(format!("kind must be script or exec, not {text:?}")))?,
        ),
    };
    let (page, page_size) = page_bounds(query.page, query.page_size)?;
    let since = instant("since", query.since)?;
    let until = instant("until", query.until)?;
    let found = state
        .catalog
        .list_runs(RunFilter {
            script_id: query.script_id,
            kind,
            status,
            since,
            until,
            page,
            page_size,
        })
        .await?;
    Ok(HttpResponse::Ok().json(RunPageView {
        items: found.items.iter().map(run_view).collect(),
        total: found.total,
        page,
        page_size,
    }))
}

/// One run: its parameters, status, output and error.
#[utoipa::path(
    get,
    path = "/runs/{id}",
    tag = "runs",
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = RunView),
        (status = 404, description = "No run with this id", body = ErrorBody),
    )
)]
async fn get_run(state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let run = find_run(&state, id.into_inner()).await?;
    let mut view = run_view(&run);
    view.queue_position = state.runner.queue_position(run.id);
    Ok(HttpResponse::Ok().json(view))
}

/// Stops a queued or running run and its whole process tree; answers with its final record.
#[utoipa::path(
    post,
    path = "/runs/{id}/cancel",
    tag = "runs",
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run, as it ended", body = RunView),
        (status = 404, description = "No run with this id", body = ErrorBody),
        (status = 409, description = "The run had already ended (`run_already_ended`)", body = ErrorBody),
    )
)]
async fn cancel_run(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let run = state.runner.cancel(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(run_view(&run)))
}

/// The run's stdout when it was not one JSON value, with its detected content type.
#[utoipa::path(
    get,
    path = "/runs/{id}/output",
    tag = "runs",
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The bytes the script printed", content_type = "*/*", body = Value),
        (status = 404, description = "No such run, or its stdout was JSON or empty", body = ErrorBody),
    )
)]
async fn get_run_output(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let run = find_run(&state, id.into_inner()).await?;
    let path = runner::run_output_path(&run).ok_or_else(|| {
        ApiError::not_found(format!(
            "run {} has no raw output (its stdout was JSON or empty)",
            run.id
        ))
    })?;
    let content_type = run
        .output_content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    serve_file(path, &request, Some(content_type)).await
}

/// A file the script wrote into its working folder.
#[utoipa::path(
    get,
    path = "/runs/{id}/files/{name}",
    tag = "runs",
    params(
        ("id" = i64, Path, description = "The run's id"),
        ("name" = String, Path, description = "The file's name, as listed in the run's `files`"),
    ),
    responses(
        (status = 200, description = "The file's bytes", content_type = "*/*", body = Value),
        (status = 404, description = "No such run or file", body = ErrorBody),
    )
)]
async fn get_run_file(
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let run = find_run(&state, id).await?;
    let file = runner::run_file_path(&run, &name)
        .ok_or_else(|| ApiError::not_found(format!("run {id} has no file {name:?}")))?;
    serve_file(file, &request, None).await
}

async fn serve_file(
    path: std::path::PathBuf,
    request: &HttpRequest,
    content_type: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = NamedFile::open_async(&path)
        .await
        .map_err(|_| ApiError::not_found(format!("{file_name} is no longer stored")))?;
    let file = match content_type.and_then(|t| t.parse().ok()) {
        Some(mime) => file.set_content_type(mime),
        None => file,
    };
    let file = file.set_content_disposition(ContentDisposition {
        disposition: DispositionType::Inline,
        parameters: vec![DispositionParam::Filename(file_name)],
    });
    Ok(file.into_response(request))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    use super::*;
    use crate::catalog::RunFile;

    /// The fields a run's result shares between the run response and the history.
    fn legacy_result_fields(run: &Run) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("duration_ms".into(), json!(run.duration_ms));
        fields.insert("exit_code".into(), json!(run.exit_code));
        if let Some(name) = &run.output_file {
            fields.insert("type".into(), json!("file"));
            fields.insert("url".into(), json!(format!("/api/runs/{}/output", run.id)));
            fields.insert("filename".into(), json!(name));
            fields.insert("size".into(), json!(run.output_size));
            fields.insert("content_type".into(), json!(run.output_content_type));
            if let Some(preview) = &run.stdout_preview {
                fields.insert("stdout_preview".into(), json!(preview));
            }
        } else {
            fields.insert("data".into(), run.data.clone().unwrap_or(Value::Null));
        }
        fields.insert(
            "stderr".into(),
            json!(run.stderr.clone().unwrap_or_default()),
        );
        let files: Vec<Value> = run
            .files
            .iter()
            .map(|f| json!({"name": f.name, "size": f.size, "url": file_url(run.id, &f.name)}))
            .collect();
        fields.insert("files".into(), Value::Array(files));
        if !run.ignored_params.is_empty() {
            fields.insert("ignored_params".into(), json!(run.ignored_params));
        }
        if let Some(code) = &run.error_code {
            fields.insert(
                "error".into(),
                json!({"code": code, "message": run.error_message}),
            );
        }
        fields
    }

    /// A run as the history shows it.
    fn legacy_run_view(run: &Run) -> Value {
        let mut view = json!({
            "id": run.id,
            "script_id": run.script_id,
            "script_path": run.script_path,
            "kind": run.kind,
            "status": run.status,
            "params": run.params,
            "queued_at": run.queued_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
        });
        view.as_object_mut()
            .expect("a JSON object")
            .extend(legacy_result_fields(run));
        view
    }

    fn run(status: RunStatus) -> Run {
        Run {
            script_id: Some(3),
            script_path: "python/hello.py".into(),
            status,
            params: Some(json!({"name": "Bob"})),
            queued_at: "2026-01-01T00:00:00Z".into(),
            started_at: Some("2026-01-01T00:00:01Z".into()),
            duration_ms: Some(37),
            data: Some(json!({"msg": "Hello Bob"})),
            ..crate::catalog::builders::run(41)
        }
    }

    #[test]
    fn the_typed_view_keeps_the_wire_format_byte_for_byte() {
        let mut file_output = run(RunStatus::Success);
        file_output.data = None;
        file_output.output_file = Some("stdout.txt".into());
        file_output.output_content_type = Some("text/plain".into());
        file_output.stdout_preview = Some("hello".into());
        let mut failed = run(RunStatus::Error);
        failed.data = None;
        failed.exit_code = Some(2);
        failed.stderr = Some("boom".into());
        failed.error_code = Some("script_failed".into());
        failed.files = vec![RunFile {
            name: "chart.png".into(),
            size: 9,
        }];
        failed.ignored_params = vec!["extra".into()];
        let mut queued = run(RunStatus::Queued);
        queued.started_at = None;
        queued.params = None;
        queued.data = None;
        queued.duration_ms = None;
        queued.exit_code = None;
        for (what, run) in [
            ("data", run(RunStatus::Success)),
            ("file", file_output),
            ("failed", failed),
            ("queued", queued),
        ] {
            assert_eq!(
                serde_json::to_string(&run_view(&run)).unwrap(),
                legacy_run_view(&run).to_string(),
                "{what}"
            );
        }
    }
}

/// `/api/runs/{id}/files/{name}` with each segment of the name percent-encoded, so names
/// holding `#`, `?`, `%` or spaces download as they are.
pub fn file_url(run_id: i64, name: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let encoded: Vec<String> = name
        .split('/')
        .map(|part| utf8_percent_encode(part, SEGMENT).to_string())
        .collect();
    format!("/api/runs/{run_id}/files/{}", encoded.join("/"))
}

#[cfg(test)]
mod file_url_tests {
    #[test]
    fn file_urls_encode_each_segment() {
        assert_eq!(
            super::file_url(3, "sub dir/a#b?.txt"),
            "/api/runs/3/files/sub%20dir/a%23b%3F.txt"
        );
        assert_eq!(
            super::file_url(3, "pct%2e.txt"),
            "/api/runs/3/files/pct%252e.txt"
        );
        assert_eq!(
            super::file_url(3, "plain-name_1.csv"),
            "/api/runs/3/files/plain-name_1.csv"
        );
    }
}
