//! Watches the runtime folders and signals when something a scan cares about changed.

use std::path::Path;
use std::time::Duration;

use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use tokio::sync::mpsc;

use super::sidecar;
use crate::repo::is_ignored_folder;

/// Keeps the OS watch alive; dropping it stops watching.
pub struct RepoWatcher {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

/// Watches `repo` recursively; every debounced batch with a relevant change sends one
/// message (a full channel means a scan is already pending, which is enough).
pub fn watch(
    repo: &Path,
    debounce: Duration,
    changed: mpsc::Sender<()>,
) -> notify::Result<RepoWatcher> {
    let root = repo.to_path_buf();
    let mut debouncer = new_debouncer(debounce, None, move |result: DebounceEventResult| {
        let Ok(events) = result else { return };
        let relevant = events.iter().any(|event| {
            is_relevant_kind(&event.kind) && event.paths.iter().any(|p| is_relevant_path(&root, p))
        });
        if relevant {
            let _ = changed.try_send(());
        }
    })?;
    debouncer.watch(repo, RecursiveMode::Recursive)?;
    Ok(RepoWatcher {
        _debouncer: debouncer,
    })
}

/// Creations, content writes, renames and removals; never opens, reads or metadata changes
/// (reading the folder during a scan must not trigger another scan).
fn is_relevant_kind(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
    )
}

fn is_relevant_path(repo: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(repo) else {
        return false;
    };
    let mut parts = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy());
    if !matches!(parts.next().as_deref(), Some("python" | "js")) {
        return false;
    }
    let rest: Vec<_> = parts.collect();
    if rest.iter().any(|part| is_ignored_folder(part)) || sidecar::is_sidecar(path) {
        return false;
    }
    match path.extension().and_then(|e| e.to_str()) {
        None => true, // a folder, or a file a scan will judge
        Some(ext) => matches!(ext, "py" | "js" | "mjs" | "cjs" | "txt" | "json"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_script_and_dependency_changes_matter() {
        let repo = Path::new("/repo");
        let cases = [
            ("/repo/python/a.py", true),
            ("/repo/js/b.mjs", true),
            ("/repo/python/grp/requirements.txt", true),
            ("/repo/js/app/package.json", true),
            ("/repo/python/newfolder", true),
            ("/repo/python/a._map.json", false),
            ("/repo/python/a._map.json.tmp", false),
            ("/repo/python/__pycache__/a.cpython-311.pyc", false),
            ("/repo/js/node_modules/x/index.js", false),
            ("/repo/python/.git/index", false),
            ("/repo/python/notes.md", false),
            ("/repo/README.md", false),
            ("/elsewhere/python/a.py", false),
        ];
        for (path, expected) in cases {
            assert_eq!(is_relevant_path(repo, Path::new(path)), expected, "{path}");
        }
    }

    #[test]
    fn access_events_are_ignored() {
        use notify::event::{AccessKind, CreateKind, MetadataKind};
        assert!(!is_relevant_kind(&EventKind::Access(AccessKind::Any)));
        assert!(!is_relevant_kind(&EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::Any
        ))));
        assert!(is_relevant_kind(&EventKind::Create(CreateKind::File)));
    }
}
