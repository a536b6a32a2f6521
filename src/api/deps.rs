//! Dependencies shared by every script: the shared sets, and the caches.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::domain::Runtime;
use crate::error::{ApiError, ErrorBody, ErrorCode};

use super::deps_views::{
    CacheView, CleanupView, InstallReportView, SharedDepsView, SharedInstallRequest,
};
use super::{object_body, optional_json, resource, AppState, Gate};

const DEFAULT_CLEANUP_DAYS: f64 = 30.0;

/// The shared sets and the caches (each script's dependencies are under `scripts`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/deps",
        Gate::Admin,
        [(Method::GET, web::to(list_shared))],
    ))
    .service(resource(
        "/deps/install",
        Gate::Admin,
        [(Method::POST, web::to(install_shared))],
    ))
    .service(resource(
        "/dependencies/cache/status",
        Gate::Admin,
        [(Method::GET, web::to(get_cache_status))],
    ))
    .service(resource(
        "/dependencies/cache/cleanup",
        Gate::Admin,
        [(Method::POST, web::to(cleanup_caches))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(list_shared, install_shared, get_cache_status, cleanup_caches))]
pub struct DepsApi;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListSharedRequest {
    /// `python` or `js` (default: both).
    runtime: Option<String>,
}

/// The shared sets.
#[derive(Serialize, ToSchema)]
struct SharedListView {
    items: Vec<SharedDepsView>,
}

/// The shared ("global") dependencies every run of a runtime gets, with installed versions.
#[utoipa::path(
    get,
    path = "/deps",
    tag = "dependencies",
    params(ListSharedRequest),
    responses(
        (status = 200, description = "The shared sets", body = SharedListView),
        (status = 400, description = "An unknown runtime (`invalid_query`)", body = ErrorBody),
    )
)]
async fn list_shared(
    state: web::Data<AppState>,
    query: web::Query<ListSharedRequest>,
) -> Result<HttpResponse, ApiError> {
    let runtimes = match query.runtime.as_deref().filter(|r| !r.is_empty()) {
        None => Runtime::ALL.to_vec(),
        Some(text) => vec![Runtime::parse(text).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                format!("runtime must be \"python\" or \"js\", not {text:?}"),
            )
        })?],
    };
    let mut items = Vec::new();
    for runtime in runtimes {
        items.push(SharedDepsView::from(state.deps.shared_view(runtime).await?));
    }
    Ok(HttpResponse::Ok().json(SharedListView { items }))
}

/// Adds packages to the shared set of a runtime (or replaces it with `replace`), installed
/// into `DATA_DIR/deps_cache/<runtime>/shared`, never into the gateway's interpreter.
#[utoipa::path(
    post,
    path = "/deps/install",
    tag = "dependencies",
    request_body = SharedInstallRequest,
    responses(
        (status = 200, description = "`status` is `ready` or `failed`", body = InstallReportView),
        (status = 400, description = "An unknown runtime or a bad package name (`invalid_request`)", body = ErrorBody),
    )
)]
async fn install_shared(
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let request: SharedInstallRequest = object_body(body.into_inner())?;
    let report = state.deps.install_shared(request.into()).await?;
    Ok(HttpResponse::Ok().json(InstallReportView::from(report)))
}

/// Every cache.
#[derive(Serialize, ToSchema)]
struct CacheStatusView {
    count: usize,
    total_size_bytes: i64,
    caches: Vec<CacheView>,
}

/// Every dependency cache: its set, size, the scripts using it, and when it was last used.
#[utoipa::path(
    get,
    path = "/dependencies/cache/status",
    operation_id = "cache_status",
    tag = "dependencies",
    responses((status = 200, description = "Every cache", body = CacheStatusView))
)]
async fn get_cache_status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caches: Vec<CacheView> = (state.deps.cache_status().await?)
        .into_iter()
        .map(CacheView::from)
        .collect();
    Ok(HttpResponse::Ok().json(CacheStatusView {
        count: caches.len(),
        total_size_bytes: caches.iter().filter_map(|c| c.size_bytes).sum(),
        caches,
    }))
}

/// Optional body of the cleanup route.
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = CleanupBody)]
struct CleanupRequest {
    /// Remove unused caches idle at least this long (default 30; 0 removes every unused one).
    older_than_days: Option<f64>,
}

/// Removes caches that no script, shared set or run uses and that were idle long enough.
#[utoipa::path(
    post,
    path = "/dependencies/cache/cleanup",
    tag = "dependencies",
    request_body(content = Option<CleanupRequest>, description = "Optional: `{\"older_than_days\": 30}`"),
    responses(
        (status = 200, description = "What was removed and kept", body = CleanupView),
        (status = 400, description = "A bad number of days (`invalid_request`)", body = ErrorBody),
    )
)]
async fn cleanup_caches(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let days = optional_json::<CleanupRequest>(&body)?
        .older_than_days
        .unwrap_or(DEFAULT_CLEANUP_DAYS);
    if !(0.0..=36_500.0).contains(&days) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "older_than_days must be a number of days between 0 and 36500",
        ));
    }
    let older_than = Duration::from_secs_f64(days * 86_400.0);
    let report = state.deps.cleanup(older_than).await?;
    Ok(HttpResponse::Ok().json(CleanupView::from(report)))
}
