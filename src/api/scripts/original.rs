//! Script routes of the original gateway with its request and response shapes, mapped onto
//! this gateway's own features: the alias and notification switches (form fields), the
//! schema as a sidecar download, and a batch delete.

use std::collections::HashMap;

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::catalog::ScriptPatch;
use crate::error::{ApiError, ErrorBody, ErrorCode};

use crate::api::lookup::{find_script, script_not_found};
use crate::api::multipart::{read_form, FormLimits, Keep, Part};
use crate::api::{object_body, resource, AppState, Gate};

/// A form of a few short fields is all these routes take.
const MAX_FORM_BYTES: usize = 64 * 1024;
const MAX_ALIAS_CHARS: usize = 100;

/// Routes that must be matched before `/scripts/{id}`.
pub(super) fn configure_before_scripts(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/scripts/batch_delete",
        Gate::Admin,
        [(Method::POST, web::to(batch_delete))],
    ));
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/scripts/{id}/alias",
        Gate::Admin,
        [(Method::PATCH, web::to(patch_alias))],
    ))
    .service(resource(
        "/scripts/{id}/notify",
        Gate::Admin,
        [(Method::PATCH, web::to(patch_notify))],
    ))
    .service(resource(
        "/scripts/{id}/schema/download",
        Gate::RunReads,
        [(Method::GET, web::to(download_schema))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(patch_alias, patch_notify, download_schema, batch_delete))]
pub(super) struct OriginalScriptsApi;

#[derive(Serialize, ToSchema)]
struct StatusView {
    /// Always `success`.
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
struct NotifyView {
    status: &'static str,
    /// The switch as stored: 1 on, 0 off.
    enabled: u8,
}

/// Sets a script's alias (the original's form route; `PATCH /api/scripts/{id}` does the same
/// with JSON).
#[utoipa::path(patch, path = "/scripts/{id}/alias", tag = "manage", params(("id" = i64, Path)),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "`alias`: the new alias; empty clears it (also taken as multipart or JSON)"),
    responses((status = 200, description = "Saved", body = StatusView), (status = 400, description = "No alias, or one over 100 characters", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)))]
async fn patch_alias(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let alias = form_field(&request, payload, "alias").await?;
    let alias = Some(alias.trim().to_string()).filter(|a| !a.is_empty());
    if alias
        .as_ref()
        .is_some_and(|a| a.chars().count() > MAX_ALIAS_CHARS)
    {
        return Err(ApiError::invalid_request(
            "alias must be at most 100 characters",
        ));
    }
    patch(
        &state,
        id.into_inner(),
        ScriptPatch {
            alias: Some(alias),
            ..ScriptPatch::default()
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(StatusView { status: "success" }))
}

/// Turns a script's run notifications on or off (the original's form route).
#[utoipa::path(patch, path = "/scripts/{id}/notify", tag = "manage", params(("id" = i64, Path)),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "`enabled`: 1 (or true) turns notifications on, 0 off (also taken as multipart or JSON)"),
    responses((status = 200, description = "Saved", body = NotifyView), (status = 400, description = "No or an unreadable `enabled`", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody)))]
async fn patch_notify(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let enabled = form_field(&request, payload, "enabled").await?;
    let enabled = match enabled.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => true,
        "0" | "false" | "off" | "no" => false,
        other => {
            return Err(ApiError::invalid_request(format!(
                "enabled must be 1 or 0, not {other:?}"
            )))
        }
    };
    patch(
        &state,
        id.into_inner(),
        ScriptPatch {
            notify_enabled: Some(enabled),
            ..ScriptPatch::default()
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(NotifyView {
        status: "success",
        enabled: u8::from(enabled),
    }))
}

/// The script's `ARGS_MAP` as its sidecar file, `<name>._map.json`.
#[utoipa::path(get, path = "/scripts/{id}/schema/download", tag = "scripts", params(("id" = i64, Path)),
    responses((status = 200, description = "The sidecar", content_type = "application/json", body = Object), (status = 404, description = "No such script, or it has no schema (it failed to load)", body = ErrorBody)))]
