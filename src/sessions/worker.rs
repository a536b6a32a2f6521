//! One exchange with a session's worker: a command out, its reply back within the timeout;
//! past the timeout, SIGINT to the worker's process group, and past a grace period after
//! that, the whole tree killed. A streaming call's output pieces come first, as they are
//! written, on the same pipe as the reply.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;

use crate::process::{Stream, WorkerChild};

use super::SessionError;

/// How long a worker may take to start and say it is ready.
pub const READY_WITHIN: Duration = Duration::from_secs(15);
/// Time between SIGINT and SIGKILL for code that does not stop when interrupted.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    Ok,
    Error,
    Interrupted,
    /// The session ended: `exit()`, the worker died, or it was killed.
    Exit,
}

/// An exception raised by the code: its class name, its message and a traceback without the
/// worker's own frames.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallError {
    pub name: String,
    pub value: String,
    pub traceback: String,
}

/// What one `execute` produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallReply {
    pub status: CallStatus,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    /// The repr of the cell's last expression, when it is one and not None.
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub error: Option<CallError>,
    /// Set when the session ended with a status code (`sys.exit(3)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Output beyond `max_output_bytes` was dropped.
    #[serde(default)]
    pub truncated: bool,
    #[serde(default)]
    pub duration_ms: u64,
}

/// What a streaming call gives while it runs: pieces of output, then how it ended.
#[derive(Debug)]
pub enum CallEvent {
    /// Text the code wrote, as it wrote it; the pieces of a stream joined are its `stdout`
    /// or `stderr` in the reply.
    Output {
        stream: Stream,
        text: String,
    },
    End(Result<CallReply, SessionError>),
}

/// Where a streaming call's events go. Nobody listening any more does not stop the call.
pub type EventSink = mpsc::UnboundedSender<CallEvent>;

/// A line from the worker: a piece of a streaming call's output, or a call's reply.
#[derive(Deserialize)]
#[serde(untagged)]
enum Line {
    Output {
        id: u64,
        stream: OutputName,
        text: String,
    },
    Reply(Reply),
}

#[derive(Deserialize)]
struct Reply {
    id: u64,
    #[serde(flatten)]
    call: CallReply,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum OutputName {
    Stdout,
    Stderr,
}

/// One call's bounds.
pub struct Bounds {
    pub timeout: Duration,
    pub max_output: usize,
}

/// Waits for the worker's `ready` line.
pub async fn ready(worker: &mut WorkerChild) -> Result<(), String> {
    let line = tokio::time::timeout(READY_WITHIN, worker.recv(64 * 1024)).await;
    match line {
        Ok(Ok(Some(line)))
            if serde_json::from_slice::<serde_json::Value>(&line)
                .is_ok_and(|r| r["id"] == 0 && r["status"] == "ready") =>
        {
            Ok(())
        }
        Ok(Ok(Some(_))) => Err("the worker did not say it was ready".into()),
        Ok(Ok(None)) => Err(format!("the worker exited: {}", worker.stderr_tail())),
        Ok(Err(error)) => Err(format!("cannot read from the worker: {error}")),
        Err(_) => Err("the worker did not start in time".into()),
    }
}

/// Runs `code` as call `id`, its output sent to `sink` as it comes when there is one. A
/// reply of status `exit` means the worker is gone or going: the caller ends it.
pub async fn call(
    worker: &mut WorkerChild,
    id: u64,
    code: &str,
    bounds: &Bounds,
    sink: Option<&EventSink>,
) -> CallReply {
    let started = Instant::now();
    let mut command = json!({"id": id, "code": code, "max_output": bounds.max_output});
    if sink.is_some() {
        command["stream"] = json!(true);
    }
    if let Err(error) = worker.send(command.to_string().as_bytes()).await {
        return ended(worker, format!("cannot send to the worker: {error}")).await;
    }
    // Every character may take six bytes escaped, in two streams.
    let max_line = bounds.max_output.saturating_mul(12).saturating_add(1 << 20);
    let exchange = Exchange { id, max_line, sink };
    let mut reply = match tokio::time::timeout(bounds.timeout, exchange.reply(worker)).await {
        Ok(reply) => reply,
        Err(_) => {
            worker.interrupt();
            match tokio::time::timeout(KILL_GRACE, exchange.reply(worker)).await {
                Ok(reply) => reply,
                Err(_) => Err(Some(killed())),
            }
        }
    };
    if let Err(None) = reply {
        reply = Err(Some(ended(worker, String::new()).await));
    }
    let mut reply = reply.unwrap_or_else(|end| end.unwrap_or_else(killed));
    reply.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    reply
}

/// What reading one call's lines needs.
struct Exchange<'a> {
    id: u64,
    max_line: usize,
    sink: Option<&'a EventSink>,
}

