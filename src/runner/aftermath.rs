//! A finished run's folder left as its record describes it (raw stdout and the event log
//! stored, the files listed, the scratch folder gone, the folders the gateway's again), and
//! the record written, in one trip to the blocking pool.

use crate::catalog::{Catalog, CatalogError, Run, RunEnd, RunFile};
use crate::process::{self, Stream};

use super::outcome;
use super::subject::PlacedInput;
use super::workspace::{self, RunDir};

const PREVIEW_BYTES: usize = 4 * 1024;

/// What the run left that the folder must keep.
pub struct Leftovers {
    /// Stdout that was not JSON, kept as a file.
    pub raw_stdout: Option<Vec<u8>>,
    /// Every line printed, in order, for clients that replay the run later.
    pub lines: Vec<(Stream, String)>,
    /// Input files put in the working folder; listed as the run's files only if changed.
    pub inputs: Vec<PlacedInput>,
}

/// Tidies the folder, fills in what `end` says about the stored output and files, and
/// records the run's end; returns the complete record.
pub async fn finish(
    catalog: &Catalog,
    run_id: i64,
    run_dir: &RunDir,
    leftovers: Leftovers,
    mut end: RunEnd,
) -> Result<Run, CatalogError> {
    let (catalog, run_dir) = (catalog.clone(), run_dir.clone());
    tokio::task::spawn_blocking(move || {
        let tidied = tidy(&run_dir, leftovers);
        end.files = tidied.files;
        end.event_log = tidied.event_log;
        if let Some(raw) = tidied.raw {
            if raw.content_type.starts_with("text/") {
                end.stdout_preview = Some(raw.preview);
            }
            end.output_file = Some(raw.name);
            end.output_size = Some(raw.size);
            end.output_content_type = Some(raw.content_type);
        }
        catalog.finish_run_here(run_id, end)
    })
    .await
    .map_err(|e| CatalogError::Task(e.to_string()))?
}

struct Tidied {
    files: Vec<RunFile>,
    raw: Option<StoredOutput>,
    event_log: Option<String>,
}

struct StoredOutput {
    name: String,
    size: u64,
    content_type: String,
    preview: String,
}

fn tidy(run_dir: &RunDir, leftovers: Leftovers) -> Tidied {
    let raw = leftovers
        .raw_stdout
        .and_then(|stdout| store_raw_output(&stdout, run_dir));
    let event_log = super::event_log::keep(run_dir, &leftovers.lines);
    let mut files = workspace::collect_files(&run_dir.work());
    files.retain(|file| !unchanged_input(&run_dir.work(), file, &leftovers.inputs));
    // Scratch files go at once; an empty scratch folder stays until the run's folder goes
    // (removing it would cost a journal write on every run).
    let tmp = run_dir.tmp();
    if std::fs::read_dir(&tmp).is_ok_and(|mut entries| entries.next().is_some()) {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    // Once the run is over its folders are the gateway's again, out of later runs' reach.
    if process::contain::current().run_as().is_some() {
        let taken = [run_dir.work(), run_dir.uploads()]
            .iter()
            .filter(|folder| folder.is_dir())
            .try_for_each(|folder| process::contain::RunAs::take_back(folder));
        if let Err(error) = taken {
            tracing::warn!(%error, "cannot take a run's folder back from the run user");
        }
    }
    Tidied {
        files,
        raw,
        event_log,
    }
}

/// Whether `file` is an input file the run left as it was given.
fn unchanged_input(work: &std::path::Path, file: &RunFile, inputs: &[PlacedInput]) -> bool {
    inputs.iter().any(|input| {
        input.name == file.name
            && input.size == file.size
            && std::fs::symlink_metadata(work.join(&file.name))
                .ok()
                .and_then(|m| m.modified().ok())
                == input.modified
    })
}

/// Non-JSON stdout is kept as a file with a content type sniffed from its bytes.
fn store_raw_output(stdout: &[u8], run_dir: &RunDir) -> Option<StoredOutput> {
    let (content_type, extension) = outcome::sniff(stdout);
    let (name, path) = run_dir.new_output(&extension);
    if let Err(error) = std::fs::write(path, stdout) {
        tracing::error!(%error, "cannot store the run's output");
        return None;
    }
    Some(StoredOutput {
        name,
        size: stdout.len() as u64,
        preview: outcome::preview(stdout, PREVIEW_BYTES),
        content_type,
    })
}
