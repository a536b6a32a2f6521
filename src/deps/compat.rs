//! The modules the gateway gives every run, written beside the caches: for Python the
//! original gateway's helper modules (`src.core.error_handler`, `src.utils.logger`) and the
//! script SDK (`scriptgateway_sdk`), all from `compat/python`, last on `PYTHONPATH`; for JS
//! the SDK package (`compat/node/scriptgateway-sdk`), last on `NODE_PATH`; and the launcher
//! that starts Python SDK scripts (`compat/launch`).
//!
//! The original's helpers are namespace packages (no `__init__.py`): a script's or group's
//! own `src` folder still wins for its own modules, and Python merges it with these.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};

static PYTHON: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/compat/python");
static NODE: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/compat/node");
static LAUNCH: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/compat/launch");

/// The launcher's file name inside the folder [`write_python_launcher`] fills.
pub const LAUNCHER: &str = "sg_launch.py";

/// Writes the Python modules under `root` (each file only when it changed), readable by
/// the run user.
pub fn write_python_helpers(root: &Path) -> io::Result<()> {
    write_tree(&PYTHON, root)
}

/// Writes the JS packages into `node_modules` (a folder for `NODE_PATH`).
pub fn write_node_helpers(node_modules: &Path) -> io::Result<()> {
    write_tree(&NODE, node_modules)
}

/// Writes the launcher of Python SDK scripts alone into `folder` (Python puts the folder of
/// the file it starts first on `sys.path`, so nothing else may live there) and returns its path.
pub fn write_python_launcher(folder: &Path) -> io::Result<PathBuf> {
    write_tree(&LAUNCH, folder)?;
    Ok(folder.join(LAUNCHER))
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
        assert!(root.path().join("scriptgateway_sdk/__init__.py").is_file());
    }

    #[test]
    fn the_sdk_ships_for_node_and_the_launcher_sits_alone() {
        let root = tempfile::tempdir().unwrap();
        let modules = root.path().join("node/node_modules");
        write_node_helpers(&modules).unwrap();
        let package = fs::read_to_string(modules.join("scriptgateway-sdk/package.json")).unwrap();
        assert!(package.contains("\"require\"") && package.contains("\"import\""));
        let launcher = write_python_launcher(&root.path().join("launch")).unwrap();
        assert!(fs::read_to_string(&launcher)
            .unwrap()
            .contains("scriptgateway_sdk"));
        let beside: Vec<_> = fs::read_dir(root.path().join("launch")).unwrap().collect();
        assert_eq!(beside.len(), 1, "only the launcher in its folder");
    }
}
