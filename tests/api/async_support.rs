//! What the async-run and restart tests need beyond `helpers` and `run_support`: fixture
//! scripts that sleep, print lines and start grandchildren; a Server-Sent Events reader over
//! a plain socket that notes when each event arrived; processes found by a marker in their
//! argv; run polling; and a gateway the test owns itself, to signal it and read its exit status.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{gateway_command, serve_args, wait_for, wait_until, TestApp, TestRepo, WAIT};
use crate::run_support::python;

/// `python/sleeper.py`: sleeps `--seconds` (without printing anything meanwhile), then prints
/// `{"value", "slept"}`. `--marker` only puts a unique word into its argv (to find the process);
/// `--child-seconds` > 0 first starts a grandchild that sleeps that long, with the marker in its
/// argv too.
pub const SLEEPER_PATH: &str = "python/sleeper.py";

pub fn sleeper() -> String {
    let schema = json!({
        "seconds": {"flag": "--seconds", "type": "float", "default": 0},
        "value": {"flag": "--value", "type": "str", "default": ""},
        "marker": {"flag": "--marker", "type": "str", "default": ""},
        "child_seconds": {"flag": "--child-seconds", "type": "float", "default": 0}
    });
    python(
        &schema,
        r#"import argparse
import subprocess
import time
parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=float, default=0)
parser.add_argument("--value", default="")
parser.add_argument("--marker", default="")
parser.add_argument("--child-seconds", type=float, default=0)
args = parser.parse_args()
if args.child_seconds > 0:
    subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(float(sys.argv[1]))", str(args.child_seconds), args.marker])
time.sleep(args.seconds)
print(json.dumps({"value": args.value, "slept": args.seconds}))"#,
    )
}

/// `python/lines.py`: prints `line 0` … `line 4` with 0.3 s pauses, and `warn: half way` on
/// stderr 0.1 s after `line 1`; stdout is not JSON, so it is kept as a file output.
pub const LINES_PATH: &str = "python/lines.py";

pub fn lines() -> String {
    python(
        &json!({}),
        r#"import time
for i in range(5):
    print(f"line {i}")
    if i == 1:
        time.sleep(0.1)
        sys.stderr.write("warn: half way\n")
    time.sleep(0.3)"#,
    )
}

/// What `lines.py` prints, in the order a live follower sees it.
pub const LINES_EVENTS: [(&str, &str); 6] = [
    ("stdout", "line 0"),
    ("stdout", "line 1"),
    ("stderr", "warn: half way"),
    ("stdout", "line 2"),
    ("stdout", "line 3"),
    ("stdout", "line 4"),
];

/// `python/spawner.py`: starts a grandchild that writes the file `--marker` after 2 s, prints
/// `spawned`, then sleeps 30 s.
pub const SPAWNER_PATH: &str = "python/spawner.py";

pub fn spawner() -> String {
    let schema = json!({"marker": {"flag": "--marker", "type": "str", "required": true}});
    python(
        &schema,
        r#"import subprocess
import time
subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(2); open(sys.argv[1], 'w').write('written')", sys.argv[2]])
print("spawned")
time.sleep(30)"#,
    )
}

/// A word no other process on the machine has in its argv.
pub fn unique_marker(what: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "sg-{what}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Live processes with an argv entry containing `marker` (a zombie has no argv, so it is not listed).
pub fn pids_with(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                cmdline
                    .split(|b| *b == 0)
                    .any(|arg| String::from_utf8_lossy(arg).contains(marker))
            })
        })
        .collect()
}

/// Waits until `count` processes carry `marker`; panics with `what` otherwise.
pub fn wait_for_processes(marker: &str, count: usize, what: &str) -> Vec<u32> {
    wait_for(WAIT, || {
        let pids = pids_with(marker);
        (pids.len() >= count).then_some(pids)
    })
    .unwrap_or_else(|| {
        panic!(
            "{what}: {count} processes with {marker} never appeared (found {:?})",
            pids_with(marker)
        )
    })
}

