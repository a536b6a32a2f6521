use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::catalog::RunStatus;
use crate::error::ApiError;
use crate::runner::RunRequest;

use super::run_input;
use super::runs::result_fields;
use super::{resource, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/scripts/{id}/run")
            .route(web::get().to(run_script_get))
            .route(web::post().to(run_script_post)),
    );
}

/// `GET /api/scripts/{id}/run?name=Bob`: parameters in the query string.
async fn run_script_get(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let staging = state.runner.staging();
    let run_request = RunRequest::from_query_pairs(run_input::query_pairs(&request), true);
    let run = state
        .runner
        .run(id.into_inner(), run_request, staging)
        .await?;
    Ok(HttpResponse::Ok().json(run_response(&run)))
}

/// `POST /api/scripts/{id}/run` with a JSON object, a form, or multipart fields and files.
async fn run_script_post(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut staging = state.runner.staging();
    let limit = state.runner.settings().max_body_bytes;
    let run_request = run_input::read_body(&request, payload, &mut staging, limit).await?;
    let run = state
        .runner
        .run(id.into_inner(), run_request, staging)
        .await?;
    Ok(HttpResponse::Ok().json(run_response(&run)))
}

/// The original gateway's response shape: `status` is success or error, and the result
/// (`data`, or `type: "file"` with a `url`) sits at the top level.
fn run_response(run: &crate::catalog::Run) -> Value {
    let status = if run.status == RunStatus::Success {
        "success"
    } else {
        "error"
    };
    let mut body = json!({
        "status": status,
        "run_status": run.status,
        "script_id": run.script_id,
        "run_id": run.id,
    });
    body.as_object_mut()
        .expect("a JSON object")
        .extend(result_fields(run));
    body
}
