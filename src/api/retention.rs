//! Pruning the run history on request: `POST /api/runs/cleanup`.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::retention::{Policy, Pruned};

use super::{resource, AppState, Gate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/runs/cleanup",
        Gate::Admin,
        [(Method::POST, web::to(cleanup_runs))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(cleanup_runs))]
pub struct RetentionApi;

/// Overrides for one pass. A key left out takes its setting (`run_retention_days`,
/// `max_runs_per_script`, where 0 means off); `null` leaves that criterion out; a number is
/// taken as written: `older_than_days: 0` prunes every finished run, `max_runs_per_script: 0`
/// keeps none.
#[derive(Debug, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CleanupRequest {
    /// Prune finished runs that ended at least this many days ago.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 0)]
    older_than_days: Option<Option<u64>>,
    /// Keep at most this many runs per script (runs in progress are never pruned).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 0)]
    max_runs_per_script: Option<Option<u64>>,
}

/// A key that is present, `null` or not.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

fn invalid(why: String) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidRequest,
        format!("the body must be {{\"older_than_days\"?: N, \"max_runs_per_script\"?: M}} with non-negative integers: {why}"),
    )
}

impl CleanupRequest {
    fn parse(body: &[u8]) -> Result<CleanupRequest, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(CleanupRequest::default());
        }
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON body: {e}"))
        })?;
        if !value.is_object() {
            return Err(invalid(format!("not a JSON object: {value}")));
        }
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
    }

    fn over(self, settings: Policy) -> Policy {
        Policy {
            older_than: match self.older_than_days {
                None => settings.older_than,
                Some(days) => days.and_then(Policy::older_than_days),
            },
            max_runs_per_script: self
                .max_runs_per_script
                .unwrap_or(settings.max_runs_per_script),
        }
    }
}

/// What the pass removed.
#[derive(Serialize, ToSchema)]
#[schema(as = CleanupResult)]
struct PrunedView {
    runs_deleted: u64,
    folders_removed: u64,
    bytes_freed: u64,
}

impl From<Pruned> for PrunedView {
    fn from(p: Pruned) -> PrunedView {
        PrunedView {
            runs_deleted: p.runs_deleted,
            folders_removed: p.folders_removed,
            bytes_freed: p.bytes_freed,
        }
    }
}

/// Prunes the run history now: finished runs past the retention age and each script's
/// oldest beyond the cap, with their folders. Queued and running runs are never pruned.
#[utoipa::path(
    post,
    path = "/runs/cleanup",
    tag = "runs",
    request_body(content = Option<CleanupRequest>, description = "Optional overrides of the retention settings for this pass"),
    responses(
        (status = 200, description = "What was removed", body = PrunedView),
        (status = 400, description = "A value is not a non-negative integer or a key is unknown (`invalid_request`), or the body is not JSON (`invalid_json`)", body = ErrorBody),
    )
)]
async fn cleanup_runs(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let policy = CleanupRequest::parse(&body)?.over(state.retention.policy());
    let pruned = state.retention.prune(policy).await?;
    Ok(HttpResponse::Ok().json(PrunedView::from(pruned)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn overrides_replace_the_settings_key_by_key() {
        let settings = Policy {
            older_than: Some(Duration::from_secs(86_400)),
            max_runs_per_script: Some(5),
        };
        let days = |n: u64| Some(Duration::from_secs(n * 86_400));
        let cases = [
            ("", settings),
            ("{}", settings),
            (
                r#"{"older_than_days": 0}"#,
                Policy {
                    older_than: days(0),
                    ..settings
                },
            ),
            (
                r#"{"older_than_days": null, "max_runs_per_script": 2}"#,
                Policy {
                    older_than: None,
                    max_runs_per_script: Some(2),
                },
            ),
            (
                r#"{"max_runs_per_script": null}"#,
                Policy {
                    max_runs_per_script: None,
                    ..settings
                },
            ),
        ];
        for (body, want) in cases {
            let got = CleanupRequest::parse(body.as_bytes())
                .unwrap()
                .over(settings);
            assert_eq!(got, want, "{body}");
        }
    }

    #[test]
    fn bad_bodies_are_refused_with_a_code_that_says_why() {
        let cases = [
            (r#"{"older_than_days": -1}"#, ErrorCode::InvalidRequest),
            (r#"{"older_than_days": 1.5}"#, ErrorCode::InvalidRequest),
            (r#"{"max_runs_per_script": "3"}"#, ErrorCode::InvalidRequest),
            (r#"{"keep": 3}"#, ErrorCode::InvalidRequest),
            ("[1]", ErrorCode::InvalidRequest),
            ("{", ErrorCode::InvalidJson),
        ];
        for (body, want) in cases {
            let got = CleanupRequest::parse(body.as_bytes()).unwrap_err();
            assert_eq!(got.code, want, "{body}: {}", got.message);
        }
    }
}
