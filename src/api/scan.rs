use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::error::ApiError;

use super::{resource, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/scan").route(web::post().to(post_scan)));
}

#[derive(Deserialize)]
struct ScanQuery {
    /// Re-extract every schema, changed or not.
    #[serde(default)]
    force: bool,
}

async fn post_scan(
    state: web::Data<AppState>,
    query: web::Query<ScanQuery>,
) -> Result<HttpResponse, ApiError> {
    let report = state.scanner.scan(query.force).await?;
    Ok(HttpResponse::Ok().json(report))
}
