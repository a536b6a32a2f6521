//! The original gateway's helper modules for Python scripts (`src.core.error_handler`,
//! `src.utils.logger`, kept in the top-level `compat/python` folder), written beside the
//! caches so every Python run and schema extraction finds them, last on `PYTHONPATH`.
//!
//! They are namespace packages (no `__init__.py`): a script's or group's own `src` folder
//! still wins for its own modules, and Python merges it with these for the rest.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use include_dir::{include_dir, Dir};

static PYTHON: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/compat/python");

/// Writes the helper modules under `root` (each file only when it changed), readable by
/// the run user.
pub fn write_python_helpers(root: &Path) -> io::Result<()> {
    write_tree(&PYTHON, root)
}

fn write_tree(tree: &Dir<'_>, root: &Path) -> io::Result<()> {
    let folder = root.join(tree.path());
    fs::create_dir_all(&folder)?;
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o755))?;
    for file in tree.files() {
        let path = root.join(file.path());
        if fs::read(&path).ok().as_deref() != Some(file.contents()) {
            let temporary = path.with_extension("tmp");
            fs::write(&temporary, file.contents())?;
            fs::set_permissions(&temporary, fs::Permissions::from_mode(0o644))?;
            fs::rename(&temporary, &path)?;
        }
    }
    tree.dirs().try_for_each(|dir| write_tree(dir, root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_modules_once_and_restores_a_changed_one() {
        let root = tempfile::tempdir().unwrap();
        write_python_helpers(root.path()).unwrap();
        let handler = root.path().join("src/core/error_handler.py");
        let logger = root.path().join("src/utils/logger.py");
        assert!(fs::read_to_string(&handler)
            .unwrap()
            .contains("def handle_script_errors"));
        assert!(fs::read_to_string(&logger)
            .unwrap()
            .contains("def get_script_logger"));
        assert!(
            !root.path().join("src/__init__.py").exists(),
            "namespace packages, so a script's own src folder is merged, not hidden"
        );
        let mode = fs::metadata(&handler).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        fs::write(&handler, "tampered").unwrap();
        write_python_helpers(root.path()).unwrap();
        assert!(fs::read_to_string(&handler)
            .unwrap()
            .contains("def handle_script_errors"));
    }
}
