use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ErrorCode};

use super::AppState;

/// With an API key configured, every `/api/*` request must present it, as
/// `Authorization: Bearer KEY` or `X-API-Key: KEY`. `/health` and the docs stay open.
pub async fn require_api_key(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let expected = request
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.api_key.clone());
    if let Some(expected) = expected {
        if is_protected(request.path()) {
            match presented_key(&request) {
                None => {
                    return Err(ApiError::new(
                        ErrorCode::Unauthorized,
                        "an API key is required: send Authorization: Bearer KEY or X-API-Key: KEY",
                    )
                    .into())
                }
                Some(key) if !bool::from(key.as_bytes().ct_eq(expected.expose().as_bytes())) => {
                    return Err(
                        ApiError::new(ErrorCode::Unauthorized, "the API key is not valid").into(),
                    )
                }
                Some(_) => {}
            }
        }
    }
    next.call(request).await
}

fn is_protected(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

fn presented_key(request: &ServiceRequest) -> Option<String> {
    let headers = request.headers();
    if let Some(value) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(value.trim().to_string());
    }
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim().to_string())
}
