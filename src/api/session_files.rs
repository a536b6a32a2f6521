//! A session's files over HTTP: list, read, upload (the request body is the file) and
//! delete, confined to the session's folder.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;
use utoipa::OpenApi;

use crate::error::{ApiError, ErrorBody, ErrorCode};

use super::sessions::enabled;
use super::{resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/sessions/{id}/files",
        Gate::Exec,
        [(Method::GET, web::to(list_session_files))],
    ))
    .service(resource(
        "/sessions/{id}/files/{path:.*}",
        Gate::Exec,
        [
            (Method::GET, web::to(read_session_file)),
            (Method::PUT, web::to(upload_session_file)),
            (Method::DELETE, web::to(delete_session_file)),
        ],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(
    list_session_files,
    read_session_file,
    upload_session_file,
    delete_session_file
))]
pub struct SessionFilesApi;

/// One entry of a session's folder.
#[derive(utoipa::ToSchema)]
#[schema(as = SessionFile)]
#[allow(dead_code)]
struct SessionFileDoc {
    /// Relative to the session's folder, `/`-separated.
    path: String,
    /// `file`, `dir`, `symlink` or `other`.
    #[schema(pattern = "^(file|dir|symlink|other)$")]
    kind: String,
    size: u64,
}

/// Every entry of a session's folder.
#[derive(utoipa::ToSchema)]
#[schema(as = SessionFileList)]
#[allow(dead_code)]
struct SessionFileListDoc {
    items: Vec<SessionFileDoc>,
    total: usize,
}

/// Every file and folder in the session's folder (symlinks listed, never followed).
#[utoipa::path(get, path = "/sessions/{id}/files", tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    responses((status = 200, description = "Every entry of the folder", body = SessionFileListDoc),
        (status = 403, description = "Exec is off or the key lacks the exec scope", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody)))]
async fn list_session_files(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let items = state.sessions.list_files(&id).await?;
    Ok(HttpResponse::Ok().json(json!({"total": items.len(), "items": items})))
}

/// A file's bytes. A path that is absolute, holds `..` or passes through a symlink is refused.
#[utoipa::path(get, path = "/sessions/{id}/files/{path}", tag = "sessions",
    params(("id" = String, Path, description = "The session's id"),
        ("path" = String, Path, description = "Relative to the session's folder")),
    responses((status = 200, description = "The bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "The path leaves the folder (`unsafe_path`)", body = ErrorBody),
        (status = 403, description = "Exec is off or the key lacks the exec scope", body = ErrorBody),
        (status = 404, description = "No such session or file", body = ErrorBody)))]
async fn read_session_file(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let (id, path) = path.into_inner();
    let bytes = state.sessions.read_file(&id, path).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(bytes))
}

/// Writes the request body as the file (replacing it), making its folders.
#[utoipa::path(put, path = "/sessions/{id}/files/{path}", tag = "sessions",
    params(("id" = String, Path, description = "The session's id"),
        ("path" = String, Path, description = "Relative to the session's folder")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, description = "The file as written", body = SessionFileDoc),
        (status = 400, description = "The path leaves the folder (`unsafe_path`)", body = ErrorBody),
        (status = 403, description = "Exec is off or the key lacks the exec scope", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = 413, description = "Larger than `max_body_bytes`", body = ErrorBody)))]
async fn upload_session_file(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let (id, path) = path.into_inner();
    let max = state.settings.current().run.max_body_bytes;
    let mut bytes = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::invalid_request(format!("cannot read the body: {e}")))?;
        if bytes.len() + chunk.len() > max {
            let message = format!("the file is larger than {max} bytes (max_body_bytes)");
            return Err(ApiError::new(ErrorCode::PayloadTooLarge, message));
        }
        bytes.extend_from_slice(&chunk);
    }
    let size = state.sessions.write_file(&id, path.clone(), bytes).await?;
    Ok(HttpResponse::Ok().json(json!({"path": path, "kind": "file", "size": size})))
}

/// Removes a file, a symlink (not its target) or an empty folder.
#[utoipa::path(delete, path = "/sessions/{id}/files/{path}", tag = "sessions",
    params(("id" = String, Path, description = "The session's id"),
        ("path" = String, Path, description = "Relative to the session's folder")),
    responses((status = 204, description = "Removed"),
        (status = 400, description = "The path leaves the folder (`unsafe_path`)", body = ErrorBody),
        (status = 403, description = "Exec is off or the key lacks the exec scope", body = ErrorBody),
        (status = 404, description = "No such session or file", body = ErrorBody)))]
async fn delete_session_file(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let (id, path) = path.into_inner();
    state.sessions.delete_file(&id, path).await?;
    Ok(HttpResponse::NoContent().finish())
}
