//! A finished run's printed lines, kept so a late client replays exactly what a live one
//! saw: in the run's record when small, else as a file in its folder.

use crate::catalog::{Catalog, Run};
use crate::process::Stream;

use super::workspace::RunDir;

/// Logs up to this size are kept in the record; a file costs an inode on every run.
const KEPT_IN_RECORD: usize = 16 * 1024;

/// Encodes `lines`, one `[stream, line]` JSON array per line, in order; returns the log when
/// it belongs in the record, else writes it to the run's folder (blocking) and returns None.
pub fn keep(run_dir: &RunDir, lines: &[(Stream, String)]) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    let mut log = String::new();
    for (stream, text) in lines {
        log.push_str(&serde_json::json!([stream_name(*stream), text]).to_string());
        log.push('\n');
    }
    if log.len() <= KEPT_IN_RECORD {
        return Some(log);
    }
    if let Err(error) = std::fs::write(run_dir.event_log(), log) {
        tracing::warn!(%error, "cannot keep the run's event log");
    }
    None
}

/// The lines a finished run printed, in order, if its event log was kept.
pub async fn recorded_lines(catalog: &Catalog, run: &Run) -> Option<Vec<(Stream, String)>> {
    let log = match catalog.run_event_log(run.id).await.ok().flatten() {
        Some(log) => log,
        None => tokio::fs::read_to_string(RunDir::of(run)?.event_log())
            .await
            .ok()?,
    };
    let lines = log
        .lines()
        .filter_map(|line| {
            let (name, text): (String, String) = serde_json::from_str(line).ok()?;
            let stream = if name == "stderr" {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            Some((stream, text))
        })
        .collect();
    Some(lines)
}

fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}
