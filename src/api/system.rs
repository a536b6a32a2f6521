//! How this gateway contains what scripts start: the mechanism in force and its guarantees.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::process::contain::{self, ContainmentReport};
use crate::process::warm::WarmReport;

use super::{resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/system",
        Gate::Admin,
        [(Method::GET, web::to(get_system))],
    ))
    .service(resource(
        "/system/warm",
        Gate::Admin,
        [(Method::GET, web::to(get_warm))],
    ));
}

#[derive(OpenApi)]
#[openapi(
    paths(get_system, get_warm),
    components(schemas(SystemView, ContainmentReport, WarmView, WarmCountsDoc, WarmServerDoc))
)]
pub struct SystemApi;

/// The gateway's version and its containment of runs.
#[derive(Serialize, ToSchema)]
pub struct SystemView {
    #[schema(value_type = String)]
    version: &'static str,
    containment: ContainmentReport,
}

/// Which containment mechanism is active (cgroup v2/v1, subreaper or process groups only),
/// which guarantees hold, the user scripts run as, and why any guarantee is missing.
#[utoipa::path(
    get,
    path = "/system",
    tag = "system",
    responses((status = 200, description = "Containment in force", body = SystemView))
)]
async fn get_system() -> HttpResponse {
    HttpResponse::Ok().json(SystemView {
        version: env!("CARGO_PKG_VERSION"),
        containment: contain::current().report(),
    })
}

/// The fork servers warm Python runs start from.
#[derive(Serialize, ToSchema)]
pub struct WarmView {
    /// `warm` or `cold` (the `execution_mode` setting).
    execution_mode: String,
    #[serde(flatten)]
    #[schema(value_type = WarmCountsDoc)]
    report: WarmReport,
}

/// Warm and cold starts so far, and the servers.
#[derive(ToSchema)]
#[schema(as = WarmCounts)]
#[allow(dead_code)]
struct WarmCountsDoc {
    /// Runs forked by a fork server.
    warm_starts: u64,
    /// Runs that would have started warm but started cold (no server ready yet, or it failed).
    cold_starts: u64,
    servers: Vec<WarmServerDoc>,
}

/// One fork server: its process, what it preloaded, how much it served and holds.
#[derive(ToSchema)]
#[schema(as = WarmServer)]
#[allow(dead_code)]
struct WarmServerDoc {
    pid: u32,
    interpreter: String,
    /// The dependency folders on its `PYTHONPATH`.
    python_path: Option<String>,
    /// Modules it imported before serving, learned from what earlier runs imported.
    preloaded: Vec<String>,
    /// Runs it has started.
    runs: u64,
    /// Its runs still running.
    running: usize,
    /// Resident memory of the server itself.
    rss_bytes: Option<u64>,
    age_s: u64,
    idle_s: u64,
}

/// The execution mode and every fork server with its memory, runs and preloaded modules.
#[utoipa::path(
    get,
    path = "/system/warm",
    tag = "system",
    responses((status = 200, description = "Fork servers", body = WarmView))
)]
async fn get_warm(state: web::Data<AppState>) -> HttpResponse {
    let warm = state.settings.current().warm_execution;
    HttpResponse::Ok().json(WarmView {
        execution_mode: if warm { "warm" } else { "cold" }.into(),
        report: state.runner.warm_servers(),
    })
}
