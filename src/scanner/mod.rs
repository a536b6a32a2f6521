//! Keeps the catalog in step with `scripts_repo`: finds scripts, extracts the schema of
//! each new or changed one (never an unchanged one, never the same content twice at once),
//! writes sidecars, records removals.
//!
//! A scan plans under a short lock (discover, compare with the catalog, commit what needs no
//! extraction, hand the rest to the pool); each extraction commits its own result when it
//! is known. Nothing waits for an extraction but who asked for it.

mod commit;
mod deps_sync;
mod describe;
mod discover;
mod extract;
mod jobs;
mod plan;
mod pool;
mod rescans;
mod sidecar;
mod watch;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{broadcast, watch as signal, Mutex};

use crate::catalog::{Catalog, CatalogError};
use crate::config::ScanConfig;
use crate::deps::{DepsError, DepsKey, DepsManager};

pub use discover::{md5_hex, FoundScript};
pub use extract::{Extractor, SCHEMA_FLAG};
pub use watch::RepoWatcher;

use commit::Finished;
use jobs::{Claim, Jobs, Ticket};
use plan::Plan;
use pool::{Lane, Pool};

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

/// How far the first scan got: `ready` once it is done.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Progress {
    pub ready: bool,
    /// Scripts the latest scan found in the repository.
    pub found: usize,
    /// Schema extractions in flight.
    pub pending: usize,
}

/// Which extractions a scan waits for before it answers.
enum Waiting {
    All,
    Path(String),
    Nothing,
}

struct ScanRequest {
    force: bool,
    lane: Lane,
    waiting: Waiting,
    /// Dependency sets just installed: their unchanged scripts are extracted again.
    installed: HashSet<DepsKey>,
}

/// Owns scanning: scans plan one at a time, extractions run beside them on the pool.
pub struct Scanner {
    catalog: Catalog,
    config: ScanConfig,
    extractor: Extractor,
    /// Held while a scan plans or an extraction commits; never during an extraction.
    writing: Mutex<()>,
    /// Results waiting for the next commit.
    finished: std::sync::Mutex<Vec<Finished>>,
    jobs: Jobs,
    pool: Pool,
    generation: signal::Sender<u64>,
    ready: signal::Sender<bool>,
    found: AtomicUsize,
    deps: Option<Arc<DepsManager>>,
    /// Finished installs, subscribed before the first scan so none is missed.
    installed: std::sync::Mutex<Option<broadcast::Receiver<DepsKey>>>,
}

