//! A session's files through the manager: the confined file operations of `files`, run on
//! the blocking pool against the folder of a live session.

use crate::process;

use super::files::{self, FileEntry, FileError};
use super::{SessionError, SessionManager};

/// Largest file read through the API.
const MAX_FILE_READ: u64 = 256 * 1024 * 1024;

impl SessionManager {
    pub async fn list_files(&self, id: &str) -> Result<Vec<FileEntry>, SessionError> {
        let work = self.find(id)?.work();
        blocking(move || files::list(&work)).await
    }

    pub async fn read_file(&self, id: &str, path: String) -> Result<Vec<u8>, SessionError> {
        let work = self.find(id)?.work();
        blocking(move || files::read(&work, &path, MAX_FILE_READ)).await
    }

    pub async fn write_file(
        &self,
        id: &str,
        path: String,
        bytes: Vec<u8>,
    ) -> Result<u64, SessionError> {
        let work = self.find(id)?.work();
        let owner = process::contain::current()
            .run_as()
            .map(|user| (user.uid, user.gid));
        blocking(move || files::write(&work, &path, &bytes, owner)).await
    }

    pub async fn delete_file(&self, id: &str, path: String) -> Result<(), SessionError> {
        let work = self.find(id)?.work();
        blocking(move || files::delete(&work, &path)).await
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, FileError> + Send + 'static,
) -> Result<T, SessionError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SessionError::Io(std::io::Error::other(e)))?
        .map_err(SessionError::File)
}