/// Kills whatever still carries its marker when dropped, so a failing test leaves no
/// sleeping fixture process behind.
pub struct Reaper(pub String);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in pids_with(&self.0) {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// Whether every process carrying `marker` is gone within `deadline`.
pub fn processes_gone(marker: &str, deadline: Duration) -> bool {
    wait_for(deadline, || pids_with(marker).is_empty().then_some(())).is_some()
}

/// A status a run keeps once it ended.
pub fn is_final(status: &Value) -> bool {
    !matches!(status.as_str(), Some("queued" | "running"))
}

/// `GET /api/runs/{id}` polled until the run ended; panics after `deadline`.
pub fn poll_run(app: &TestApp, run_id: i64, deadline: Duration) -> Value {
    let mut last = Value::Null;
    wait_for(deadline, || {
        let (status, body) = app.get(&format!("/api/runs/{run_id}"));
        assert_eq!(status, 200, "GET run {run_id}: {body}");
        last = body.clone();
        is_final(&body["status"]).then_some(body)
    })
    .unwrap_or_else(|| panic!("run {run_id} did not end within {deadline:?}; last seen {last}"))
}

/// `GET /api/scripts/running` polled until `accept` holds for its items.
pub fn wait_active(
    app: &TestApp,
    what: &str,
    mut accept: impl FnMut(&[Value]) -> bool,
) -> Vec<Value> {
    let mut last = Value::Null;
    wait_for(WAIT, || {
        let (status, body) = app.get("/api/scripts/running");
        assert_eq!(status, 200, "{what}: GET /api/scripts/running: {body}");
        let items = body["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            body["total"],
            json!(items.len()),
            "{what}: total counts the items: {body}"
        );
        last = body;
        accept(&items).then_some(items)
    })
    .unwrap_or_else(|| panic!("{what}: never seen in /api/scripts/running; last {last}"))
}

/// The `run_id` of an item of `/api/scripts/running`.
pub fn item_run_id(item: &Value) -> i64 {
    item["run_id"].as_i64().expect("run_id is an integer")
}

/// One Server-Sent Event, with the moment its last byte was read.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
    pub at: Instant,
}

impl SseEvent {
    /// The id as a number (every event of the gateway has one).
    pub fn number(&self) -> usize {
        self.id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("event without a numeric id: {self:?}"))
    }

    /// The `end` event's run.
    pub fn run(&self) -> Value {
        assert_eq!(self.event, "end", "not the end event: {self:?}");
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("the end event's data is not JSON ({e}): {self:?}"))
    }
}

/// `(event, data)` of each line event, to compare with [`LINES_EVENTS`].
pub fn line_pairs(events: &[SseEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e.event != "end")
        .map(|e| (e.event.clone(), e.data.clone()))
        .collect()
}

/// [`LINES_EVENTS`] as owned pairs.
pub fn expected_lines(from: usize) -> Vec<(String, String)> {
    LINES_EVENTS[from..]
        .iter()
        .map(|(e, d)| (e.to_string(), d.to_string()))
        .collect()
}

/// An event stream read incrementally from a plain socket.
pub struct EventStream {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    socket: TcpStream,
    raw: Vec<u8>,
    text: String,
    chunked: bool,
    finished: bool,
    ready: VecDeque<SseEvent>,
}

/// `GET target` with `Accept: text/event-stream` and `headers`; returns once the answer's
/// head arrived (the body is then read event by event).
pub fn open_events(app: &TestApp, target: &str, headers: &[(&str, &str)]) -> EventStream {
    open_events_with(app, "GET", target, headers, None)
}

