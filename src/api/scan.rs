//! Rescanning the scripts repository on request: `POST /api/scan`.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::scanner::{ScanProblem, ScanReport};

use super::{resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/scan",
        Gate::Admin,
        [(Method::POST, web::to(post_scan))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(post_scan))]
pub struct ScanApi;

/// What one scan changed.
#[derive(Serialize, ToSchema)]
#[schema(as = ScanReport)]
struct ScanReportView {
    added: usize,
    updated: usize,
    removed: usize,
    unchanged: usize,
    /// Schema extractions this scan ran.
    extracted: usize,
    /// Every script currently listed with a load error.
    errors: Vec<ScanProblemView>,
    duration_ms: u64,
}

/// A script whose schema could not be loaded, and why.
#[derive(Serialize, ToSchema)]
#[schema(as = ScanProblem)]
struct ScanProblemView {
    path: String,
    error: String,
}

impl From<ScanReport> for ScanReportView {
    fn from(report: ScanReport) -> ScanReportView {
        ScanReportView {
            added: report.added,
            updated: report.updated,
            removed: report.removed,
            unchanged: report.unchanged,
            extracted: report.extracted,
            errors: report
                .errors
                .into_iter()
                .map(|ScanProblem { path, error }| ScanProblemView { path, error })
                .collect(),
            duration_ms: report.duration_ms,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ScanQuery {
    /// Re-extract every schema, changed or not.
    #[serde(default)]
    force: bool,
}

/// Rescans the scripts repository now.
#[utoipa::path(
    post,
    path = "/scan",
    tag = "scripts",
    params(ScanQuery),
    responses(
        (status = 200, description = "What the scan changed", body = ScanReportView),
        (status = 400, description = "`force` is not a boolean (`invalid_query`)", body = ErrorBody),
    )
)]
async fn post_scan(
    state: web::Data<AppState>,
    query: web::Query<ScanQuery>,
) -> Result<HttpResponse, ApiError> {
    let report = state.scanner.scan(query.force).await?;
    Ok(HttpResponse::Ok().json(ScanReportView::from(report)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_shows_every_field_of_the_report_in_order() {
        let report = ScanReport {
            errors: vec![ScanProblem {
                path: "python/bad.py".into(),
                error: "crash".into(),
            }],
            ..ScanReport::default()
        };
        assert_eq!(
            serde_json::to_string(&ScanReportView::from(report.clone())).unwrap(),
            serde_json::to_string(&report).unwrap(),
            "a field added to ScanReport must be added to ScanReportView (and so to the docs)"
        );
    }
}
