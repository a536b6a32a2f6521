//! Making sure a set is installed: one install per key at a time, a finished cache reused,
//! a failure remembered until the set changes or a reinstall is forced.

use std::sync::Arc;
use std::time::Instant;

use crate::catalog::{CacheStatus, InstallEnd, NewInstall};
use crate::domain::Runtime;
use crate::process;

use super::installer::{self, InstallCommand};
use super::set::DepSet;
use super::store;
use super::{DepsError, DepsManager};

/// Who asked for an install (kept in the install log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Scan,
    Run,
    Api,
    Shared,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Scan => "scan",
            Trigger::Run => "run",
            Trigger::Api => "api",
            Trigger::Shared => "shared",
        }
    }
}

/// How an install request ended.
#[derive(Debug, Clone)]
pub struct InstallReport {
    pub runtime: Runtime,
    pub hash: String,
    /// `ready` or `failed`.
    pub status: &'static str,
    /// Nothing was installed: the cache was already complete, or the failure is remembered.
    pub reused: bool,
    pub error: Option<String>,
    /// `uv`, `pip` or `npm`, when an installer ran.
    pub installer: Option<&'static str>,
    pub duration_ms: Option<i64>,
    /// The installer's full output, when it ran (or the remembered failure's).
    pub log: Option<String>,
}

impl InstallReport {
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }

    fn finished(
        set: &DepSet,
        end: &InstallEnd,
        installer: Option<&'static str>,
        duration_ms: i64,
        log: String,
    ) -> InstallReport {
        let (status, error) = match end {
            InstallEnd::Ready { .. } => (CacheStatus::Ready, None),
            InstallEnd::Failed { error, .. } => (CacheStatus::Failed, Some(error.clone())),
        };
        InstallReport {
            runtime: set.runtime,
            hash: set.hash.clone(),
            status: status.as_str(),
            reused: false,
            error,
            installer,
            duration_ms: Some(duration_ms),
            log: Some(log),
        }
    }

    fn reused(
        set: &DepSet,
        status: CacheStatus,
        error: Option<String>,
        log: Option<String>,
    ) -> InstallReport {
        InstallReport {
            runtime: set.runtime,
            hash: set.hash.clone(),
            status: status.as_str(),
            reused: true,
            error,
            installer: None,
            duration_ms: None,
            log,
        }
    }
}

impl DepsManager {
    /// Installs `set` unless its cache is complete (or its failure is remembered and
    /// `force` is off). Callers for the same key wait for each other.
    pub async fn ensure(
        self: &Arc<Self>,
        set: &DepSet,
        trigger: Trigger,
        force: bool,
    ) -> Result<InstallReport, DepsError> {
        let key = set.key();
        let lock = self.lock_for(&key);
        let _one_at_a_time = lock.lock().await;
        if !force {
            if self.store.is_complete(&key) {
                let dir = self.store.dir(&key).display().to_string();
                self.catalog
                    .mark_dep_cache_found(key.runtime, key.hash.clone(), set.entries.clone(), dir)
                    .await?;
                return Ok(InstallReport::reused(set, CacheStatus::Ready, None, None));
            }
            let known = self
                .catalog
                .dep_cache(key.runtime, key.hash.clone())
                .await?;
            if let Some(failed) = known.filter(|c| c.status == CacheStatus::Failed) {
                let (last, _) = self
                    .catalog
                    .last_dep_install(key.runtime, key.hash.clone())
                    .await?;
                let log = last.and_then(|l| l.log);
                return Ok(InstallReport::reused(
                    set,
                    CacheStatus::Failed,
                    failed.error,
                    log,
                ));
            }
        }
        let _slot = self
            .installs
            .acquire()
            .await
            .expect("the install semaphore is never closed");
        self.install(set, trigger).await
    }

    /// Starts `ensure` in the background unless one is already under way for the key.
    pub(super) fn spawn_install(self: &Arc<Self>, set: DepSet, trigger: Trigger) {
        let key = set.key();
        let fresh = self
            .pending
            .lock()
            .expect("the pending set is never poisoned")
            .insert(key.clone());
        if !fresh {
            return;
        }
        let manager = self.clone();
        tokio::spawn(async move {
            if let Err(error) = manager.ensure(&set, trigger, false).await {
                tracing::error!(%error, key = %key, "background dependency install failed");
            }
            manager
                .pending
                .lock()
                .expect("the pending set is never poisoned")
                .remove(&key);
        });
    }

    pub(super) fn is_pending(&self, key: &super::DepsKey) -> bool {
        self.pending
            .lock()
            .expect("the pending set is never poisoned")
            .contains(key)
    }

