//! The scanner's loop: rescans on changes the watcher sees, on the safety-net interval, and
//! when a dependency set finishes installing. A rescan only plans and hands extractions to
//! the pool, so the next change is picked up while a slow extraction still runs.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::settings::Settings;

use super::pool::Lane;
use super::watch::{self, RepoWatcher};
use super::{deps_sync, ScanRequest, Scanner, Waiting};

impl Scanner {
    /// Starts watching the repository at once, so that nothing saved from now on is missed,
    /// and returns the loop (to be spawned) that rescans on changes, on the safety-net
    /// interval, and when a dependency set finishes installing, until `shutdown` is
    /// cancelled. A changed interval or debounce applies at once.
    pub fn watch(
        self: Arc<Self>,
        settings: Arc<Settings>,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (changed_tx, changed) = mpsc::channel(1);
        let watcher = self.start_watching(settings.current().watch_debounce, changed_tx.clone());
        self.run_forever(settings, watcher, (changed_tx, changed), shutdown)
    }

    async fn run_forever(
        self: Arc<Self>,
        settings: Arc<Settings>,
        mut watcher: Option<RepoWatcher>,
        (changed_tx, mut changed): (mpsc::Sender<()>, mpsc::Receiver<()>),
        shutdown: CancellationToken,
    ) {
        let mut changes = settings.subscribe();
        let mut current = settings.current();
        let mut ticker = safety_net(current.scan_interval);
        let mut installs = self.installed.lock().expect("never poisoned").take();
        loop {
            let mut installed = HashSet::new();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                message = changed.recv() => if message.is_none() { return },
                _ = ticker.tick() => {},
                key = deps_sync::next_installed(&mut installs) => { installed.insert(key); },
                update = changes.changed() => {
                    if update.is_err() { return }
                    let next = changes.borrow_and_update().clone();
                    if next.scan_interval != current.scan_interval {
                        ticker = safety_net(next.scan_interval);
                    }
                    if next.watch_debounce != current.watch_debounce {
                        drop(watcher.take());
                        watcher = self.start_watching(next.watch_debounce, changed_tx.clone());
                    }
                    current = next;
                    continue;
                }
            }
            deps_sync::drain(&mut installs, &mut installed);
            let request = ScanRequest {
                force: false,
                lane: Lane::Prompt,
                waiting: Waiting::Nothing,
                installed,
            };
            if let Err(error) = self.scan_with(request).await {
                tracing::error!(%error, "scan failed");
            }
        }
    }

    /// Watches the repository; without a watcher (e.g. no inotify watches left) the
    /// safety-net interval still finds changes.
    fn start_watching(&self, debounce: Duration, changed: mpsc::Sender<()>) -> Option<RepoWatcher> {
        match watch::watch(&self.config.scripts_repo, debounce, changed) {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                tracing::error!(%error, "cannot watch the scripts folder; relying on the periodic rescan");
                None
            }
        }
    }
}

fn safety_net(interval: Option<Duration>) -> tokio::time::Interval {
    let period = interval.unwrap_or(Duration::from_secs(365 * 24 * 3600));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}
