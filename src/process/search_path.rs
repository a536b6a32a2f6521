//! `PATH`-style folder lists (`a:b:c`) and finding a program on one, without the process's
//! own environment: every list here is one the caller was given.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const SEPARATOR: u8 = b':';

/// The folders of a `PATH`-style list, in order (an empty entry stays, as an empty path).
pub fn split_search_path(list: &OsStr) -> Vec<PathBuf> {
    list.as_bytes()
        .split(|b| *b == SEPARATOR)
        .map(|part| PathBuf::from(OsStr::from_bytes(part)))
        .collect()
}

/// The folders as one `PATH`-style list; empty when a folder's name holds the separator.
pub fn join_search_path(folders: Vec<PathBuf>) -> OsString {
    if folders
        .iter()
        .any(|f| f.as_os_str().as_bytes().contains(&SEPARATOR))
    {
        return OsString::new();
    }
    let joined = folders
        .into_iter()
        .map(|f| f.into_os_string().into_vec())
        .collect::<Vec<_>>()
        .join(&SEPARATOR);
    OsString::from_vec(joined)
}

/// `program` as given (a path), or the first executable of that name in `search_path`.
pub fn find_program(program: &str, search_path: &[PathBuf]) -> Option<PathBuf> {
    let candidate = Path::new(program);
    if candidate.components().count() > 1 {
        return is_executable(candidate).then(|| candidate.to_path_buf());
    }
    search_path
        .iter()
        .map(|dir| dir.join(program))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_and_join_like_path_does() {
        let cases: [(&str, &[&str]); 4] = [
            ("/usr/bin:/bin", &["/usr/bin", "/bin"]),
            ("/only", &["/only"]),
            ("", &[""]),
            ("/a::/b", &["/a", "", "/b"]),
        ];
        for (list, folders) in cases {
            let split = split_search_path(OsStr::new(list));
            let expected: Vec<PathBuf> = folders.iter().map(PathBuf::from).collect();
            assert_eq!(split, expected, "split {list:?}");
            assert_eq!(
                join_search_path(split),
                OsString::from(list),
                "join {list:?}"
            );
        }
        assert!(
            join_search_path(vec!["/a:b".into()]).is_empty(),
            "a folder holding the separator cannot be listed"
        );
    }

    #[test]
    fn programs_are_found_on_the_given_list_only() {
        assert_eq!(
            find_program("sh", &split_search_path(OsStr::new("/nonexistent:/bin"))),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(
            find_program("sh", &split_search_path(OsStr::new("/nonexistent"))),
            None
        );
        assert_eq!(find_program("/bin/sh", &[]), Some(PathBuf::from("/bin/sh")));
    }
}
