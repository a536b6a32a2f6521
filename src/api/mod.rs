//! Thin HTTP handlers, one module per resource: extract, call one function, map to a view.

mod auth;
mod deps;
mod docs;
mod events;
mod health;
mod run;
mod run_input;
mod runs;
mod scan;
mod scripts;
mod settings;

use std::sync::Arc;
use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::catalog::Catalog;
use crate::config::ApiKey;
use crate::deps::DepsManager;
use crate::error::{ApiError, ErrorCode};
use crate::runner::Runner;
use crate::settings::Settings;
use crate::scanner::Scanner;

pub use auth::require_api_key;

/// What every handler can reach.
pub struct AppState {
    pub catalog: Catalog,
    pub scanner: Arc<Scanner>,
    pub runner: Arc<Runner>,
    pub deps: Arc<DepsManager>,
    pub settings: Arc<Settings>,
    pub api_key: Option<ApiKey>,
    pub started: Instant,
}

/// Mounts every route and makes extractor failures answer with the JSON error shape.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(query_config())
        .app_data(path_config())
        .app_data(json_config())
        .configure(health::configure)
        .configure(crate::openapi::configure)
        .service(
            web::scope("/api")
                .configure(run::configure)
                .configure(docs::configure)
                .configure(scripts::configure)
                .configure(runs::configure)
                .configure(scan::configure)
                .configure(settings::configure)
                .configure(deps::configure)
                .default_service(web::to(unknown_route)),
        )
        .default_service(web::to(unknown_route));
}

/// The OpenAPI description of the routes `configure` mounts, from each module's own
/// `#[derive(OpenApi)]` struct (the docs routes outside `/api` add theirs in `openapi`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    [
        run::RunApi::openapi(),
        docs::DocsCompatApi::openapi(),
        scripts::ScriptsApi::openapi(),
        runs::RunsApi::openapi(),
        scan::ScanApi::openapi(),
        deps::DepsApi::openapi(),
    ]
    .into_iter()
    .fold(health::HealthApi::openapi(), |doc, module| {
        doc.nest("/api", module)
    })
}

/// A route with a fixed set of methods; any other method answers 405 in the JSON shape.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn unknown_route(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        request.method(),
        request.path()
    )))
}

async fn method_not_allowed(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} is not allowed on {}", request.method(), request.path()),
    ))
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _| {
        ApiError::new(
            ErrorCode::InvalidQuery,
            format!("invalid query string: {error}"),
        )
        .into()
    })
}

fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, request| {
        ApiError::new(
            ErrorCode::InvalidPath,
            format!("invalid path {}: {error}", request.path()),
        )
        .into()
    })
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(1024 * 1024)
        .error_handler(|error, _| {
            use actix_web::error::JsonPayloadError;
            let code = match &error {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => ErrorCode::PayloadTooLarge,
                JsonPayloadError::ContentType => ErrorCode::InvalidRequest,
                _ => ErrorCode::InvalidJson,
            };
            ApiError::new(code, error.to_string()).into()
        })
}
