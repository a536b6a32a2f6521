//! Keeps the scripts' `deps_*` columns in step with their dependency files after a scan,
//! and starts background installs for sets that are neither installed nor known to fail.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::{CacheStatus, DepCache, ScriptDepsState};
use crate::domain::Runtime;

use super::install::Trigger;
use super::locate::Declared;
use super::set::{DepSet, DepsKey};
use super::{DepsError, DepsManager};

/// A scanned script and what it declares.
#[derive(Debug, Clone)]
pub struct ScriptDeclared {
    pub path: String,
    pub runtime: Runtime,
    pub declared: Declared,
}

impl DepsManager {
    /// Records what every scanned script declares and starts the installs that are due.
    /// A set whose install failed is not retried until its file changes (or a forced
    /// reinstall); the status each script shows is written before this returns.
    pub async fn sync_scan(
        self: &Arc<Self>,
        scripts: Vec<ScriptDeclared>,
    ) -> Result<(), DepsError> {
        for set in self.record_states(scripts).await? {
            self.spawn_install(set, Trigger::Scan);
        }
        Ok(())
    }

    /// Writes each script's dependency columns; returns the sets that need an install.
    pub(super) async fn record_states(
        &self,
        scripts: Vec<ScriptDeclared>,
    ) -> Result<Vec<DepSet>, DepsError> {
        let stored: HashMap<String, ScriptDepsState> = self
            .catalog
            .script_deps_rows()
            .await?
            .into_iter()
            .map(|row| (row.path, row.state))
            .collect();
        let caches: HashMap<DepsKey, DepCache> =
            match scripts.iter().any(|s| s.declared.hash().is_some()) {
                true => self
                    .catalog
                    .dep_caches()
                    .await?
                    .into_iter()
                    .map(|c| (key_of(&c), c))
                    .collect(),
                false => HashMap::new(),
            };
        let mut due: HashMap<DepsKey, DepSet> = HashMap::new();
        let mut changes = Vec::new();
        for script in scripts {
            let desired = self.desired_state(&script.declared, &caches, &mut due);
            if stored.get(&script.path) != Some(&desired) {
                changes.push((script.path, desired));
            }
        }
        if !changes.is_empty() {
            self.catalog.set_script_deps(changes).await?;
        }
        Ok(due.into_values().collect())
    }

    fn desired_state(
        &self,
        declared: &Declared,
        caches: &HashMap<DepsKey, DepCache>,
        due: &mut HashMap<DepsKey, DepSet>,
    ) -> ScriptDepsState {
        let file = declared.file.clone();
        let set = match &declared.set {
            Err(reason) => return state(file, None, CacheStatus::Failed, Some(reason.clone())),
            Ok(None) => {
                return ScriptDepsState {
                    file,
                    ..ScriptDepsState::default()
                }
            }
            Ok(Some(set)) => set,
        };
        let key = set.key();
        let known = caches.get(&key);
        let hash = Some(set.hash.clone());
        if self.store.is_complete(&key) {
            if known.is_none_or(|c| c.status != CacheStatus::Ready) {
                due.insert(key, set.clone()); // records it as ready; installs nothing
            }
            return state(file, hash, CacheStatus::Ready, None);
        }
        match known {
            Some(c) if c.status == CacheStatus::Failed && !self.is_pending(&key) => {
                state(file, hash, CacheStatus::Failed, c.error.clone())
            }
            _ => {
                due.insert(key, set.clone());
                state(file, hash, CacheStatus::Installing, None)
            }
        }
    }
}

fn state(
    file: Option<String>,
    hash: Option<String>,
    status: CacheStatus,
    error: Option<String>,
) -> ScriptDepsState {
    ScriptDepsState {
        file,
        hash,
        status: Some(status.as_str().to_string()),
        error,
    }
}

fn key_of(cache: &DepCache) -> DepsKey {
    DepsKey {
        runtime: cache.runtime,
        hash: cache.hash.clone(),
    }
}
