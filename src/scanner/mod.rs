//! Keeps the catalog in step with `scripts_repo`: finds scripts, extracts the schema of
//! each new or changed one (never an unchanged one), writes sidecars, records removals.

mod deps_sync;
mod describe;
mod discover;
mod extract;
mod plan;
mod sidecar;
mod watch;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch as signal, Mutex, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, CatalogError, ScriptUpsert};
use crate::config::ScanConfig;
use crate::deps::{DepsError, DepsKey, DepsManager};
use crate::settings::Settings;

pub use discover::{md5_hex, FoundScript};
pub use extract::{Extractor, SCHEMA_FLAG};
pub use watch::RepoWatcher;

use plan::{Action, Plan};

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read the scripts repository: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("scan task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Deps(#[from] DepsError),
}

/// A script whose schema could not be loaded.
#[derive(Debug, Clone, Serialize)]
pub struct ScanProblem {
    pub path: String,
    pub error: String,
}

/// What one scan changed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// Schema extractions this scan ran.
    pub extracted: usize,
    /// Every script currently listed with a load error.
    pub errors: Vec<ScanProblem>,
    pub duration_ms: u64,
}

/// Owns scanning; one scan runs at a time.
pub struct Scanner {
    catalog: Catalog,
    config: ScanConfig,
    extractor: Extractor,
    running: Mutex<()>,
    generation: signal::Sender<u64>,
    deps: Option<Arc<DepsManager>>,
    /// Finished installs, subscribed before the first scan so none is missed.
    installed: std::sync::Mutex<Option<broadcast::Receiver<DepsKey>>>,
}

impl Scanner {
    pub fn new(catalog: Catalog, config: ScanConfig, extractor: Extractor) -> Scanner {
        Scanner {
            catalog,
            config,
            extractor,
            running: Mutex::new(()),
            generation: signal::channel(0).0,
            deps: None,
            installed: std::sync::Mutex::new(None),
        }
    }

    /// Records each script's dependency set on every scan, installs new sets in the
    /// background, and extracts a script's schema again once its set is installed.
    pub fn with_deps(mut self, deps: Arc<DepsManager>) -> Scanner {
        self.installed = std::sync::Mutex::new(Some(deps.installed()));
        self.deps = Some(deps);
        self
    }

