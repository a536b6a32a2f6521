//! Dependencies: per script, the shared sets, and the caches.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::catalog::Script;
use crate::deps::{
    BatchView, CacheView, CleanupView, EnvironmentView, InstallReport, ScriptDepsView,
    ScriptInstallView, SharedDepsView, SharedRequest,
};
use crate::domain::Runtime;
use crate::error::{ApiError, ErrorBody, ErrorCode};

use super::{resource, AppState, Gate};

const DEFAULT_CLEANUP_DAYS: f64 = 30.0;

/// The batch route comes first: `/scripts/{id}/dependencies/install` would take "batch" for an id.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/scripts/batch/dependencies/install",
        Gate::Admin,
        [(Method::POST, web::to(install_batch))],
    ))
    .service(resource(
        "/scripts/{id}/dependencies",
        Gate::Admin,
        [(Method::GET, web::to(get_dependencies))],
    ))
    .service(resource(
        "/scripts/{id}/dependencies/install",
        Gate::Admin,
        [(Method::POST, web::to(install_dependencies))],
    ))
    .service(resource(
        "/scripts/{id}/environment",
        Gate::Admin,
        [(Method::GET, web::to(get_environment))],
    ))
    .service(resource(
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
        [(Method::GET, web::to(cache_status))],
    ))
    .service(resource(
        "/dependencies/cache/cleanup",
        Gate::Admin,
        [(Method::POST, web::to(cleanup_caches))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(
    get_dependencies,
    install_dependencies,
    install_batch,
    get_environment,
    list_shared,
    install_shared,
    cache_status,
    cleanup_caches
))]
pub struct DepsApi;

/// A JSON body that may be left out entirely.
fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON body: {e}")))
}

async fn find_script(state: &AppState, id: i64) -> Result<Script, ApiError> {
    state
        .catalog
        .script(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no script with id {id}")))
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
struct ForceQuery {
    /// Install again even a complete set, or one whose failure is remembered.
    #[serde(default)]
    force: bool,
}

/// Optional body of the install routes.
#[derive(Deserialize, Default, ToSchema)]
struct InstallBody {
    /// The same as `?force=true`.
    #[serde(default)]
    force: bool,
    /// Batch only: the scripts to install for (default: every script with a dependency file).
    script_ids: Option<Vec<i64>>,
}

/// The dependency file a script uses, its normalised set, and whether it is installed.
#[utoipa::path(
    get,
    path = "/scripts/{id}/dependencies",
    tag = "dependencies",
    params(("id" = i64, Path, description = "The script's id")),
    responses((status = 200, description = "The script's dependencies", body = ScriptDepsView))
)]
async fn get_dependencies(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let script = find_script(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(state.deps.script_deps(&script).await?))
}

/// Reads the script's dependency file now and installs its set (unless installed, or its
/// failure is remembered; `force` installs again); answers once done, with the log.
#[utoipa::path(
    post,
    path = "/scripts/{id}/dependencies/install",
    tag = "dependencies",
    params(("id" = i64, Path, description = "The script's id"), ForceQuery),
    request_body(content = Option<InstallBody>, description = "Optional: `{\"force\": true}`"),
    responses(
        (status = 200, description = "`status` is `ready`, `failed` or `none`", body = ScriptInstallView),
        (status = 400, description = "The body is not JSON (`invalid_json`)", body = ErrorBody),
    )
)]
async fn install_dependencies(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    query: web::Query<ForceQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let script = find_script(&state, id.into_inner()).await?;
    let force = query.force || optional_json::<InstallBody>(&body)?.force;
    Ok(HttpResponse::Ok().json(state.deps.install_script(&script, force).await?))
}

/// Installs the sets of several scripts: `{"script_ids": [..]}`, or every script with a
/// dependency file. Logs are left out; each script's install route has them.
#[utoipa::path(
    post,
    path = "/scripts/batch/dependencies/install",
    tag = "dependencies",
    params(ForceQuery),
    request_body(content = Option<InstallBody>, description = "Optional: `{\"script_ids\": [1, 2], \"force\": false}`"),
    responses(
        (status = 200, description = "One result per script", body = BatchView),
        (status = 400, description = "The body is not JSON (`invalid_json`)", body = ErrorBody),
    )
)]
async fn install_batch(
    state: web::Data<AppState>,
    query: web::Query<ForceQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: InstallBody = optional_json(&body)?;
    let force = query.force || body.force;
    Ok(HttpResponse::Ok().json(state.deps.install_batch(body.script_ids, force).await?))
}

/// What a run of the script gets: interpreter, working folder and every environment
/// variable (nothing else is inherited), secrets masked.
#[utoipa::path(
    get,
    path = "/scripts/{id}/environment",
    tag = "dependencies",
    params(("id" = i64, Path, description = "The script's id")),
    responses((status = 200, description = "The run environment", body = EnvironmentView))
)]
async fn get_environment(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let script = find_script(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(state.deps.environment(&script).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SharedQuery {
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
    params(SharedQuery),
    responses(
        (status = 200, description = "The shared sets", body = SharedListView),
        (status = 400, description = "An unknown runtime (`invalid_query`)", body = ErrorBody),
    )
)]
async fn list_shared(
    state: web::Data<AppState>,
    query: web::Query<SharedQuery>,
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
        items.push(state.deps.shared_view(runtime).await?);
    }
    Ok(HttpResponse::Ok().json(SharedListView { items }))
}

/// Adds packages to the shared set of a runtime (or replaces it with `replace`), installed
/// into `DATA_DIR/deps_cache/<runtime>/shared`, never into the gateway's interpreter.
#[utoipa::path(
    post,
    path = "/deps/install",
    tag = "dependencies",
    request_body = SharedRequest,
    responses(
        (status = 200, description = "`status` is `ready` or `failed`", body = InstallReport),
        (status = 400, description = "An unknown runtime or a bad package name (`invalid_request`)", body = ErrorBody),
    )
)]
async fn install_shared(
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .deps
            .install_shared(super::object_body(body.into_inner())?)
            .await?,
    ))
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
    tag = "dependencies",
    responses((status = 200, description = "Every cache", body = CacheStatusView))
)]
async fn cache_status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caches = state.deps.cache_status().await?;
    Ok(HttpResponse::Ok().json(CacheStatusView {
        count: caches.len(),
        total_size_bytes: caches.iter().filter_map(|c| c.size_bytes).sum(),
        caches,
    }))
}

/// Optional body of the cleanup route.
#[derive(Deserialize, Default, ToSchema)]
struct CleanupBody {
    /// Remove unused caches idle at least this long (default 30; 0 removes every unused one).
    older_than_days: Option<f64>,
}

/// Removes caches that no script, shared set or run uses and that were idle long enough.
#[utoipa::path(
    post,
    path = "/dependencies/cache/cleanup",
    tag = "dependencies",
    request_body(content = Option<CleanupBody>, description = "Optional: `{\"older_than_days\": 30}`"),
    responses(
        (status = 200, description = "What was removed and kept", body = CleanupView),
        (status = 400, description = "A bad number of days (`invalid_request`)", body = ErrorBody),
    )
)]
async fn cleanup_caches(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let days = optional_json::<CleanupBody>(&body)?
        .older_than_days
        .unwrap_or(DEFAULT_CLEANUP_DAYS);
    if !(0.0..=36_500.0).contains(&days) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "older_than_days must be a number of days between 0 and 36500",
        ));
    }
    let older_than = Duration::from_secs_f64(days * 86_400.0);
    Ok(HttpResponse::Ok().json(state.deps.cleanup(older_than).await?))
}
