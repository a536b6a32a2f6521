use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use crate::error::{ApiError, ErrorCode};

use super::{resource, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/settings")
            .route(web::get().to(get_settings))
            .route(web::put().to(put_settings))
            .route(web::patch().to(put_settings)),
    )
    .service(resource("/settings/{key}").route(web::delete().to(reset_setting)));
}

/// Every setting keyed by name: value, source (db, cli, env, default), type, bounds, meaning.
async fn get_settings(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(settings_body(&state))
}

fn settings_body(state: &AppState) -> Value {
    let settings: Map<String, Value> = state
        .settings
        .list()
        .into_iter()
        .map(|view| (view.key.to_string(), serde_json::to_value(&view).unwrap_or_default()))
        .collect();
    json!({ "settings": settings })
}

/// `{"key": value, ...}`: all keys are validated first; nothing is stored unless all are valid.
/// The new values apply at once, without a restart.
async fn put_settings(state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    let Value::Object(changes) = body.into_inner() else {
        return Err(ApiError::new(ErrorCode::InvalidJson, "the body must be a JSON object of settings"));
    };
    let valid = state.settings.validate(&changes).map_err(|problems| {
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        ApiError::new(ErrorCode::InvalidSettings, format!("invalid settings: {}", keys.join(", ")))
            .with_details(serde_json::to_value(&problems).unwrap_or_default())
    })?;
    state.catalog.store_settings(valid.clone()).await?;
    state.settings.apply(valid);
    Ok(HttpResponse::Ok().json(settings_body(&state)))
}

/// Forgets the stored value; the setting falls back to its flag, environment or default.
async fn reset_setting(state: web::Data<AppState>, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let key = key.into_inner();
    if !state.settings.is_known(&key) {
        return Err(ApiError::not_found(format!("there is no setting {key:?}")));
    }
    state.catalog.remove_settings(vec![key.clone()]).await?;
    state.settings.reset(&[key]);
    Ok(HttpResponse::Ok().json(settings_body(&state)))
}
