//! Creating, editing and deleting scripts over HTTP, and the templates new scripts start from.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::domain::Runtime;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::manage::Template;

use crate::api::multipart::{read_form, FormLimits, Keep, Part, MAX_PARTS};
use crate::api::{object_body, resource, AppState, Gate};

use super::listing::ScriptView;

const MAX_UPLOAD: usize = 5 * 1024 * 1024;

/// A script upload keeps only `file` and `path` (in memory); other parts are read past.
const UPLOAD_LIMITS: FormLimits = FormLimits {
    max_bytes: MAX_UPLOAD + 64 * 1024,
    max_memory_bytes: MAX_UPLOAD + 4 * 1024,
    max_parts: MAX_PARTS,
};

/// Routes that must be matched before `/scripts/{id}`.
pub(super) fn configure_before_scripts(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/scripts/create",
        Gate::Admin,
        [(Method::POST, web::to(create_script_compat))],
    ))
    .service(resource(
        "/scripts/upload",
        Gate::Admin,
        [(Method::POST, web::to(upload_script))],
    ))
    .service(resource(
        "/scripts/{id}/content",
        Gate::Admin,
        [
            (Method::GET, web::to(get_script_content)),
            (Method::PUT, web::to(put_script_content)),
        ],
    ))
    .service(resource(
        "/templates/{runtime}",
        Gate::Admin,
        [
            (Method::GET, web::to(get_template)),
            (Method::PUT, web::to(put_template)),
        ],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(
    create_script,
    create_script_compat,
    upload_script,
    get_script_content,
    put_script_content,
    delete_script,
    get_template,
    put_template
))]
pub(super) struct ManageApi;

/// `{"path", "content"}`, or `{"path", "template": "python"|"js"}` to start from a template.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScriptRequest {
    /// Relative to the scripts folder, e.g. `python/tools/clean.py`.
    path: String,
    content: Option<String>,
    template: Option<String>,
}

/// Creates a script file; answers with the script after its schema was extracted.
#[utoipa::path(post, path = "/scripts", tag = "manage", request_body = CreateScriptRequest,
    responses((status = 201, description = "Created", body = ScriptView), (status = 400, description = "Bad input (the error names the problem)", body = ErrorBody), (status = 409, description = "Conflicts with the current state", body = ErrorBody)))]
pub(super) async fn create_script(
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let body: CreateScriptRequest = object_body(body.into_inner())?;
    let script = match (body.content, body.template) {
        (Some(content), None) => state.manager.create(&body.path, content).await?,
        (None, Some(template)) => {
            let runtime = Runtime::parse(&template).ok_or_else(|| {
                ApiError::invalid_request(format!(
                    "template must be \"python\" or \"js\", not {template:?}"
                ))
            })?;
            if !body.path.starts_with(runtime.folder()) {
                return Err(ApiError::invalid_request(format!(
                    "a {runtime} template needs a path under {}/",
                    runtime.folder()
                )));
            }
            state.manager.create_from_template(&body.path).await?
        }
        _ => {
            return Err(ApiError::invalid_request(
                "send either \"content\" or \"template\"",
            ))
        }
    };
    Ok(HttpResponse::Created().json(ScriptView::from(script)))
}

/// The original gateway's body: `{"runtime", "filename", "content"}`.
#[derive(Deserialize, ToSchema)]
pub struct CreateScriptCompatRequest {
    runtime: String,
    filename: String,
    content: String,
}

#[utoipa::path(post, path = "/scripts/create", tag = "manage", request_body = CreateScriptCompatRequest,
    responses((status = 201, description = "Created", body = ScriptView), (status = 400, description = "Bad input (the error names the problem)", body = ErrorBody), (status = 409, description = "Conflicts with the current state", body = ErrorBody)))]
async fn create_script_compat(
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let body: CreateScriptCompatRequest = object_body(body.into_inner())?;
    let runtime = Runtime::parse(&body.runtime).ok_or_else(|| {
        ApiError::invalid_request(format!(
            "runtime must be \"python\" or \"js\", not {:?}",
            body.runtime
        ))
    })?;
    if body.filename.starts_with('/') {
        let message = format!(
            "{:?} must be relative to the {} folder",
            body.filename,
            runtime.folder()
        );
        return Err(ApiError::new(ErrorCode::InvalidPath, message));
    }
    let path = format!("{}/{}", runtime.folder(), body.filename);
    let script = state.manager.create(&path, body.content).await?;
    Ok(HttpResponse::Created().json(ScriptView::from(script)))
}

/// multipart/form-data: a `file` field, and optionally `path` (default: the runtime folder
/// its extension implies, plus its file name).
#[utoipa::path(post, path = "/scripts/upload", tag = "manage",
    request_body(content_type = "multipart/form-data", description = "`file`, and optionally `path`"),
    responses((status = 201, description = "Created", body = ScriptView), (status = 400, description = "Bad input (the error names the problem)", body = ErrorBody), (status = 409, description = "Conflicts with the current state", body = ErrorBody), (status = 413, description = "Too large", body = ErrorBody)))]
