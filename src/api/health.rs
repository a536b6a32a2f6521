use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;

use super::{resource, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health").route(web::get().to(get_health)));
}

async fn get_health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let scripts = state.catalog.script_count().await?;
    Ok(HttpResponse::Ok().json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "scripts": scripts,
        "uptime_s": state.started.elapsed().as_secs(),
    })))
}
