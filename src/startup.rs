//! Builds the gateway the same way for production and tests: open the catalog, resolve
//! the interpreters, scan, start watching, bind the listener, and hand back a runnable app.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tokio::sync::mpsc;
use tracing_actix_web::TracingLogger;

use crate::api::{self, AppState};
use crate::catalog::{Catalog, CatalogError};
use crate::config::Config;
use crate::process::Interpreters;
use crate::runner::Runner;
use crate::scanner::{Extractor, RepoWatcher, ScanError, ScanReport, Scanner};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot prepare {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("the first scan failed: {0}")]
    Scan(#[from] ScanError),
    #[error("cannot watch the scripts repository: {0}")]
    Watch(#[from] notify::Error),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// The parts every command shares: catalog and scanner over one configuration.
pub struct Core {
    pub catalog: Catalog,
    pub scanner: Arc<Scanner>,
    pub interpreters: Arc<Interpreters>,
}

impl Core {
    pub async fn open(config: &Config) -> Result<Core, StartupError> {
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
        let database = config.database_path();
        let catalog = tokio::task::spawn_blocking(move || Catalog::open(&database))
            .await
            .map_err(|e| CatalogError::Task(e.to_string()))??;
        let interpreters =
            Interpreters::resolve(&config.python, &config.node, &config.child_path).await;
        tracing::info!(?interpreters, "interpreters resolved");
        let interpreters = Arc::new(interpreters);
        let extractor = Extractor {
            interpreters: interpreters.clone(),
            timeout: config.scan.schema_timeout,
            scratch_dir: config.scratch_dir(),
            child_path: config.child_path.clone(),
        };
        let scanner = Arc::new(Scanner::new(
            catalog.clone(),
            config.scan.clone(),
            extractor,
        ));
        Ok(Core {
            catalog,
            scanner,
            interpreters,
        })
    }
}

/// A gateway bound to its address, ready to run.
pub struct Application {
    address: SocketAddr,
    server: Server,
    first_scan: ScanReport,
    _watcher: RepoWatcher,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let core = Core::open(&config).await?;
        let first_scan = core.scanner.scan(false).await?;
        let (changed_tx, changed_rx) = mpsc::channel(1);
        let watcher = core.scanner.watch(changed_tx)?;
        tokio::spawn(
            core.scanner
                .clone()
                .run_forever(changed_rx, config.scan.interval),
        );

        let requested = SocketAddr::new(config.host, config.port);
        let bind_error = |source| StartupError::Bind {
            address: requested.to_string(),
            source,
        };
        let listener = TcpListener::bind(requested).map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let runner = Arc::new(Runner::new(
            core.catalog.clone(),
            core.interpreters.clone(),
            config.run.clone(),
            config.scan.scripts_repo.clone(),
            config.runs_dir(),
            config.child_path.clone(),
        ));
        let state = web::Data::new(AppState {
            runner,
            catalog: core.catalog,
            scanner: core.scanner,
            api_key: config.api_key.clone(),
            started: Instant::now(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(api::require_api_key))
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .configure(api::configure)
        })
        .workers(2)
        .listen(listener)
        .map_err(bind_error)?
        .run();
        Ok(Application {
            address,
            server,
            first_scan,
            _watcher: watcher,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn first_scan(&self) -> &ScanReport {
        &self.first_scan
    }

    /// Serves until SIGINT/SIGTERM (graceful) or the server stops.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
