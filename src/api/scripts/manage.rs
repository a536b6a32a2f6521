//! Creating, editing and deleting scripts over HTTP, and the templates new scripts start from.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::catalog::ScriptPatch;
use crate::domain::Runtime;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::manage::Template;

use crate::api::lookup::script_not_found;
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
    patch_script,
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
                invalid(format!(
                    "template must be \"python\" or \"js\", not {template:?}"
                ))
            })?;
            if !body.path.starts_with(runtime.folder()) {
                return Err(invalid(format!(
                    "a {runtime} template needs a path under {}/",
                    runtime.folder()
                )));
            }
            state.manager.create_from_template(&body.path).await?
        }
        _ => return Err(invalid("send either \"content\" or \"template\"".into())),
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
        invalid(format!(
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
                    String::from_utf8(bytes).map_err(|_| invalid("path is not UTF-8".into()))?,
                );
            }
        }
    }
    let (file_name, bytes) = file.ok_or_else(|| invalid("the form has no `file` field".into()))?;
    let content =
        String::from_utf8(bytes).map_err(|_| invalid("a script must be UTF-8 text".into()))?;
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
            invalid(format!(
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

/// Operator choices for one script; `null` clears an override.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchScriptRequest {
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>)]
    alias: Option<Option<String>>,
    enabled: Option<bool>,
    notify_enabled: Option<bool>,
    /// Seconds; replaces the global timeout for this script.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<i64>)]
    timeout_sec: Option<Option<i64>>,
    /// Runs of this script executing at once.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<i64>)]
    max_concurrent: Option<Option<i64>>,
    /// `warm` or `cold` for this script alone; null follows the `execution_mode` setting.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>)]
    execution_mode: Option<Option<String>>,
}

impl PatchScriptRequest {
    fn into_patch(self) -> Result<ScriptPatch, ApiError> {
        let alias = self
            .alias
            .map(|a| a.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()));
        if alias
            .as_ref()
            .and_then(|a| a.as_ref())
            .is_some_and(|a| a.chars().count() > 100)
        {
            return Err(invalid("alias must be at most 100 characters".into()));
        }
        if self
            .timeout_sec
            .flatten()
            .is_some_and(|t| !(1..=86_400).contains(&t))
        {
            return Err(invalid(
                "timeout_sec must be between 1 and 86400 (or null)".into(),
            ));
        }
        if self
            .max_concurrent
            .flatten()
            .is_some_and(|n| !(1..=10_000).contains(&n))
        {
            return Err(invalid(
                "max_concurrent must be between 1 and 10000 (or null)".into(),
            ));
        }
        if self
            .execution_mode
            .as_ref()
            .and_then(|m| m.as_deref())
            .is_some_and(|m| !matches!(m, "warm" | "cold"))
        {
            return Err(invalid(
                "execution_mode must be warm or cold (or null)".into(),
            ));
        }
        Ok(ScriptPatch {
            alias,
            enabled: self.enabled,
            notify_enabled: self.notify_enabled,
            timeout_sec: self.timeout_sec,
            max_concurrent: self.max_concurrent,
            execution_mode: self.execution_mode,
        })
    }
}

#[utoipa::path(patch, path = "/scripts/{id}", tag = "manage", params(("id" = i64, Path)), request_body = PatchScriptRequest,
    responses((status = 200, description = "The result", body = ScriptView), (status = 400, description = "Bad input (the error names the problem)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)))]
pub(super) async fn patch_script(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let patch = object_body::<PatchScriptRequest>(body.into_inner())?.into_patch()?;
    let script = state
        .catalog
        .patch_script(id, patch)
        .await?
        .ok_or_else(|| script_not_found(id))?;
    state.scanner.catalog_changed();
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
        return Err(invalid(format!(
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

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message)
}

/// Tells a field that was left out (`None`) from one set to null (`Some(None)`).
fn present_or_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
