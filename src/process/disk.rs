//! The per-run disk cap: the run's folder is measured while the run goes, and the run is
//! stopped as soon as it holds more than it may.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a running child's folder is measured.
const EVERY: Duration = Duration::from_millis(100);

/// The folder a run may fill, and how far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCap {
    pub folder: PathBuf,
    pub max_bytes: u64,
}

/// Resolves once the folder holds more than its cap; never without a cap.
pub async fn exceeded(cap: Option<&DiskCap>) {
    let Some(cap) = cap else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(EVERY).await;
        let folder = cap.folder.clone();
        let used = tokio::task::spawn_blocking(move || usage(&folder))
            .await
            .unwrap_or(0);
        if used > cap.max_bytes {
            return;
        }
    }
}

/// Bytes allocated on disk under `folder` (sparse files count what they really hold);
/// every entry counts at least one block, so a flood of empty files counts too.
fn usage(folder: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0u64;
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            total = total.saturating_add((meta.blocks() * 512).max(4096));
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    total
}
