//! The key check each route carries: `resource` wraps every resource in the middleware for
//! its `Gate`, so the check runs on exactly what the router matched, however the path was
//! spelled.

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web;

use crate::access::{Access, AccessError, Gate};
use crate::error::{ApiError, ErrorCode};

use super::AppState;

/// Once keys are in use (a master key, or any active named key), a route behind any gate but
/// `Open` needs one, as `Authorization: Bearer KEY` or `X-API-Key: KEY`, and the key's scope
/// must pass the gate for the request's method. A refusal is an answer, not an error, so the
/// middleware around the app (the HTTP metrics) still sees the route it was given on.
pub async fn check_key(
    gate: Gate,
    request: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match admit(gate, &request).await {
        Ok(()) => next.call(request).await,
        Err(refused) => Ok(request.error_response(refused)),
    }
}

async fn admit(gate: Gate, request: &ServiceRequest) -> Result<(), ApiError> {
    if gate == Gate::Open || (gate == Gate::Metrics && metrics_public(request)) {
        return Ok(());
    }
    let Some(access) = request.app_data::<web::Data<Access>>().cloned() else {
        return Err(ApiError::internal(&"the access checker is missing"));
    };
    if !access.required() {
        return Ok(());
    }
    let scope = access
        .check(presented_key(request).as_deref())
        .await
        .map_err(refusal)?;
    if gate.admits(scope, request.method().as_str()) {
        return Ok(());
    }
    let message = format!(
        "a {} key may not {} {}",
        scope.as_str(),
        request.method(),
        request.path()
    );
    Err(ApiError::new(ErrorCode::Forbidden, message))
}

/// Whether the `metrics_public` setting in force opens `/metrics` to every caller.
fn metrics_public(request: &ServiceRequest) -> bool {
    request
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.settings.current().metrics_public)
}

fn refusal(error: AccessError) -> ApiError {
    match error {
        AccessError::Catalog(cause) => ApiError::internal(&cause),
        other => ApiError::new(ErrorCode::Unauthorized, other.to_string()),
    }
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
