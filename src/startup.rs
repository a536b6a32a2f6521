//! Builds the gateway the same way for production and tests, in the shape of an
//! application: open the core (catalog, settings, interpreters, containment), start the
//! services (scanner and watcher, runner, retention, notifier) under one shutdown signal,
//! then serve.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::Server;
use actix_web::middleware::{NormalizePath, TrailingSlash};
use actix_web::{web, App, HttpServer};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::access::Access;
use crate::api::{self, AppState};
use crate::catalog::{Catalog, CatalogError};
use crate::config::Config;
use crate::deps::{DepsError, DepsManager, DepsParts};
use crate::manage::ScriptManager;
use crate::process::contain::{self, ContainError};
use crate::process::Interpreters;
use crate::retention::Retention;
use crate::runner::{Runner, RunnerParts};
use crate::scanner::{Extractor, Scanner};
use crate::settings::Settings;
use crate::webhook::Notifier;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot prepare {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("cannot prepare the dependency caches: {0}")]
    Deps(#[from] DepsError),
    #[error("cannot recover runs left by an earlier stop: {0}")]
    Recover(String),
    #[error(transparent)]
    Containment(#[from] ContainError),
    #[error("cannot close the data folder to scripts: {0}")]
    CloseState(std::io::Error),
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
        let database = config.database_path();
        let catalog = tokio::task::spawn_blocking(move || Catalog::open(&database))
            .await
            .map_err(|e| CatalogError::Task(e.to_string()))??;
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
    let database = config.database_path();
    let journals = ["-wal", "-shm", "-journal"].map(|suffix| {
        let mut name = database.clone().into_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    });
    let mut private: Vec<&std::path::Path> = vec![&database];
    private.extend(journals.iter().map(|p| p.as_path()));
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

/// What keeps running beside the HTTP server: the first scan, the scanner and its watcher, the runner, the
/// retention schedule, the webhook notifier and the OpenAPI refresher. Each watches the one
/// `shutdown` token; their task handles are kept so stopping waits for them.
pub struct Services {
    pub runner: Arc<Runner>,
    pub notifier: Arc<Notifier>,
    pub retention: Arc<Retention>,
    pub docs: Arc<api::DocCache>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// The OpenAPI refresher and the first scan cannot watch the token; they are stopped
    /// by their handles.
    docs_task: JoinHandle<()>,
    first_scan_task: JoinHandle<()>,
}

impl Services {
    /// Starts every service over `core`; runs an unclean stop left behind are recorded first.
    /// `rescans` is the scanner's loop, watching since before the first scan, which starts
    /// here in the background: the gateway serves what the catalog knows meanwhile.
    pub async fn start(
        core: &Core,
        config: &Config,
        shutdown: CancellationToken,
        rescans: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<Services, StartupError> {
        let docs = Arc::new(
            api::DocCache::load(&core.catalog)
                .await?
                .following(core.catalog.clone(), core.scanner.changes()),
        );
        let docs_task = api::keep_fresh(docs.clone(), core.catalog.clone(), core.scanner.changes());
        let runner = start_runner(core, config).await?;
        // After the runner's recovery: scans write to the catalog too, and SQLite lets one
        // writer at a time; the watcher saw every change since before this (see `build`).
        let first_scan_task = tokio::spawn(first_scan(core.scanner.clone()));
        let scanner_task = tokio::spawn(rescans);
        let notifier = Arc::new(Notifier::new(core.catalog.clone(), core.settings.clone()));
        let retention = Arc::new(Retention::new(
            core.catalog.clone(),
            core.settings.clone(),
            config.runs_dir(),
        ));
        let tasks = vec![
            scanner_task,
            runner.follow_settings(shutdown.clone()),
            notifier.start(runner.subscribe_finished(), shutdown.clone()),
            crate::observe::follow_runs(runner.subscribe_finished(), shutdown.clone()),
            retention.schedule(crate::retention::EVERY, shutdown.clone()),
        ];
        Ok(Services {
            runner,
            notifier,
            retention,
            docs,
            shutdown,
            tasks,
            docs_task,
            first_scan_task,
        })
    }

    /// Stops every service and waits for each to end (runs are stopped by the runner's own
    /// `shut_down`, before this).
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.docs_task.abort();
        self.first_scan_task.abort();
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::warn!(%error, "a background service ended badly");
            }
        }
    }
}

/// Runs the first scan and says when it is done; `/ready` answers 200 from then on.
async fn first_scan(scanner: Arc<Scanner>) {
    match scanner.first_scan().await {
        Ok(report) => tracing::info!(
            scripts = report.added + report.updated + report.unchanged,
            errors = report.errors.len(),
            extracted = report.extracted,
            duration_ms = report.duration_ms,
            "scripts loaded"
        ),
        Err(error) => {
            tracing::error!(%error, "the first scan failed; serving what the catalog knew")
        }
    }
}

