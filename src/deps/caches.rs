//! Every cache with its size and users, and the removal of unused old ones.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::catalog::DepCache;
use crate::domain::Runtime;

use super::set::DepsKey;
use super::{DepsError, DepsManager};

/// A script using a cache.
#[derive(Debug, Clone)]
pub struct CacheUser {
    pub id: i64,
    pub path: String,
}

/// One cache: its set, state on disk, users and age.
#[derive(Debug, Clone)]
pub struct CacheState {
    pub runtime: Runtime,
    pub hash: String,
    /// `installing`, `ready`, `failed`, or `unrecorded` (on disk, unknown to the catalog).
    pub status: String,
    pub deps: Vec<String>,
    pub cache_dir: String,
    pub on_disk: bool,
    pub size_bytes: Option<i64>,
    pub scripts: Vec<CacheUser>,
    /// The shared set of its runtime.
    pub shared: bool,
    /// Runs are using it right now.
    pub active_runs: bool,
    pub created_at: Option<String>,
    pub installed_at: Option<String>,
    pub last_used_at: Option<String>,
    pub idle_days: f64,
    pub error: Option<String>,
}

impl CacheState {
    fn in_use(&self) -> bool {
        !self.scripts.is_empty() || self.shared || self.active_runs
    }
}

/// What a cleanup removed and kept.
#[derive(Debug, Clone)]
pub struct CleanupReport {
    pub older_than_days: f64,
    pub removed: Vec<RemovedCache>,
    pub freed_bytes: u64,
    /// Caches kept because a script, the shared set or a run uses them.
    pub kept_in_use: usize,
    /// Unused caches kept because they were used more recently than the limit.
    pub kept_recent: usize,
}

#[derive(Debug, Clone)]
pub struct RemovedCache {
    pub runtime: Runtime,
    pub hash: String,
    pub size_bytes: u64,
}

impl DepsManager {
    /// Every cache the catalog knows or the disk holds.
    pub async fn cache_status(&self) -> Result<Vec<CacheState>, DepsError> {
        let rows = self.catalog.dep_caches().await?;
        let users = self.catalog.script_deps_rows().await?;
        let disk = self.blocking(|store| DiskState::read(&store)).await?;
        let mut views: BTreeMap<DepsKey, CacheState> = BTreeMap::new();
        for row in rows {
            views.insert(
                DepsKey {
                    runtime: row.runtime,
                    hash: row.hash.clone(),
                },
                self.view_of(row),
            );
        }
        for (key, idle_days) in &disk.caches {
            let view = views
                .entry(key.clone())
                .or_insert_with(|| self.unrecorded(key, *idle_days));
            view.on_disk = true;
        }
        for user in users {
            let Some(hash) = user.state.hash else {
                continue;
            };
            let key = DepsKey {
                runtime: user.runtime,
                hash,
            };
            if let Some(view) = views.get_mut(&key) {
                view.scripts.push(CacheUser {
                    id: user.id,
                    path: user.path,
                });
            }
        }
        for (key, view) in &mut views {
            view.shared = disk.shared.contains(key);
            view.active_runs = self.leases.in_use(key);
        }
        Ok(views.into_values().collect())
    }

    fn view_of(&self, row: DepCache) -> CacheState {
        CacheState {
            runtime: row.runtime,
            hash: row.hash,
            status: row.status.as_str().to_string(),
            deps: row.deps,
            cache_dir: row.cache_dir,
            on_disk: false,
            size_bytes: row.size_bytes,
            scripts: Vec::new(),
            shared: false,
            active_runs: false,
            created_at: Some(row.created_at),
            installed_at: row.installed_at,
            last_used_at: row.last_used_at,
            idle_days: row.idle_days.max(0.0),
            error: row.error,
        }
    }

    fn unrecorded(&self, key: &DepsKey, idle_days: f64) -> CacheState {
        CacheState {
            runtime: key.runtime,
            hash: key.hash.clone(),
            status: "unrecorded".into(),
            deps: Vec::new(),
            cache_dir: self.store.dir(key).display().to_string(),
            on_disk: true,
            size_bytes: None,
            scripts: Vec::new(),
            shared: false,
            active_runs: false,
            created_at: None,
            installed_at: None,
            last_used_at: None,
            idle_days,
            error: None,
        }
    }

    /// Removes caches no script, shared set or run uses and that were idle at least
    /// `older_than`; a cache being installed or used is never touched.
    pub async fn cleanup(
        self: &Arc<Self>,
        older_than: Duration,
    ) -> Result<CleanupReport, DepsError> {
        let limit_days = older_than.as_secs_f64() / 86_400.0;
        let mut report = CleanupReport {
            older_than_days: limit_days,
            removed: Vec::new(),
            freed_bytes: 0,
            kept_in_use: 0,
            kept_recent: 0,
        };
        for cache in self.cache_status().await? {
            if cache.in_use() {
                report.kept_in_use += 1;
            } else if cache.idle_days < limit_days {
                report.kept_recent += 1;
            } else {
                let key = DepsKey {
                    runtime: cache.runtime,
                    hash: cache.hash,
                };
                match self.remove_cache(&key).await? {
                    Some(size_bytes) => {
                        report.freed_bytes += size_bytes;
                        report.removed.push(RemovedCache {
                            runtime: key.runtime,
                            hash: key.hash,
                            size_bytes,
                        });
                    }
                    None => report.kept_in_use += 1,
                }
            }
        }
        Ok(report)
    }

    /// Removes one cache unless an install or a run holds it; `None` when it was busy.
    async fn remove_cache(&self, key: &DepsKey) -> Result<Option<u64>, DepsError> {
        let lock = self.lock_for(key);
        let Ok(_installing) = lock.try_lock() else {
            return Ok(None);
        };
        if self.is_pending(key) || !self.leases.retire(key) {
            return Ok(None);
        }
        let target = key.clone();
        let removed = self.blocking(move |store| store.remove(&target)).await;
        self.leases.unretire(key);
        let size = removed??;
        self.catalog
            .delete_dep_cache(key.runtime, key.hash.clone())
            .await?;
        tracing::info!(key = %key, size, "unused dependency cache removed");
        Ok(Some(size))
    }
}

/// The caches on disk (with their idle days) and the shared sets' targets.
struct DiskState {
    caches: Vec<(DepsKey, f64)>,
    shared: HashSet<DepsKey>,
}

impl DiskState {
    fn read(store: &super::store::CacheStore) -> DiskState {
        let caches = store.list().into_iter().map(|k| {
            let idle = idle_days_of(&store.dir(&k));
            (k, idle)
        });
        let shared = Runtime::ALL.into_iter().filter_map(|runtime| {
            let hash = store.shared_hash(runtime)?;
            Some(DepsKey { runtime, hash })
        });
        DiskState {
            caches: caches.collect(),
            shared: shared.collect(),
        }
    }
}

/// Days since a folder was last modified (for caches the catalog does not know).
fn idle_days_of(dir: &std::path::Path) -> f64 {
    let modified = std::fs::metadata(dir).and_then(|m| m.modified());
    let age = modified
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok());
    age.map_or(0.0, |a| a.as_secs_f64() / 86_400.0)
}
