use actix_files::NamedFile;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::catalog::{Run, RunFilter, RunStatus};
use crate::error::{ApiError, ErrorCode};
use crate::runner;

use super::{resource, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/runs").route(web::get().to(list_runs)))
        .service(resource("/runs/{id}").route(web::get().to(get_run)))
        .service(resource("/runs/{id}/output").route(web::get().to(get_run_output)))
        .service(resource("/runs/{id}/files/{name:.*}").route(web::get().to(get_run_file)));
}

/// The fields a run's result shares between the run response and the history.
pub fn result_fields(run: &Run) -> Map<String, Value> {
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
        .map(|f| json!({"name": f.name, "size": f.size, "url": format!("/api/runs/{}/files/{}", run.id, f.name)}))
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
pub fn run_view(run: &Run) -> Value {
    let mut view = json!({
        "id": run.id,
        "script_id": run.script_id,
        "script_path": run.script_path,
        "status": run.status,
        "params": run.params,
        "queued_at": run.queued_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    });
    view.as_object_mut()
        .expect("a JSON object")
        .extend(result_fields(run));
    view
}

#[derive(Deserialize)]
struct ListRunsQuery {
    script_id: Option<i64>,
    status: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

async fn list_runs(
    state: web::Data<AppState>,
    query: web::Query<ListRunsQuery>,
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
    let (page, page_size) = super::scripts::page_bounds(query.page, query.page_size)?;
    let found = state
        .catalog
        .list_runs(RunFilter {
            script_id: query.script_id,
            status,
            page,
            page_size,
        })
        .await?;
    let items: Vec<Value> = found.items.iter().map(run_view).collect();
    Ok(HttpResponse::Ok()
        .json(json!({"items": items, "total": found.total, "page": page, "page_size": page_size})))
}

async fn find_run(state: &AppState, id: i64) -> Result<Run, ApiError> {
    state
        .catalog
        .run(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no run with id {id}")))
}

async fn get_run(state: web::Data<AppState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let run = find_run(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(run_view(&run)))
}

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
