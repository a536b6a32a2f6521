//! What a run (or a schema extraction) gets from its dependencies: `PYTHONPATH` or
//! `NODE_PATH` pointing at its cache ahead of the shared set, a resolve hook so ES-module
//! `import` finds them too, and a lease that keeps cleanup away while it runs.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::domain::Runtime;

use super::set::DepsKey;

/// The dependency environment of one run. Keep it alive until the run's process has
/// exited: while it lives, cleanup never removes its cache.
#[derive(Debug, Default)]
pub struct RunDeps {
    /// The set's hash (record it on the run), `None` without dependencies.
    pub hash: Option<String>,
    pub cache_dir: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    lease: Option<Lease>,
}

impl RunDeps {
    pub(super) fn new(
        hash: Option<String>,
        cache_dir: Option<PathBuf>,
        env: Vec<(OsString, OsString)>,
        lease: Option<Lease>,
    ) -> RunDeps {
        RunDeps {
            hash,
            cache_dir,
            env,
            lease,
        }
    }

    /// The variables to add to the child's environment.
    pub fn env(&self) -> &[(OsString, OsString)] {
        &self.env
    }

    /// Adds the variables to `env`, replacing any of the same name.
    pub fn apply_to(&self, env: &mut Vec<(OsString, OsString)>) {
        env.retain(|(key, _)| !self.env.iter().any(|(k, _)| k == key));
        env.extend(self.env.iter().cloned());
    }

    pub fn is_leased(&self) -> bool {
        self.lease.is_some()
    }
}

/// The gateway's own module folders, searched after a script's dependencies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Provided<'a> {
    /// The original gateway's helper modules and the Python SDK.
    pub python: Option<&'a Path>,
    /// A `node_modules` folder holding the JS SDK.
    pub node_modules: Option<&'a Path>,
}

/// Builds the variables for a cache folder and the shared folder, then the gateway's own
/// modules (last, so a script's own dependency of the same name wins).
pub fn deps_env(
    runtime: Runtime,
    cache: Option<&Path>,
    shared: Option<&Path>,
    esm_hook: Option<&str>,
    provided: Provided<'_>,
) -> Vec<(OsString, OsString)> {
    let folders = cache.into_iter().chain(shared).map(Path::to_path_buf);
    let join = crate::process::join_search_path;
    match runtime {
        Runtime::Python => {
            let folders: Vec<PathBuf> = folders
                .chain(provided.python.map(Path::to_path_buf))
                .collect();
            if folders.is_empty() {
                return Vec::new();
            }
            vec![("PYTHONPATH".into(), join(folders))]
        }
        Runtime::Js => {
            let modules: Vec<PathBuf> = folders
                .map(|f| f.join("node_modules"))
                .chain(provided.node_modules.map(Path::to_path_buf))
                .collect();
            if modules.is_empty() {
                return Vec::new();
            }
            let mut env = vec![("NODE_PATH".into(), join(modules))];
            if let Some(hook) = esm_hook {
                env.push(("NODE_OPTIONS".into(), format!("--import={hook}").into()));
            }
            env
        }
    }
}

/// Whether Node.js loads this script as an ES module (so `NODE_PATH` alone is not enough):
/// `.mjs`, or `.js` under a package.json with `"type": "module"`.
pub fn is_es_module(repo: &Path, script: &Path) -> bool {
    match script.extension().and_then(|e| e.to_str()) {
        Some("mjs") => true,
        Some("js") => nearest_package_type(repo, script).as_deref() == Some("module"),
        _ => false,
    }
}

fn nearest_package_type(repo: &Path, script: &Path) -> Option<String> {
    let mut folder = script.parent();
    while let Some(dir) = folder.filter(|d| d.starts_with(repo) && *d != repo) {
        if let Ok(text) = std::fs::read_to_string(dir.join("package.json")) {
            let value: serde_json::Value = serde_json::from_str(&text).ok()?;
            return value.get("type")?.as_str().map(str::to_string);
        }
        folder = dir.parent();
    }
    None
}

/// The entry of the resolve hook: in-thread hooks where Node.js has them, else a loader thread.
const HOOK_ENTRY: &str = r#"// Written by ScriptGateway: ES-module `import` finds packages on NODE_PATH, as `require` does.
import * as nodeModule from 'node:module';

const hooks = new URL('./esm-resolve.mjs', import.meta.url);
if (typeof nodeModule.registerHooks === 'function') {
  const { resolveSync } = await import(hooks);
  nodeModule.registerHooks({ resolve: resolveSync });
} else {
  nodeModule.register(hooks);
}
"#;