/// `method target` with `headers` (`Accept: text/event-stream` unless they name an Accept)
/// and a JSON `body`; returns once the answer's head arrived.
pub fn open_events_with(
    app: &TestApp,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> EventStream {
    let host = app
        .address
        .strip_prefix("http://")
        .expect("the gateway listens on http");
    let mut socket = TcpStream::connect(host).expect("the gateway accepts connections");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("a read timeout can be set");
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("accept"))
    {
        head.push_str("Accept: text/event-stream\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.map(Value::to_string).unwrap_or_default();
    if !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    head.push_str(&body);
    socket
        .write_all(head.as_bytes())
        .expect("the request can be sent");
    let mut stream = EventStream {
        status: 0,
        headers: Vec::new(),
        socket,
        raw: Vec::new(),
        text: String::new(),
        chunked: false,
        finished: false,
        ready: VecDeque::new(),
    };
    let began = Instant::now();
    let split = loop {
        if let Some(split) = stream.raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break split;
        }
        assert!(
            began.elapsed() < WAIT && stream.read_more(),
            "{method} {target}: no answer head; got {:?}",
            String::from_utf8_lossy(&stream.raw)
        );
    };
    let head = String::from_utf8_lossy(&stream.raw[..split]).into_owned();
    stream.raw.drain(..split + 4);
    let mut lines = head.split("\r\n");
    stream.status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {target}: not an HTTP answer: {head:?}"));
    stream.headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    stream.chunked = stream
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    stream.decode(Instant::now());
    stream
}

impl EventStream {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The next event, or None when the stream ended or `deadline` passed first.
    pub fn next_event(&mut self, deadline: Duration) -> Option<SseEvent> {
        let began = Instant::now();
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.finished || began.elapsed() >= deadline {
                return None;
            }
            if !self.read_more() {
                self.finished = true;
            }
        }
    }

    /// Every event up to and including `end`; panics if the stream stops or stalls before it.
    pub fn until_end(&mut self, deadline: Duration) -> Vec<SseEvent> {
        let began = Instant::now();
        let mut events = Vec::new();
        loop {
            let left = deadline.saturating_sub(began.elapsed());
            let Some(event) = self.next_event(left) else {
                panic!("the stream stopped before its end event; got {events:#?}");
            };
            let end = event.event == "end";
            events.push(event);
            if end {
                return events;
            }
        }
    }

    /// Whether the server closed the stream (after its last event) within `deadline`.
    pub fn closes_within(&mut self, deadline: Duration) -> bool {
        let began = Instant::now();
        while !self.finished && began.elapsed() < deadline {
            if !self.read_more() {
                self.finished = true;
            }
        }
        self.finished && self.ready.is_empty()
    }

    /// Reads what is there (or waits a read timeout); false at the end of the stream.
    fn read_more(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.socket.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.raw.extend_from_slice(&chunk[..n]);
                if self.status != 0 {
                    self.decode(Instant::now());
                }
                !self.finished
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => true,
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            Err(_) => false,
        }
    }

    /// Moves complete chunks into the text and complete frames into the ready queue.
    fn decode(&mut self, at: Instant) {
        if self.chunked {
            while let Some(line_end) = self.raw.windows(2).position(|w| w == b"\r\n") {
                let size_text = String::from_utf8_lossy(&self.raw[..line_end]).into_owned();
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .unwrap_or_else(|_| panic!("a bad chunk size line: {size_text:?}"));
                if size == 0 {
                    self.finished = true;
                    self.raw.clear();
                    break;
                }
                if self.raw.len() < line_end + 2 + size + 2 {
                    break;
                }
                let payload = self.raw[line_end + 2..line_end + 2 + size].to_vec();
                self.raw.drain(..line_end + 2 + size + 2);
                self.text.push_str(&String::from_utf8_lossy(&payload));
            }
        } else {
            let bytes = std::mem::take(&mut self.raw);
            self.text.push_str(&String::from_utf8_lossy(&bytes));
        }
        while let Some(end) = self.text.find("\n\n") {
            let frame: String = self.text.drain(..end + 2).collect();
            if let Some(event) = parse_frame(&frame, at) {
                self.ready.push_back(event);
            }
        }
    }
}

/// One SSE frame; comment-only frames (keep-alives) give None.
fn parse_frame(frame: &str, at: Instant) -> Option<SseEvent> {
    let mut id = None;
    let mut event = None;
    let mut data: Vec<&str> = Vec::new();
    for line in frame.lines() {
        if line.starts_with(':') || line.is_empty() {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_string()),
            "event" => event = Some(value.to_string()),
            "data" => data.push(value),
            _ => {}
        }
    }
    if id.is_none() && event.is_none() && data.is_empty() {
        return None;
    }
    Some(SseEvent {
        id,
        event: event.unwrap_or_else(|| "message".to_string()),
        data: data.join("\n"),
        at,
    })
}

