//! The OpenAPI 3.1 document and Swagger UI. The static part comes from each API module's
//! `#[derive(OpenApi)]` struct; each loaded script adds its own typed `/api/scripts/ID/run`
//! operations, built from its ARGS_MAP. The result is cached and rebuilt when the catalog
//! changes, never per request.

mod cache;
pub mod curl;
mod document;
pub mod fragment;
pub mod schemas;
mod script_paths;
#[cfg(test)]
mod sync_tests;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use utoipa_swagger_ui::{Config, SwaggerUi};

pub use cache::{keep_fresh, DocCache, Published};
pub use document::{document, static_document};
pub use script_paths::{loaded_args_map, run_path};

/// Where the document is served; Swagger UI loads it from here.
pub const DOCUMENT_URL: &str = "/openapi.json";
/// Where Swagger UI is served (with its trailing slash).
pub const UI_URL: &str = "/docs/";

/// Mounts `/openapi.json`, Swagger UI at `/docs/`, and the redirects to it.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(DOCUMENT_URL).route(web::get().to(get_openapi_json)))
        .service(web::resource("/docs").route(web::get().to(redirect_docs)))
        .service(web::resource("/scripts-swagger.html").route(web::get().to(redirect_legacy_docs)))
        .service(swagger_ui());
}

/// Swagger UI from the binary (the `vendored` feature), over our own `/openapi.json`:
/// with a `Config` that names the URL, `SwaggerUi` registers no document route of its own.
fn swagger_ui() -> SwaggerUi {
    let config = Config::new([DOCUMENT_URL])
        .try_it_out_enabled(true)
        .persist_authorization(true)
        .display_request_duration(true)
        .filter(true)
        .doc_expansion("list")
        .default_models_expand_depth(0);
    SwaggerUi::new(format!("{UI_URL}{{_:.*}}")).config(config)
}

/// This document: the gateway's API and one typed operation pair per loaded script.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "docs",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
async fn get_openapi_json(cache: web::Data<DocCache>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(cache.current().json.clone())
}

/// Swagger UI lives at `/docs/`.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "docs",
    responses((status = 308, description = "To `/docs/`", headers(("Location" = String))))
)]
async fn redirect_docs() -> HttpResponse {
    redirect_to_ui()
}

/// The original gateway's docs page; Swagger UI lives at `/docs/` now.
#[utoipa::path(
    get,
    path = "/scripts-swagger.html",
    tag = "docs",
    responses((status = 308, description = "To `/docs/`", headers(("Location" = String))))
)]
async fn redirect_legacy_docs() -> HttpResponse {
    redirect_to_ui()
}

fn redirect_to_ui() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, UI_URL))
        .finish()
}

/// Swagger UI over `/openapi.json`, served from the binary; works with no network.
#[utoipa::path(
    get,
    path = "/docs/",
    tag = "docs",
    responses((status = 200, description = "The Swagger UI page", content_type = "text/html", body = String))
)]
#[allow(dead_code)]
fn swagger_ui_page() {}