impl Exchange<'_> {
    /// The reply to the call, its output passed on before (lines of earlier calls, whose
    /// caller gave up, are skipped); Err(None) when the worker closed its side, Err(Some)
    /// when it answered nonsense.
    async fn reply(&self, worker: &mut WorkerChild) -> Result<CallReply, Option<CallReply>> {
        loop {
            let line = match worker.recv(self.max_line).await {
                Ok(Some(line)) => line,
                Ok(None) => return Err(None),
                Err(error) => return Err(Some(broken(error.to_string()))),
            };
            match serde_json::from_slice::<Line>(&line) {
                Ok(Line::Reply(reply)) if reply.id == self.id => return Ok(reply.call),
                Ok(Line::Output { id, stream, text }) if id == self.id => self.pass(stream, text),
                Ok(_) => continue,
                Err(error) => return Err(Some(broken(format!("unreadable reply: {error}")))),
            }
        }
    }

    fn pass(&self, stream: OutputName, text: String) {
        let Some(sink) = self.sink else { return };
        let stream = match stream {
            OutputName::Stdout => Stream::Stdout,
            OutputName::Stderr => Stream::Stderr,
        };
        // A listener that went away leaves the call to run to its end.
        let _ = sink.send(CallEvent::Output { stream, text });
    }
}

/// The worker closed its side without answering: how it ended.
async fn ended(worker: &mut WorkerChild, why: String) -> CallReply {
    let status = worker.exit_status(Duration::from_secs(2)).await;
    let (exit_code, error) = match status {
        Some((Some(code), _)) => (Some(i64::from(code)), None),
        Some((_, Some(signal))) => (
            None,
            Some(error(
                "Signaled",
                format!("the worker was killed by signal {signal}"),
            )),
        ),
        _ => (None, Some(error("WorkerExited", why))),
    };
    let mut reply = exit_reply(error);
    reply.exit_code = exit_code;
    if let Some(error) = reply.error.as_mut() {
        error.traceback = worker.stderr_tail();
    }
    reply
}

fn killed() -> CallReply {
    exit_reply(Some(error(
        "Killed",
        format!(
            "the code did not stop {} s after SIGINT: its process tree was killed and the session ended",
            KILL_GRACE.as_secs()
        ),
    )))
}

fn broken(why: String) -> CallReply {
    exit_reply(Some(error("ProtocolError", why)))
}

fn exit_reply(error: Option<CallError>) -> CallReply {
    CallReply {
        status: CallStatus::Exit,
        stdout: String::new(),
        stderr: String::new(),
        result: None,
        error,
        exit_code: None,
        truncated: false,
        duration_ms: 0,
    }
}

fn error(name: &str, value: String) -> CallError {
    CallError {
        name: name.into(),
        value,
        traceback: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_pieces_and_replies_are_told_apart_whatever_the_text_holds() {
        let piece = r#"{"id": 3, "stream": "stderr", "text": "{\"id\": 3, \"status\": \"ok\"}"}"#;
        match serde_json::from_str::<Line>(piece) {
            Ok(Line::Output {
                id: 3,
                stream: OutputName::Stderr,
                text,
            }) => assert_eq!(text, r#"{"id": 3, "status": "ok"}"#),
            _ => panic!("a piece of stderr: {piece}"),
        }
        let reply = r#"{"id": 3, "status": "ok", "stdout": "{\"stream\": \"stdout\", \"text\": \"x\"}", "stderr": "", "result": null, "error": null, "truncated": false}"#;
        match serde_json::from_str::<Line>(reply) {
            Ok(Line::Reply(reply)) => {
                assert_eq!((reply.id, reply.call.status), (3, CallStatus::Ok));
                assert_eq!(reply.call.stdout, r#"{"stream": "stdout", "text": "x"}"#);
            }
            _ => panic!("a reply: {reply}"),
        }
        for nonsense in [
            r#"{"id": 3}"#,
            r#"{"id": 3, "stream": "stdin", "text": "x"}"#,
        ] {
            assert!(
                serde_json::from_str::<Line>(nonsense).is_err(),
                "{nonsense}"
            );
        }
    }
}
