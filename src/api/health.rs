//! Liveness and readiness: `GET /health` (the process answers) and `GET /ready` (the first
//! scan is done), outside `/api` and open to every caller.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiError, ErrorBody, ErrorCode};

use super::{resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/health",
        Gate::Open,
        [(Method::GET, web::to(get_health))],
    ))
    .service(resource(
        "/ready",
        Gate::Open,
        [(Method::GET, web::to(get_ready))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(get_health, get_ready))]
pub struct HealthApi;

/// The first scan is done: every script the repository held at start-up is listed.
#[derive(Serialize, ToSchema)]
pub struct ReadyView {
    #[schema(value_type = bool, example = true)]
    ready: bool,
    /// Scripts the latest scan found in the repository.
    found: usize,
    /// Schema extractions in flight (changed scripts, or slow ones still running).
    pending_extractions: usize,
}

/// The gateway is up: its version, how many scripts it lists, and its run load.
#[derive(Serialize, ToSchema)]
pub struct HealthView {
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
    #[schema(value_type = String)]
    version: &'static str,
    scripts: i64,
    uptime_s: u64,
    runs: RunLoadView,
    /// Whether `/api` needs an API key (a key was configured or created); the web UI asks
    /// for one before its first request instead of after a 401.
    auth_required: bool,
}

/// Runs in flight and runs waiting for a slot.
#[derive(Serialize, ToSchema)]
pub struct RunLoadView {
    running: usize,
    queued: usize,
}

/// Liveness and a summary of the gateway; never needs the API key.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    responses((status = 200, description = "The gateway is up", body = HealthView))
)]
async fn get_health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let scripts = state.catalog.script_count().await?;
    let (running, queued) = state.runner.load();
    Ok(HttpResponse::Ok().json(HealthView {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        scripts,
        uptime_s: state.started.elapsed().as_secs(),
        runs: RunLoadView { running, queued },
        auth_required: state.access.required(),
    }))
}

/// Readiness: 200 once the first scan is done, until then 503 `scanning` (with
/// `Retry-After`) and how far it got in `details`. Use it as the health check of a container
/// or a load balancer; `/health` answers from the moment the gateway listens.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "health",
    responses(
        (status = 200, description = "The first scan is done", body = ReadyView),
        (status = 503, description = "The first scan is still running (`scanning`)", body = ErrorBody),
    )
)]
async fn get_ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let progress = state.scanner.progress();
    if !progress.ready {
        let message = format!(
            "the first scan is running: {} scripts found, {} schema extractions pending",
            progress.found, progress.pending
        );
        return Err(
            ApiError::new(ErrorCode::Scanning, message).with_details(serde_json::json!({
                "found": progress.found,
                "pending_extractions": progress.pending,
            })),
        );
    }
    Ok(HttpResponse::Ok().json(ReadyView {
        ready: true,
        found: progress.found,
        pending_extractions: progress.pending,
    }))
}