impl Scanner {
    pub fn new(catalog: Catalog, config: ScanConfig, extractor: Extractor) -> Scanner {
        Scanner {
            catalog,
            pool: Pool::new(config.concurrency),
            config,
            extractor,
            writing: Mutex::new(()),
            finished: std::sync::Mutex::new(Vec::new()),
            jobs: Jobs::default(),
            generation: signal::channel(0).0,
            ready: signal::channel(false).0,
            found: AtomicUsize::new(0),
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

    /// Ticks whenever the catalog changed (new, changed or removed scripts).
    pub fn changes(&self) -> signal::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Ticks `changes` for a change made outside a scan (an alias, a switch), so what is
    /// built from the catalog (the OpenAPI document) follows.
    pub fn catalog_changed(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// Becomes true when the first scan is done.
    pub fn readiness(&self) -> signal::Receiver<bool> {
        self.ready.subscribe()
    }

    pub fn progress(&self) -> Progress {
        Progress {
            ready: *self.ready.borrow(),
            found: self.found.load(Ordering::Relaxed),
            pending: self.jobs.pending(),
        }
    }

    /// The scan at start-up: every schema it needs is known (or timed out) when it ends,
    /// and the gateway is ready from then on, even if it failed.
    pub async fn first_scan(self: &Arc<Self>) -> Result<ScanReport, ScanError> {
        let report = self.scan(false).await;
        self.ready.send_replace(true);
        report
    }

    /// Scans now and waits for every extraction it needs; `force` re-extracts every schema.
    pub async fn scan(self: &Arc<Self>, force: bool) -> Result<ScanReport, ScanError> {
        self.scan_with(ScanRequest {
            force,
            lane: Lane::Bulk,
            waiting: Waiting::All,
            installed: HashSet::new(),
        })
        .await
    }

    /// Scans after `path` (relative to the repository) was saved, waiting only for that
    /// file's extraction.
    pub async fn scan_for(self: &Arc<Self>, path: &str) -> Result<ScanReport, ScanError> {
        self.scan_with(ScanRequest {
            force: false,
            lane: Lane::Prompt,
            waiting: Waiting::Path(path.to_string()),
            installed: HashSet::new(),
        })
        .await
    }

    async fn scan_with(self: &Arc<Self>, request: ScanRequest) -> Result<ScanReport, ScanError> {
        let started = Instant::now();
        let (mut report, waits) = self.plan_and_dispatch(&request).await?;
        for done in waits {
            jobs::ended(done).await;
        }
        if !matches!(request.waiting, Waiting::Nothing) {
            report.errors = self.current_problems().await?;
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        if report.added + report.updated + report.removed > 0 {
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

    /// Plans under the lock: commits what needs no extraction, starts the extractions no
    /// one runs yet, and returns the ends the request waits for.
    async fn plan_and_dispatch(
        self: &Arc<Self>,
        request: &ScanRequest,
    ) -> Result<(ScanReport, Vec<signal::Receiver<bool>>), ScanError> {
        let _writing = self.writing.lock().await;
        let repo = self.config.scripts_repo.clone();
        let found = tokio::task::spawn_blocking(move || discover::discover(&repo))
            .await
            .map_err(|e| ScanError::Task(e.to_string()))??;
        let index = self.catalog.script_index().await?;
        let mut plan = Plan::new(found, index, request.force);
        let reinstalled =
            |s: &FoundScript| s.deps.key().is_some_and(|k| request.installed.contains(&k));
        if !request.installed.is_empty() {
            plan.reextract(reinstalled);
        }
        self.found.store(plan.actions.len(), Ordering::Relaxed);
        let current: HashMap<&str, &str> = plan
            .actions
            .iter()
            .map(|(s, _)| (s.path.as_str(), s.file_hash.as_str()))
            .collect();
        self.jobs.cancel_stale(&current);
        let declared = deps_sync::declared(&plan);
        let to_extract = plan.to_extract();
        let mut report = self.apply_known(plan).await?;
        let mut waits = Vec::new();
        for script in to_extract {
            let wanted = match &request.waiting {
                Waiting::All => true,
                Waiting::Path(path) => *path == script.path,
                Waiting::Nothing => false,
            };
            let afresh = reinstalled(&script);
            let done = match self.jobs.claim(&script.path, &script.file_hash, afresh) {
                Claim::Joined(done) => done,
                Claim::Started(ticket, done) => {
                    report.extracted += 1;
                    tokio::spawn(
                        self.clone()
                            .extract_and_commit(script, ticket, request.lane),
                    );
                    done
                }
            };
            if wanted {
                waits.push(done);
            }
        }
        if let Some(deps) = &self.deps {
            deps.sync_scan(declared).await?;
        }
        Ok((report, waits))
    }

    /// One extraction on the pool, its result committed as soon as it is known.
    async fn extract_and_commit(self: Arc<Self>, script: FoundScript, ticket: Ticket, lane: Lane) {
        let extraction = self.extractor.extract(&script, &ticket.cancel);
        let Some(loaded) = self.pool.run(lane, &ticket.cancel, extraction).await else {
            let _ = ticket.done.send(true);
            return;
        };
        self.commit(Finished {
            script,
            id: ticket.id,
            loaded: loaded.map(|map| map.to_value()),
            done: ticket.done,
        })
        .await;
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
}
