//! Packages named by an ad-hoc run (`POST /api/exec`): each checked as one entry of a
//! dependency file would be, and installed through the same MD5-keyed caches, so a list
//! equal to a script's dependency file shares that script's cache.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::domain::Runtime;

use super::env::RunDeps;
use super::for_run::tail;
use super::install::Trigger;
use super::set::DepSet;
use super::{package_json, requirements, DepsError, DepsManager};

/// At most this many packages in one request.
pub const MAX_PACKAGES: usize = 100;

/// The dependency set of package specifiers (`requests==2.32.3` for Python, `lodash@4` or
/// `lodash` for Node), or None for an empty list. Options (`--index-url`, `-e`…) and
/// anything a dependency file would refuse are refused, naming the entry.
pub fn package_set(runtime: Runtime, packages: &[String]) -> Result<Option<DepSet>, String> {
    if packages.len() > MAX_PACKAGES {
        return Err(format!(
            "at most {MAX_PACKAGES} packages, not {}",
            packages.len()
        ));
    }
    let mut entries = Vec::with_capacity(packages.len());
    for package in packages {
        let text = package.trim();
        if text.is_empty() || text.starts_with('-') || text.chars().any(char::is_control) {
            return Err(format!(
                "{package:?} is not a package specifier (options and control characters are refused)"
            ));
        }
        let parsed = match runtime {
            Runtime::Python => requirements::parse(text, Path::new("/")),
            Runtime::Js => package_json::parse(&node_manifest(text), Path::new("/")),
        };
        let mut parsed = parsed.map_err(|reason| format!("{package:?}: {reason}"))?;
        if parsed.len() != 1 {
            return Err(format!("{package:?} must name exactly one package"));
        }
        entries.append(&mut parsed);
    }
    Ok((!entries.is_empty()).then(|| DepSet::new(runtime, entries)))
}

/// `name@spec` (or a bare name, meaning `latest`) as the package.json it stands for.
fn node_manifest(specifier: &str) -> String {
    // A scoped name starts with `@`: the version separator is the next `@`.
    let split_at = specifier
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '@')
        .map(|(i, _)| i);
    let (name, spec) = match split_at {
        Some(i) => (&specifier[..i], &specifier[i + 1..]),
        None => (specifier, "latest"),
    };
    let mut dependencies = Map::new();
    dependencies.insert(name.to_string(), Value::String(spec.to_string()));
    serde_json::json!({ "dependencies": dependencies }).to_string()
}

impl DepsManager {
    /// The environment an ad-hoc run of `runtime` needs: the cache of `set` (installed
    /// first when missing; runs of the same set wait for one install) ahead of the shared
    /// set. Keep the returned value alive until the run's process has exited.
    pub async fn prepare_for_packages(
        self: &Arc<Self>,
        runtime: Runtime,
        set: Option<&DepSet>,
    ) -> Result<RunDeps, DepsError> {
        // Ad-hoc Node code is CommonJS; the hook lets its `import()` find packages too.
        let esm = runtime == Runtime::Js;
        let Some(set) = set else {
            return Ok(RunDeps::new(
                None,
                None,
                self.env_with(runtime, None, esm),
                None,
            ));
        };
        let key = set.key();
        for attempt in 0..2 {
            if let Some(lease) = self.leases.acquire(&key) {
                if self.store.is_complete(&key) {
                    self.touch(&key);
                    let dir = self.store.dir(&key);
                    let env = self.env_with(runtime, Some(&dir), esm);
                    return Ok(RunDeps::new(Some(key.hash), Some(dir), env, Some(lease)));
                }
            }
            if attempt == 1 {
                break;
            }
            let report = self.ensure(set, Trigger::Run, false).await?;
            if !report.is_ready() {
                return Err(DepsError::InstallFailed {
                    path: runtime.exec_label().into(),
                    reason: report.error.unwrap_or_else(|| "the install failed".into()),
                    log: report.log.map(|l| tail(&l)).unwrap_or_default(),
                });
            }
        }
        Err(DepsError::InstallFailed {
            path: runtime.exec_label().into(),
            reason: "the cache was removed while the run was starting; try again".into(),
            log: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(runtime: Runtime, packages: &[&str]) -> Result<Option<DepSet>, String> {
        let packages: Vec<String> = packages.iter().map(|p| p.to_string()).collect();
        package_set(runtime, &packages)
    }

    #[test]
    fn python_specifiers_become_the_entries_a_requirements_file_would_give() {
        let from_list = set(Runtime::Python, &["Requests==2.32.3", "six"])
            .unwrap()
            .unwrap();
        let from_file = DepSet::new(
            Runtime::Python,
            requirements::parse("six\nrequests==2.32.3\n", Path::new("/")).unwrap(),
        );
        assert_eq!(from_list.hash, from_file.hash);
        assert_eq!(set(Runtime::Python, &[]).unwrap(), None);
    }

    #[test]
    fn node_specifiers_may_carry_a_version_and_a_scope() {
        let parsed = set(
            Runtime::Js,
            &["lodash@4.17.21", "@types/node@22", "left-pad"],
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            parsed.entries,
            vec!["@types/node@22", "left-pad@latest", "lodash@4.17.21"]
        );
    }

    #[test]
    fn options_several_packages_in_one_entry_and_bad_names_are_refused() {
        for (runtime, bad) in [
            (Runtime::Python, "--index-url=http://evil"),
            (Runtime::Python, "-e git+https://x/y"),
            (Runtime::Python, "six\nrequests"),
            (Runtime::Python, ""),
            (Runtime::Js, "../escape"),
            (Runtime::Js, "-g"),
            (Runtime::Js, "a\u{0}b"),
        ] {
            assert!(set(runtime, &[bad]).is_err(), "{bad:?} was accepted");
        }
        let many: Vec<String> = (0..=MAX_PACKAGES).map(|i| format!("p{i}")).collect();
        assert!(package_set(Runtime::Python, &many).is_err());
    }
}
