//! `PATCH /api/scripts/{id}`: an operator's per-script overrides (alias, enabled,
//! notifications, timeout, concurrency, execution mode).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Deserializer};
use utoipa::{OpenApi, ToSchema};

use crate::api::lookup::script_not_found;
use crate::api::{object_body, AppState};
use crate::catalog::ScriptPatch;
use crate::error::{ApiError, ErrorBody};

use super::listing::ScriptView;

#[derive(OpenApi)]
#[openapi(paths(patch_script))]
pub(super) struct PatchApi;

/// Operator choices for one script; `null` clears an override.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchScriptRequest {
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>)]
    alias: Option<Option<String>>,
    enabled: Option<bool>,
    notify_enabled: Option<bool>,
    /// Seconds; replaces the global timeout for this script.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<i64>)]
    timeout_sec: Option<Option<i64>>,
    /// Runs of this script executing at once.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<i64>)]
    max_concurrent: Option<Option<i64>>,
    /// `warm` or `cold` for this script alone; null follows the `execution_mode` setting.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>)]
    execution_mode: Option<Option<String>>,
}

impl PatchScriptRequest {
    fn into_patch(self) -> Result<ScriptPatch, ApiError> {
        let alias = self
            .alias
            .map(|a| a.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()));
        if alias
            .as_ref()
            .and_then(|a| a.as_ref())
            .is_some_and(|a| a.chars().count() > 100)
        {
            return Err(ApiError::invalid_request(
                "alias must be at most 100 characters",
            ));
        }
        if self
            .timeout_sec
            .flatten()
            .is_some_and(|t| !(1..=86_400).contains(&t))
        {
            return Err(ApiError::invalid_request(
                "timeout_sec must be between 1 and 86400 (or null)",
            ));
        }
        if self
            .max_concurrent
            .flatten()
            .is_some_and(|n| !(1..=10_000).contains(&n))
        {
            return Err(ApiError::invalid_request(
                "max_concurrent must be between 1 and 10000 (or null)",
            ));
        }
        if self
            .execution_mode
            .as_ref()
            .and_then(|m| m.as_deref())
            .is_some_and(|m| !matches!(m, "warm" | "cold"))
        {
            return Err(ApiError::invalid_request(
                "execution_mode must be warm or cold (or null)",
            ));
        }
        Ok(ScriptPatch {
            alias,
            enabled: self.enabled,
            notify_enabled: self.notify_enabled,
            timeout_sec: self.timeout_sec,
            max_concurrent: self.max_concurrent,
            execution_mode: self.execution_mode,
        })
    }
}

#[utoipa::path(patch, path = "/scripts/{id}", tag = "manage", params(("id" = i64, Path)), request_body = PatchScriptRequest,
    responses((status = 200, description = "The result", body = ScriptView), (status = 400, description = "Bad input (the error names the problem)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)))]
pub(super) async fn patch_script(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let patch = object_body::<PatchScriptRequest>(body.into_inner())?.into_patch()?;
    let script = state
        .catalog
        .patch_script(id, patch)
        .await?
        .ok_or_else(|| script_not_found(id))?;
    state.scanner.catalog_changed();
    Ok(HttpResponse::Ok().json(ScriptView::from(script)))
}

/// Tells a field that was left out (`None`) from one set to null (`Some(None)`).
fn present_or_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
