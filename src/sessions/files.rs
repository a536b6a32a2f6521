//! A session's files, confined to its folder: a path is relative, without `..`, and every
//! component is opened relative to the one before with `O_NOFOLLOW`, so neither a `..` nor a
//! symlink the session's code planted (even one swapped in while a request runs) can lead
//! outside. Blocking: called on the blocking pool.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::Serialize;

/// At most this many entries are listed.
const MAX_LISTED: usize = 10_000;

/// Why a path or file was refused.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the path {0:?} is not allowed: {1}")]
    Unsafe(String, &'static str),
    #[error("there is no file {0:?} in the session's folder")]
    NotFound(String),
    #[error("{0:?} is larger than {1} bytes")]
    TooLarge(String, u64),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// One entry of a session's folder.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileEntry {
    /// Relative to the session's folder, `/`-separated.
    pub path: String,
    /// `file`, `dir`, `symlink` or `other`.
    pub kind: &'static str,
    pub size: u64,
}

/// The components of a client's path, or why it is refused.
pub fn components(path: &str) -> Result<Vec<&str>, FileError> {
    let refuse = |why| Err(FileError::Unsafe(path.to_string(), why));
    if path.contains('\0') {
        return refuse("it holds a NUL byte");
    }
    if path.starts_with('/') {
        return refuse("it is absolute");
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    if parts.contains(&"..") {
        return refuse("it holds a `..` component");
    }
    if parts.is_empty() {
        return refuse("it names no file");
    }
    Ok(parts)
}

fn c_name(part: &str) -> io::Result<CString> {
    CString::new(part).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn open_at(dir: Option<&OwnedFd>, name: &CString, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let base = dir.map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd);
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: openat with a valid descriptor (or AT_FDCWD) and a NUL-terminated name.
    let fd = unsafe { libc::openat(base, name.as_ptr(), flags, mode) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes missing folders on the way, given to their owner.
#[derive(Clone, Copy)]
enum Missing {
    Refuse,
    Create(Option<(u32, u32)>),
}

/// The folder holding the last component, walked from `root` one component at a time.
fn parent_of(
    root: &Path,
    path: &str,
    parts: &[&str],
    missing: Missing,
) -> Result<OwnedFd, FileError> {
    let root = CString::new(root.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let directory = libc::O_DIRECTORY | libc::O_RDONLY;
    let mut dir = open_at(None, &root, directory, 0)?;
    for part in &parts[..parts.len() - 1] {
        let name = c_name(part)?;
        // SAFETY: mkdirat with a valid descriptor and a NUL-terminated name.
        let made = matches!(missing, Missing::Create(_))
            && unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) } == 0;
        dir = open_at(Some(&dir), &name, directory, 0).map_err(|e| refusal(path, e))?;
        if let (true, Missing::Create(Some((uid, gid)))) = (made, missing) {
            std::os::unix::fs::fchown(&dir, Some(uid), Some(gid))?;
        }
    }
    Ok(dir)
}

/// An open that failed on a symlink says so; a missing component is a 404.
fn refusal(path: &str, error: io::Error) -> FileError {
    match error.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
            FileError::Unsafe(path.to_string(), "a component is a symlink or not a folder")
        }
        Some(libc::ENOENT) => FileError::NotFound(path.to_string()),
        _ => FileError::Io(error),
    }
}

/// The bytes of a regular file, refusing anything larger than `max_bytes`.
pub fn read(root: &Path, path: &str, max_bytes: u64) -> Result<Vec<u8>, FileError> {
    let parts = components(path)?;
    let dir = parent_of(root, path, &parts, Missing::Refuse)?;
    let name = c_name(parts[parts.len() - 1])?;
    let fd = open_at(Some(&dir), &name, libc::O_RDONLY | libc::O_NONBLOCK, 0)
        .map_err(|e| refusal(path, e))?;
    let mut file = std::fs::File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(FileError::Unsafe(
            path.to_string(),
            "it is not a regular file",
        ));
    }
    if meta.len() > max_bytes {
        return Err(FileError::TooLarge(path.to_string(), max_bytes));
    }
    let mut bytes = Vec::new();
    (&mut file).take(max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(FileError::TooLarge(path.to_string(), max_bytes));
    }
    Ok(bytes)
}

