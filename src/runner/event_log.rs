//! A finished run's printed lines, kept in its folder so a late client replays exactly what a
//! live one saw.

use crate::catalog::Run;
use crate::process::Stream;

use super::live::LiveOutput;
use super::workspace::RunDir;

/// Writes every line `live` holds, one `[stream, line]` JSON array per line, in order.
pub async fn store(run: &Run, live: &LiveOutput) {
    let Some(run_dir) = RunDir::of(run) else {
        return;
    };
    let mut log = String::new();
    for (stream, text) in live.lines() {
        log.push_str(&serde_json::json!([stream_name(stream), text]).to_string());
        log.push('\n');
    }
    if let Err(error) = tokio::fs::write(run_dir.event_log(), log).await {
        tracing::warn!(%error, "cannot keep the run's event log");
    }
}

/// The lines a finished run printed, in order, if its event log was kept.
pub async fn recorded_lines(run: &Run) -> Option<Vec<(Stream, String)>> {
    let log = tokio::fs::read_to_string(RunDir::of(run)?.event_log())
        .await
        .ok()?;
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
