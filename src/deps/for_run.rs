//! The dependency environment of a run and of a schema extraction.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::catalog::Script;
use crate::domain::Runtime;

use super::env::{self, RunDeps};
use super::install::Trigger;
use super::locate::{self, Declared};
use super::set::{DepSet, DepsKey};
use super::{DepsError, DepsManager};

/// How often a cache's `last_used_at` is written at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

impl DepsManager {
    /// The environment a run of `script` needs: its cache (installed first if missing; a
    /// second run of the same set waits for the first install) ahead of the shared set.
    /// Fails with [`DepsError::InstallFailed`] when the set cannot be installed, naming the
    /// package and carrying the installer's output. An already installed set costs one
    /// `stat`. Keep the returned value alive until the run's process has exited.
    pub async fn prepare_for_run(self: &Arc<Self>, script: &Script) -> Result<RunDeps, DepsError> {
        let hash = match (&script.deps_hash, script.deps_status.as_deref()) {
            (None, Some("failed")) => return Err(self.failure_of(script).await?),
            (None, _) => return Ok(self.run_deps(script, None)),
            (Some(hash), _) => hash.clone(),
        };
        let key = DepsKey {
            runtime: script.runtime,
            hash,
        };
        if script.deps_status.as_deref() != Some("failed") {
            if let Some(ready) = self.ready_deps(script, &key) {
                return Ok(ready);
            }
        }
        let set = self.set_of(script, &key).await?;
        let report = self.ensure(&set, Trigger::Run, false).await?;
        if !report.is_ready() {
            return Err(DepsError::InstallFailed {
                path: script.path.clone(),
                reason: report.error.unwrap_or_else(|| "the install failed".into()),
                log: report.log.map(|l| tail(&l)).unwrap_or_default(),
            });
        }
        self.ready_deps(script, &key)
            .ok_or_else(|| DepsError::InstallFailed {
                path: script.path.clone(),
                reason: "the cache was removed while the run was starting; try again".into(),
                log: String::new(),
            })
    }

    /// Refuses at once a script whose dependencies are known to be unusable (a malformed
    /// file, or an install that failed and is remembered); never installs or waits. Call it
    /// before a run is accepted, so such a request gets a clear error and records no run.
    pub async fn check_runnable(&self, script: &Script) -> Result<(), DepsError> {
        if script.deps_status.as_deref() != Some("failed") {
            return Ok(());
        }
        let Some(hash) = script.deps_hash.clone() else {
            return Err(self.failure_of(script).await?);
        };
        if self.store.is_complete(&DepsKey {
            runtime: script.runtime,
            hash: hash.clone(),
        }) {
            return Ok(());
        }
        let cache = self.catalog.dep_cache(script.runtime, hash.clone()).await?;
        let (last, _) = self.catalog.last_dep_install(script.runtime, hash).await?;
        Err(DepsError::InstallFailed {
            path: script.path.clone(),
            reason: cache
                .and_then(|c| c.error)
                .unwrap_or_else(|| "the install failed".into()),
            log: last
                .and_then(|l| l.log)
                .map(|l| tail(&l))
                .unwrap_or_default(),
        })
    }

    /// The run environment when the cache is complete (leased), else `None`.
    fn ready_deps(&self, script: &Script, key: &DepsKey) -> Option<RunDeps> {
        let lease = self.leases.acquire(key)?;
        if !self.store.is_complete(key) {
            return None;
        }
        self.touch(key);
        let dir = self.store.dir(key);
        let env = self.env_for(
            script.runtime,
            &self.scripts_repo.join(&script.path),
            Some(&dir),
        );
        Some(RunDeps::new(
            Some(key.hash.clone()),
            Some(dir),
            env,
            Some(lease),
        ))
    }

    fn run_deps(&self, script: &Script, cache: Option<&Path>) -> RunDeps {
        let env = self.env_for(script.runtime, &self.scripts_repo.join(&script.path), cache);
        RunDeps::new(None, None, env, None)
    }

    /// The variables for a script file with an optional cache folder, plus the shared set.
    pub(super) fn env_for(
        &self,
        runtime: Runtime,
        script_file: &Path,
        cache: Option<&Path>,
    ) -> Vec<(OsString, OsString)> {
        let esm = runtime == Runtime::Js && env::is_es_module(&self.scripts_repo, script_file);
        self.env_with(runtime, cache, esm)
    }

