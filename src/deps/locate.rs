//! Which dependency file a script uses, and what it declares. Nearest first:
//! `<stem>_requirements.txt` / `<stem>_package.json` beside the script, then
//! `requirements.txt` / `package.json` in its folder, then its group folder's.

use std::io;
use std::path::{Path, PathBuf};

use crate::domain::Runtime;
use crate::repo::relative_path;

use super::set::{DepSet, DepsKey};
use super::{package_json, requirements};

/// What a script declares, as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// The dependency file, relative to scripts_repo, '/'-separated.
    pub file: Option<String>,
    /// The set (`None` when there is no file or it lists nothing), or why it is unusable.
    pub set: Result<Option<DepSet>, String>,
}

impl Default for Declared {
    fn default() -> Declared {
        Declared::none()
    }
}

impl Declared {
    pub fn none() -> Declared {
        Declared {
            file: None,
            set: Ok(None),
        }
    }

    /// The key of its set, if it has a usable, non-empty one.
    pub fn key(&self) -> Option<DepsKey> {
        match &self.set {
            Ok(Some(set)) => Some(set.key()),
            _ => None,
        }
    }

    /// The set's hash, if it has a usable, non-empty one.
    pub fn hash(&self) -> Option<&str> {
        match &self.set {
            Ok(Some(set)) => Some(&set.hash),
            _ => None,
        }
    }
}

/// Reads what the script at `script` (inside `repo`) declares; `group` is its group
/// folder relative to `repo`, if it belongs to one.
pub fn declared_for(repo: &Path, script: &Path, runtime: Runtime, group: Option<&str>) -> Declared {
    let Some(file) = find_file(script, runtime, group.map(|g| repo.join(g)).as_deref()) else {
        return Declared::none();
    };
    let relative = relative_path(repo, &file);
    let set = read_set(&file, runtime).map_err(|reason| format!("{relative}: {reason}"));
    Declared {
        file: Some(relative),
        set,
    }
}

/// The nearest dependency file of a script, if any.
pub fn find_file(script: &Path, runtime: Runtime, group_dir: Option<&Path>) -> Option<PathBuf> {
    let folder = script.parent()?;
    let stem = script.file_stem()?.to_str()?;
    let marker = runtime.group_marker();
    let suffix = match runtime {
        Runtime::Python => "_requirements.txt",
        Runtime::Js => "_package.json",
    };
    let mut candidates = vec![folder.join(format!("{stem}{suffix}")), folder.join(marker)];
    candidates.extend(group_dir.map(|g| g.join(marker)));
    candidates.into_iter().find(|c| c.is_file())
}

/// The normalised set a dependency file declares (`None` when it lists nothing).
pub fn read_set(file: &Path, runtime: Runtime) -> Result<Option<DepSet>, String> {
    let text = read_text(file).map_err(|e| format!("cannot be read: {e}"))?;
    let base_dir = file.parent().unwrap_or(Path::new("/"));
    let entries = parse_text(&text, runtime, base_dir)?;
    Ok((!entries.is_empty()).then(|| DepSet::new(runtime, entries)))
}

/// Parses dependency-file text of `runtime`.
pub fn parse_text(text: &str, runtime: Runtime, base_dir: &Path) -> Result<Vec<String>, String> {
    match runtime {
        Runtime::Python => requirements::parse(text, base_dir),
        Runtime::Js => package_json::parse(text, base_dir),
    }
}

fn read_text(file: &Path) -> io::Result<String> {
    const LIMIT: u64 = 1024 * 1024;
    if std::fs::metadata(file)?.len() > LIMIT {
        return Err(io::Error::other("larger than 1 MiB"));
    }
    String::from_utf8(std::fs::read(file)?).map_err(|_| io::Error::other("not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, content: &str) {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    #[test]
    fn the_nearest_file_wins() {
        let repo = tempfile::tempdir().unwrap();
        let r = repo.path();
        write(r, "python/grp/requirements.txt", "six\n");
        write(r, "python/grp/sub/tool.py", "");
        write(r, "python/grp/sub/other.py", "");
        write(r, "python/grp/sub/other_requirements.txt", "# nothing\n");
        write(r, "python/solo.py", "");
        write(r, "js/a.mjs", "");
        write(
            r,
            "js/a_package.json",
            "{\"dependencies\": {\"uuid\": \"9\"}}",
        );
        let cases = [
            (
                "python/grp/sub/tool.py",
                Runtime::Python,
                Some("python/grp"),
                Some("python/grp/requirements.txt"),
                true,
            ),
            (
                "python/grp/sub/other.py",
                Runtime::Python,
                Some("python/grp"),
                Some("python/grp/sub/other_requirements.txt"),
                false,
            ),
            ("python/solo.py", Runtime::Python, None, None, false),
            (
                "js/a.mjs",
                Runtime::Js,
                None,
                Some("js/a_package.json"),
                true,
            ),
        ];
        for (script, runtime, group, file, has_set) in cases {
            let declared = declared_for(r, &r.join(script), runtime, group);
            assert_eq!(declared.file.as_deref(), file, "{script}");
            assert_eq!(declared.hash().is_some(), has_set, "{script}");
        }
    }

    #[test]
    fn a_malformed_file_is_reported_with_its_path() {
        let repo = tempfile::tempdir().unwrap();
        let r = repo.path();
        write(r, "js/app/package.json", "{oops");
        write(r, "js/app/index.js", "");
        let declared = declared_for(r, &r.join("js/app/index.js"), Runtime::Js, Some("js/app"));
        let error = declared.set.expect_err("malformed");
        assert!(
            error.starts_with("js/app/package.json: not valid JSON"),
            "{error}"
        );
    }
}
