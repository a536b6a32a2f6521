//! `GET /metrics`: every metric in the Prometheus text format, behind the metrics gate; and
//! the middleware that records each HTTP request by its route template.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use utoipa::OpenApi;

use crate::catalog::{LoadStatus, ScriptFilter};
use crate::error::ApiError;
use crate::metrics::{self, Snapshot};

use super::{resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/metrics",
        Gate::Metrics,
        [(Method::GET, web::to(get_metrics))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(get_metrics))]
pub struct MetricsApi;

/// Runs by script and status, run durations and queue waits, runs running and queued,
/// schema extractions and dependency installs by outcome, scripts by load status, HTTP
/// requests by route template, warm and cold starts and the processes kept for warm runs,
/// and the process's CPU, memory and open files. Needs a
/// `metrics` or `admin` key once keys are in use, unless the `metrics_public` setting is on.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    responses(
        (status = 200, description = "The metrics, in the Prometheus text format 0.0.4", content_type = "text/plain", body = String),
        (status = 403, description = "The key's scope does not allow this", body = crate::error::ErrorBody)
    )
)]
async fn get_metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (running, queued) = state.runner.load();
    let warm = state.runner.warm_servers();
    let snapshot = Snapshot {
        running,
        queued,
        warm_servers: warm.servers.len(),
        warm_server_bytes: warm.servers.iter().filter_map(|s| s.rss_bytes).sum(),
        idle_node_processes: warm.idle_node_processes,
        scripts_ok: scripts_with(&state, LoadStatus::Ok).await?,
        scripts_error: scripts_with(&state, LoadStatus::Error).await?,
    };
    Ok(HttpResponse::Ok()
        .content_type(metrics::content_type())
        .body(metrics::render(snapshot)))
}

async fn scripts_with(state: &AppState, status: LoadStatus) -> Result<i64, ApiError> {
    let filter = ScriptFilter {
        status: Some(status),
        page: 1,
        page_size: 0,
        ..ScriptFilter::default()
    };
    Ok(state.catalog.list_scripts(filter).await?.total)
}

/// Set on requests no route matched, so they are counted under one label.
#[derive(Debug, Clone, Copy)]
pub struct Unmatched;

/// The middleware: `App::new().wrap(from_fn(api::record_http))`. It records every answer by
/// the route template the router matched (never the raw path), its method and its status.
pub async fn record_http(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = request.method().clone();
    let answer = next.call(request).await;
    let seconds = started.elapsed().as_secs_f64();
    match &answer {
        Ok(response) => {
            let request = response.request();
            let route = match request.extensions().get::<Unmatched>() {
                Some(_) => None,
                None => request.match_pattern(),
            };
            let route = route.as_deref().unwrap_or(metrics::UNMATCHED);
            metrics::http_request(route, method.as_str(), response.status().as_u16(), seconds);
        }
        Err(error) => {
            let status = error.as_response_error().status_code().as_u16();
            metrics::http_request(metrics::UNMATCHED, method.as_str(), status, seconds);
        }
    }
    answer
}
