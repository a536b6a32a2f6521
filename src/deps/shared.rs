//! The shared ("global") set of each runtime: a cache like any other, which the link
//! `deps_cache/<runtime>/shared` points at. Every run gets it after its own cache, and
//! installing into it never touches the gateway's or the system's interpreter.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::domain::Runtime;

use super::install::{InstallReport, Trigger};
use super::locate;
use super::requirements::canonical_name;
use super::set::{entry_name, DepSet, DepsKey};
use super::{DepsError, DepsManager};

/// Packages to add to (or replace) a runtime's shared set.
#[derive(Debug, Clone)]
pub struct SharedInstall {
    pub runtime: String,
    pub deps: Vec<SharedDep>,
    /// Replace the whole shared set instead of adding to it.
    pub replace: bool,
    /// Install again even when this set is installed, or its failure is remembered.
    pub force: bool,
}

/// A package and its version (`1.2.3`, `>=1,<2`, `^9.0.1`; empty for any).
#[derive(Debug, Clone)]
pub struct SharedDep {
    pub name: String,
    pub version: String,
}

/// The shared set of one runtime.
#[derive(Debug, Clone)]
pub struct SharedSet {
    pub runtime: Runtime,
    pub hash: Option<String>,
    pub cache_dir: String,
    pub deps: Vec<SharedPackage>,
}

#[derive(Debug, Clone)]
pub struct SharedPackage {
    pub name: String,
    /// As requested: the normalised entry.
    pub requested: String,
    /// What is installed, when it can be read.
    pub installed_version: Option<String>,
}

impl DepsManager {
    /// Adds `request.deps` to the shared set of its runtime (or replaces the set), installs
    /// the result as a new cache and points the shared link at it once it is complete.
    pub async fn install_shared(
        self: &Arc<Self>,
        request: SharedInstall,
    ) -> Result<InstallReport, DepsError> {
        let runtime = Runtime::parse(&request.runtime).ok_or_else(|| {
            DepsError::InvalidRequest(format!(
                "runtime must be \"python\" or \"js\", not {:?}",
                request.runtime
            ))
        })?;
        if request.deps.is_empty() {
            return Err(DepsError::InvalidRequest(
                "deps must list at least one package".into(),
            ));
        }
        let _one_at_a_time = self.shared_lock.lock().await;
        let current = match request.replace {
            true => Vec::new(),
            false => self.shared_entries(runtime).await?,
        };
        let set = merged_set(runtime, current, &request.deps)?;
        let report = self.ensure(&set, Trigger::Shared, request.force).await?;
        if report.is_ready() {
            let key = set.key();
            self.blocking(move |store| store.point_shared(&key))
                .await??;
        }
        Ok(report)
    }

    /// The shared set of `runtime` with the installed versions.
    pub async fn shared_view(&self, runtime: Runtime) -> Result<SharedSet, DepsError> {
        let entries = self.shared_entries(runtime).await?;
        let hash = self
            .blocking(move |store| store.shared_hash(runtime))
            .await?;
        let dir = self.store.shared_path(runtime);
        let names: Vec<(String, String)> = entries
            .iter()
            .filter_map(|e| entry_name(runtime, e).map(|n| (n.to_string(), e.clone())))
            .collect();
        let deps = self
            .blocking(move |_| {
                names
                    .into_iter()
                    .map(|(name, requested)| SharedPackage {
                        installed_version: installed_version(runtime, &dir, &name),
                        name,
                        requested,
                    })
                    .collect()
            })
            .await?;
        Ok(SharedSet {
            runtime,
            hash,
            cache_dir: self.store.shared_path(runtime).display().to_string(),
            deps,
        })
    }

    async fn shared_entries(&self, runtime: Runtime) -> Result<Vec<String>, DepsError> {
        let Some(hash) = self
            .blocking(move |store| store.shared_hash(runtime))
            .await?
        else {
            return Ok(Vec::new());
        };
        let key = DepsKey { runtime, hash };
        Ok(self
            .catalog
            .dep_cache(key.runtime, key.hash)
            .await?
            .map(|cache| cache.deps)
            .unwrap_or_default())
    }
}