/// Writes (creating or replacing) a regular file, making its folders; `owner` gets it.
pub fn write(
    root: &Path,
    path: &str,
    bytes: &[u8],
    owner: Option<(u32, u32)>,
) -> Result<u64, FileError> {
    let parts = components(path)?;
    let dir = parent_of(root, path, &parts, Missing::Create(owner))?;
    let name = c_name(parts[parts.len() - 1])?;
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NONBLOCK;
    let fd = open_at(Some(&dir), &name, flags, 0o644).map_err(|e| refusal(path, e))?;
    let mut file = std::fs::File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(FileError::Unsafe(
            path.to_string(),
            "it is not a regular file",
        ));
    }
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
    }
    file.write_all(bytes)?;
    Ok(bytes.len() as u64)
}

/// Removes a file, a symlink (never what it points to) or an empty folder.
pub fn delete(root: &Path, path: &str) -> Result<(), FileError> {
    let parts = components(path)?;
    let dir = parent_of(root, path, &parts, Missing::Refuse)?;
    let name = c_name(parts[parts.len() - 1])?;
    // SAFETY: unlinkat with a valid descriptor and a NUL-terminated name.
    let mut done = unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) };
    if done != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EISDIR) {
        // SAFETY: as above.
        done = unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) };
    }
    if done != 0 {
        return Err(refusal(path, io::Error::last_os_error()));
    }
    Ok(())
}

/// Every entry under `root`, sorted by path; symlinks are listed, never followed.
pub fn list(root: &Path) -> Result<Vec<FileEntry>, FileError> {
    let mut entries = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            if entries.len() >= MAX_LISTED {
                break;
            }
            let entry = entry?;
            let meta = std::fs::symlink_metadata(entry.path())?;
            let kind = kind_of(&meta.file_type());
            if kind == "dir" {
                folders.push(entry.path());
            }
            let relative = entry.path();
            let relative = relative.strip_prefix(root).unwrap_or(&relative);
            entries.push(FileEntry {
                path: relative.to_string_lossy().into_owned(),
                kind,
                size: if kind == "file" { meta.size() } else { 0 },
            });
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

fn kind_of(kind: &std::fs::FileType) -> &'static str {
    if kind.is_symlink() {
        "symlink"
    } else if kind.is_dir() {
        "dir"
    } else if kind.is_file() {
        "file"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_leave_the_folder_are_refused() {
        let cases = [
            ("a.txt", Some(vec!["a.txt"])),
            ("sub/./b.txt", Some(vec!["sub", "b.txt"])),
            ("sub//b.txt", Some(vec!["sub", "b.txt"])),
            ("..", None),
            ("../etc/passwd", None),
            ("sub/../../x", None),
            ("/etc/passwd", None),
            ("a\0b", None),
            ("", None),
            ("./", None),
        ];
        for (path, want) in cases {
            let got = components(path).ok();
            assert_eq!(got, want, "{path:?}");
        }
    }

    #[test]
    fn files_round_trip_and_symlinks_out_are_refused_at_every_step() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        write(root.path(), "sub/a.txt", b"hi", None).unwrap();
        assert_eq!(read(root.path(), "sub/a.txt", 10).unwrap(), b"hi");
        std::os::unix::fs::symlink(outside.path(), root.path().join("out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("s")).unwrap();
        for path in ["out/secret", "s"] {
            let error = read(root.path(), path, 10).unwrap_err();
            assert!(matches!(error, FileError::Unsafe(..)), "{path}: {error}");
            let error = write(root.path(), path, b"x", None).unwrap_err();
            assert!(matches!(error, FileError::Unsafe(..)), "{path}: {error}");
        }
        assert_eq!(std::fs::read(outside.path().join("secret")).unwrap(), b"s");
        assert!(matches!(
            read(root.path(), "sub/a.txt", 1),
            Err(FileError::TooLarge(..))
        ));
        delete(root.path(), "s").unwrap();
        assert!(outside.path().join("secret").exists(), "the target stays");
        let listed: Vec<_> = list(root.path())
            .unwrap()
            .into_iter()
            .map(|e| (e.path, e.kind))
            .collect();
        assert_eq!(
            listed,
            [
                ("out".into(), "symlink"),
                ("sub".into(), "dir"),
                ("sub/a.txt".into(), "file")
            ]
        );
    }
}