    /// Ticks whenever a scan changed the catalog (new, changed or removed scripts).
    pub fn changes(&self) -> signal::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Ticks `changes` for a change made outside a scan (an alias, a switch), so what is
    /// built from the catalog (the OpenAPI document) follows.
    pub fn catalog_changed(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// Scans now; `force` re-extracts every schema, changed or not.
    pub async fn scan(&self, force: bool) -> Result<ScanReport, ScanError> {
        self.scan_with(force, &HashSet::new()).await
    }

    /// Scans; unchanged scripts whose dependency set is in `installed` are extracted again.
    async fn scan_with(
        &self,
        force: bool,
        installed: &HashSet<DepsKey>,
    ) -> Result<ScanReport, ScanError> {
        let _one_at_a_time = self.running.lock().await;
        let started = Instant::now();
        let repo = self.config.scripts_repo.clone();
        let found = tokio::task::spawn_blocking(move || discover::discover(&repo))
            .await
            .map_err(|e| ScanError::Task(e.to_string()))??;
        let index = self.catalog.script_index().await?;
        let mut plan = Plan::new(found, index, force);
        if !installed.is_empty() {
            plan.reextract(|s| s.deps.key().is_some_and(|k| installed.contains(&k)));
        }
        let declared = deps_sync::declared(&plan);
        let loads = self.extract_all(plan.to_extract()).await?;
        let report = self.apply(plan, loads).await?;
        if let Some(deps) = &self.deps {
            deps.sync_scan(declared).await?;
        }
        let report = ScanReport {
            duration_ms: started.elapsed().as_millis() as u64,
            ..report
        };
        if report.added + report.updated + report.removed > 0 {
            self.generation.send_modify(|g| *g += 1);
            tracing::info!(
                added = report.added,
                updated = report.updated,
                removed = report.removed,
                extracted = report.extracted,
                duration_ms = report.duration_ms,
                "scan changed the catalog"
            );
        }
        Ok(report)
    }

    /// Extracts schemas in parallel, at most `concurrency` interpreters at once.
    async fn extract_all(
        &self,
        scripts: Vec<FoundScript>,
    ) -> Result<HashMap<String, Result<serde_json::Value, String>>, ScanError> {
        let permits = Arc::new(Semaphore::new(self.config.concurrency));
        let mut tasks = JoinSet::new();
        for script in scripts {
            let extractor = self.extractor.clone();
            let permits = permits.clone();
            tasks.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let loaded = extractor.extract(&script).await.map(|map| map.to_value());
                write_sidecar(&script, &loaded);
                (script.path, loaded)
            });
        }
        let mut loads = HashMap::new();
        while let Some(done) = tasks.join_next().await {
            let (path, loaded) = done.map_err(|e| ScanError::Task(e.to_string()))?;
            loads.insert(path, loaded);
        }
        Ok(loads)
    }

    async fn apply(
        &self,
        plan: Plan,
        mut loads: HashMap<String, Result<serde_json::Value, String>>,
    ) -> Result<ScanReport, ScanError> {
        let mut report = ScanReport {
            extracted: loads.len(),
            ..ScanReport::default()
        };
        let mut upserts = Vec::new();
        for (script, action) in plan.actions {
            match action {
                Action::Unchanged { stored_schema } => {
                    report.unchanged += 1;
                    restore_missing_sidecar(&script, stored_schema.as_ref());
                    continue;
                }
                Action::Revive { stored_schema } => {
                    report.added += 1;
                    restore_missing_sidecar(&script, stored_schema.as_ref());
                }
                Action::Add => report.added += 1,
                Action::Update | Action::Regroup => report.updated += 1,
            }
            let load = loads.remove(&script.path);
            upserts.push(upsert_for(script, load));
        }
        report.removed = plan.removed.len();
        for removed in &plan.removed {
            let _ = sidecar::remove(&self.config.scripts_repo.join(&removed.path));
        }
        let removed_ids = plan.removed.iter().map(|r| r.id).collect();
        self.catalog.apply_scan(upserts, removed_ids).await?;
        report.errors = self.current_problems().await?;
        Ok(report)
    }

    async fn current_problems(&self) -> Result<Vec<ScanProblem>, ScanError> {
        let filter = crate::catalog::ScriptFilter {
            status: Some(crate::catalog::LoadStatus::Error),
            page: 1,
            page_size: 10_000,
            ..Default::default()
        };
        let page = self.catalog.list_scripts(filter).await?;
        Ok(page
            .items
            .into_iter()
            .map(|s| ScanProblem {
                path: s.path,
                error: s.load_error.unwrap_or_default(),
            })
            .collect())
    }

    /// Starts watching the repository at once, so that nothing saved from now on is missed,
    /// and returns the loop (to be spawned once the first scan is done) that rescans on
    /// changes, on the safety-net interval, and when a dependency set finishes installing,
    /// until `shutdown` is cancelled. A changed interval or debounce applies at once.
    pub fn watch(
        self: Arc<Self>,
        settings: Arc<Settings>,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (changed_tx, changed) = mpsc::channel(1);
        let watcher = self.start_watching(settings.current().watch_debounce, changed_tx.clone());
        self.run_forever(settings, watcher, (changed_tx, changed), shutdown)
    }

    async fn run_forever(
        self: Arc<Self>,
        settings: Arc<Settings>,
        mut watcher: Option<RepoWatcher>,
        (changed_tx, mut changed): (mpsc::Sender<()>, mpsc::Receiver<()>),
        shutdown: CancellationToken,
    ) {
        let mut changes = settings.subscribe();
        let mut current = settings.current();
        let mut ticker = safety_net(current.scan_interval);
        let mut installs = self.installed.lock().expect("never poisoned").take();
        loop {
            let mut installed = HashSet::new();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                message = changed.recv() => if message.is_none() { return },
                _ = ticker.tick() => {},
                key = deps_sync::next_installed(&mut installs) => { installed.insert(key); },
                update = changes.changed() => {
                    if update.is_err() { return }
                    let next = changes.borrow_and_update().clone();
                    if next.scan_interval != current.scan_interval {
                        ticker = safety_net(next.scan_interval);
                    }
                    if next.watch_debounce != current.watch_debounce {
                        drop(watcher.take());
                        watcher = self.start_watching(next.watch_debounce, changed_tx.clone());
                    }
                    current = next;
                    continue;
                }
            }
            deps_sync::drain(&mut installs, &mut installed);
            if let Err(error) = self.scan_with(false, &installed).await {
                tracing::error!(%error, "scan failed");
            }
        }
    }

    /// Watches the repository; without a watcher (e.g. no inotify watches left) the
    /// safety-net interval still finds changes.
    fn start_watching(&self, debounce: Duration, changed: mpsc::Sender<()>) -> Option<RepoWatcher> {
        match watch::watch(&self.config.scripts_repo, debounce, changed) {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                tracing::error!(%error, "cannot watch the scripts folder; relying on the periodic rescan");
                None
            }
        }
    }
}

fn safety_net(interval: Option<Duration>) -> tokio::time::Interval {
    let period = interval.unwrap_or(Duration::from_secs(365 * 24 * 3600));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

fn upsert_for(
    script: FoundScript,
    load: Option<Result<serde_json::Value, String>>,
) -> ScriptUpsert {
    ScriptUpsert {
        path: script.path,
        runtime: script.runtime,
        name: script.name,
        group_path: script.group_path,
        description: script.description,
        file_hash: script.file_hash,
        file_size: script.file_size,
        load,
    }
}

fn write_sidecar(script: &FoundScript, loaded: &Result<serde_json::Value, String>) {
    let result = match loaded {
        Ok(schema) => sidecar::write(&script.absolute, schema),
        Err(_) => sidecar::remove(&script.absolute),
    };
    if let Err(error) = result {
        tracing::warn!(path = %script.path, %error, "cannot update the schema sidecar");
    }
}

fn restore_missing_sidecar(script: &FoundScript, schema: Option<&serde_json::Value>) {
    if let Some(schema) = schema {
        if !sidecar::path_for(&script.absolute).exists() {
            write_sidecar(script, &Ok(schema.clone()));
        }
    }
}
