//! Dependencies: per script, the shared sets, and the caches.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::catalog::Script;
use crate::deps::SharedRequest;
use crate::domain::Runtime;
use crate::error::{ApiError, ErrorCode};

use super::{resource, AppState};

const DEFAULT_CLEANUP_DAYS: f64 = 30.0;

/// The batch route comes first: `/scripts/{id}/dependencies/install` would take "batch" for an id.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/scripts/batch/dependencies/install").route(web::post().to(install_batch)),
    )
    .service(resource("/scripts/{id}/dependencies").route(web::get().to(get_dependencies)))
    .service(
        resource("/scripts/{id}/dependencies/install")
            .route(web::post().to(install_dependencies)),
    )
    .service(resource("/scripts/{id}/environment").route(web::get().to(get_environment)))
    .service(resource("/deps").route(web::get().to(list_shared)))
    .service(resource("/deps/install").route(web::post().to(install_shared)))
    .service(resource("/dependencies/cache/status").route(web::get().to(cache_status)))
    .service(resource("/dependencies/cache/cleanup").route(web::post().to(cleanup_caches)));
}

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

#[derive(Deserialize, Default)]
struct ForceQuery {
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize, Default)]
struct InstallBody {
    #[serde(default)]
    force: bool,
    script_ids: Option<Vec<i64>>,
}

async fn get_dependencies(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let script = find_script(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(state.deps.script_deps(&script).await?))
}

/// `?force=true` (or `{"force": true}`) reinstalls even a complete or failed set.
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

/// `{"script_ids": [..]}`, or no ids for every script with a dependency file.
async fn install_batch(
    state: web::Data<AppState>,
    query: web::Query<ForceQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: InstallBody = optional_json(&body)?;
    let force = query.force || body.force;
    Ok(HttpResponse::Ok().json(state.deps.install_batch(body.script_ids, force).await?))
}

async fn get_environment(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let script = find_script(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(state.deps.environment(&script).await?))
}

#[derive(Deserialize)]
struct SharedQuery {
    runtime: Option<String>,
}

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
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn install_shared(
    state: web::Data<AppState>,
    body: web::Json<SharedRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.deps.install_shared(body.into_inner()).await?))
}

async fn cache_status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caches = state.deps.cache_status().await?;
    let total: i64 = caches.iter().filter_map(|c| c.size_bytes).sum();
    Ok(HttpResponse::Ok().json(json!({
        "count": caches.len(),
        "total_size_bytes": total,
        "caches": caches,
    })))
}

#[derive(Deserialize, Default)]
struct CleanupBody {
    older_than_days: Option<f64>,
}

/// `{"older_than_days"?: N}` (default 30; 0 removes every unused cache).
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