async fn start_runner(core: &Core, config: &Config) -> Result<Arc<Runner>, StartupError> {
    let runner = Arc::new(Runner::new(RunnerParts {
        catalog: core.catalog.clone(),
        interpreters: core.interpreters.clone(),
        settings: core.settings.clone(),
        deps: core.deps.clone(),
        scripts_repo: config.scan.scripts_repo.clone(),
        runs_dir: config.runs_dir(),
        child_path: config.child_path.clone(),
    }));
    let recovered = runner
        .recover_leftovers()
        .await
        .map_err(|e| StartupError::Recover(e.to_string()))?;
    if recovered > 0 {
        tracing::warn!(
            runs = recovered,
            "runs left by an earlier stop were marked interrupted"
        );
    }
    Ok(runner)
}

/// A gateway bound to its address, ready to run: the core opened, the services started,
/// the HTTP server built over them.
pub struct Application {
    address: SocketAddr,
    server: Server,
    services: Services,
    grace: std::time::Duration,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let core = Core::open(&config).await?;
        let shutdown = CancellationToken::new();
        // Watching starts before the first scan: a file saved while it runs is seen. The
        // first scan runs in the background (see `Services::start`), never before listening.
        let rescans = core
            .scanner
            .clone()
            .watch(core.settings.clone(), shutdown.clone());
        let (listener, address) = bind(&config)?;
        let services = Services::start(&core, &config, shutdown, rescans).await?;
        let state = app_state(core, &services, &config).await?;
        let grace = config.shutdown_grace;
        let server = http_server(listener, state, services.docs.clone(), grace)
            .map_err(|source| bind_error(address, source))?;
        Ok(Application {
            address,
            server,
            services,
            grace,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully: no new connections or
    /// runs, runs in flight get the grace period, what is left is stopped and recorded as
    /// interrupted, and waiting callers get their answers before the process exits.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        tokio::select! {
            result = &mut server => return result.map_err(std::io::Error::other)?,
            signal = shutdown_signal() => tracing::info!(signal, "shutting down"),
        }
        let stop_accepting = handle.stop(true);
        self.services.runner.shut_down(self.grace).await;
        stop_accepting.await;
        let served = server.await.map_err(std::io::Error::other)?;
        self.services.stop().await;
        tokio::task::spawn_blocking(|| contain::current().release())
            .await
            .map_err(std::io::Error::other)?;
        served
    }
}

fn bind_error(address: SocketAddr, source: std::io::Error) -> StartupError {
    StartupError::Bind {
        address: address.to_string(),
        source,
    }
}

/// The listener on the configured address, and the address it got (port 0 picks one).
fn bind(config: &Config) -> Result<(TcpListener, SocketAddr), StartupError> {
    let requested = SocketAddr::new(config.host, config.port);
    let listener = TcpListener::bind(requested).map_err(|e| bind_error(requested, e))?;
    let address = listener
        .local_addr()
        .map_err(|e| bind_error(requested, e))?;
    Ok((listener, address))
}

async fn app_state(
    core: Core,
    services: &Services,
    config: &Config,
) -> Result<web::Data<AppState>, StartupError> {
    let manager = Arc::new(ScriptManager::new(
        config.scan.scripts_repo.clone(),
        core.scanner.clone(),
        core.catalog.clone(),
        config.data_dir.join("templates"),
    ));
    let access = Arc::new(Access::new(config.api_key.clone(), core.catalog.clone()).await?);
    Ok(web::Data::new(AppState {
        access,
        manager,
        settings: core.settings,
        notifier: services.notifier.clone(),
        retention: services.retention.clone(),
        runner: services.runner.clone(),
        catalog: core.catalog,
        scanner: core.scanner,
        deps: core.deps,
        api_key: config.api_key.clone(),
        started: Instant::now(),
    }))
}

fn http_server(
    listener: TcpListener,
    state: web::Data<AppState>,
    docs: Arc<api::DocCache>,
    grace: std::time::Duration,
) -> std::io::Result<Server> {
    let access = web::Data::from(state.access.clone());
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(api::record_http))
            .wrap(TracingLogger::default())
            .wrap(api::json_errors())
            // Outermost, so the router and every route's gate see the same path. Only
            // doubled slashes: Swagger UI lives under `/docs/`, trailing slash included.
            .wrap(NormalizePath::new(TrailingSlash::MergeOnly))
            .app_data(state.clone())
            .app_data(access.clone())
            .app_data(web::Data::from(docs.clone()))
            .configure(api::configure)
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(grace.as_secs() + 15)
    .listen(listener)?
    .run();
    Ok(server)
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM can be handled");
    let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT can be handled");
    tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    }
}
