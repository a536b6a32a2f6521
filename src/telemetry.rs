//! Logging, set up once: a filter, and text or JSON lines on stderr; the latest lines are
//! also kept in memory for `GET /api/logs/gateway`.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, MutexGuard};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Lines kept in memory (each at most `LONGEST_KEPT_LINE` bytes): about a megabyte at most.
const KEPT_LINES: usize = 2000;
const LONGEST_KEPT_LINE: usize = 512;

static RECENT: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// Logs go to stderr: stdout carries the `listening on` line and command output.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .with_writer(StderrAndRecent);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The latest log lines, oldest first: at most `lines` of them, only those of `date`
/// (`YYYY-MM-DD`, UTC) when given.
pub fn recent_lines(date: Option<&str>, lines: usize) -> Vec<String> {
    let recent = recent();
    let matching: Vec<&String> = recent
        .iter()
        .filter(|line| date.is_none_or(|date| line.get(..48).unwrap_or(line).contains(date)))
        .collect();
    let skip = matching.len().saturating_sub(lines);
    matching.into_iter().skip(skip).cloned().collect()
}

/// Forgets the kept lines (stderr has them all); returns how many there were.
pub fn forget_recent() -> usize {
    let mut recent = recent();
    let count = recent.len();
    recent.clear();
    count
}

fn recent() -> MutexGuard<'static, VecDeque<String>> {
    RECENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct StderrAndRecent;

impl<'a> MakeWriter<'a> for StderrAndRecent {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter(Vec::new())
    }
}

/// One event's text: written to stderr and kept when the event is done (on drop).
struct EventWriter(Vec<u8>);

impl Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let _ = std::io::stderr().write_all(&self.0);
        let text = String::from_utf8_lossy(&self.0);
        let mut recent = recent();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut line = without_ansi(line);
            if line.len() > LONGEST_KEPT_LINE {
                let mut end = LONGEST_KEPT_LINE;
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
                line.truncate(end);
                line.push('…');
            }
            if recent.len() == KEPT_LINES {
                recent.pop_front();
            }
            recent.push_back(line);
        }
    }
}

/// The line without terminal colour codes (`ESC [ … letter`).
fn without_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_are_dropped() {
        assert_eq!(
            without_ansi("\u{1b}[2m2026-12-02T01:02:15Z\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m x"),
            "2026-12-02T01:02:15Z  WARN x"
        );
    }
}
