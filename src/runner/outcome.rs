//! What a finished process means for its run: status, error, data or raw output.

use serde_json::Value;

use crate::catalog::RunStatus;
use crate::process::{Output, Stream, Termination};

/// The verdict on a finished process.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub error: Option<(&'static str, String)>,
}

/// Limits a verdict may name.
#[derive(Debug, Clone, Copy)]
pub struct LimitsInForce {
    pub timeout_secs: f64,
    pub max_output_bytes: usize,
    pub cpu_seconds: Option<u64>,
    pub memory_limited: bool,
    pub file_size_limited: bool,
    pub memory_mb: Option<u64>,
    pub processes: Option<u64>,
    pub disk_bytes: Option<u64>,
}

pub fn judge(output: &Output, limits: LimitsInForce) -> Verdict {
    let verdict = |status, exit_code, code, message: String| Verdict {
        status,
        exit_code,
        error: Some((code, message)),
    };
    if let Some(verdict) = tree_cap(output, limits) {
        return verdict;
    }
    match output.termination {
        Termination::Exited(0) => Verdict {
            status: RunStatus::Success,
            exit_code: Some(0),
            error: None,
        },
        Termination::Exited(code) if limits.memory_limited && ran_out_of_memory(&output.stderr) => {
            verdict(
                RunStatus::LimitExceeded,
                Some(code),
                "limit_exceeded",
                "the script ran out of memory (memory limit)".into(),
            )
        }
        Termination::Exited(code)
            if limits.file_size_limited && wrote_too_large_a_file(&output.stderr) =>
        {
            verdict(
                RunStatus::LimitExceeded,
                Some(code),
                "limit_exceeded",
                "the script wrote a file larger than allowed (file size limit)".into(),
            )
        }
        Termination::Exited(code) => verdict(
            RunStatus::Error,
            Some(code),
            "script_failed",
            format!("the script exited with code {code}"),
        ),
        Termination::Signaled(libc::SIGXCPU) => verdict(
            RunStatus::LimitExceeded,
            None,
            "limit_exceeded",
            format!(
                "the script used its {} s of CPU time",
                limits.cpu_seconds.unwrap_or_default()
            ),
        ),
        Termination::Signaled(libc::SIGXFSZ) => verdict(
            RunStatus::LimitExceeded,
            None,
            "limit_exceeded",
            "the script wrote a file larger than allowed".into(),
        ),
        Termination::Signaled(signal) => verdict(
            RunStatus::Error,
            None,
            "script_failed",
            format!("the script was killed by signal {signal}"),
        ),
        Termination::TimedOut => verdict(
            RunStatus::Timeout,
            None,
            "timeout",
            format!(
                "the script ran longer than {} s; its process tree was stopped",
                limits.timeout_secs
            ),
        ),
        Termination::OutputLimit(stream) => verdict(
            RunStatus::LimitExceeded,
            None,
            "limit_exceeded",
            format!(
                "the script printed more than {} bytes on {}; it was stopped",
                limits.max_output_bytes,
                if stream == Stream::Stdout {
                    "stdout"
                } else {
                    "stderr"
                }
            ),
        ),
        Termination::DiskLimit => verdict(
            RunStatus::LimitExceeded,
            None,
            "limit_exceeded",
            format!(
                "the run's folder held more than {} bytes (disk limit); it was stopped",
                limits.disk_bytes.unwrap_or_default()
            ),
        ),
        Termination::Cancelled => verdict(
            RunStatus::Cancelled,
            None,
            "cancelled",
            "the run was cancelled".into(),
        ),
    }
}

/// A run that failed while the kernel held its whole tree at a cap: the cap is the cause.
fn tree_cap(output: &Output, limits: LimitsInForce) -> Option<Verdict> {
    let failed = !matches!(
        output.termination,
        Termination::Exited(0) | Termination::TimedOut | Termination::Cancelled
    );
    let message = if output.exhausted.memory {
        format!(
            "the run's processes together used more than {} MiB (memory limit); the kernel stopped one",
            limits.memory_mb.unwrap_or_default()
        )
    } else if output.exhausted.processes && failed {
        format!(
            "the run tried to have more than {} processes at once (process limit)",
            limits.processes.unwrap_or_default()
        )
    } else {
        return None;
    };
    Some(Verdict {
        status: RunStatus::LimitExceeded,
        exit_code: match output.termination {
            Termination::Exited(code) => Some(code),
            _ => None,
        },
        error: Some(("limit_exceeded", message)),
    })
}

/// Python and Node ignore SIGXFSZ; the write fails with EFBIG and they report it.
fn wrote_too_large_a_file(stderr: &[u8]) -> bool {
    let tail = crate::process::tail_text(stderr, 4000);
    tail.contains("File too large") || tail.contains("EFBIG")
}

fn ran_out_of_memory(stderr: &[u8]) -> bool {
    let tail = crate::process::tail_text(stderr, 2000);
    tail.lines()
        .last()
        .is_some_and(|l| l.starts_with("MemoryError"))
        || tail.contains("JavaScript heap out of memory")
        || tail.contains("Fatal process out of memory")
}

