//! The core every command opens: interpreters, containment, folders, the catalog, settings,
//! dependency caches and the scanner.

use std::sync::Arc;

use crate::catalog::{Catalog, CatalogError};
use crate::config::{CatalogLocation, Config};
use crate::deps::{DepsManager, DepsParts};
use crate::process::contain;
use crate::process::Interpreters;
use crate::scanner::{Extractor, Scanner};
use crate::settings::Settings;

use super::StartupError;

/// The parts every command shares: catalog and scanner over one configuration.
pub struct Core {
    pub catalog: Catalog,
    pub scanner: Arc<Scanner>,
    pub interpreters: Arc<Interpreters>,
    pub deps: Arc<DepsManager>,
    pub settings: Arc<Settings>,
}

impl Core {
    pub async fn open(config: &Config) -> Result<Core, StartupError> {
        let interpreters = Interpreters::resolve(
            &config.python,
            &config.node,
            &config.child_path,
            &config.search_path,
        )
        .await;
        tracing::info!(?interpreters, "interpreters resolved");
        let mut request = config.containment_request();
        request.reachable.extend(interpreters.executables());
        let containment = contain::install(&request)?;
        prepare_folders(config)?;
        let catalog = match config.catalog.clone() {
            CatalogLocation::Sqlite(file) => {
                tokio::task::spawn_blocking(move || Catalog::open(&file))
                    .await
                    .map_err(|e| CatalogError::Task(e.to_string()))??
            }
            CatalogLocation::Postgres { url, node } => {
                let catalog = Catalog::connect_postgres(&url, &node).await?;
                // The URL may carry a password: only the node is logged.
                tracing::info!(node, "catalog on PostgreSQL");
                catalog
            }
        };
        if let Some(user) = containment.run_as() {
            close_gateway_state(config, user).map_err(StartupError::CloseState)?;
        }
        announce(&containment.report());
        containment.keep_sweeping();
        let stored = catalog.stored_settings().await?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let settings = Arc::new(Settings::new(
            cores,
            config.startup_settings.clone(),
            stored,
        ));
        let interpreters = Arc::new(interpreters);
        let deps = DepsManager::open(DepsParts {
            catalog: catalog.clone(),
            settings: config.deps.clone(),
            interpreters: interpreters.clone(),
            cache_root: config.data_dir.join("deps_cache"),
            scripts_repo: config.scan.scripts_repo.clone(),
            child_path: config.child_path.clone(),
        })
        .await?;
        let extractor = Extractor {
            interpreters: interpreters.clone(),
            settings: settings.clone(),
            scratch_dir: config.scratch_dir(),
            child_path: config.child_path.clone(),
            deps: Some(deps.clone()),
        };
        let scanner = Arc::new(
            Scanner::new(catalog.clone(), config.scan.clone(), extractor).with_deps(deps.clone()),
        );
        Ok(Core {
            catalog,
            scanner,
            interpreters,
            deps,
            settings,
        })
    }
}

fn prepare_folders(config: &Config) -> Result<(), StartupError> {
    for folder in [
        &config.scratch_dir(),
        &config.scan.scripts_repo.join("python"),
        &config.scan.scripts_repo.join("js"),
    ] {
        std::fs::create_dir_all(folder).map_err(|source| StartupError::Folder {
            path: folder.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// With a run user: the data folder becomes passable but not readable for it, the database
/// private, and the extraction scratch folder its own.
fn close_gateway_state(config: &Config, user: &contain::RunAs) -> std::io::Result<()> {
    // A catalog on PostgreSQL has no file here.
    let files: Vec<std::path::PathBuf> = match &config.catalog {
        CatalogLocation::Sqlite(database) => ["", "-wal", "-shm", "-journal"]
            .iter()
            .map(|suffix| {
                let mut name = database.clone().into_os_string();
                name.push(suffix);
                std::path::PathBuf::from(name)
            })
            .collect(),
        CatalogLocation::Postgres { .. } => vec![],
    };
    let private: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    contain::close_gateway_state(&config.data_dir, &private)?;
    std::fs::create_dir_all(config.runs_dir())?;
    contain::close_gateway_state(&config.runs_dir(), &[])?;
    user.hand_over(&config.scratch_dir())
}

fn announce(report: &contain::ContainmentReport) {
    tracing::info!(
        mechanism = report.mechanism,
        whole_tree_stopped = report.whole_tree_stopped,
        process_cap_per_run = report.process_cap_per_run,
        memory_cap_per_run = report.memory_cap_per_run,
        run_as = report.run_as.as_deref().unwrap_or("(the gateway's user)"),
        "containment"
    );
    for warning in &report.warnings {
        tracing::warn!("containment: {warning}");
    }
}
