//! The caches on disk: `deps_cache/python/<md5>/`, `deps_cache/nodejs/<md5>/`, built in a
//! temporary folder beside them, renamed into place, and marked complete last. All of it
//! is blocking file-system work: call it from the blocking pool.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::Runtime;

use super::set::{is_hash, DepsKey};

/// Written last into a finished cache; a folder without it is not a cache.
pub const MARKER: &str = ".sg-complete";
/// The link that names the shared set of a runtime.
pub const SHARED: &str = "shared";
const TEMP_PREFIX: &str = ".tmp-";
const OLD_PREFIX: &str = ".old-";

static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// The layout of `DATA_DIR/deps_cache`.
#[derive(Debug, Clone)]
pub struct CacheStore {
    root: PathBuf,
}

impl CacheStore {
    pub fn new(root: PathBuf) -> CacheStore {
        CacheStore { root }
    }

    pub fn runtime_dir(&self, runtime: Runtime) -> PathBuf {
        self.root.join(match runtime {
            Runtime::Python => "python",
            Runtime::Js => "nodejs",
        })
    }

    pub fn dir(&self, key: &DepsKey) -> PathBuf {
        self.runtime_dir(key.runtime).join(&key.hash)
    }

    /// The installers' HOME: where pip, uv and npm keep their own download caches.
    pub fn home(&self) -> PathBuf {
        self.root.join(".home")
    }

    /// Gateway-owned helper files (the ES-module resolve hook).
    pub fn support_dir(&self) -> PathBuf {
        self.root.join(".sg")
    }

    /// Creates the folders the store needs and clears what an interrupted install left.
    pub fn prepare(&self) -> io::Result<()> {
        for dir in [self.home(), self.support_dir()] {
            std::fs::create_dir_all(dir)?;
        }
        for runtime in Runtime::ALL {
            let dir = self.runtime_dir(runtime);
            std::fs::create_dir_all(&dir)?;
            for entry in std::fs::read_dir(&dir)?.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().to_string();
                if name.starts_with(TEMP_PREFIX) || name.starts_with(OLD_PREFIX) {
                    remove_tree(&entry.path())?;
                }
            }
        }
        Ok(())
    }

    /// Whether the cache of `key` was completely installed.
    pub fn is_complete(&self, key: &DepsKey) -> bool {
        self.dir(key).join(MARKER).is_file()
    }

    /// A fresh, empty folder to build the cache of `key` in.
    pub fn temp_dir(&self, key: &DepsKey) -> io::Result<PathBuf> {
        let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
        let name = format!("{TEMP_PREFIX}{}-{}-{n}", key.hash, std::process::id());
        let dir = self.runtime_dir(key.runtime).join(name);
        remove_tree(&dir)?;
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Moves a finished build into place (replacing an older cache of the same key) and
    /// writes the completion marker last.
    pub fn commit(&self, key: &DepsKey, built: &Path, marker: &str) -> io::Result<()> {
        let dir = self.dir(key);
        let old = match dir.exists() {
            true => {
                let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
                let old = self.runtime_dir(key.runtime).join(format!(
                    "{OLD_PREFIX}{}-{}-{n}",
                    key.hash,
                    std::process::id()
                ));
                std::fs::rename(&dir, &old)?;
                Some(old)
            }
            false => None,
        };
        if let Err(error) = std::fs::rename(built, &dir) {
            if let Some(old) = &old {
                let _ = std::fs::rename(old, &dir);
            }
            return Err(error);
        }
        std::fs::write(dir.join(MARKER), marker)?;
        if let Some(old) = old {
            let _ = remove_tree(&old);
        }
        Ok(())
    }

    /// Unmarks and removes the cache of `key`; returns the bytes freed.
    pub fn remove(&self, key: &DepsKey) -> io::Result<u64> {
        let dir = self.dir(key);
        let size = size_of(&dir);
        match std::fs::remove_file(dir.join(MARKER)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        remove_tree(&dir)?;
        Ok(size)
    }

    /// Every cache folder on disk, complete or not.
    pub fn list(&self) -> Vec<DepsKey> {
        let mut keys = Vec::new();
        for runtime in Runtime::ALL {
            let Ok(entries) = std::fs::read_dir(self.runtime_dir(runtime)) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().to_string();
                if is_hash(&name) && entry.file_type().is_ok_and(|t| t.is_dir()) {
                    keys.push(DepsKey {
                        runtime,
                        hash: name,
                    });
                }
            }
        }
        keys.sort();
        keys
    }

    /// The shared set's folder as runs see it: `deps_cache/<runtime>/shared`.
    pub fn shared_path(&self, runtime: Runtime) -> PathBuf {
        self.runtime_dir(runtime).join(SHARED)
    }

    /// The hash the shared link of `runtime` points at, if it has one.
    pub fn shared_hash(&self, runtime: Runtime) -> Option<String> {
        let target = std::fs::read_link(self.shared_path(runtime)).ok()?;
        let name = target.file_name()?.to_str()?.to_string();
        is_hash(&name).then_some(name)
    }

    /// Points the shared link of the key's runtime at its cache, atomically.
    pub fn point_shared(&self, key: &DepsKey) -> io::Result<()> {
        let link = self.shared_path(key.runtime);
        let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
        let temp = self
            .runtime_dir(key.runtime)
            .join(format!("{TEMP_PREFIX}link-{}-{n}", std::process::id()));
        let _ = std::fs::remove_file(&temp);
        std::os::unix::fs::symlink(&key.hash, &temp)?;
        std::fs::rename(&temp, &link)
    }
}

