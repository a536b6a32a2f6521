//! Builds the gateway the same way for production and tests, in the shape of an
//! application: open the core (catalog, settings, interpreters, containment), start the
//! services (scanner and watcher, runner, retention, notifier) under one shutdown signal,
//! then serve.

mod foundation;
mod services;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::Server;
use actix_web::middleware::{Condition, NormalizePath, TrailingSlash};
use actix_web::{web, App, HttpServer};
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::access::Access;
use crate::api::{self, AppState};
use crate::catalog::postgres::SoleNode;
use crate::catalog::CatalogError;
use crate::config::Config;
use crate::deps::DepsError;
use crate::domain::Runtime;
use crate::manage::ScriptManager;
use crate::process::contain::{self, ContainError};
use crate::sessions::{exec_allowed, SessionManager, SessionParts};

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
    #[error("cannot prepare the sessions folder: {0}")]
    Sessions(std::io::Error),
    #[error("exec_enabled is on, but no API key guards the non-loopback address {0}: configure --api-key (or create an exec key while bound to loopback) before turning interpreter sessions on")]
    ExecWithoutKey(String),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

pub use foundation::Core;
pub use services::Services;

/// A gateway bound to its address, ready to run: the core opened, the services started,
/// the HTTP server built over them.
pub struct Application {
    address: SocketAddr,
    server: Server,
    services: Services,
    sessions: Arc<SessionManager>,
    grace: std::time::Duration,
    /// Held while serving a PostgreSQL catalog.
    _sole_node: Option<SoleNode>,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let core = Core::open(&config).await?;
        let sole_node = core.catalog.hold_sole_node().await?;
        let shutdown = CancellationToken::new();
        // Watching starts before the first scan: a file saved while it runs is seen. The
        // first scan runs in the background (see `Services::start`), never before listening.
        let rescans = core
            .scanner
            .clone()
            .watch(core.settings.clone(), shutdown.clone());
        let (listener, address) = bind(&config)?;
        let sessions = open_sessions(&core, &config)?;
        sessions.keep_reaping(shutdown.clone());
        let services = Services::start(&core, &config, shutdown, rescans).await?;
        let state = app_state(core, &services, &config, sessions.clone()).await?;
        refuse_unguarded_exec(&state, &config)?;
        let grace = config.shutdown_grace;
        let server = http_server(listener, state, services.docs.clone(), grace)
            .map_err(|source| bind_error(address, source))?;
        Ok(Application {
            address,
            server,
            services,
            sessions,
            grace,
            _sole_node: sole_node,
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
        self.sessions.end_all().await;
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

/// The session manager; sessions an earlier gateway left are killed here.
fn open_sessions(core: &Core, config: &Config) -> Result<Arc<SessionManager>, StartupError> {
    let interpreter = |runtime| core.interpreters.executable(runtime).map(Path::to_path_buf);
    SessionManager::open(SessionParts {
        root: config.data_dir.join("sessions"),
        python: interpreter(Runtime::Python),
        node: interpreter(Runtime::Js),
        child_path: config.child_path.clone(),
        settings: core.settings.clone(),
        loopback: config.host.is_loopback(),
    })
    .map_err(StartupError::Sessions)
}

/// With no key at all, exec may only be on behind a loopback address.
fn refuse_unguarded_exec(state: &AppState, config: &Config) -> Result<(), StartupError> {
    let on = state.settings.current().exec_enabled;
    if on && exec_allowed(state.access.required(), config.host.is_loopback()).is_err() {
        return Err(StartupError::ExecWithoutKey(config.host.to_string()));
    }
    Ok(())
}

async fn app_state(
    core: Core,
    services: &Services,
    config: &Config,
    sessions: Arc<SessionManager>,
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
        sessions,
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
    let request_spans =
        tracing::enabled!(target: "tracing_actix_web::root_span_builder", tracing::Level::INFO);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(api::record_http))
            // Below INFO the request spans print nothing, yet building them costs every request.
            .wrap(Condition::new(request_spans, TracingLogger::default()))
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
