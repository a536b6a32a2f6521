//! Serving the OpenAPI document and Swagger UI: `/openapi.json` (also at the original
//! gateway's `/api/scripts/swagger-all`), Swagger UI at `/docs/`, its redirects, and the
//! published document, built once at start and rebuilt when a scan changes the catalog
//! (never per request).

use std::sync::{Arc, RwLock};

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use serde_json::Value;
use tokio::sync::watch;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::catalog::{Catalog, CatalogError, Script, ScriptFilter};

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

#[derive(utoipa::OpenApi)]
#[openapi(paths(get_openapi_json, redirect_docs, redirect_legacy_docs, swagger_ui_page))]
pub struct DocsApi;

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
pub async fn get_openapi_json(cache: web::Data<DocCache>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(cache.fresh().await.json.clone())
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

/// The whole document for these scripts: the gateway's API plus their typed operations.
pub fn document_for(scripts: &[Script]) -> utoipa::openapi::OpenApi {
    crate::openapi::document(super::openapi(), scripts)
}

/// One build of the document: as JSON for fragments, and as the bytes `/openapi.json` sends.
pub struct Published {
    pub document: Value,
    pub json: Bytes,
}

impl Published {
    pub fn of(scripts: &[Script]) -> Published {
        let document =
            serde_json::to_value(document_for(scripts)).expect("an OpenAPI document serialises");
        let json = Bytes::from(serde_json::to_vec(&document).expect("a JSON value serialises"));
        Published { document, json }
    }
}

/// The document in force, with the catalog generation it was built for.
pub struct DocCache {
    current: RwLock<(u64, Arc<Published>)>,
    /// Where a stale document is rebuilt from, and the scanner's catalog generation.
    source: Option<(Catalog, watch::Receiver<u64>)>,
    rebuilding: tokio::sync::Mutex<()>,
}

impl DocCache {
    /// Builds the first document from the catalog.
    pub async fn load(catalog: &Catalog) -> Result<DocCache, CatalogError> {
        let published = Published::of(&all_scripts(catalog).await?);
        Ok(DocCache {
            current: RwLock::new((0, Arc::new(published))),
            source: None,
            rebuilding: tokio::sync::Mutex::new(()),
        })
    }

    /// Follows the scanner's catalog generation: `fresh` never serves an older document.
    pub fn following(mut self, catalog: Catalog, changes: watch::Receiver<u64>) -> DocCache {
        self.source = Some((catalog, changes));
        self
    }

    pub fn current(&self) -> Arc<Published> {
        self.current.read().expect("not poisoned").1.clone()
    }

    /// The document for the catalog as it is now: rebuilt first when a change is not in it
    /// yet (a request right after a scan must not see the scripts as they were).
    pub async fn fresh(&self) -> Arc<Published> {
        if let Some((catalog, changes)) = &self.source {
            let wanted = *changes.borrow();
            if let Err(error) = self.rebuild_to(catalog, wanted).await {
                tracing::warn!(%error, "cannot rebuild the OpenAPI document");
            }
        }
        self.current()
    }

    /// Rebuilds from the catalog unless the document already covers `generation`.
    pub async fn rebuild_to(&self, catalog: &Catalog, generation: u64) -> Result<(), CatalogError> {
        let _one_at_a_time = self.rebuilding.lock().await;
        if self.current.read().expect("not poisoned").0 >= generation {
            return Ok(());
        }
        let scripts = all_scripts(catalog).await?;
        let published = tokio::task::spawn_blocking(move || Published::of(&scripts))
            .await
            .map_err(|e| CatalogError::Task(e.to_string()))?;
        *self.current.write().expect("not poisoned") = (generation, Arc::new(published));
        Ok(())
    }
}

async fn all_scripts(catalog: &Catalog) -> Result<Vec<Script>, CatalogError> {
    let filter = ScriptFilter {
        page: 1,
        page_size: u32::MAX,
        ..Default::default()
    };
    Ok(catalog.list_scripts(filter).await?.items)
}

/// Rebuilds `cache` each time `changes` ticks (the scanner's catalog generation), until the
/// scanner is gone. Ticks that come during a rebuild are folded into the next one.
pub fn keep_fresh(
    cache: Arc<DocCache>,
    catalog: Catalog,
    mut changes: watch::Receiver<u64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let generation = *changes.borrow_and_update();
            match cache.rebuild_to(&catalog, generation).await {
                Ok(()) => tracing::debug!(generation, "OpenAPI document rebuilt"),
                Err(error) => tracing::warn!(%error, "cannot rebuild the OpenAPI document"),
            }
        }
    })
}