/// What the script printed on stdout.
#[derive(Debug, Clone, PartialEq)]
pub enum Printed {
    Nothing,
    Json(Value),
    Raw,
}

pub fn read_stdout(stdout: &[u8]) -> Printed {
    let trimmed = stdout.trim_ascii();
    if trimmed.is_empty() {
        return Printed::Nothing;
    }
    match serde_json::from_slice::<Value>(trimmed) {
        Ok(value) => Printed::Json(value),
        Err(_) => Printed::Raw,
    }
}

/// A content type and file extension for raw output, from its first bytes.
pub fn sniff(bytes: &[u8]) -> (String, String) {
    if let Some(kind) = infer::get(bytes) {
        return (kind.mime_type().to_string(), kind.extension().to_string());
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let start = text
                .trim_start()
                .get(..100)
                .unwrap_or(text.trim_start())
                .to_ascii_lowercase();
            if start.starts_with("<!doctype html") || start.starts_with("<html") {
                ("text/html; charset=utf-8".into(), "html".into())
            } else if start.starts_with("<svg")
                || (start.starts_with("<?xml") && text.contains("<svg"))
            {
                ("image/svg+xml".into(), "svg".into())
            } else {
                ("text/plain; charset=utf-8".into(), "txt".into())
            }
        }
        Err(_) => ("application/octet-stream".into(), "bin".into()),
    }
}

/// The first `max` bytes of output as text, for previews.
pub fn preview(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    let text = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > max {
        format!("{text}…")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn output(termination: Termination, stderr: &str) -> Output {
        Output {
            termination,
            stdout: vec![],
            stderr: stderr.as_bytes().to_vec(),
            duration: Duration::ZERO,
            exhausted: Default::default(),
        }
    }

    const LIMITS: LimitsInForce = LimitsInForce {
        timeout_secs: 2.0,
        max_output_bytes: 100,
        cpu_seconds: Some(9),
        memory_limited: true,
        file_size_limited: true,
        memory_mb: Some(64),
        processes: Some(16),
        disk_bytes: Some(1 << 20),
    };

    #[test]
    fn each_ending_gets_its_status_and_code() {
        let cases = [
            (Termination::Exited(0), "", RunStatus::Success, None),
            (
                Termination::Exited(2),
                "usage",
                RunStatus::Error,
                Some("script_failed"),
            ),
            (
                Termination::Exited(1),
                "Traceback\nMemoryError",
                RunStatus::LimitExceeded,
                Some("limit_exceeded"),
            ),
            (
                Termination::Exited(134),
                "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
                RunStatus::LimitExceeded,
                Some("limit_exceeded"),
            ),
            (
                Termination::Signaled(libc::SIGXCPU),
                "",
                RunStatus::LimitExceeded,
                Some("limit_exceeded"),
            ),
            (
                Termination::Signaled(libc::SIGXFSZ),
                "",
                RunStatus::LimitExceeded,
                Some("limit_exceeded"),
            ),
            (
                Termination::Signaled(9),
                "",
                RunStatus::Error,
                Some("script_failed"),
            ),
            (
                Termination::TimedOut,
                "",
                RunStatus::Timeout,
                Some("timeout"),
            ),
            (
                Termination::OutputLimit(Stream::Stdout),
                "",
                RunStatus::LimitExceeded,
                Some("limit_exceeded"),
            ),
            (
                Termination::Cancelled,
                "",
                RunStatus::Cancelled,
                Some("cancelled"),
            ),
        ];
        for (termination, stderr, status, code) in cases {
            let verdict = judge(&output(termination, stderr), LIMITS);
            assert_eq!(verdict.status, status, "{termination:?}");
            assert_eq!(verdict.error.as_ref().map(|e| e.0), code, "{termination:?}");
        }
        let timeout = judge(&output(Termination::TimedOut, ""), LIMITS);
        assert!(timeout.error.unwrap().1.contains("longer than 2 s"));
    }

    #[test]
    fn stdout_is_json_raw_or_nothing() {
        assert_eq!(read_stdout(b"  \n"), Printed::Nothing);
        assert_eq!(
            read_stdout(b"{\"a\": 1}\n"),
            Printed::Json(serde_json::json!({"a": 1}))
        );
        assert_eq!(read_stdout(b"42"), Printed::Json(serde_json::json!(42)));
        assert_eq!(read_stdout(b"hello\n{\"a\": 1}"), Printed::Raw);
    }

    #[test]
    fn raw_output_types_are_sniffed() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(sniff(png), ("image/png".to_string(), "png".to_string()));
        assert_eq!(sniff(b"%PDF-1.7\n").0, "application/pdf");
        assert_eq!(sniff(b"<!DOCTYPE html><p>x").1, "html");
        assert_eq!(sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>").1, "svg");
        assert_eq!(sniff(b"plain words").1, "txt");
        assert_eq!(sniff(&[0xff, 0xfe, 0x00, 0x81]).1, "bin");
    }

    #[test]
    fn previews_are_cut() {
        assert_eq!(preview(b"abcdef", 3), "abc…");
        assert_eq!(preview(b"ab", 3), "ab");
    }
}
