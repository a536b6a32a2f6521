//! A run's output as it happens, split into lines, kept for clients that join late.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::catalog::Run;
use crate::process::{Observer, Stream};

/// One thing a watcher of a run sees.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    Line {
        stream: Stream,
        text: String,
    },
    /// The run ended; always the last event. It carries the record exactly as the catalog
    /// stored it at the end (what `finish_run` returned), so the end event needs no second read.
    End(Arc<Run>),
}

#[derive(Default)]
struct State {
    events: Vec<LiveEvent>,
    partial: [Vec<u8>; 2],
    ended: bool,
}

/// The event log of one run. Writers append; readers follow with a cursor.
pub struct LiveOutput {
    state: Mutex<State>,
    version: watch::Sender<usize>,
}

impl Default for LiveOutput {
    fn default() -> Self {
        LiveOutput {
            state: Mutex::new(State::default()),
            version: watch::channel(0).0,
        }
    }
}

impl LiveOutput {
    pub fn push_bytes(&self, stream: Stream, bytes: &[u8]) {
        let mut state = self.state.lock().expect("not poisoned");
        let index = stream_index(stream);
        state.partial[index].extend_from_slice(bytes);
        while let Some(end) = state.partial[index].iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = state.partial[index].drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1])
                .trim_end_matches('\r')
                .to_string();
            state.events.push(LiveEvent::Line { stream, text });
        }
        let count = state.events.len();
        drop(state);
        self.version.send_replace(count);
    }

    /// Turns unterminated last lines into lines: the process has ended, nothing follows.
    pub fn flush(&self) {
        let mut state = self.state.lock().expect("not poisoned");
        flush_partials(&mut state);
        let count = state.events.len();
        drop(state);
        self.version.send_replace(count);
    }

    /// Flushes unterminated lines and appends the final event.
    pub fn end(&self, run: Arc<Run>) {
        let mut state = self.state.lock().expect("not poisoned");
        flush_partials(&mut state);
        state.events.push(LiveEvent::End(run));
        state.ended = true;
        let count = state.events.len();
        drop(state);
        self.version.send_replace(count);
    }

    /// Every line so far, in the order printed.
    pub fn lines(&self) -> Vec<(Stream, String)> {
        let state = self.state.lock().expect("not poisoned");
        state
            .events
            .iter()
            .filter_map(|event| match event {
                LiveEvent::Line { stream, text } => Some((*stream, text.clone())),
                LiveEvent::End(_) => None,
            })
            .collect()
    }

    /// Events from `cursor` on; waits until there is at least one.
    pub async fn next_events(&self, cursor: usize) -> Vec<LiveEvent> {
        let mut changes = self.version.subscribe();
        loop {
            {
                let state = self.state.lock().expect("not poisoned");
                if state.events.len() > cursor {
                    return state.events[cursor..].to_vec();
                }
                if state.ended {
                    return Vec::new();
                }
            }
            if changes.changed().await.is_err() {
                return Vec::new();
            }
        }
    }

    /// The finished run, once it ended.
    pub async fn wait_end(&self) -> Option<Arc<Run>> {
        let mut changes = self.version.subscribe();
        loop {
            {
                let state = self.state.lock().expect("not poisoned");
                if let Some(LiveEvent::End(run)) = state.events.last() {
                    return Some(run.clone());
                }
            }
            if changes.changed().await.is_err() {
                return None;
            }
        }
    }
}

fn flush_partials(state: &mut State) {
    for stream in [Stream::Stdout, Stream::Stderr] {
        let rest = std::mem::take(&mut state.partial[stream_index(stream)]);
        if !rest.is_empty() {
            state.events.push(LiveEvent::Line {
                stream,
                text: String::from_utf8_lossy(&rest).into_owned(),
            });
        }
    }
}

fn stream_index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

/// Feeds a child's output into its run's live log.
pub struct LiveObserver {
    pub live: Arc<LiveOutput>,
    pub on_spawn: Box<dyn Fn(u32) + Send + Sync>,
}

impl Observer for LiveObserver {
    fn spawned(&self, pid: u32) {
        (self.on_spawn)(pid);
    }

    fn output(&self, stream: Stream, bytes: &[u8]) {
        self.live.push_bytes(stream, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::builders;

    fn lines(events: &[LiveEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                LiveEvent::Line { stream, text } => format!("{stream:?}:{text}"),
                LiveEvent::End(run) => format!("end:{}", run.id),
            })
            .collect()
    }

    fn run(id: i64) -> Arc<Run> {
        Arc::new(builders::run(id))
    }

    #[tokio::test]
    async fn bytes_become_lines_in_order_and_late_readers_see_everything() {
        let live = LiveOutput::default();
        live.push_bytes(Stream::Stdout, b"one\ntw");
        live.push_bytes(Stream::Stderr, b"warn\r\n");
        live.push_bytes(Stream::Stdout, b"o\nthree");
        assert_eq!(
            lines(&live.next_events(0).await),
            ["Stdout:one", "Stderr:warn", "Stdout:two"]
        );
        live.end(run(5));
        let all = live.next_events(0).await;
        assert_eq!(
            lines(&all),
            [
                "Stdout:one",
                "Stderr:warn",
                "Stdout:two",
                "Stdout:three",
                "end:5"
            ]
        );
        assert!(
            live.next_events(all.len()).await.is_empty(),
            "nothing after the end"
        );
        assert_eq!(live.wait_end().await.unwrap().id, 5);
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_on_new_output() {
        let live = Arc::new(LiveOutput::default());
        let reader = tokio::spawn({
            let live = live.clone();
            async move { lines(&live.next_events(0).await) }
        });
        tokio::task::yield_now().await;
        live.push_bytes(Stream::Stdout, b"hello\n");
        let seen = tokio::time::timeout(std::time::Duration::from_secs(2), reader)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen, ["Stdout:hello"]);
    }
}