const HOOK_RESOLVE: &str = r#"// Written by ScriptGateway: a bare specifier that is not found is looked up in NODE_PATH.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const parents = (process.env.NODE_PATH || '')
  .split(path.delimiter)
  .filter(Boolean)
  .map((dir) => pathToFileURL(path.join(dir, '..', 'sg-esm-parent.mjs')).href);

const isBare = (specifier) => !/^(\.{0,2}\/|[a-zA-Z][a-zA-Z0-9+.-]*:|#)/.test(specifier);
const isNotFound = (error) => error?.code === 'ERR_MODULE_NOT_FOUND';

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (!isNotFound(error) || !isBare(specifier)) throw error;
    for (const parentURL of parents) {
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch (again) {
        if (!isNotFound(again)) throw again;
      }
    }
    throw error;
  }
}

export function resolveSync(specifier, context, nextResolve) {
  try {
    return nextResolve(specifier, context);
  } catch (error) {
    if (!isNotFound(error) || !isBare(specifier)) throw error;
    for (const parentURL of parents) {
      try {
        return nextResolve(specifier, { ...context, parentURL });
      } catch (again) {
        if (!isNotFound(again)) throw again;
      }
    }
    throw error;
  }
}
"#;

/// Writes the resolve hook into `dir` (when it changed) and returns its `file:` URL.
pub fn write_esm_hook(dir: &Path) -> io::Result<String> {
    for (name, text) in [
        ("esm-hook.mjs", HOOK_ENTRY),
        ("esm-resolve.mjs", HOOK_RESOLVE),
    ] {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            let temporary = dir.join(format!(".{name}.tmp"));
            std::fs::write(&temporary, text)?;
            std::fs::rename(&temporary, &path)?;
        }
    }
    url::Url::from_file_path(dir.join("esm-hook.mjs"))
        .map(String::from)
        .map_err(|()| io::Error::other("the hook path is not absolute"))
}

/// Which caches runs are using right now, and which cleanup is removing.
#[derive(Debug, Default)]
pub struct Leases {
    table: Mutex<LeaseTable>,
}

#[derive(Debug, Default)]
struct LeaseTable {
    counts: HashMap<DepsKey, usize>,
    retiring: HashSet<DepsKey>,
}

/// A run's claim on a cache; released on drop.
#[derive(Debug)]
pub struct Lease {
    leases: Arc<Leases>,
    key: DepsKey,
}

impl Leases {
    /// A claim on `key`, unless cleanup is removing it.
    pub fn acquire(self: &Arc<Self>, key: &DepsKey) -> Option<Lease> {
        let mut table = self
            .table
            .lock()
            .expect("the lease table is never poisoned");
        if table.retiring.contains(key) {
            return None;
        }
        *table.counts.entry(key.clone()).or_default() += 1;
        Some(Lease {
            leases: self.clone(),
            key: key.clone(),
        })
    }

    pub fn in_use(&self, key: &DepsKey) -> bool {
        let table = self
            .table
            .lock()
            .expect("the lease table is never poisoned");
        table.counts.get(key).is_some_and(|n| *n > 0)
    }

    /// Marks `key` as being removed, unless a run holds it; `false` when in use.
    pub fn retire(&self, key: &DepsKey) -> bool {
        let mut table = self
            .table
            .lock()
            .expect("the lease table is never poisoned");
        if table.counts.get(key).is_some_and(|n| *n > 0) {
            return false;
        }
        table.retiring.insert(key.clone())
    }

    pub fn unretire(&self, key: &DepsKey) {
        let mut table = self
            .table
            .lock()
            .expect("the lease table is never poisoned");
        table.retiring.remove(key);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut table = self
            .leases
            .table
            .lock()
            .expect("the lease table is never poisoned");
        if let Some(count) = table.counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                table.counts.remove(&self.key);
            }
        }
    }
}

