//! Capture of a child's stdout and stderr: read concurrently, kept up to a cap, shown to an
//! observer as they arrive.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use super::{Observer, Stream};

/// Starts reading the child's stdout and stderr, each kept up to `limit` bytes; the receiver
/// names the first stream that went over.
pub(super) fn start(
    child: &mut super::child::Child,
    limit: usize,
    observer: Option<Arc<dyn Observer>>,
) -> ([Reader; 2], mpsc::Receiver<Stream>) {
    let (over_limit_tx, over_limit) = mpsc::channel::<Stream>(2);
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let capture = |stream, observer| Capture {
        limit,
        stream,
        observer,
    };
    let readers = [
        start_reader(
            stdout,
            capture(Stream::Stdout, observer.clone()),
            over_limit_tx.clone(),
        ),
        start_reader(stderr, capture(Stream::Stderr, observer), over_limit_tx),
    ];
    (readers, over_limit)
}

/// What a reader has read. A process that left the group (setsid) may still hold the pipe
/// open, so the reader gets a moment to reach the end, then what it has is taken as is.
pub(super) async fn collect(reader: Reader, deadline: tokio::time::Instant) -> Vec<u8> {
    let abort = reader.task.abort_handle();
    if tokio::time::timeout_at(deadline, reader.task)
        .await
        .is_err()
    {
        abort.abort();
    }
    std::mem::take(&mut *reader.kept.lock().expect("not poisoned"))
}

/// A stream being read into `kept`.
pub(super) struct Reader {
    task: tokio::task::JoinHandle<()>,
    kept: Arc<std::sync::Mutex<Vec<u8>>>,
}

fn start_reader(
    pipe: impl AsyncRead + Unpin + Send + 'static,
    capture: Capture,
    over_limit: mpsc::Sender<Stream>,
) -> Reader {
    let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
    let task = tokio::spawn(read_capped(pipe, capture, kept.clone(), over_limit));
    Reader { task, kept }
}

/// How one stream is captured.
struct Capture {
    limit: usize,
    stream: Stream,
    observer: Option<Arc<dyn Observer>>,
}

async fn read_capped(
    mut pipe: impl AsyncRead + Unpin,
    capture: Capture,
    kept: Arc<std::sync::Mutex<Vec<u8>>>,
    over_limit: mpsc::Sender<Stream>,
) {
    // Small: most runs print a line or two, and the kernel's pipe holds 64 KiB anyway.
    let mut chunk = vec![0u8; 8 * 1024];
    let mut length = 0;
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let room = capture.limit.saturating_sub(length);
                let accepted = &chunk[..n.min(room)];
                kept.lock()
                    .expect("not poisoned")
                    .extend_from_slice(accepted);
                length += accepted.len();
                if let Some(observer) = &capture.observer {
                    observer.output(capture.stream, accepted);
                }
                if n > room {
                    let _ = over_limit.try_send(capture.stream);
                    return;
                }
            }
        }
    }
}
