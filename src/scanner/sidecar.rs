//! The `<stem>._map.json` file written beside each loaded script.

use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::repo::SIDECAR_SUFFIX as SUFFIX;

pub fn path_for(script: &Path) -> PathBuf {
    let stem = script
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("script");
    script.with_file_name(format!("{stem}{SUFFIX}"))
}

pub fn is_sidecar(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(SUFFIX))
}

/// Writes the sidecar unless it already holds exactly this content (so the watcher
/// and editors see no needless writes).
///
/// Nothing planted in the folder can redirect the write: the temporary file has a fresh
/// random name and is created with `O_EXCL` (a link there makes it fail, never followed),
/// and `rename` replaces whatever sits at the sidecar's name, a link included, without
/// writing through it. The temporary name ends in `._map.json`, so the watcher ignores it.
pub fn write(script: &Path, schema: &Value) -> io::Result<()> {
    let path = path_for(script);
    let mut text = serde_json::to_string_pretty(schema).map_err(io::Error::other)?;
    text.push('\n');
    if read_regular(&path).is_some_and(|current| current == text) {
        return Ok(());
    }
    let folder = path.parent().expect("a sidecar path has a folder");
    let mut temporary = tempfile::Builder::new()
        .prefix(".sg-")
        .suffix(SUFFIX)
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(folder)?;
    temporary.write_all(text.as_bytes())?;
    temporary.persist(&path).map_err(|e| e.error)?;
    Ok(())
}

/// The sidecar's text, if it is a regular file (a link there is not read through).
fn read_regular(path: &Path) -> Option<String> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    Some(text)
}

pub fn remove(script: &Path) -> io::Result<()> {
    match std::fs::remove_file(path_for(script)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sidecar_sits_beside_the_script() {
        assert_eq!(
            path_for(Path::new("/r/python/grp/main.py")),
            Path::new("/r/python/grp/main._map.json")
        );
        assert_eq!(
            path_for(Path::new("/r/js/tool.mjs")),
            Path::new("/r/js/tool._map.json")
        );
        assert!(is_sidecar(Path::new("/r/js/tool._map.json")));
        assert!(!is_sidecar(Path::new("/r/js/tool.js")));
    }

    #[test]
    fn write_then_remove() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("a.py");
        write(&script, &json!({"x": {"flag": "--x"}})).unwrap();
        let text = std::fs::read_to_string(path_for(&script)).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"x": {"flag": "--x"}})
        );
        remove(&script).unwrap();
        assert!(!path_for(&script).exists());
        remove(&script).unwrap();
    }

    #[test]
    fn links_planted_at_the_sidecar_or_old_temporary_names_are_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "untouched").unwrap();
        let folder = dir.path().join("python");
        std::fs::create_dir(&folder).unwrap();
        let script = folder.join("a.py");
        std::os::unix::fs::symlink(&outside, folder.join("a._map.json.tmp")).unwrap();
        std::os::unix::fs::symlink(&outside, path_for(&script)).unwrap();
        write(&script, &json!({"x": {}})).unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched");
        let sidecar = std::fs::symlink_metadata(path_for(&script)).unwrap();
        assert!(
            sidecar.file_type().is_file(),
            "the link was replaced by a file"
        );
        let entries = std::fs::read_dir(&folder).unwrap().count();
        assert_eq!(
            entries, 2,
            "the old link and the sidecar; no temporary file is left"
        );
    }
}
