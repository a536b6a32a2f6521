//! Script files inside `scripts_repo/<runtime>/`: every path a client names is confined
//! there (no `..`, no absolute path, no hidden or ignored folder, no link leading out).

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::domain::Runtime;

const MAX_SCRIPT_BYTES: usize = 5 * 1024 * 1024;
/// Longest file or folder name most file systems store (NAME_MAX).
const MAX_NAME_BYTES: usize = 255;
/// Longest relative path a client may name; far below PATH_MAX once joined to the repository.
const MAX_PATH_BYTES: usize = 1024;

/// What a script's schema sidecar adds to the script's file name.
pub const SIDECAR_SUFFIX: &str = "._map.json";

/// Folders never scanned: installed packages, caches, virtualenvs and hidden folders.
pub fn is_ignored_folder(name: &str) -> bool {
    name.starts_with('.')
        || matches!(
            name,
            "node_modules" | "__pycache__" | "site-packages" | "venv" | "env"
        )
}

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{0}")]
    InvalidPath(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0} does not exist")]
    Missing(String),
    #[error("the script is larger than {MAX_SCRIPT_BYTES} bytes")]
    TooLarge,
    #[error("cannot access {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// `path` relative to `root`, '/'-separated, as the catalog and the API name files.
pub fn relative_path(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A validated script path: `python/tools/clean.py` and where it lives on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptPath {
    pub relative: String,
    pub runtime: Runtime,
    pub absolute: PathBuf,
}

/// The scripts folder, as seen by the management API.
#[derive(Debug, Clone)]
pub struct ScriptRepo {
    root: PathBuf,
}

impl ScriptRepo {
    pub fn new(root: PathBuf) -> ScriptRepo {
        ScriptRepo { root }
    }

    /// Checks a client-given path like `python/tools/clean.py`.
    pub fn resolve(&self, relative: &str) -> Result<ScriptPath, RepoError> {
        let relative = relative.trim().trim_start_matches("./");
        let invalid = |why: &str| RepoError::InvalidPath(format!("{relative:?} {why}"));
        if relative.is_empty() || relative.contains(['\0', '\\', '%']) {
            return Err(invalid("is not a valid script path"));
        }
        check_lengths(relative).map_err(RepoError::InvalidPath)?;
        let path = Path::new(relative);
        if !path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(invalid(
                "must be relative to the scripts folder, without '..'",
            ));
        }
        let parts: Vec<&str> = relative.split('/').collect();
        let runtime = Runtime::parse(parts[0])
            .filter(|r| r.folder() == parts[0])
            .ok_or_else(|| invalid("must start with python/ or js/"))?;
        let file = parts[parts.len() - 1];
        let extension = Path::new(file)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        if parts.len() < 2 || !runtime.is_script_extension(extension) {
            let allowed = if runtime == Runtime::Python {
                ".py"
            } else {
                ".js, .mjs or .cjs"
            };
            return Err(invalid(&format!("must name a {allowed} file")));
        }
        if parts
            .iter()
            .any(|p| is_ignored_folder(p) || p.starts_with('.'))
            || file.ends_with("._map.json")
        {
            return Err(invalid("names a hidden or ignored folder"));
        }
        let absolute = self.root.join(path);
        self.check_inside(&absolute, runtime)?;
        Ok(ScriptPath {
            relative: relative.to_string(),
            runtime,
            absolute,
        })
    }

    /// The deepest existing ancestor must resolve inside `root/<runtime>`, and the file itself
    /// must not be a link, so no symbolic link can carry a write outside.
    fn check_inside(&self, absolute: &Path, runtime: Runtime) -> Result<(), RepoError> {
        let base = self
            .root
            .join(runtime.folder())
            .canonicalize()
            .map_err(|source| self.io(absolute, source))?;
        let mut existing = absolute.parent();
        while let Some(dir) = existing {
            if dir.exists() {
                let real = dir.canonicalize().map_err(|source| self.io(dir, source))?;
                if !real.starts_with(&base) {
                    return Err(RepoError::InvalidPath(
                        "the path leads outside the scripts folder".into(),
                    ));
                }
                break;
            }
            existing = dir.parent();
        }
        if absolute
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(RepoError::InvalidPath("the path is a symbolic link".into()));
        }
        Ok(())
    }

    pub fn read(&self, path: &ScriptPath) -> Result<String, RepoError> {
        match std::fs::read(&path.absolute) {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(RepoError::Missing(path.relative.clone()))
            }
            Err(source) => Err(self.io(&path.absolute, source)),
        }
    }

    /// Writes a script atomically (temp file + rename); `create` refuses to replace one.
    pub fn write(&self, path: &ScriptPath, content: &str, create: bool) -> Result<(), RepoError> {
        if content.len() > MAX_SCRIPT_BYTES {
            return Err(RepoError::TooLarge);
        }
        let exists = path.absolute.exists();
        if create && exists {
            return Err(RepoError::Exists(path.relative.clone()));
        }
        if !create && !exists {
            return Err(RepoError::Missing(path.relative.clone()));
        }
        let folder = path.absolute.parent().expect("a script path has a folder");
        std::fs::create_dir_all(folder).map_err(|source| self.io(folder, source))?;
        self.check_inside(&path.absolute, path.runtime)?;
        // Readable by all, like a script saved by hand: runs may use a user of their own.
        let mut temporary = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(folder)
            .map_err(|source| self.io(folder, source))?;
        io::Write::write_all(&mut temporary, content.as_bytes())
            .map_err(|source| self.io(folder, source))?;
        temporary
            .persist(&path.absolute)
            .map_err(|e| self.io(&path.absolute, e.error))?;
        Ok(())
    }

    pub fn delete(&self, path: &ScriptPath) -> Result<(), RepoError> {
        match std::fs::remove_file(&path.absolute) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(RepoError::Missing(path.relative.clone()))
            }
            Err(source) => Err(self.io(&path.absolute, source)),
        }
    }

    fn io(&self, path: &Path, source: io::Error) -> RepoError {
        let shown = path
            .strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string();
        RepoError::Io {
            path: shown,
            source,
        }
    }
}