    /// Runs the installer into a temporary folder and commits it. Call with the key's lock held.
    async fn install(&self, set: &DepSet, trigger: Trigger) -> Result<InstallReport, DepsError> {
        let key = set.key();
        let started = Instant::now();
        let built = {
            let key = key.clone();
            self.blocking(move |store| store.temp_dir(&key)).await??
        };
        let command = self.prepare_command(set, &built).await;
        let log_id = self.begin(set, trigger, &command).await?;
        let (outcome, log, tool) = match command {
            Ok(command) => self.run_installer(set, command).await,
            Err(reason) => (Err(reason.clone()), reason, None),
        };
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let end = self.settle(set, &built, outcome).await?;
        let report = InstallReport::finished(set, &end, tool, duration_ms, log.clone());
        crate::metrics::dependency_installed(key.runtime.as_str(), report.status);
        let (runtime, hash) = (key.runtime, key.hash.clone());
        self.catalog
            .finish_dep_install(runtime, hash, log_id, end, log, duration_ms)
            .await?;
        if report.is_ready() {
            let _ = self.finished.send(key.clone());
            if key.runtime == Runtime::Python {
                self.spawn_bytecode(&key);
            }
        }
        tracing::info!(key = %key, status = report.status, duration_ms, "dependency install finished");
        Ok(report)
    }

    /// Compiles a ready cache's modules in the background; a failure (a package may ship
    /// files that are not valid Python 3) only costs runs their import from source.
    fn spawn_bytecode(&self, key: &super::DepsKey) {
        let dir = self.store.dir(key);
        let spec = match self.installer.bytecode_command(&dir) {
            Ok(spec) => spec,
            Err(reason) => {
                tracing::warn!(key = %key, %reason, "cannot compile a cache's bytecode");
                return;
            }
        };
        let key = key.clone();
        tokio::spawn(async move {
            match process::run(&spec, None).await {
                Ok(output) if output.success() => {
                    tracing::debug!(key = %key, "cache bytecode written")
                }
                Ok(output) => tracing::debug!(
                    key = %key,
                    stderr = %output.stderr_tail(2000),
                    "compileall left some modules uncompiled"
                ),
                Err(error) => {
                    tracing::warn!(key = %key, %error, "cannot compile a cache's bytecode")
                }
            }
        });
    }

    /// Records the start of an install (the set, its folder and the command line).
    async fn begin(
        &self,
        set: &DepSet,
        trigger: Trigger,
        command: &Result<InstallCommand, String>,
    ) -> Result<i64, DepsError> {
        let key = set.key();
        let display = match command {
            Ok(command) => command.display.clone(),
            Err(reason) => format!("(not started: {reason})"),
        };
        tracing::info!(key = %key, trigger = trigger.as_str(), "installing dependencies");
        let install = NewInstall {
            runtime: key.runtime,
            hash: key.hash.clone(),
            deps: set.entries.clone(),
            cache_dir: self.store.dir(&key).display().to_string(),
            trigger: trigger.as_str(),
            command: display,
        };
        Ok(self.catalog.begin_dep_install(install).await?)
    }

    async fn prepare_command(
        &self,
        set: &DepSet,
        built: &std::path::Path,
    ) -> Result<InstallCommand, String> {
        if set.runtime == Runtime::Js {
            let (set, target) = (set.clone(), built.to_path_buf());
            self.blocking(move |_| installer::write_manifest(&set, &target))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("cannot write the package.json to install from: {e}"))?;
        }
        self.installer.command(set, built)
    }

    async fn run_installer(
        &self,
        set: &DepSet,
        command: InstallCommand,
    ) -> (Result<(), String>, String, Option<&'static str>) {
        match process::run(&command.spec, None).await {
            Ok(output) => {
                let log = installer::log_text(&command.display, &output);
                (
                    installer::judge(set, command.tool, &output),
                    log,
                    Some(command.tool),
                )
            }
            Err(error) => {
                let reason = format!("{} could not be started: {error}", command.tool);
                (
                    Err(reason.clone()),
                    format!("$ {}\n{reason}\n", command.display),
                    Some(command.tool),
                )
            }
        }
    }

    /// Commits a successful build, or discards a failed one.
    async fn settle(
        &self,
        set: &DepSet,
        built: &std::path::Path,
        outcome: Result<(), String>,
    ) -> Result<InstallEnd, DepsError> {
        let (key, built) = (set.key(), built.to_path_buf());
        let marker = serde_json::json!({"hash": set.hash, "deps": set.entries}).to_string();
        let committed = self
            .blocking(move |store| match outcome {
                Ok(()) => store
                    .commit(&key, &built, &marker)
                    .map(|()| Ok(store::size_of(&store.dir(&key)))),
                Err(reason) => {
                    let _ = std::fs::remove_dir_all(&built);
                    Ok(Err((reason, store.is_complete(&key))))
                }
            })
            .await??;
        Ok(match committed {
            Ok(size) => InstallEnd::Ready {
                size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            },
            Err((error, cache_still_ready)) => InstallEnd::Failed {
                error,
                cache_still_ready,
            },
        })
    }
}
