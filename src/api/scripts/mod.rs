//! Every `/scripts` route: the catalog of scripts, managing them, running them, their
//! documentation, logs and dependencies, one file per concern, mounted here in the order the
//! router needs (fixed paths such as `/scripts/running` before `/scripts/{id}`).

mod by_path;
mod deps;
mod deps_views;
mod docs;
mod first_scan;
mod listing;
mod logs;
pub(crate) use logs::run_log_lines;
pub(crate) use run::{answer, prefers_async, AcceptedView, RunOptionsRequest, RunResultView};
mod manage;
mod original;
mod patch;
mod run;

use actix_web::http::Method;
use actix_web::web;
use utoipa::OpenApi;

use super::{resource, Gate};

/// Mounts every `/scripts` route (and the templates new scripts start from).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(manage::configure_before_scripts)
        .configure(original::configure_before_scripts)
        .configure(run::configure)
        .configure(by_path::configure)
        .configure(docs::configure)
        .service(resource(
            "/scripts",
            Gate::RunReads,
            [
                (Method::GET, web::to(listing::list_scripts)),
                (Method::POST, web::to(manage::create_script)),
            ],
        ))
        .service(resource(
            "/scripts/{id}",
            Gate::RunReads,
            [
                (Method::GET, web::to(listing::get_script)),
                (Method::PATCH, web::to(patch::patch_script)),
                (Method::DELETE, web::to(manage::delete_script)),
            ],
        ))
        .service(resource(
            "/scripts/{id}/schema",
            Gate::RunReads,
            [(Method::GET, web::to(listing::get_script_schema))],
        ))
        .configure(original::configure)
        .configure(logs::configure)
        .configure(deps::configure);
}

/// The OpenAPI description of every route `configure` mounts.
pub fn openapi() -> utoipa::openapi::OpenApi {
    [
        run::RunApi::openapi(),
        by_path::ByPathApi::openapi(),
        docs::DocsCompatApi::openapi(),
        manage::ManageApi::openapi(),
        patch::PatchApi::openapi(),
        logs::ScriptLogsApi::openapi(),
        deps::ScriptDepsApi::openapi(),
        original::OriginalScriptsApi::openapi(),
    ]
    .into_iter()
    .fold(listing::ListingApi::openapi(), |mut doc, part| {
        // `/scripts` has GET here and POST in `manage`: `merge` joins their operations.
        doc.merge(part);
        doc
    })
}
