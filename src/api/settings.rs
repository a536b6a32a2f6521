//! Runtime settings over HTTP: read, change, reset one.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiError, ErrorBody, ErrorCode};

use super::{resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/settings",
        Gate::Admin,
        [
            (Method::GET, web::to(get_settings)),
            (Method::PUT, web::to(put_settings)),
            (Method::PATCH, web::to(patch_settings)),
        ],
    ))
    .service(resource(
        "/settings/{key}",
        Gate::Admin,
        [(Method::DELETE, web::to(reset_setting))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(get_settings, put_settings, patch_settings, reset_setting))]
pub struct SettingsApi;

/// Every setting keyed by name.
#[derive(ToSchema)]
#[schema(as = Settings)]
#[allow(dead_code)]
struct SettingsDoc {
    settings: std::collections::BTreeMap<String, SettingDoc>,
}

/// One setting: its value in force, where it comes from, its type, bounds and meaning.
#[derive(ToSchema)]
#[schema(as = Setting)]
#[allow(dead_code)]
struct SettingDoc {
    key: String,
    value: Value,
    /// `db`, `cli`, `env` or `default`.
    source: String,
    #[schema(rename = "type")]
    kind: String,
    default: Value,
    min: Option<f64>,
    max: Option<f64>,
    /// The words a `choice` setting takes.
    choices: Option<Vec<String>>,
    description: String,
}

/// Every setting keyed by name: value, source (db, cli, env, default), type, bounds, meaning.
#[utoipa::path(
    get,
    path = "/settings",
    tag = "settings",
    responses((status = 200, description = "Every setting", body = SettingsDoc))
)]
async fn get_settings(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(settings_body(&state))
}

fn settings_body(state: &AppState) -> Value {
    let settings: Map<String, Value> = state
        .settings
        .list()
        .into_iter()
        .map(|view| {
            (
                view.key.to_string(),
                serde_json::to_value(&view).unwrap_or_default(),
            )
        })
        .collect();
    json!({ "settings": settings })
}

/// Stores settings: `{"key": value, ...}`, all validated first, applied without a restart.
///
/// Nothing is stored unless every key is valid.
#[utoipa::path(
    put,
    path = "/settings",
    tag = "settings",
    request_body(content = Object, description = "`{\"key\": value, ...}`"),
    responses(
        (status = 200, description = "Every setting, as now in force", body = SettingsDoc),
        (status = 400, description = "An unknown key or a bad value (`invalid_settings`, with `details`)", body = ErrorBody),
    )
)]
async fn put_settings(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let Value::Object(changes) = body.into_inner() else {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            "the body must be a JSON object of settings",
        ));
    };
    let valid = state.settings.validate(&changes).map_err(|problems| {
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        ApiError::new(
            ErrorCode::InvalidSettings,
            format!("invalid settings: {}", keys.join(", ")),
        )
        .with_details(serde_json::to_value(&problems).unwrap_or_default())
    })?;
    let enables_exec = valid
        .iter()
        .any(|(key, value)| key == "exec_enabled" && value == &Value::Bool(true));
    if enables_exec {
        crate::sessions::exec_allowed(state.access.required(), state.sessions.loopback())
            .map_err(|why| ApiError::new(ErrorCode::InvalidSettings, why.to_string()))?;
    }
    state.catalog.store_settings(valid.clone()).await?;
    state.settings.apply(valid);
    state.runner.apply_limits();
    Ok(HttpResponse::Ok().json(settings_body(&state)))
}

/// The same as `PUT /api/settings`: only the keys given change.
#[utoipa::path(
    patch,
    path = "/settings",
    tag = "settings",
    request_body(content = Object, description = "`{\"key\": value, ...}`"),
    responses(
        (status = 200, description = "Every setting, as now in force", body = SettingsDoc),
        (status = 400, description = "An unknown key or a bad value (`invalid_settings`, with `details`)", body = ErrorBody),
    )
)]
async fn patch_settings(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    put_settings(state, body).await
}

/// Forgets the stored value; the setting falls back to its flag, environment or default.
#[utoipa::path(
    delete,
    path = "/settings/{key}",
    tag = "settings",
    params(("key" = String, Path, description = "The setting's name")),
    responses(
        (status = 200, description = "Every setting, as now in force", body = SettingsDoc),
        (status = 404, description = "There is no such setting", body = ErrorBody),
    )
)]
async fn reset_setting(
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.into_inner();
    if !state.settings.is_known(&key) {
        return Err(ApiError::not_found(format!("there is no setting {key:?}")));
    }
    state.catalog.remove_settings(vec![key.clone()]).await?;
    state.settings.reset(&[key]);
    state.runner.apply_limits();
    Ok(HttpResponse::Ok().json(settings_body(&state)))
}
