//! Named API keys: created, listed and revoked by an admin.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::access::{CreatedKey, Scope};
use crate::catalog::ApiKeyRecord;
use crate::error::{ApiError, ErrorBody, ErrorCode};

use super::{resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/keys",
        Gate::Admin,
        [
            (Method::GET, web::to(list_keys)),
            (Method::POST, web::to(create_key)),
        ],
    ))
    .service(resource(
        "/keys/{id}",
        Gate::Admin,
        [(Method::DELETE, web::to(revoke_key))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(list_keys, create_key, revoke_key))]
pub struct KeysApi;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    name: String,
    /// `run` (run scripts, read scripts and runs), `metrics` (read `/metrics`), `exec`
    /// (interpreter sessions, when `exec_enabled` is on) or `admin` (everything).
    scope: String,
}

/// A named key as the API shows it: never its secret.
#[derive(Serialize, ToSchema)]
#[schema(as = ApiKey)]
pub struct KeyView {
    id: i64,
    name: String,
    /// The key's first characters, to recognise it.
    prefix: String,
    /// `run`, `metrics`, `exec` or `admin`.
    scope: String,
    created_at: String,
    /// When the key was last used; written at most once a minute.
    last_used_at: Option<String>,
    /// Set once the key is revoked; a revoked key is refused with 401.
    revoked_at: Option<String>,
}

impl From<ApiKeyRecord> for KeyView {
    fn from(record: ApiKeyRecord) -> KeyView {
        KeyView {
            id: record.id,
            name: record.name,
            prefix: record.prefix,
            scope: record.scope,
            created_at: record.created_at,
            last_used_at: record.last_used_at,
            revoked_at: record.revoked_at,
        }
    }
}

/// Every named key.
#[derive(Serialize, ToSchema)]
#[schema(as = ApiKeyList)]
pub struct KeyListView {
    items: Vec<KeyView>,
    total: usize,
}

/// A new key, with the key itself: shown this one time only.
#[derive(Serialize, ToSchema)]
#[schema(as = CreatedApiKey)]
pub struct CreatedKeyView {
    #[serde(flatten)]
    record: KeyView,
    /// The secret to send as `X-API-Key` or `Authorization: Bearer`.
    key: String,
}

/// Every named key, never with its secret.
#[utoipa::path(get, path = "/keys", tag = "keys", responses((status = 200, description = "Every named key", body = KeyListView), (status = 401, description = "A valid API key is required", body = ErrorBody), (status = 403, description = "The key's scope does not allow this", body = ErrorBody)))]
async fn list_keys(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let keys: Vec<ApiKeyRecord> = state.access.list().await?;
    let items: Vec<KeyView> = keys.into_iter().map(KeyView::from).collect();
    let total = items.len();
    Ok(HttpResponse::Ok().json(KeyListView { items, total }))
}

/// Creates a key; the answer holds the key itself, shown this one time only.
#[utoipa::path(post, path = "/keys", tag = "keys", request_body = CreateKeyRequest,
    responses((status = 201, description = "Created", body = CreatedKeyView), (status = 400, description = "Bad input (the error names the problem)", body = ErrorBody), (status = 403, description = "The key's scope does not allow this", body = ErrorBody)))]
async fn create_key(
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let body: CreateKeyRequest = super::object_body(body.into_inner())?;
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "name must be 1 to 100 characters",
        ));
    }
    let scope = Scope::parse(&body.scope).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "scope must be \"run\", \"metrics\", \"exec\" or \"admin\", not {:?}",
                body.scope
            ),
        )
    })?;
    let created: CreatedKey = state.access.create(name, scope).await?;
    Ok(HttpResponse::Created().json(CreatedKeyView {
        record: created.record.into(),
        key: created.key,
    }))
}

/// Revokes a key at once; requests presenting it get 401.
#[utoipa::path(delete, path = "/keys/{id}", tag = "keys", params(("id" = i64, Path)),
    responses((status = 200, description = "The revoked key", body = KeyView), (status = 404, description = "Not found", body = ErrorBody)))]
async fn revoke_key(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let revoked = state
        .access
        .revoke(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no key with id {id}")))?;
    Ok(HttpResponse::Ok().json(KeyView::from(revoked)))
}