async fn download_schema(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let script = find_script(&state, id.into_inner()).await?;
    let Some(schema) = script.args_schema else {
        let reason = script.load_error.unwrap_or_default();
        return Err(ApiError::not_found(format!(
            "{} has no schema (sidecar missing): {reason}",
            script.path
        )));
    };
    let stem = std::path::Path::new(&script.path)
        .file_stem()
        .map_or_else(|| script.name.clone(), |s| s.to_string_lossy().into_owned());
    let body = serde_json::to_vec_pretty(&schema).map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!("{stem}._map.json"))],
        })
        .body(body))
}

/// `{"ids": [...], "delete_file": bool}`.
#[derive(Deserialize, ToSchema)]
struct BatchDeleteRequest {
    #[serde(default)]
    ids: Vec<i64>,
    /// The original removed only its records unless this was true (the script came back at
    /// the next scan); here a script is its file, so only `true` deletes anything.
    #[serde(default)]
    delete_file: bool,
}

#[derive(Serialize, ToSchema)]
struct BatchDeleteView {
    deleted: usize,
    requested: usize,
    /// Ids that named no script.
    not_found: Vec<i64>,
    /// Why nothing was deleted, when `delete_file` was not true.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
}

/// Deletes several scripts (their files and sidecars; the run history stays).
#[utoipa::path(post, path = "/scripts/batch_delete", tag = "manage", request_body = BatchDeleteRequest,
    responses((status = 200, description = "What was deleted", body = BatchDeleteView), (status = 400, description = "Not a JSON object of ids", body = ErrorBody)))]
async fn batch_delete(
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let request = object_body::<BatchDeleteRequest>(body.into_inner())?;
    let requested = request.ids.len();
    if !request.delete_file {
        return Ok(HttpResponse::Ok().json(BatchDeleteView {
            deleted: 0,
            requested,
            not_found: Vec::new(),
            message: Some(
                "nothing deleted: ScriptGateway lists every script file in the scripts folder, \
                 so forgetting a record would not remove a script; send delete_file: true",
            ),
        }));
    }
    let (mut deleted, mut not_found) = (0, Vec::new());
    for id in request.ids {
        match state.manager.delete(id).await {
            Ok(_) => deleted += 1,
            Err(error) => {
                let error = ApiError::from(error);
                if error.code != ErrorCode::NotFound {
                    return Err(error);
                }
                not_found.push(id);
            }
        }
    }
    Ok(HttpResponse::Ok().json(BatchDeleteView {
        deleted,
        requested,
        not_found,
        message: None,
    }))
}

async fn patch(state: &AppState, id: i64, patch: ScriptPatch) -> Result<(), ApiError> {
    state
        .catalog
        .patch_script(id, patch)
        .await?
        .ok_or_else(|| script_not_found(id))?;
    state.scanner.catalog_changed();
    Ok(())
}

/// The one field a form route takes.
async fn form_field(
    request: &HttpRequest,
    payload: web::Payload,
    name: &str,
) -> Result<String, ApiError> {
    read_fields(request, payload)
        .await?
        .remove(name)
        .ok_or_else(|| ApiError::invalid_request(format!("the form needs a field named {name}")))
}

/// The fields of a small form: URL-encoded, multipart, or a JSON object (strings, numbers and
/// booleans as text).
async fn read_fields(
    request: &HttpRequest,
    mut payload: web::Payload,
) -> Result<HashMap<String, String>, ApiError> {
    let content_type = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let limits = FormLimits {
            max_bytes: MAX_FORM_BYTES,
            max_memory_bytes: MAX_FORM_BYTES,
            max_parts: 16,
        };
        let parts = read_form(request, payload, limits, |_, _| Ok(Keep::Memory)).await?;
        return Ok(parts
            .into_iter()
            .filter_map(|part| match part {
                Part::Memory { name, bytes, .. } => {
                    Some((name, String::from_utf8_lossy(&bytes).into_owned()))
                }
                _ => None,
            })
            .collect());
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::invalid_request(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the form is larger than {MAX_FORM_BYTES} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    if content_type.starts_with("application/json") {
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid_request(format!("the body is not JSON: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| ApiError::invalid_request("the body must be a JSON object"))?;
        return Ok(object
            .iter()
            .filter_map(|(key, value)| {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    serde_json::Value::Null => String::new(),
                    _ => return None,
                };
                Some((key.clone(), text))
            })
            .collect());
    }
    Ok(url::form_urlencoded::parse(&body).into_owned().collect())
}
