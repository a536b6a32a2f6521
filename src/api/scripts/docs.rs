//! A script's documentation: its own fragment of the document and ready curl commands; and
//! the whole document at the original gateway's `/scripts/swagger-all`.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::OpenApi;

use crate::catalog::Script;
use crate::domain::ArgsMap;
use crate::error::{ApiError, ErrorBody};
use crate::openapi::curl::{curl_commands, CurlCommands};
use crate::openapi::{fragment, run_path};
use serde::Serialize;

use crate::api::docs::{document_for, get_openapi_json};
use crate::api::lookup::{find_script, schema_not_loadable};
use crate::api::{resource, AppState, Gate};

/// Registered before the `/scripts/{id}` routes, which would otherwise take `swagger-all` for an id.
pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/scripts/swagger-all",
        Gate::RunReads,
        [(Method::GET, web::to(get_openapi_json))],
    ))
    .service(resource(
        "/scripts/{id}/swagger",
        Gate::RunReads,
        [(Method::GET, web::to(get_script_swagger))],
    ))
    .service(resource(
        "/scripts/{id}/curl",
        Gate::RunReads,
        [(Method::GET, web::to(get_script_curl))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(get_swagger_all, get_script_swagger, get_script_curl))]
pub(super) struct DocsCompatApi;

/// The whole OpenAPI document (as `/openapi.json`), for the original gateway's clients.
// Served by `get_openapi_json`; this function only carries the route's documentation.
#[utoipa::path(
    get,
    path = "/scripts/swagger-all",
    tag = "docs",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
#[allow(dead_code)]
fn get_swagger_all() {}

/// One script's part of the document: a standalone OpenAPI document with its run operations
/// and the schemas they use.
#[utoipa::path(
    get,
    path = "/scripts/{id}/swagger",
    tag = "docs",
    params(("id" = i64, Path, description = "The script's id")),
    responses(
        (status = 200, description = "An OpenAPI 3.1 document for this script", body = Object),
        (status = 404, description = "No script with this id", body = ErrorBody),
        (status = 422, description = "Its schema could not be loaded (`schema_not_loadable`)", body = ErrorBody),
    )
)]
async fn get_script_swagger(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let script = find_script(&state, id.into_inner()).await?;
    loaded(&script)?;
    let title = format!("ScriptGateway: {}", script.path);
    let whole = serde_json::to_value(document_for(std::slice::from_ref(&script)))
        .map_err(|e| ApiError::internal(&e))?;
    let part = fragment::fragment(&whole, &run_path(&script.path), &title)
        .ok_or_else(|| ApiError::internal(&"a loaded script has no run path"))?;
    Ok(HttpResponse::Ok().json(part))
}

/// Ready curl commands for the script: GET (without files), JSON POST, and multipart (with
/// files), against the `base_url` setting, or else the host the request came to. With an API
/// key set, they carry a placeholder for it.
#[utoipa::path(
    get,
    path = "/scripts/{id}/curl",
    tag = "docs",
    params(("id" = i64, Path, description = "The script's id")),
    responses(
        (status = 200, description = "The commands", body = CurlView),
        (status = 404, description = "No script with this id", body = ErrorBody),
        (status = 422, description = "Its schema could not be loaded (`schema_not_loadable`)", body = ErrorBody),
    )
)]
async fn get_script_curl(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let script = find_script(&state, id.into_inner()).await?;
    let map = loaded(&script)?;
    let base_url = state
        .settings
        .current()
        .base_url
        .clone()
        .unwrap_or_else(|| {
            let connection = request.connection_info();
            format!("{}://{}", connection.scheme(), connection.host())
        });
    let commands = curl_commands(&base_url, &script.path, &map, state.api_key.is_some());
    Ok(HttpResponse::Ok().json(CurlView::new(script.id, commands)))
}

/// What a client pastes into a shell to run the script.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = CurlCommands)]
struct CurlView {
    script_id: i64,
    /// The run URL the commands call: the script's address by path, `/api/run/PATH`.
    url: String,
    /// `GET` with the parameters in the query string; `null` when the script takes files.
    get: Option<String>,
    /// `POST` with a JSON body.
    post_json: String,
    /// `POST` as multipart, files by parameter name; `null` when the script takes no files.
    post_multipart: Option<String>,
    /// The header the commands send when the gateway has an API key (put yours in), else `null`.
    auth_header: Option<String>,
}

impl CurlView {
    fn new(script_id: i64, c: CurlCommands) -> CurlView {
        CurlView {
            script_id,
            url: c.url,
            get: c.get,
            post_json: c.post_json,
            post_multipart: c.post_multipart,
            auth_header: c.auth_header,
        }
    }
}

fn loaded(script: &Script) -> Result<ArgsMap, ApiError> {
    crate::openapi::loaded_args_map(script).ok_or_else(|| schema_not_loadable(script))
}
