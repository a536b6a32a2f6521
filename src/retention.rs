//! Keeps the run history bounded: finished runs older than `run_retention_days`, and each
//! script's oldest runs beyond `max_runs_per_script`, are deleted with their folders.
//! A pass runs at start, every hour, whenever those settings change, and on request.
//! Queued and running runs are never pruned.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, CatalogError, PrunedRun};
use crate::runner::RunDir;
use crate::settings::{Effective, Settings};

/// How often the scheduled pass runs.
pub const EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("run folder removal failed: {0}")]
    Task(String),
}

/// What one pass prunes; `None` leaves that criterion out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Finished runs that ended at least this long ago.
    pub older_than: Option<Duration>,
    /// Finished runs beyond each script's newest N.
    pub max_runs_per_script: Option<u64>,
}

impl Policy {
    /// The policy the settings ask for (their 0 means "off").
    pub fn from_settings(settings: &Effective) -> Policy {
        Policy {
            older_than: settings.run_retention,
            max_runs_per_script: settings.max_runs_per_script,
        }
    }

    pub fn older_than_days(days: u64) -> Option<Duration> {
        Some(Duration::from_secs(days.saturating_mul(86_400)))
    }

    fn is_off(&self) -> bool {
        self.older_than.is_none() && self.max_runs_per_script.is_none()
    }
}

/// What a pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub runs_deleted: u64,
    pub folders_removed: u64,
    pub bytes_freed: u64,
}

/// Prunes the run history; shared by the schedule and the API.
pub struct Retention {
    catalog: Catalog,
    settings: Arc<Settings>,
    runs_dir: PathBuf,
}

impl Retention {
    pub fn new(catalog: Catalog, settings: Arc<Settings>, runs_dir: PathBuf) -> Retention {
        Retention {
            catalog,
            settings,
            runs_dir,
        }
    }

    /// The policy in force now.
    pub fn policy(&self) -> Policy {
        Policy::from_settings(&self.settings.current())
    }

    /// One pass: deletes the rows first (so nothing points at a folder being removed),
    /// then their folders.
    pub async fn prune(&self, policy: Policy) -> Result<Pruned, RetentionError> {
        let mut runs = Vec::new();
        if let Some(age) = policy.older_than {
            runs.extend(self.catalog.delete_runs_older_than(age).await?);
        }
        if let Some(keep) = policy.max_runs_per_script {
            runs.extend(self.catalog.delete_runs_beyond_cap(keep).await?);
        }
        let runs_deleted = runs.len() as u64;
        let runs_dir = self.runs_dir.clone();
        let (folders_removed, bytes_freed) =
            tokio::task::spawn_blocking(move || remove_folders(&runs_dir, &runs))
                .await
                .map_err(|e| RetentionError::Task(e.to_string()))?;
        Ok(Pruned {
            runs_deleted,
            folders_removed,
            bytes_freed,
        })
    }

    /// Prunes now, then every `every`, and whenever the retention settings change, until
    /// `shutdown` is cancelled.
    pub fn schedule(
        self: &Arc<Self>,
        every: Duration,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        let retention = self.clone();
        let mut changes = self.settings.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut last = None;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let policy = Policy::from_settings(&changes.borrow_and_update());
                        if Some(policy) == last {
                            continue;
                        }
                    }
                }
                let policy = retention.policy();
                last = Some(policy);
                retention.scheduled_pass(policy).await;
            }
        })
    }

    async fn scheduled_pass(&self, policy: Policy) {
        if policy.is_off() {
            return;
        }
        match self.prune(policy).await {
            Ok(pruned) if pruned.runs_deleted > 0 => tracing::info!(
                runs = pruned.runs_deleted,
                folders = pruned.folders_removed,
                bytes = pruned.bytes_freed,
                "old runs pruned"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the scheduled retention pass failed"),
        }
    }
}

/// Removes each pruned run's folder; returns (folders removed, bytes freed). A recorded
/// folder outside `runs_dir` is never touched: `runs_dir/<id>` is removed instead.
fn remove_folders(runs_dir: &Path, runs: &[PrunedRun]) -> (u64, u64) {
    let mut removed = 0;
    let mut freed = 0;
    for run in runs {
        let folder = run
            .run_dir
            .as_deref()
            .map(PathBuf::from)
            .filter(|p| p.starts_with(runs_dir) && p != runs_dir)
            .unwrap_or_else(|| RunDir::new(runs_dir, run.id).root);
        let size = size_of(&folder);
        match std::fs::remove_dir_all(&folder) {
            Ok(()) => {
                removed += 1;
                freed += size;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(
                run_id = run.id,
                folder = %folder.display(),
                %error,
                "cannot remove a pruned run's folder"
            ),
        }
    }
    (removed, freed)
}

/// The bytes of the files under `path` (symlinks are not followed).
fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| size_of(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pruned(id: i64, run_dir: Option<&Path>) -> PrunedRun {
        PrunedRun {
            id,
            run_dir: run_dir.map(|p| p.display().to_string()),
        }
    }

    #[test]
    fn folders_are_removed_inside_the_runs_folder_only() {
        let root = tempfile::tempdir().unwrap();
        let runs_dir = root.path().join("runs");
        let outside = root.path().join("precious");
        for (dir, bytes) in [(runs_dir.join("1/work"), 5), (runs_dir.join("2"), 7)] {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("f"), vec![0u8; bytes]).unwrap();
        }
        std::fs::create_dir_all(&outside).unwrap();
        let runs = [
            pruned(1, Some(&runs_dir.join("1"))),
            pruned(2, Some(&outside)),
            pruned(3, None),
            pruned(4, Some(&runs_dir)),
        ];
        assert_eq!(remove_folders(&runs_dir, &runs), (2, 12));
        assert!(!runs_dir.join("1").exists() && !runs_dir.join("2").exists());
        assert!(outside.exists() && runs_dir.exists());
    }
}
