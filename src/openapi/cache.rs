//! The published document: built once at start, rebuilt when a scan changes the catalog,
//! and served from memory in between (never built per request).

use std::sync::{Arc, RwLock};

use actix_web::web::Bytes;
use serde_json::Value;
use tokio::sync::watch;

use crate::catalog::{Catalog, CatalogError, Script, ScriptFilter};

use super::document;

/// One build of the document: as JSON for fragments, and as the bytes `/openapi.json` sends.
pub struct Published {
    pub document: Value,
    pub json: Bytes,
}

impl Published {
    pub fn of(scripts: &[Script]) -> Published {
        let document =
            serde_json::to_value(document(scripts)).expect("an OpenAPI document serialises");
        let json = Bytes::from(serde_json::to_vec(&document).expect("a JSON value serialises"));
        Published { document, json }
    }
}

/// The document in force; readers take an `Arc` and never wait for a rebuild.
pub struct DocCache {
    current: RwLock<Arc<Published>>,
}

impl DocCache {
    /// Builds the first document from the catalog.
    pub async fn load(catalog: &Catalog) -> Result<DocCache, CatalogError> {
        let published = Published::of(&all_scripts(catalog).await?);
        Ok(DocCache {
            current: RwLock::new(Arc::new(published)),
        })
    }

    pub fn current(&self) -> Arc<Published> {
        self.current.read().expect("not poisoned").clone()
    }

    /// Rebuilds from the catalog as it is now.
    pub async fn rebuild(&self, catalog: &Catalog) -> Result<(), CatalogError> {
        let scripts = all_scripts(catalog).await?;
        let published = tokio::task::spawn_blocking(move || Published::of(&scripts))
            .await
            .map_err(|e| CatalogError::Task(e.to_string()))?;
        *self.current.write().expect("not poisoned") = Arc::new(published);
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
            match cache.rebuild(&catalog).await {
                Ok(()) => tracing::debug!(generation, "OpenAPI document rebuilt"),
                Err(error) => tracing::warn!(%error, "cannot rebuild the OpenAPI document"),
            }
        }
    })
}
