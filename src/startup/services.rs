//! The services beside the HTTP server, started over the core under one shutdown token.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api;
use crate::config::Config;
use crate::process::warm::WarmPool;
use crate::retention::Retention;
use crate::runner::{Runner, RunnerParts};
use crate::scanner::Scanner;
use crate::webhook::Notifier;

use super::{Core, StartupError};

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

/// The fork servers' folder sits with the dependency caches; the helper modules there are
/// never preloaded (a script's own modules of the same name must win).
fn warm_pool(core: &Core) -> Result<Arc<WarmPool>, StartupError> {
    let support = core.deps.support_dir();
    let exclude = vec![support.join("python-compat")];
    let max = core.settings.current().max_warm_servers;
    WarmPool::open(&support.join("warm"), exclude, max)
        .map_err(|e| StartupError::Recover(format!("cannot prepare the fork servers' folder: {e}")))
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
        warm: warm_pool(core)?,
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