    /// The variables for an optional cache folder and the shared set; `esm_resolve` adds
    /// the hook that lets ES-module `import` find them.
    pub(super) fn env_with(
        &self,
        runtime: Runtime,
        cache: Option<&Path>,
        esm_resolve: bool,
    ) -> Vec<(OsString, OsString)> {
        let shared = self.store.shared_path(runtime);
        let shared = shared
            .join(super::store::MARKER)
            .is_file()
            .then_some(shared.as_path());
        let hook = match runtime {
            Runtime::Js if esm_resolve => self.provided.esm_hook.as_deref(),
            _ => None,
        };
        let provided = env::Provided {
            python: self.provided.python_helpers.as_deref(),
            node_modules: self.provided.node_modules.as_deref(),
        };
        env::deps_env(runtime, cache, shared, hook, provided)
    }

    /// What a schema extraction gets: the script's cache if it is complete (never waits
    /// for an install; the schema is extracted again when it finishes), and the shared set.
    pub fn extraction_env(
        &self,
        runtime: Runtime,
        script_file: &Path,
        declared: &Declared,
    ) -> Vec<(OsString, OsString)> {
        let cache = match &declared.set {
            Ok(Some(set)) if self.store.is_complete(&set.key()) => Some(self.store.dir(&set.key())),
            _ => None,
        };
        self.env_for(runtime, script_file, cache.as_deref())
    }

    /// The set to install for a script: the one recorded for its hash, else re-read from disk.
    async fn set_of(&self, script: &Script, key: &DepsKey) -> Result<DepSet, DepsError> {
        if let Some(cache) = self
            .catalog
            .dep_cache(key.runtime, key.hash.clone())
            .await?
        {
            let set = DepSet::new(key.runtime, cache.deps);
            if set.hash == key.hash {
                return Ok(set);
            }
        }
        let declared = self.declared(script).await?;
        match declared.set {
            Ok(Some(set)) => Ok(set),
            Ok(None) => Err(DepsError::InvalidRequest(format!(
                "{} no longer declares dependencies; rescan first",
                script.path
            ))),
            Err(reason) => Err(DepsError::InstallFailed {
                path: script.path.clone(),
                reason,
                log: String::new(),
            }),
        }
    }

    /// What the script declares on disk now.
    pub(super) async fn declared(&self, script: &Script) -> Result<Declared, DepsError> {
        let (repo, path, runtime, group) = (
            self.scripts_repo.clone(),
            script.path.clone(),
            script.runtime,
            script.group_path.clone(),
        );
        tokio::task::spawn_blocking(move || {
            locate::declared_for(&repo, &repo.join(&path), runtime, group.as_deref())
        })
        .await
        .map_err(|e| DepsError::Task(e.to_string()))
    }

    /// The recorded failure of a script whose dependency file is unusable or failed to install.
    async fn failure_of(&self, script: &Script) -> Result<DepsError, DepsError> {
        let row = self.catalog.script_deps_row(script.id).await?;
        let reason = row
            .and_then(|r| r.state.error)
            .unwrap_or_else(|| "the dependency file is unusable".into());
        Ok(DepsError::InstallFailed {
            path: script.path.clone(),
            reason,
            log: String::new(),
        })
    }

    /// Writes `last_used_at` in the background, at most once a minute per cache.
    pub(super) fn touch(&self, key: &DepsKey) {
        let now = Instant::now();
        {
            let mut touched = self
                .touched
                .lock()
                .expect("the touch table is never poisoned");
            if touched
                .get(key)
                .is_some_and(|t| now.duration_since(*t) < TOUCH_EVERY)
            {
                return;
            }
            touched.insert(key.clone(), now);
        }
        let (catalog, key) = (self.catalog.clone(), key.clone());
        tokio::spawn(async move {
            if let Err(error) = catalog.touch_dep_cache(key.runtime, key.hash).await {
                tracing::warn!(%error, "cannot record when a dependency cache was used");
            }
        });
    }
}