/// A gateway this test started itself: it can be signalled and its exit status read.
pub struct OwnedGateway {
    pub address: String,
    child: Child,
    stderr: Arc<Mutex<String>>,
    agent: ureq::Agent,
}

/// `script-gateway serve` over `repo` and `data` with `extra_args`, like `spawn_app`.
pub fn spawn_owned(repo: &TestRepo, data: &Path, extra_args: &[&str]) -> OwnedGateway {
    let mut child = gateway_command(&serve_args(repo.path(), data))
        .args(extra_args)
        .spawn()
        .expect("the gateway binary starts");
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    let pipe = child.stderr.take().expect("stderr is piped");
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut sink = sink.lock().expect("stderr buffer");
            sink.push_str(&line);
            sink.push('\n');
        }
    });
    let (tx, rx) = mpsc::channel();
    let pipe = child.stdout.take().expect("stdout is piped");
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let began = Instant::now();
    let address = loop {
        match rx.recv_timeout(Duration::from_secs(30).saturating_sub(began.elapsed())) {
            Ok(line) => {
                if let Some(address) = line.trim().strip_prefix("listening on ") {
                    break address.to_string();
                }
            }
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the gateway never printed `listening on` ({why:?}); stderr:\n{}",
                    stderr.lock().expect("stderr buffer")
                );
            }
        }
    };
    let gateway = OwnedGateway {
        address,
        child,
        stderr,
        agent: ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build(),
    };
    // Like `spawn_app`: the scripts are listed once the first scan is done.
    let ready = wait_until(Duration::from_secs(30), || {
        gateway.call("GET", "/ready", None).0 == 200
    });
    assert!(
        ready,
        "the first scan never ended; stderr:\n{}",
        gateway.stderr()
    );
    gateway
}

impl OwnedGateway {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    /// Any request; 4xx/5xx answers are returned, transport errors as `Err`.
    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let request = self
            .agent
            .request(method, &format!("{}{path}", self.address));
        let result = match body {
            Some(body) => request.send_json(body.clone()),
            None => request.call(),
        };
        let response = match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(error) => return Err(error.to_string()),
        };
        let status = response.status();
        let text = response.into_string().map_err(|e| e.to_string())?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.try_call(method, path, body).unwrap_or_else(|error| {
            panic!(
                "{method} {path} failed: {error}; stderr:\n{}",
                self.stderr()
            )
        })
    }

    /// The id of the loaded script at `path`.
    pub fn script_id(&self, path: &str) -> i64 {
        let (status, body) = self.call("GET", "/api/scripts?page_size=500", None);
        assert_eq!(status, 200, "listing scripts: {body}");
        let script = body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["path"] == json!(path))
            .unwrap_or_else(|| panic!("{path} is not listed: {body}"));
        assert_eq!(script["load_status"], json!("ok"), "{path} loads: {script}");
        script["id"].as_i64().expect("an integer id")
    }

    /// `GET /api/scripts/running` polled until `accept` holds for its items.
    pub fn wait_active(&self, what: &str, mut accept: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
        wait_for(WAIT, || {
            let (status, body) = self.call("GET", "/api/scripts/running", None);
            assert_eq!(status, 200, "{what}: {body}");
            let items = body["items"].as_array().cloned().unwrap_or_default();
            accept(&items).then_some(items)
        })
        .unwrap_or_else(|| panic!("{what}: never seen in /api/scripts/running"))
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid()).expect("a pid fits i32"));
        nix::sys::signal::kill(pid, signal).expect("the gateway can be signalled");
    }

    /// The exit status once the process ended, if it did within `deadline`.
    pub fn exit_within(&mut self, deadline: Duration) -> Option<ExitStatus> {
        wait_for(deadline, || self.child.try_wait().expect("try_wait works"))
    }
}

impl Drop for OwnedGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
