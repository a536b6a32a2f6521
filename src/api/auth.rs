use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web;

use crate::access::AccessError;
use crate::error::{ApiError, ErrorCode};

use super::AppState;

/// Once keys are in use (a master key, or any active named key), every `/api/*` request must
/// present one, as `Authorization: Bearer KEY` or `X-API-Key: KEY`, and its scope must allow
/// the route. `/health`, `/openapi.json` and the docs stay open.
pub async fn require_api_key(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::internal(&"the application state is missing").into());
    };
    if state.access.required() && is_protected(request.path()) {
        let scope = state
            .access
            .check(presented_key(&request).as_deref())
            .await
            .map_err(refusal)?;
        if !scope.allows(request.method().as_str(), request.path()) {
            let message = format!(
                "a {} key may not {} {}",
                scope.as_str(),
                request.method(),
                request.path()
            );
            return Err(ApiError::new(ErrorCode::Forbidden, message).into());
        }
    }
    next.call(request).await
}

fn refusal(error: AccessError) -> ApiError {
    match error {
        AccessError::Catalog(cause) => ApiError::internal(&cause),
        other => ApiError::new(ErrorCode::Unauthorized, other.to_string()),
    }
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