/// The current entries with the requested packages added or replaced, normalised through
/// the same parser as dependency files (so the same rules refuse the same input).
fn merged_set(
    runtime: Runtime,
    current: Vec<String>,
    requested: &[SharedDep],
) -> Result<DepSet, DepsError> {
    let invalid = |reason: String| DepsError::InvalidRequest(format!("invalid deps: {reason}"));
    let text = match runtime {
        Runtime::Python => requested
            .iter()
            .map(python_line)
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?
            .join("\n"),
        Runtime::Js => js_manifest(requested),
    };
    let added = locate::parse_text(&text, runtime, std::path::Path::new("/")).map_err(invalid)?;
    let same_package = |a: &str, b: &str| match runtime {
        Runtime::Python => canonical_name(a) == canonical_name(b),
        Runtime::Js => a == b,
    };
    let mut entries: Vec<String> = current
        .into_iter()
        .filter(|old| {
            let old_name = entry_name(runtime, old).unwrap_or_default();
            !added
                .iter()
                .any(|new| same_package(old_name, entry_name(runtime, new).unwrap_or_default()))
        })
        .collect();
    entries.extend(added);
    Ok(DepSet::new(runtime, entries))
}

/// `six` + `1.16.0` → `six==1.16.0`; a version with an operator is kept as written.
/// Only a plain name and a version specifier: no markers, options or URLs.
fn python_line(dep: &SharedDep) -> Result<String, String> {
    let (name, version) = (dep.name.trim(), dep.version.trim());
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.starts_with('-') || !name.chars().all(plain) {
        return Err(format!("{name:?} is not a package name"));
    }
    if version.contains([';', '#', '@', '\n']) {
        return Err(format!("{version:?} is not a version"));
    }
    Ok(match version.chars().next() {
        None => name.to_string(),
        Some(c) if c.is_ascii_digit() => format!("{name}=={version}"),
        Some(_) => format!("{name}{version}"),
    })
}

fn js_manifest(requested: &[SharedDep]) -> String {
    let dependencies: Map<String, Value> = requested
        .iter()
        .map(|d| (d.name.trim().to_string(), Value::String(d.version.clone())))
        .collect();
    serde_json::json!({ "dependencies": dependencies }).to_string()
}

/// The version of `name` installed in a cache folder.
fn installed_version(runtime: Runtime, dir: &std::path::Path, name: &str) -> Option<String> {
    match runtime {
        Runtime::Js => {
            let text =
                std::fs::read_to_string(dir.join("node_modules").join(name).join("package.json"))
                    .ok()?;
            let manifest: Value = serde_json::from_str(&text).ok()?;
            manifest.get("version")?.as_str().map(str::to_string)
        }
        Runtime::Python => {
            let wanted = canonical_name(name);
            let versions: BTreeMap<String, String> = std::fs::read_dir(dir)
                .ok()?
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let file = e.file_name().to_string_lossy().to_string();
                    let stem = file.strip_suffix(".dist-info")?;
                    let (dist, version) = stem.rsplit_once('-')?;
                    Some((canonical_name(dist), version.to_string()))
                })
                .collect();
            versions.get(&wanted).cloned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, version: &str) -> SharedDep {
        SharedDep {
            name: name.into(),
            version: version.into(),
        }
    }

    #[test]
    fn requested_packages_are_added_or_replace_the_same_package() {
        let current = vec!["six==1.15".into(), "attrs".into()];
        let set = merged_set(
            Runtime::Python,
            current,
            &[dep("Six", "1.16.0"), dep("idna", ">=3")],
        )
        .unwrap();
        assert_eq!(set.entries, ["attrs", "idna>=3", "six==1.16.0"]);
        let set = merged_set(
            Runtime::Js,
            vec!["uuid@^8".into()],
            &[dep("uuid", "^9.0.1"), dep("ms", "")],
        )
        .unwrap();
        assert_eq!(set.entries, ["ms@*", "uuid@^9.0.1"]);
    }

    #[test]
    fn bad_names_are_refused() {
        for (runtime, name) in [
            (Runtime::Python, "six; rm -rf /"),
            (Runtime::Js, "a b"),
            (Runtime::Python, "-r x"),
        ] {
            let error = merged_set(runtime, Vec::new(), &[dep(name, "")]).expect_err(name);
            assert!(matches!(error, DepsError::InvalidRequest(_)), "{name}");
        }
    }
}