/// A value safe to show: secret-looking variables are hidden, URL passwords masked.
pub fn masked(key: &str, value: &str) -> String {
    const SECRET_WORDS: [&str; 7] = [
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "AUTH",
    ];
    let upper = key.to_uppercase();
    if SECRET_WORDS.iter().any(|w| upper.contains(w)) {
        return "***".into();
    }
    let Some(scheme_end) = value.find("://").map(|i| i + 3) else {
        return value.to_string();
    };
    let authority_end = value[scheme_end..]
        .find('/')
        .map_or(value.len(), |i| scheme_end + i);
    match value[scheme_end..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &value[scheme_end..scheme_end + at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!(
                "{}{user}:***{}",
                &value[..scheme_end],
                &value[scheme_end + at..]
            )
        }
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_comes_before_the_shared_set() {
        let env = deps_env(
            Runtime::Python,
            Some(Path::new("/c/h")),
            Some(Path::new("/c/shared")),
            None,
            Provided::default(),
        );
        assert_eq!(env, [("PYTHONPATH".into(), "/c/h:/c/shared".into())]);
        let python_only = Provided {
            python: Some(Path::new("/helpers")),
            node_modules: None,
        };
        let env = deps_env(
            Runtime::Js,
            Some(Path::new("/c/h")),
            None,
            Some("file:///hook.mjs"),
            python_only,
        );
        assert_eq!(
            env,
            [
                ("NODE_PATH".into(), "/c/h/node_modules".into()),
                ("NODE_OPTIONS".into(), "--import=file:///hook.mjs".into())
            ]
        );
        assert!(deps_env(Runtime::Js, None, None, Some("x"), Provided::default()).is_empty());
    }

    #[test]
    fn the_gateways_own_modules_come_last() {
        let provided = Provided {
            python: Some(Path::new("/sg/python-compat")),
            node_modules: Some(Path::new("/sg/node/node_modules")),
        };
        let env = deps_env(
            Runtime::Python,
            Some(Path::new("/c/h")),
            None,
            None,
            provided,
        );
        assert_eq!(
            env,
            [("PYTHONPATH".into(), "/c/h:/sg/python-compat".into())]
        );
        let env = deps_env(Runtime::Python, None, None, None, provided);
        assert_eq!(env, [("PYTHONPATH".into(), "/sg/python-compat".into())]);
        let env = deps_env(Runtime::Js, Some(Path::new("/c/h")), None, None, provided);
        assert_eq!(
            env,
            [(
                "NODE_PATH".into(),
                "/c/h/node_modules:/sg/node/node_modules".into()
            )]
        );
        // An ES module without dependencies of its own still gets the hook, to find the SDK.
        let env = deps_env(Runtime::Js, None, None, Some("file:///hook.mjs"), provided);
        assert_eq!(
            env,
            [
                ("NODE_PATH".into(), "/sg/node/node_modules".into()),
                ("NODE_OPTIONS".into(), "--import=file:///hook.mjs".into())
            ]
        );
    }

    #[test]
    fn apply_replaces_variables_of_the_same_name() {
        let deps = RunDeps::new(None, None, vec![("PYTHONPATH".into(), "/c".into())], None);
        let mut env: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), "/bin".into()),
            ("PYTHONPATH".into(), "/old".into()),
        ];
        deps.apply_to(&mut env);
        assert_eq!(
            env,
            [
                ("PATH".into(), "/bin".into()),
                ("PYTHONPATH".into(), "/c".into())
            ]
        );
    }

    #[test]
    fn es_modules_are_told_apart_from_commonjs() {
        let repo = tempfile::tempdir().unwrap();
        let r = repo.path();
        std::fs::create_dir_all(r.join("js/esm")).unwrap();
        std::fs::write(r.join("js/esm/package.json"), r#"{"type": "module"}"#).unwrap();
        let cases = [
            ("js/a.mjs", true),
            ("js/a.cjs", false),
            ("js/a.js", false),
            ("js/esm/b.js", true),
        ];
        for (script, want) in cases {
            assert_eq!(is_es_module(r, &r.join(script)), want, "{script}");
        }
    }

    #[test]
    fn leases_keep_cleanup_away_and_cleanup_keeps_new_leases_away() {
        let leases = Arc::new(Leases::default());
        let key = DepsKey {
            runtime: Runtime::Python,
            hash: "a".repeat(32),
        };
        let lease = leases.acquire(&key).expect("free");
        assert!(!leases.retire(&key), "in use");
        drop(lease);
        assert!(!leases.in_use(&key));
        assert!(leases.retire(&key));
        assert!(leases.acquire(&key).is_none(), "being removed");
        leases.unretire(&key);
        assert!(leases.acquire(&key).is_some());
    }

    #[test]
    fn secrets_are_masked() {
        let cases = [
            ("API_KEY", "abc", "***"),
            ("github_token", "abc", "***"),
            ("PATH", "/usr/bin", "/usr/bin"),
            (
                "PIP_INDEX_URL",
                "https://me:pw@mirror/simple",
                "https://me:***@mirror/simple",
            ),
            ("HOME", "/a/b@c", "/a/b@c"),
        ];
        for (key, value, want) in cases {
            assert_eq!(masked(key, value), want, "{key}");
        }
    }
}