async fn upload_script(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (mut path, mut file) = (None, None);
    for part in read_form(&request, payload, UPLOAD_LIMITS, |name, _| {
        Ok(match name {
            "file" | "path" => Keep::Memory,
            _ => Keep::Skip,
        })
    })
    .await?
    {
        if let Part::Memory {
            name,
            file_name,
            bytes,
        } = part
        {
            if name == "file" {
                file = Some((file_name.unwrap_or_default(), bytes));
            } else {
                path = Some(
                    String::from_utf8(bytes)
                        .map_err(|_| ApiError::invalid_request("path is not UTF-8"))?,
                );
            }
        }
    }
    let (file_name, bytes) =
        file.ok_or_else(|| ApiError::invalid_request("the form has no `file` field"))?;
    let content = String::from_utf8(bytes)
        .map_err(|_| ApiError::invalid_request("a script must be UTF-8 text"))?;
    let path = match path.filter(|p| !p.trim().is_empty()) {
        Some(path) => path,
        None => default_upload_path(&file_name)?,
    };
    let script = state.manager.create(&path, content).await?;
    Ok(HttpResponse::Created().json(ScriptView::from(script)))
}

fn default_upload_path(file_name: &str) -> Result<String, ApiError> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or_default();
    let extension = std::path::Path::new(base)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let runtime = Runtime::ALL
        .into_iter()
        .find(|r| r.is_script_extension(extension))
        .ok_or_else(|| {
            ApiError::invalid_request(format!(
                "{base:?} is not a .py, .js, .mjs or .cjs file; give a `path`"
            ))
        })?;
    Ok(format!("{}/{base}", runtime.folder()))
}

#[derive(Serialize, ToSchema)]
struct ContentView {
    id: i64,
    path: String,
    content: String,
}

#[utoipa::path(get, path = "/scripts/{id}/content", tag = "manage", params(("id" = i64, Path)),
    responses((status = 200, description = "The result", body = ContentView), (status = 404, description = "Not found", body = ErrorBody)))]
async fn get_script_content(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (script, content) = state.manager.content(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ContentView {
        id: script.id,
        path: script.path,
        content,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentRequest {
    content: String,
}

/// Replaces the script's file; answers with the new schema, or the reason it failed to load.
#[utoipa::path(put, path = "/scripts/{id}/content", tag = "manage", params(("id" = i64, Path)), request_body = ContentRequest,
    responses((status = 200, description = "The result", body = ScriptView), (status = 404, description = "Not found", body = ErrorBody), (status = 413, description = "Too large", body = ErrorBody)))]
async fn put_script_content(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let script = state
        .manager
        .update(
            id.into_inner(),
            object_body::<ContentRequest>(body.into_inner())?.content,
        )
        .await?;
    Ok(HttpResponse::Ok().json(ScriptView::from(script)))
}

/// Deletes the file and its sidecar; the run history stays.
#[utoipa::path(delete, path = "/scripts/{id}", tag = "manage", params(("id" = i64, Path)),
    responses((status = 200, description = "The result", body = ScriptView), (status = 404, description = "Not found", body = ErrorBody)))]
pub(super) async fn delete_script(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let script = state.manager.delete(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ScriptView::from(script)))
}

#[utoipa::path(get, path = "/templates/{runtime}", tag = "manage", params(("runtime" = String, Path, description = "python or js")),
    responses((status = 200, description = "The result", body = TemplateView), (status = 404, description = "Not found", body = ErrorBody)))]
async fn get_template(
    state: web::Data<AppState>,
    runtime: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let template = state.manager.template(template_runtime(&runtime)?).await?;
    Ok(HttpResponse::Ok().json(TemplateView::from(template)))
}

#[utoipa::path(put, path = "/templates/{runtime}", tag = "manage", params(("runtime" = String, Path, description = "python or js")),
    request_body = ContentRequest, responses((status = 200, description = "The result", body = TemplateView), (status = 404, description = "Not found", body = ErrorBody)))]
async fn put_template(
    state: web::Data<AppState>,
    runtime: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let runtime = template_runtime(&runtime)?;
    let content = object_body::<ContentRequest>(body.into_inner())?.content;
    if !runtime.is_script_source(&content) {
        return Err(ApiError::invalid_request(format!(
            "a template is a script: {}",
            crate::domain::SCRIPT_RULE
        )));
    }
    let template = state.manager.set_template(runtime, content).await?;
    Ok(HttpResponse::Ok().json(TemplateView::from(template)))
}

#[derive(Serialize, ToSchema)]
struct TemplateView {
    runtime: String,
    content: String,
    /// False while the built-in template is in use.
    custom: bool,
}

impl From<Template> for TemplateView {
    fn from(t: Template) -> TemplateView {
        TemplateView {
            runtime: t.runtime.as_str().to_string(),
            content: t.content,
            custom: t.custom,
        }
    }
}

fn template_runtime(name: &str) -> Result<Runtime, ApiError> {
    Runtime::parse(name)
        .ok_or_else(|| ApiError::not_found(format!("no template for {name:?}; use python or js")))
}
