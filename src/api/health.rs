//! Liveness: `GET /health`, outside `/api` and open to every caller.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::error::ApiError;

use super::{resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/health",
        Gate::Open,
        [(Method::GET, web::to(get_health))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(get_health))]
pub struct HealthApi;

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
    }))
}
