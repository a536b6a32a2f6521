//! The `<stem>._map.json` file written beside each loaded script.

use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub const SUFFIX: &str = "._map.json";

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
pub fn write(script: &Path, schema: &Value) -> io::Result<()> {
    let path = path_for(script);
    let mut text = serde_json::to_string_pretty(schema).map_err(io::Error::other)?;
    text.push('\n');
    if std::fs::read_to_string(&path).is_ok_and(|current| current == text) {
        return Ok(());
    }
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, &text)?;
    std::fs::rename(&temporary, &path)
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
}