/// Bytes in a folder tree (symbolic links are not followed).
pub fn size_of(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => size_of(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

fn remove_tree(dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hash: char) -> DepsKey {
        DepsKey {
            runtime: Runtime::Python,
            hash: hash.to_string().repeat(32),
        }
    }

    #[test]
    fn a_cache_is_complete_only_once_committed() {
        let root = tempfile::tempdir().unwrap();
        let store = CacheStore::new(root.path().join("deps_cache"));
        store.prepare().unwrap();
        let k = key('a');
        let built = store.temp_dir(&k).unwrap();
        std::fs::write(built.join("pkg.py"), "X = 1\n").unwrap();
        assert!(!store.is_complete(&k));
        store.commit(&k, &built, "{}").unwrap();
        assert!(store.is_complete(&k));
        assert!(store.dir(&k).join("pkg.py").is_file());
        assert!(!built.exists());
        assert_eq!(store.list(), std::slice::from_ref(&k));

        let again = store.temp_dir(&k).unwrap();
        std::fs::write(again.join("pkg.py"), "X = 2\n").unwrap();
        store.commit(&k, &again, "{}").unwrap();
        assert_eq!(
            std::fs::read_to_string(store.dir(&k).join("pkg.py")).unwrap(),
            "X = 2\n"
        );
        assert_eq!(
            std::fs::read_dir(store.runtime_dir(Runtime::Python))
                .unwrap()
                .count(),
            1,
            "no leftovers"
        );

        assert!(store.remove(&k).unwrap() > 0);
        assert!(!store.dir(&k).exists());
    }

    #[test]
    fn prepare_clears_interrupted_builds_and_shared_links_swap() {
        let root = tempfile::tempdir().unwrap();
        let store = CacheStore::new(root.path().to_path_buf());
        store.prepare().unwrap();
        let leftover = store.temp_dir(&key('b')).unwrap();
        store.prepare().unwrap();
        assert!(!leftover.exists());

        for k in [key('c'), key('d')] {
            let built = store.temp_dir(&k).unwrap();
            store.commit(&k, &built, "{}").unwrap();
            store.point_shared(&k).unwrap();
            assert_eq!(store.shared_hash(Runtime::Python), Some(k.hash.clone()));
            assert!(store.shared_path(Runtime::Python).join(MARKER).is_file());
        }
        assert_eq!(store.list().len(), 2, "the link is not a cache");
    }
}
