//! The one owner of the run-folder layout (`runs/<id>/{uploads,work,tmp}`, stored output,
//! `events.jsonl`) and of the staging folder where uploads are written before their run exists.

use std::io;
use std::path::{Component, Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::catalog::{Run, RunFile};
use crate::domain::RawValue;

const UPLOADS: &str = "uploads";
const WORK: &str = "work";
const TMP: &str = "tmp";
const EVENT_LOG: &str = "events.jsonl";

const MAX_LISTED_FILES: usize = 1000;
const MAX_DEPTH: usize = 8;

/// Where uploads land before their run exists; removed on drop unless it becomes a run.
/// The folder is only created for the first upload, so runs without files cost nothing here.
pub struct Staging {
    parent: PathBuf,
    dir: Option<tempfile::TempDir>,
    next: usize,
}

impl Staging {
    pub fn new(runs_dir: &Path) -> Staging {
        Staging {
            parent: runs_dir.join(".staging"),
            dir: None,
            next: 0,
        }
    }

    /// The staging folder, if anything was uploaded.
    pub fn path(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// A fresh path for an uploaded file, keeping a safe form of the name the client gave.
    fn reserve(&mut self, client_name: &str) -> io::Result<(String, PathBuf)> {
        let dir = match &mut self.dir {
            Some(dir) => dir,
            empty => {
                std::fs::create_dir_all(&self.parent)?;
                let created = tempfile::Builder::new()
                    .prefix("upload-")
                    .tempdir_in(&self.parent)?;
                empty.insert(created)
            }
        };
        self.next += 1;
        let folder = dir.path().join(self.next.to_string());
        std::fs::create_dir(&folder)?;
        let name = safe_file_name(client_name);
        let path = folder.join(&name);
        Ok((name, path))
    }

    /// Opens a new file for an upload named `client_name` by the client; the caller writes
    /// the upload's bytes through it as they arrive.
    pub fn open_upload(&mut self, client_name: &str) -> io::Result<Upload> {
        let (file_name, path) = self.reserve(client_name)?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Upload {
            file_name,
            path,
            file: tokio::fs::File::from_std(file),
            size: 0,
        })
    }

    /// Moves the uploads (if any) to `destination` for good.
    pub fn keep_as(self, destination: &Path) -> io::Result<()> {
        match self.dir {
            Some(dir) => std::fs::rename(dir.keep(), destination),
            None => Ok(()),
        }
    }
}

/// One upload being written into staging, in a file of its own (never an existing one).
pub struct Upload {
    file_name: String,
    path: PathBuf,
    file: tokio::fs::File,
    size: u64,
}

impl Upload {
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.file.write_all(chunk).await?;
        self.size += chunk.len() as u64;
        Ok(())
    }

    /// The upload, complete, as the parameter value that names it.
    pub async fn finish(mut self) -> io::Result<RawValue> {
        self.file.flush().await?;
        Ok(RawValue::Upload {
            file_name: self.file_name,
            path: self.path,
            size: self.size,
        })
    }
}

/// The layout of `DATA_DIR/runs/<id>/`.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn new(runs_dir: &Path, run_id: i64) -> RunDir {
        RunDir {
            root: runs_dir.join(run_id.to_string()),
        }
    }

    /// The folder recorded for a run, if it has one.
    pub fn of(run: &Run) -> Option<RunDir> {
        Some(RunDir {
            root: PathBuf::from(run.run_dir.as_ref()?),
        })
    }

    pub fn uploads(&self) -> PathBuf {
        self.root.join(UPLOADS)
    }

    /// The script's working directory; what it writes here becomes the run's files.
    pub fn work(&self) -> PathBuf {
        self.root.join(WORK)
    }

    pub fn tmp(&self) -> PathBuf {
        self.root.join(TMP)
    }

    /// One `[stream, line]` JSON array per line the run printed, in order.
    pub fn event_log(&self) -> PathBuf {
        self.root.join(EVENT_LOG)
    }

    /// Where non-JSON stdout is kept, under a name ending in `extension`; (name, path).
    pub fn new_output(&self, extension: &str) -> (String, PathBuf) {
        let name = format!("output.{extension}");
        let path = self.root.join(&name);
        (name, path)
    }

    /// The stored stdout named `name` (as the run's record names it).
    pub fn output(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// A file the run produced, if `name` is one of `recorded` and resolves inside `work`.
    pub fn file(&self, name: &str, recorded: &[RunFile]) -> Option<PathBuf> {
        resolve_file(&self.work(), name, recorded)
    }

    pub fn create(&self) -> io::Result<()> {
        // The runs folder exists already but for the first run: three mkdirs, no failed one.
        match std::fs::create_dir(&self.root) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&self.root)?
            }
            other => other?,
        }
        std::fs::create_dir(self.work())?;
        std::fs::create_dir(self.tmp())
    }
}

/// The path of a file a run produced, if `name` is one of its recorded files.
pub fn run_file_path(run: &Run, name: &str) -> Option<PathBuf> {
    RunDir::of(run)?.file(name, &run.files)
}

