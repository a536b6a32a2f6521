//! The script file a run starts, checked again right before it starts. The catalog only
//! lists regular files inside `scripts_repo` (the scanner never follows links), so a file
//! or folder swapped for a link since the last scan, or a path stepping out (`..`), is refused.

use std::path::{Path, PathBuf};

/// The absolute path of `relative` under `repo`, if it is still a regular file reached
/// through no symbolic link and inside the repository; else why not.
pub fn check(repo: &Path, relative: &str) -> Result<PathBuf, String> {
    let mut current = repo.to_path_buf();
    let parts: Vec<&str> = relative.split('/').collect();
    for (index, part) in parts.iter().enumerate() {
        if matches!(*part, "" | "." | "..") {
            return Err("is not a plain path inside the scripts folder".into());
        }
        current.push(part);
        let shown = parts[..=index].join("/");
        let meta = std::fs::symlink_metadata(&current).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("{shown} no longer exists"),
            _ => format!("{shown} cannot be read ({e})"),
        })?;
        if meta.file_type().is_symlink() {
            return Err(format!("{shown} is now a symbolic link"));
        }
        if index + 1 == parts.len() && !meta.is_file() {
            return Err(format!("{shown} is no longer a regular file"));
        }
    }
    // Every step below the repository was a plain name and no link, so the file is inside
    // it wherever the repository itself resolves to: no second walk (`canonicalize`) needed.
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn only_regular_files_reached_without_links_pass() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(repo.join("python/grp")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(repo.join("python/a.py"), "").unwrap();
        std::fs::write(outside.join("b.py"), "").unwrap();
        symlink(outside.join("b.py"), repo.join("python/link.py")).unwrap();
        symlink(&outside, repo.join("python/out")).unwrap();
        let cases = [
            ("python/a.py", Ok(())),
            ("python/link.py", Err("is now a symbolic link")),
            ("python/out/b.py", Err("python/out is now a symbolic link")),
            ("python/gone.py", Err("no longer exists")),
            ("python/grp", Err("no longer a regular file")),
            ("python/../python/a.py", Err("not a plain path")),
        ];
        for (relative, expected) in cases {
            let got = check(&repo, relative);
            match expected {
                Ok(()) => assert_eq!(got, Ok(repo.join(relative)), "{relative}"),
                Err(part) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(part)),
                    "{relative}: {got:?}"
                ),
            }
        }
    }
}