/// A name too long for the file system would fail as an I/O error (a 500); refuse it first.
/// The file's name must leave room for its `<stem>._map.json` sidecar.
fn check_lengths(relative: &str) -> Result<(), String> {
    if relative.len() > MAX_PATH_BYTES {
        return Err(format!(
            "the path is {} bytes, more than {MAX_PATH_BYTES}",
            relative.len()
        ));
    }
    let file = relative.rsplit('/').next().unwrap_or_default();
    let stem = Path::new(file)
        .file_stem()
        .map_or(0, |s| s.as_encoded_bytes().len());
    let sidecar = stem + SIDECAR_SUFFIX.len();
    if let Some(long) = relative.split('/').find(|p| p.len() > MAX_NAME_BYTES) {
        return Err(format!(
            "a name in the path is {} bytes, more than {MAX_NAME_BYTES}",
            long.len()
        ));
    }
    if sidecar > MAX_NAME_BYTES {
        return Err(format!(
            "the file name is too long to keep its schema beside it (at most {} bytes before the extension)",
            MAX_NAME_BYTES - SIDECAR_SUFFIX.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, ScriptRepo) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("python")).unwrap();
        std::fs::create_dir_all(dir.path().join("js")).unwrap();
        let root = dir.path().canonicalize().unwrap();
        (dir, ScriptRepo::new(root))
    }

    #[test]
    fn paths_outside_the_runtime_folders_are_refused() {
        let (_dir, repo) = repo();
        let refused = [
            "../etc/passwd.py",
            "/etc/passwd.py",
            "python/../../x.py",
            "python/./x.py",
            "python/a/../../x.py",
            "ruby/x.rb",
            "python/x.js",
            "js/x.py",
            "python/.hidden/x.py",
            "python/node_modules/x.py",
            "js/node_modules/x.js",
            "python/__pycache__/x.py",
            "python",
            "python/",
            "",
            "python\\x.py",
            "python/x.py\0",
            "python/x._map.json",
            "python/%2e%2e/x.py",
        ];
        for path in refused {
            assert!(
                matches!(repo.resolve(path), Err(RepoError::InvalidPath(_))),
                "{path:?} accepted"
            );
        }
        let ok = repo.resolve("python/tools/clean.py").unwrap();
        assert_eq!(
            (ok.relative.as_str(), ok.runtime),
            ("python/tools/clean.py", Runtime::Python)
        );
        assert_eq!(repo.resolve("./js/a.mjs").unwrap().relative, "js/a.mjs");
    }

    #[test]
    fn a_link_cannot_carry_a_write_outside() {
        let (dir, repo) = repo();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("python/escape")).unwrap();
        assert!(matches!(
            repo.resolve("python/escape/x.py"),
            Err(RepoError::InvalidPath(_))
        ));
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("python/link.py")).unwrap();
        assert!(matches!(
            repo.resolve("python/link.py"),
            Err(RepoError::InvalidPath(_))
        ));
    }

    #[test]
    fn write_read_delete_round_trip() {
        let (_dir, repo) = repo();
        let path = repo.resolve("python/new/tool.py").unwrap();
        repo.write(&path, "print(1)\n", true).unwrap();
        assert!(matches!(
            repo.write(&path, "x", true),
            Err(RepoError::Exists(_))
        ));
        repo.write(&path, "print(2)\n", false).unwrap();
        assert_eq!(repo.read(&path).unwrap(), "print(2)\n");
        repo.delete(&path).unwrap();
        assert!(matches!(repo.read(&path), Err(RepoError::Missing(_))));
        assert!(matches!(
            repo.write(&path, "x", false),
            Err(RepoError::Missing(_))
        ));
        assert!(matches!(
            repo.write(&path, &"x".repeat(MAX_SCRIPT_BYTES + 1), true),
            Err(RepoError::TooLarge)
        ));
    }

    #[test]
    fn names_too_long_for_the_file_system_are_invalid_paths() {
        let (_dir, repo) = repo();
        let cases = [
            (format!("python/{}.py", "a".repeat(245)), true),
            (format!("python/{}.py", "a".repeat(246)), false),
            (format!("python/{}.py", "a".repeat(300)), false),
            (format!("python/{}/x.py", "d".repeat(256)), false),
            (
                format!("python/{}x.py", format!("{}/", "d".repeat(200)).repeat(5)),
                true,
            ),
            (
                format!("python/{}x.py", format!("{}/", "d".repeat(200)).repeat(6)),
                false,
            ),
        ];
        for (path, ok) in cases {
            let got = repo.resolve(&path);
            assert_eq!(
                !matches!(got, Err(RepoError::InvalidPath(_))),
                ok,
                "{} bytes: {got:?}",
                path.len()
            );
        }
    }
}
