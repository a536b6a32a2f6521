//! Walks `scripts_repo/<runtime>/` and finds the scripts in it.

use std::io;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::deps::{declared_for, Declared};
use crate::domain::{EntryKind, Runtime};
use crate::repo::{is_ignored_folder, relative_path};

use super::describe::describe;

/// A script file found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundScript {
    /// Relative to scripts_repo, '/'-separated: `python/reports/main.py`.
    pub path: String,
    pub absolute: PathBuf,
    pub runtime: Runtime,
    /// How it is started (decided from its source here, so runs never reread it).
    pub entry: EntryKind,
    pub name: String,
    /// The folder (relative to scripts_repo) whose dependency file this script shares.
    pub group_path: Option<String>,
    pub description: Option<String>,
    pub file_hash: String,
    pub file_size: i64,
    /// Its dependency file and the set it declares.
    pub deps: Declared,
}

/// Finds every script under both runtime folders, sorted by path.
pub fn discover(repo: &Path) -> io::Result<Vec<FoundScript>> {
    let mut found = Vec::new();
    for runtime in Runtime::ALL {
        let root = repo.join(runtime.folder());
        if root.is_dir() {
            walk(repo, &root, runtime, None, &mut found)?;
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

fn walk(
    repo: &Path,
    dir: &Path,
    runtime: Runtime,
    group: Option<&str>,
    found: &mut Vec<FoundScript>,
) -> io::Result<()> {
    let own_group;
    let is_runtime_root = dir == repo.join(runtime.folder());
    let group = if !is_runtime_root && dir.join(runtime.group_marker()).is_file() {
        own_group = relative_path(repo, dir);
        Some(own_group.as_str())
    } else {
        group
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if file_type.is_dir() {
            if !is_ignored_folder(&name) && !path.join("pyvenv.cfg").exists() {
                walk(repo, &path, runtime, group, found)?;
            }
        } else if file_type.is_file() {
            if let Some(script) = inspect_file(repo, &path, runtime, group)? {
                found.push(script);
            }
        }
        // Symbolic links are not followed: a script must live inside the repository.
    }
    Ok(())
}

fn inspect_file(
    repo: &Path,
    path: &Path,
    runtime: Runtime,
    group: Option<&str>,
) -> io::Result<Option<FoundScript>> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    if !runtime.is_script_extension(extension) {
        return Ok(None);
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let source = String::from_utf8_lossy(&bytes);
    if !runtime.is_script_source(&source) {
        return Ok(None);
    }
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    Ok(Some(FoundScript {
        path: relative_path(repo, path),
        absolute: path.to_path_buf(),
        runtime,
        entry: runtime.entry_kind(&source),
        name: script_name(stem, group),
        group_path: group.map(str::to_string),
        description: describe(runtime, &source),
        file_hash: md5_hex(&bytes),
        file_size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        deps: declared_for(repo, path, runtime, group),
    }))
}

/// A group's entry script (`main.py`, `index.js`) is named after its folder.
fn script_name(stem: &str, group: Option<&str>) -> String {
    match group {
        Some(group) if matches!(stem, "main" | "index" | "__main__") => {
            group.rsplit('/').next().unwrap_or(stem).to_string()
        }
        _ => stem.to_string(),
    }
}

pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
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
    fn finds_scripts_groups_and_skips_helpers_and_ignored_folders() {
        let repo = tempfile::tempdir().unwrap();
        let r = repo.path();
        let script = "import sys\nif __name__ == '__main__':\n    pass\n";
        write(r, "python/a.py", script);
        write(r, "python/deep/er/b.py", "# _sys_get_schema\n");
        write(r, "python/helper.py", "def f(): pass\n");
        write(r, "python/grp/requirements.txt", "requests\n");
        write(r, "python/grp/main.py", script);
        write(r, "python/grp/sub/tool.py", script);
        write(r, "python/grp/util.py", "X = 1\n");
        write(r, "python/.hidden/c.py", script);
        write(r, "python/__pycache__/d.py", script);
        write(r, "python/venv1/pyvenv.cfg", "home = /usr\n");
        write(r, "python/venv1/e.py", script);
        write(r, "python/notes.txt", "_sys_get_schema");
        write(
            r,
            "js/x.mjs",
            "// Makes x.\nif (process.argv.includes('--_sys_get_schema')) {}\n",
        );
        write(r, "js/node_modules/pkg/index.js", "_sys_get_schema");
        write(r, "js/app/package.json", "{}");
        write(r, "js/app/index.cjs", "_sys_get_schema");
        write(r, "js/lib.js", "module.exports = {}\n");
        write(r, "python/requirements.txt", "flask\n");

        let found = discover(r).unwrap();
        let summary: Vec<_> = found
            .iter()
            .map(|s| (s.path.as_str(), s.name.as_str(), s.group_path.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("js/app/index.cjs", "app", Some("js/app")),
                ("js/x.mjs", "x", None),
                ("python/a.py", "a", None),
                ("python/deep/er/b.py", "b", None),
                ("python/grp/main.py", "grp", Some("python/grp")),
                ("python/grp/sub/tool.py", "tool", Some("python/grp")),
            ]
        );
        assert_eq!(found[1].description.as_deref(), Some("Makes x."));
        assert_eq!(found[2].file_hash, md5_hex(script.as_bytes()));
        assert_eq!(found[2].file_size, script.len() as i64);
    }

    #[test]
    fn a_missing_runtime_folder_is_an_empty_repo() {
        let repo = tempfile::tempdir().unwrap();
        assert!(discover(repo.path()).unwrap().is_empty());
    }

    #[test]
    fn md5_is_lowercase_hex() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }
}
