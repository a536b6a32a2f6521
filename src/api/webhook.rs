//! Sending a test notification to the `notify_url` (or a given URL).

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::webhook::Delivery;

use super::{resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/settings/notify/test",
        Gate::Admin,
        [(Method::POST, web::to(test_notification))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(test_notification))]
pub struct WebhookApi;

/// Where to send the test notification instead of the `notify_url` setting.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NotifyTestRequest {
    /// An http(s) URL; empty or left out = the configured `notify_url`.
    url: Option<String>,
}

/// How the test delivery went (one attempt, no retries).
#[derive(Serialize, ToSchema)]
#[schema(as = NotifyTestResult)]
struct DeliveryView {
    delivered: bool,
    /// The HTTP status the URL answered with, if it answered.
    status: Option<u16>,
    /// Why it was not delivered.
    error: Option<String>,
    attempts: u32,
    duration_ms: u64,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> DeliveryView {
        DeliveryView {
            delivered: d.delivered,
            status: d.status,
            error: d.error,
            attempts: d.attempts,
            duration_ms: d.duration_ms,
        }
    }
}

impl NotifyTestRequest {
    fn parse(body: &[u8]) -> Result<NotifyTestRequest, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(NotifyTestRequest::default());
        }
        serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("the body must be {{\"url\"?: \"http(s)://...\"}}: {e}"),
            )
        })
    }
}

/// Sends a sample notification (`"event": "test"`, the shape of a finished run's) now and
/// reports how the URL answered; a URL that does not answer 2xx is still a 200 here.
#[utoipa::path(
    post,
    path = "/settings/notify/test",
    tag = "settings",
    request_body(content = Option<NotifyTestRequest>, description = "Optional: `{\"url\": \"...\"}` to test another URL"),
    responses(
        (status = 200, description = "The delivery's outcome", body = DeliveryView),
        (status = 400, description = "No URL configured or given, or not an http(s) URL (`invalid_request`)", body = ErrorBody),
    )
)]
async fn test_notification(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request = NotifyTestRequest::parse(&body)?;
    let delivery = state.notifier.send_test(request.url).await?;
    Ok(HttpResponse::Ok().json(DeliveryView::from(delivery)))
}
