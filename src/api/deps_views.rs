//! What the shared-dependency and cache routes read and answer, built from the `deps`
//! domain types.

use serde::{Deserialize, Serialize};

use crate::deps::{
    CacheState, CacheUser, CleanupReport, InstallReport, RemovedCache, SharedDep, SharedInstall,
    SharedPackage, SharedSet,
};
use crate::domain::Runtime;

/// `POST /api/deps/install`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = SharedRequest)]
pub struct SharedInstallRequest {
    pub runtime: String,
    pub deps: Vec<SharedDepRequest>,
    /// Replace the whole shared set instead of adding to it.
    #[serde(default)]
    pub replace: bool,
    /// Install again even when this set is installed, or its failure is remembered.
    #[serde(default)]
    pub force: bool,
}

impl From<SharedInstallRequest> for SharedInstall {
    fn from(r: SharedInstallRequest) -> SharedInstall {
        SharedInstall {
            runtime: r.runtime,
            deps: r.deps.into_iter().map(SharedDep::from).collect(),
            replace: r.replace,
            force: r.force,
        }
    }
}

/// A package and its version (`1.2.3`, `>=1,<2`, `^9.0.1`; empty for any).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = SharedDep)]
pub struct SharedDepRequest {
    pub name: String,
    #[serde(default)]
    pub version: String,
}

impl From<SharedDepRequest> for SharedDep {
    fn from(r: SharedDepRequest) -> SharedDep {
        SharedDep {
            name: r.name,
            version: r.version,
        }
    }
}

/// The shared set of one runtime.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SharedDepsView {
    #[schema(value_type = String, example = "python")]
    pub runtime: Runtime,
    pub hash: Option<String>,
    pub cache_dir: String,
    pub deps: Vec<SharedPackageView>,
}

impl From<SharedSet> for SharedDepsView {
    fn from(s: SharedSet) -> SharedDepsView {
        SharedDepsView {
            runtime: s.runtime,
            hash: s.hash,
            cache_dir: s.cache_dir,
            deps: s.deps.into_iter().map(SharedPackageView::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SharedPackage)]
pub struct SharedPackageView {
    pub name: String,
    /// As requested: the normalised entry.
    pub requested: String,
    /// What is installed, when it can be read.
    pub installed_version: Option<String>,
}

impl From<SharedPackage> for SharedPackageView {
    fn from(p: SharedPackage) -> SharedPackageView {
        SharedPackageView {
            name: p.name,
            requested: p.requested,
            installed_version: p.installed_version,
        }
    }
}

/// How an install request ended.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = InstallReport)]
pub struct InstallReportView {
    #[schema(value_type = String, example = "python")]
    pub runtime: Runtime,
    pub hash: String,
    /// `ready` or `failed`.
    #[schema(value_type = String)]
    pub status: &'static str,
    /// Nothing was installed: the cache was already complete, or the failure is remembered.
    pub reused: bool,
    pub error: Option<String>,
    /// `uv`, `pip` or `npm`, when an installer ran.
    #[schema(value_type = Option<String>)]
    pub installer: Option<&'static str>,
    pub duration_ms: Option<i64>,
    /// The installer's full output, when it ran (or the remembered failure's).
    pub log: Option<String>,
}

impl From<InstallReport> for InstallReportView {
    fn from(r: InstallReport) -> InstallReportView {
        InstallReportView {
            runtime: r.runtime,
            hash: r.hash,
            status: r.status,
            reused: r.reused,
            error: r.error,
            installer: r.installer,
            duration_ms: r.duration_ms,
            log: r.log,
        }
    }
}

/// A script using a cache.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = CacheUser)]
pub struct CacheUserView {
    pub id: i64,
    pub path: String,
}

/// One cache, as `GET /api/dependencies/cache/status` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CacheView {
    #[schema(value_type = String, example = "python")]
    pub runtime: Runtime,
    pub hash: String,
    /// `installing`, `ready`, `failed`, or `unrecorded` (on disk, unknown to the catalog).
    pub status: String,
    pub deps: Vec<String>,
    pub cache_dir: String,
    pub on_disk: bool,
    pub size_bytes: Option<i64>,
    pub scripts: Vec<CacheUserView>,
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

impl From<CacheState> for CacheView {
    fn from(c: CacheState) -> CacheView {
        CacheView {
            runtime: c.runtime,
            hash: c.hash,
            status: c.status,
            deps: c.deps,
            cache_dir: c.cache_dir,
            on_disk: c.on_disk,
            size_bytes: c.size_bytes,
            scripts: c
                .scripts
                .into_iter()
                .map(|u: CacheUser| CacheUserView {
                    id: u.id,
                    path: u.path,
                })
                .collect(),
            shared: c.shared,
            active_runs: c.active_runs,
            created_at: c.created_at,
            installed_at: c.installed_at,
            last_used_at: c.last_used_at,
            idle_days: c.idle_days,
            error: c.error,
        }
    }
}

/// What a cleanup removed and kept.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CleanupView {
    pub older_than_days: f64,
    pub removed: Vec<RemovedCacheView>,
    pub freed_bytes: u64,
    /// Caches kept because a script, the shared set or a run uses them.
    pub kept_in_use: usize,
    /// Unused caches kept because they were used more recently than the limit.
    pub kept_recent: usize,
}

impl From<CleanupReport> for CleanupView {
    fn from(r: CleanupReport) -> CleanupView {
        CleanupView {
            older_than_days: r.older_than_days,
            removed: r
                .removed
                .into_iter()
                .map(|c: RemovedCache| RemovedCacheView {
                    runtime: c.runtime,
                    hash: c.hash,
                    size_bytes: c.size_bytes,
                })
                .collect(),
            freed_bytes: r.freed_bytes,
            kept_in_use: r.kept_in_use,
            kept_recent: r.kept_recent,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = RemovedCache)]
pub struct RemovedCacheView {
    #[schema(value_type = String, example = "python")]
    pub runtime: Runtime,
    pub hash: String,
    pub size_bytes: u64,
}
