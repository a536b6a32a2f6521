//! Watches the runtime folders and signals when something a scan cares about changed.
//!
//! Built on inotify itself rather than the `notify` crate: notify asks the kernel for
//! IN_OPEN on every folder it watches, so each run (the interpreter opening its script, the
//! import system listing its folder) woke two gateway threads for nothing. Here the kernel
//! reports only creations, writes, renames and removals, and folders a scan never enters
//! (`node_modules`, `__pycache__`, hidden ones) are not watched at all.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use inotify::{Event, EventMask, EventStream, Inotify, WatchDescriptor, WatchMask, Watches};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::sidecar;
use crate::repo::is_ignored_folder;

/// The runtime folders under the repository; nothing else in it is ever scanned.
const RUNTIME_FOLDERS: [&str; 2] = ["python", "js"];
/// A steady stream of changes (a log file written in a loop) still gets its scan after this
/// many quiet times.
const LONGEST_WAIT_IN_QUIET_TIMES: u32 = 5;

/// Keeps the watch alive; dropping it stops watching.
pub struct RepoWatcher {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RepoWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches `repo`'s runtime folders recursively; once changes stop for `debounce`, sends
/// one message (a full channel means a scan is already pending, which is enough). Must be
/// called on a tokio runtime.
pub fn watch(
    repo: &Path,
    debounce: Duration,
    changed: mpsc::Sender<()>,
) -> io::Result<RepoWatcher> {
    let inotify = Inotify::init()?;
    let mut tree = Tree {
        root: repo.to_path_buf(),
        watches: inotify.watches(),
        folders: HashMap::new(),
        out_of_watches: false,
    };
    tree.watch_folder(repo, root_mask())?;
    // Every folder is watched before this returns, so the first scan (started after it)
    // cannot miss a file saved while it runs.
    for name in RUNTIME_FOLDERS {
        tree.add_recursively(&repo.join(name));
    }
    let events = inotify.into_event_stream(vec![0u8; 64 * 1024])?;
    let task = tokio::spawn(forward(events, tree, debounce, changed));
    Ok(RepoWatcher { task })
}

/// Creations, content writes, renames and removals; never opens, reads or metadata changes
/// (reading the folder during a scan or a run must not wake the gateway).
fn folder_mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MODIFY
        | WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::DONT_FOLLOW
}

/// At the root only the runtime folders' arrival and departure matter.
fn root_mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
}

async fn forward(
    mut events: EventStream<Vec<u8>>,
    mut tree: Tree,
    debounce: Duration,
    changed: mpsc::Sender<()>,
) {
    // (when the batch goes out, the latest it may go out)
    let mut due: Option<(Instant, Instant)> = None;
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = tokio::time::sleep_until(due.map_or_else(Instant::now, |(at, _)| at)), if due.is_some() => {
                due = None;
                let _ = changed.try_send(());
                continue;
            }
        };
        match event {
            None => return,
            Some(Err(error)) => {
                tracing::error!(%error, "the scripts folder's watch failed; relying on the periodic rescan");
                return;
            }
            Some(Ok(event)) => {
                if tree.handle(&event) {
                    let now = Instant::now();
                    let latest = due.map_or(now + debounce * LONGEST_WAIT_IN_QUIET_TIMES, |d| d.1);
                    due = Some(((now + debounce).min(latest), latest));
                }
            }
        }
    }
}

/// The watched folders, by the descriptor the kernel reports events with.
struct Tree {
    root: PathBuf,
    watches: Watches,
    folders: HashMap<WatchDescriptor, PathBuf>,
    out_of_watches: bool,
}

impl Tree {
    /// Updates the watches for one event; whether it is a change a scan must see.
    fn handle(&mut self, event: &Event<std::ffi::OsString>) -> bool {
        if event.mask.contains(EventMask::Q_OVERFLOW) {
            return true; // events were lost: only a scan knows what changed
        }
        if event.mask.contains(EventMask::IGNORED) {
            self.folders.remove(&event.wd);
            return false;
        }
        let Some(folder) = self.folders.get(&event.wd).cloned() else {
            return false;
        };
        if event
            .mask
            .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF)
        {
            return folder == self.root || is_relevant_path(&self.root, &folder);
        }
        let Some(name) = event.name.as_deref() else {
            return false;
        };
        let path = folder.join(name);
        if event.mask.contains(EventMask::ISDIR) {
            if event
                .mask
                .intersects(EventMask::CREATE | EventMask::MOVED_TO)
            {
                self.add_recursively(&path);
            } else if event.mask.contains(EventMask::MOVED_FROM) {
                self.forget_below(&path);
            }
        }
        is_relevant_path(&self.root, &path)
    }

    /// Watches a folder and every folder below it that a scan would enter (without
    /// recursion: a tree can be as deep as paths are long).
    fn add_recursively(&mut self, top: &Path) {
        let mut pending = vec![top.to_path_buf()];
        while let Some(folder) = pending.pop() {
            if !self.enters(&folder) || self.watch_folder(&folder, folder_mask()).is_err() {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            // file_type does not follow symlinks: a link to a folder is not entered.
            pending.extend(
                entries
                    .flatten()
                    .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|entry| entry.path()),
            );
        }
    }

    fn enters(&self, folder: &Path) -> bool {
        let Ok(relative) = folder.strip_prefix(&self.root) else {
            return false;
        };
        let mut parts = relative.components().map(|c| c.as_os_str());
        parts
            .next()
            .is_some_and(|first| RUNTIME_FOLDERS.iter().any(|r| OsStr::new(r) == first))
            && parts.all(|part| !is_ignored_folder(&part.to_string_lossy()))
    }

    fn watch_folder(&mut self, folder: &Path, mask: WatchMask) -> io::Result<()> {
        match self.watches.add(folder, mask) {
            Ok(wd) => {
                // A folder renamed inside the repository keeps its descriptor: the new path wins.
                self.folders.insert(wd, folder.to_path_buf());
                Ok(())
            }
            Err(error) => {
                if error.raw_os_error() == Some(libc::ENOSPC) && !self.out_of_watches {
                    self.out_of_watches = true;
                    tracing::warn!(
                        "no inotify watches left (fs.inotify.max_user_watches): changes below {} are found by the periodic rescan",
                        folder.display()
                    );
                }
                Err(error)
            }
        }
    }

    /// A folder moved away: its watches go (a move back in adds them again).
    fn forget_below(&mut self, folder: &Path) {
        let gone: Vec<WatchDescriptor> = self
            .folders
            .iter()
            .filter(|(_, path)| path.starts_with(folder))
            .map(|(wd, _)| wd.clone())
            .collect();
        for wd in gone {
            self.folders.remove(&wd);
            let _ = self.watches.remove(wd);
        }
    }
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
mod tests;
