//! A script's dependencies: its declared set and install state, installs (one script or a
//! batch), and the environment a run of it gets.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::api::lookup::find_script;
use crate::api::{optional_json, resource, AppState, Gate};
use crate::error::{ApiError, ErrorBody};

use super::deps_views::{BatchView, EnvironmentView, ScriptDepsView, ScriptInstallView};

/// The batch route comes first: `/scripts/{id}/dependencies/install` would take "batch" for an id.
pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/scripts/batch/dependencies/install",
        Gate::Admin,
        [(Method::POST, web::to(install_batch))],
    ))
    .service(resource(
        "/scripts/{id}/dependencies",
        Gate::Admin,
        [(Method::GET, web::to(get_dependencies))],
    ))
    .service(resource(
        "/scripts/{id}/dependencies/install",
        Gate::Admin,
        [(Method::POST, web::to(install_dependencies))],
    ))
    .service(resource(
        "/scripts/{id}/environment",
        Gate::Admin,
        [(Method::GET, web::to(get_environment))],
    ));
}

#[derive(OpenApi)]
#[openapi(paths(get_dependencies, install_dependencies, install_batch, get_environment))]
pub(super) struct ScriptDepsApi;

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
struct ForceRequest {
    /// Install again even a complete set, or one whose failure is remembered.
    #[serde(default)]
    force: bool,
}

/// Optional body of the install routes.
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = InstallBody)]
struct InstallRequest {
    /// The same as `?force=true`.
    #[serde(default)]
    force: bool,
    /// Batch only: the scripts to install for (default: every script with a dependency file).
    script_ids: Option<Vec<i64>>,
}

/// The dependency file a script uses, its normalised set, and whether it is installed.
#[utoipa::path(
    get,
    path = "/scripts/{id}/dependencies",
    tag = "dependencies",
    params(("id" = i64, Path, description = "The script's id")),
    responses((status = 200, description = "The script's dependencies", body = ScriptDepsView))
)]
async fn get_dependencies(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let script = find_script(&state, id.into_inner()).await?;
    let deps = state.deps.script_deps(&script).await?;
    Ok(HttpResponse::Ok().json(ScriptDepsView::from(deps)))
}

/// Reads the script's dependency file now and installs its set (unless installed, or its
/// failure is remembered; `force` installs again); answers once done, with the log.
#[utoipa::path(
    post,
    path = "/scripts/{id}/dependencies/install",
    tag = "dependencies",
    params(("id" = i64, Path, description = "The script's id"), ForceRequest),
    request_body(content = Option<InstallRequest>, description = "Optional: `{\"force\": true}`"),
    responses(
        (status = 200, description = "`status` is `ready`, `failed` or `none`", body = ScriptInstallView),
        (status = 400, description = "The body is not JSON (`invalid_json`)", body = ErrorBody),
    )
)]
async fn install_dependencies(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    query: web::Query<ForceRequest>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let script = find_script(&state, id.into_inner()).await?;
    let force = query.force || optional_json::<InstallRequest>(&body)?.force;
    let install = state.deps.install_script(&script, force).await?;
    Ok(HttpResponse::Ok().json(ScriptInstallView::from(install)))
}

/// Installs the sets of several scripts: `{"script_ids": [..]}`, or every script with a
/// dependency file. Logs are left out; each script's install route has them.
#[utoipa::path(
    post,
    path = "/scripts/batch/dependencies/install",
    tag = "dependencies",
    params(ForceRequest),
    request_body(content = Option<InstallRequest>, description = "Optional: `{\"script_ids\": [1, 2], \"force\": false}`"),
    responses(
        (status = 200, description = "One result per script", body = BatchView),
        (status = 400, description = "The body is not JSON (`invalid_json`)", body = ErrorBody),
    )
)]
async fn install_batch(
    state: web::Data<AppState>,
    query: web::Query<ForceRequest>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: InstallRequest = optional_json(&body)?;
    let force = query.force || body.force;
    let batch = state.deps.install_batch(body.script_ids, force).await?;
    Ok(HttpResponse::Ok().json(BatchView::from(batch)))
}

/// What a run of the script gets: interpreter, working folder and every environment
/// variable (nothing else is inherited), secrets masked.
#[utoipa::path(
    get,
    path = "/scripts/{id}/environment",
    tag = "dependencies",
    params(("id" = i64, Path, description = "The script's id")),
    responses((status = 200, description = "The run environment", body = EnvironmentView))
)]
async fn get_environment(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let script = find_script(&state, id.into_inner()).await?;
    let deps = state.deps.run_environment(&script);
    let preview = state.runner.preview_environment(&script);
    Ok(HttpResponse::Ok().json(EnvironmentView::of(&script, deps, preview)))
}
