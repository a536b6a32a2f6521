//! Thin HTTP handlers, one module per resource: extract, call one function, map to a view.

mod auth;
mod deps;
mod deps_views;
mod docs;
mod events;
mod exec;
mod health;
mod http_errors;
mod keys;
mod lookup;
mod metrics;
mod multipart;
mod original;
mod original_upkeep;
mod retention;
mod run_input;
mod runs;
mod scan;
mod scripts;
mod session_files;
mod session_stream;
mod sessions;
mod settings;
#[cfg(test)]
mod sync_tests;
mod system;
mod ui;
mod webhook;

use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::HttpServiceFactory;
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError, Route};

use crate::access::Access;
pub use crate::access::Gate;
use crate::catalog::Catalog;
use crate::config::ApiKey;
use crate::deps::DepsManager;
use crate::error::{ApiError, ErrorCode};
use crate::manage::ScriptManager;
use crate::runner::Runner;
use crate::scanner::Scanner;
use crate::settings::Settings;

pub use docs::{keep_fresh, DocCache, Published};
pub use http_errors::json_errors;
pub use metrics::record_http;

use actix_web::http::Method;

/// What every handler can reach.
pub struct AppState {
    pub catalog: Catalog,
    pub scanner: Arc<Scanner>,
    pub runner: Arc<Runner>,
    pub deps: Arc<DepsManager>,
    pub settings: Arc<Settings>,
    pub notifier: Arc<crate::webhook::Notifier>,
    pub retention: Arc<crate::retention::Retention>,
    pub manager: Arc<ScriptManager>,
    pub api_key: Option<ApiKey>,
    pub access: Arc<Access>,
    pub sessions: Arc<crate::sessions::SessionManager>,
    pub started: Instant,
}

/// Mounts every route and makes extractor failures answer with the JSON error shape.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(query_config())
        .app_data(path_config())
        .app_data(json_config())
        .configure(health::configure)
        .configure(docs::configure)
        .configure(metrics::configure)
        .configure(ui::configure)
        .service(
            web::scope("/api")
                .configure(scripts::configure)
                // Before runs: `/runs/{id}` would take `/runs/cleanup` (and answer 405).
                .configure(retention::configure)
                .configure(runs::configure)
                .configure(events::configure)
                .configure(scan::configure)
                .configure(webhook::configure)
                .configure(settings::configure)
                .configure(keys::configure)
                .configure(deps::configure)
                .configure(original::configure)
                .configure(original_upkeep::configure)
                .configure(system::configure)
                .configure(exec::configure)
                .configure(sessions::configure)
                .configure(session_files::configure)
                // Unknown `/api` routes reveal nothing, not even to a run key.
                .default_service(web::to(unknown_route).wrap(from_fn(
                    |request: actix_web::dev::ServiceRequest, next| {
                        request.extensions_mut().insert(metrics::Unmatched);
                        auth::check_key(Gate::Admin, request, next)
                    },
                ))),
        )
        .default_service(web::to(unknown_route));
}

/// The static OpenAPI description of the routes `configure` mounts, from each module's own
/// `#[derive(OpenApi)]` struct; `openapi::document` adds the scripts and the shared rules.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let root = health::HealthApi::openapi()
        .merge_from(docs::DocsApi::openapi())
        .merge_from(metrics::MetricsApi::openapi())
        .merge_from(ui::UiApi::openapi());
    [
        scripts::openapi(),
        runs::RunsApi::openapi(),
        events::EventsApi::openapi(),
        retention::RetentionApi::openapi(),
        webhook::WebhookApi::openapi(),
        scan::ScanApi::openapi(),
        keys::KeysApi::openapi(),
        deps::DepsApi::openapi(),
        original::OriginalApi::openapi(),
        original_upkeep::OriginalUpkeepApi::openapi(),
        settings::SettingsApi::openapi(),
        system::SystemApi::openapi(),
        exec::ExecApi::openapi(),
        sessions::SessionsApi::openapi(),
        session_files::SessionFilesApi::openapi(),
    ]
    .into_iter()
    .fold(root, |mut doc, module| {
        // `nest` would replace a path another module already documents (`/api/scripts` has
        // GET in one module and POST in another); `merge` joins their operations.
        doc.merge(utoipa::openapi::OpenApi::default().nest("/api", module));
        doc
    })
}

/// A JSON body that must be an object: serde would also read a struct from an array of its
/// fields in order, which no client means.
/// A JSON body that may be left out entirely.
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON body: {e}")))
}

fn object_body<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    if !body.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            "the body must be a JSON object",
        ));
    }
    serde_json::from_value(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid body: {e}")))
}

/// A route, the gate its key must pass, and its methods: each `Route` (from `web::to`) is
/// guarded by its method here. Every answer of the resource, a 405 included, comes after
/// the gate, which sees exactly what the router matched; a 405 lists the methods in `Allow`.
fn resource<const N: usize>(
    path: &str,
    gate: Gate,
    routes: [(Method, Route); N],
) -> impl HttpServiceFactory {
    let allow = routes
        .iter()
        .map(|(method, _)| method.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let resource = routes
        .into_iter()
        .fold(web::resource(path), |resource, (method, route)| {
            resource.route(route.method(method))
        });
    resource
        .default_service(web::to(move |request| {
            method_not_allowed(request, allow.clone())
        }))
        .wrap(from_fn(move |request, next| {
            auth::check_key(gate, request, next)
        }))
}

async fn unknown_route(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    request.extensions_mut().insert(metrics::Unmatched);
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        request.method(),
        request.path()
    )))
}

async fn method_not_allowed(request: HttpRequest, allow: String) -> HttpResponse {
    let message = format!("{} is not allowed on {}", request.method(), request.path());
    let mut response = ApiError::new(ErrorCode::MethodNotAllowed, message).error_response();
    if let Ok(value) = header::HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
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
