//! Feeds the metrics from what the runner announces: every finished run, read from
//! `Runner::subscribe_finished`, counted by script and status, with its duration and queue wait.

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::catalog::Run;
use crate::metrics;
use crate::runner::Finished;

/// Records every run the runner announces as finished, until `shutdown`.
pub fn follow_runs(
    mut finished: broadcast::Receiver<Finished>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = finished.recv() => next,
            };
            match next {
                Ok(end) => record(&end.run),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "finished runs went uncounted in the metrics")
                }
                Err(RecvError::Closed) => return,
            }
        }
    })
}

fn record(run: &Run) {
    let duration = run.duration_ms.map(|ms| ms.max(0) as f64 / 1000.0);
    let waited = run
        .started_at
        .as_deref()
        .and_then(|started| metrics::seconds_between(&run.queued_at, started));
    metrics::run_finished(&run.script_path, run.status.as_str(), duration, waited);
}