/// The end of an installer's output, small enough for an error body.
pub(super) fn tail(log: &str) -> String {
    crate::process::tail_text(log.as_bytes(), 4000)
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::sync::Arc;
    use std::time::Instant;

    use crate::catalog::builders::script_upsert;
    use crate::catalog::{Catalog, Script, ScriptDepsState};
    use crate::config::DepsSettings;
    use crate::deps::{DepSet, DepsError, DepsManager, DepsParts};
    use crate::domain::Runtime;
    use crate::process::Interpreters;

    struct Fixture {
        _dir: tempfile::TempDir,
        catalog: Catalog,
        deps: Arc<DepsManager>,
        cache_root: std::path::PathBuf,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("gateway.db")).unwrap();
        let path: OsString = "/usr/bin:/bin".into();
        let cache_root = dir.path().join("deps_cache");
        let deps = DepsManager::open(DepsParts {
            catalog: catalog.clone(),
            settings: DepsSettings {
                install_timeout: std::time::Duration::from_secs(5),
                uv: None,
                npm: "npm".into(),
                python_install_args: Vec::new(),
                npm_install_args: Vec::new(),
                installer_env: Vec::new(),
                search_path: vec!["/usr/bin".into(), "/bin".into()],
            },
            interpreters: Arc::new(
                Interpreters::resolve(
                    "python3",
                    "node",
                    &path,
                    &["/usr/bin".into(), "/bin".into()],
                )
                .await,
            ),
            cache_root: cache_root.clone(),
            scripts_repo: dir.path().join("repo"),
            child_path: path,
        })
        .await
        .unwrap();
        Fixture {
            _dir: dir,
            catalog,
            deps,
            cache_root,
        }
    }

    /// A script row with the given dependency columns, as the catalog returns it.
    async fn script(catalog: &Catalog, path: &str, state: ScriptDepsState) -> Script {
        let upsert = script_upsert(path);
        catalog.apply_scan(vec![upsert], Vec::new()).await.unwrap();
        catalog
            .set_script_deps(vec![(path.into(), state)])
            .await
            .unwrap();
        let rows = catalog.script_deps_rows().await.unwrap();
        let id = rows.iter().find(|r| r.path == path).unwrap().id;
        catalog.script(id).await.unwrap().unwrap()
    }

    /// Makes a complete cache for `set` by hand, as a finished install leaves it.
    fn complete_cache(root: &std::path::Path, set: &DepSet) -> std::path::PathBuf {
        let dir = root.join("python").join(&set.hash);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(super::super::store::MARKER), "{}").unwrap();
        dir
    }

    fn ready(set: &DepSet) -> ScriptDepsState {
        ScriptDepsState {
            file: Some("python/a_requirements.txt".into()),
            hash: Some(set.hash.clone()),
            status: Some("ready".into()),
            error: None,
        }
    }

    #[tokio::test]
    async fn a_ready_set_is_a_pythonpath_and_a_lease() {
        let f = fixture().await;
        let set = DepSet::new(Runtime::Python, vec!["sgdemo==1.0".into()]);
        let dir = complete_cache(&f.cache_root, &set);
        let a = script(&f.catalog, "python/a.py", ready(&set)).await;
        let run = f.deps.prepare_for_run(&a).await.unwrap();
        // The original gateway's helper modules come after the set.
        let helpers = f.cache_root.join(".sg/python-compat");
        let search = format!("{}:{}", dir.display(), helpers.display());
        assert_eq!(run.env(), [("PYTHONPATH".into(), search.into())]);
        assert_eq!(run.hash.as_deref(), Some(set.hash.as_str()));
        assert!(run.is_leased() && f.deps.leases.in_use(&set.key()));
        drop(run);
        assert!(!f.deps.leases.in_use(&set.key()));

        let plain = script(&f.catalog, "python/b.py", ScriptDepsState::default()).await;
        assert_eq!(
            f.deps.prepare_for_run(&plain).await.unwrap().env(),
            [("PYTHONPATH".into(), helpers.into_os_string())]
        );
    }

    #[tokio::test]
    async fn an_unusable_set_is_a_clear_error() {
        let f = fixture().await;
        let state = ScriptDepsState {
            file: Some("python/a_requirements.txt".into()),
            hash: None,
            status: Some("failed".into()),
            error: Some("python/a_requirements.txt: line 1: the option -r is not supported".into()),
        };
        let a = script(&f.catalog, "python/a.py", state).await;
        let error = f.deps.prepare_for_run(&a).await.unwrap_err();
        let DepsError::InstallFailed { path, reason, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!(path, "python/a.py");
        assert!(reason.contains("-r is not supported"), "{reason}");
    }

    /// `cargo test --lib prepare_for_run_cost -- --ignored --nocapture`
    #[tokio::test]
    #[ignore = "a measurement, not a check"]
    async fn prepare_for_run_cost() {
        let f = fixture().await;
        let set = DepSet::new(Runtime::Python, vec!["sgdemo==1.0".into()]);
        complete_cache(&f.cache_root, &set);
        let a = script(&f.catalog, "python/a.py", ready(&set)).await;
        let rounds = 20_000;
        let started = Instant::now();
        for _ in 0..rounds {
            let run = f.deps.prepare_for_run(&a).await.unwrap();
            std::hint::black_box(run);
        }
        let per_call = started.elapsed() / rounds;
        println!("prepare_for_run, set installed: {per_call:?} per call");
    }
}
