//! How this gateway contains what scripts start: the mechanism in force and its guarantees.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::process::contain::{self, ContainmentReport};

use super::{resource, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/system",
        Gate::Admin,
        [(Method::GET, web::to(get_system))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(get_system), components(schemas(SystemView, ContainmentReport)))]
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