/// The path of a run's stored raw stdout.
pub fn run_output_path(run: &Run) -> Option<PathBuf> {
    Some(RunDir::of(run)?.output(run.output_file.as_ref()?))
}

/// A file name from a client, reduced to one harmless path component.
pub fn safe_file_name(client_name: &str) -> String {
    let base = client_name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '+' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.');
    let cleaned: String = cleaned.chars().take(120).collect();
    if cleaned.is_empty() {
        "upload".to_string()
    } else {
        cleaned
    }
}

/// Regular files under `work`, with '/'-separated relative names; links are never followed.
pub fn collect_files(work: &Path) -> Vec<RunFile> {
    let mut files = Vec::new();
    collect_into(work, work, 0, &mut files);
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

fn collect_into(root: &Path, dir: &Path, depth: usize, files: &mut Vec<RunFile>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if files.len() >= MAX_LISTED_FILES {
            return;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() && depth < MAX_DEPTH {
            collect_into(root, &path, depth + 1, files);
        } else if kind.is_file() {
            // A name that is not UTF-8 could never be asked for by URL; it is not listed.
            if path.to_str().is_none() {
                continue;
            }
            let name = path.strip_prefix(root).unwrap_or(&path);
            let name = name
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            files.push(RunFile { name, size });
        }
    }
}

/// The on-disk path of a run file, only if `name` is one the run recorded and it still
/// resolves inside `work` (no `..`, no absolute path, no link leading out).
fn resolve_file(work: &Path, name: &str, recorded: &[RunFile]) -> Option<PathBuf> {
    if !recorded.iter().any(|f| f.name == name) {
        return None;
    }
    let relative = Path::new(name);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let path = work.join(relative);
    let real = path.canonicalize().ok()?;
    let real_work = work.canonicalize().ok()?;
    (real.starts_with(&real_work) && real.is_file()).then_some(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_file_names_become_one_safe_component() {
        let cases = [
            ("photo.png", "photo.png"),
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\me\\report.pdf", "report.pdf"),
            (".bashrc", "bashrc"),
            ("..", "upload"),
            ("", "upload"),
            ("a;rm -rf $(x).txt", "a_rm -rf __x_.txt"),
            ("résumé.pdf", "résumé.pdf"),
        ];
        for (given, expected) in cases {
            assert_eq!(safe_file_name(given), expected, "{given:?}");
        }
        assert_eq!(safe_file_name(&"x".repeat(500)).len(), 120);
    }

    #[test]
    fn files_are_listed_and_resolved_only_inside_the_work_folder() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(work.join("sub")).unwrap();
        std::fs::write(work.join("a.txt"), "abc").unwrap();
        std::fs::write(work.join("sub/b.csv"), "1,2").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), work.join("link")).unwrap();
        let files = collect_files(&work);
        assert_eq!(
            files,
            [
                RunFile {
                    name: "a.txt".into(),
                    size: 3
                },
                RunFile {
                    name: "sub/b.csv".into(),
                    size: 3
                }
            ]
        );
        assert!(resolve_file(&work, "sub/b.csv", &files).is_some());
        let forged = [
            RunFile {
                name: "../secret".into(),
                size: 1,
            },
            RunFile {
                name: "link".into(),
                size: 1,
            },
        ];
        assert!(
            resolve_file(&work, "../secret", &forged).is_none(),
            "parent components are refused"
        );
        assert!(
            resolve_file(&work, "link", &forged).is_none(),
            "links leading out are refused"
        );
        assert!(resolve_file(&work, "missing.txt", &files).is_none());
    }

    #[test]
    fn staging_is_removed_unless_kept() {
        let runs = tempfile::tempdir().unwrap();
        assert!(
            Staging::new(runs.path()).path().is_none(),
            "nothing is created before an upload"
        );
        let mut staging = Staging::new(runs.path());
        let (name, path) = staging.reserve("../x.bin").unwrap();
        assert_eq!(name, "x.bin");
        std::fs::write(&path, b"1").unwrap();
        let staged = staging.path().unwrap().to_path_buf();
        drop(staging);
        assert!(!staged.exists());
        let mut staging = Staging::new(runs.path());
        let (_, path) = staging.reserve("y").unwrap();
        std::fs::write(&path, b"1").unwrap();
        let destination = runs.path().join("7");
        staging.keep_as(&destination).unwrap();
        assert!(destination.join("1/y").is_file());
    }

    #[tokio::test]
    async fn uploads_are_written_into_staging_and_named_as_parameters() {
        let runs = tempfile::tempdir().unwrap();
        let mut staging = Staging::new(runs.path());
        let mut upload = staging.open_upload("../a b.txt").unwrap();
        upload.write(b"12").await.unwrap();
        upload.write(b"345").await.unwrap();
        let RawValue::Upload {
            file_name,
            path,
            size,
        } = upload.finish().await.unwrap()
        else {
            panic!("a finished upload names its file");
        };
        assert_eq!((file_name.as_str(), size), ("a b.txt", 5));
        assert_eq!(std::fs::read(&path).unwrap(), b"12345");
        assert!(path.starts_with(staging.path().unwrap()));
    }
}
