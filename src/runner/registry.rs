//! The runs that are queued or running right now.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::live::LiveOutput;

/// A run in flight.
pub struct ActiveRun {
    pub run_id: i64,
    /// None for an ad-hoc run.
    pub script_id: Option<i64>,
    pub script_path: String,
    pub cancel: CancellationToken,
    pub live: Arc<LiveOutput>,
    running: AtomicBool,
    interrupted: AtomicBool,
    pid: AtomicU32,
}

impl ActiveRun {
    pub fn new(
        run_id: i64,
        script_id: Option<i64>,
        script_path: String,
        running: bool,
    ) -> ActiveRun {
        ActiveRun {
            run_id,
            script_id,
            script_path,
            cancel: CancellationToken::new(),
            live: Arc::new(LiveOutput::default()),
            running: AtomicBool::new(running),
            interrupted: AtomicBool::new(false),
            pid: AtomicU32::new(0),
        }
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    pub fn set_running(&self) {
        self.running.store(true, Ordering::SeqCst);
    }

    pub fn set_pid(&self, pid: u32) {
        self.pid.store(pid, Ordering::SeqCst);
    }

    pub fn pid(&self) -> Option<u32> {
        Some(self.pid.load(Ordering::SeqCst)).filter(|p| *p != 0)
    }

    /// Stops the run because the gateway is shutting down.
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.cancel.cancel();
    }

    pub fn was_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }
}

#[derive(Default)]
pub struct Registry {
    runs: Mutex<BTreeMap<i64, Arc<ActiveRun>>>,
    emptied: Notify,
    removed: Notify,
}

impl Registry {
    pub fn insert(&self, run: Arc<ActiveRun>) {
        self.runs
            .lock()
            .expect("not poisoned")
            .insert(run.run_id, run);
    }

    pub fn remove(&self, run_id: i64) {
        let mut runs = self.runs.lock().expect("not poisoned");
        runs.remove(&run_id);
        self.removed.notify_waiters();
        if runs.is_empty() {
            self.emptied.notify_waiters();
        }
    }

    pub fn get(&self, run_id: i64) -> Option<Arc<ActiveRun>> {
        self.runs
            .lock()
            .expect("not poisoned")
            .get(&run_id)
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<ActiveRun>> {
        self.runs
            .lock()
            .expect("not poisoned")
            .values()
            .cloned()
            .collect()
    }

    /// 1 for the next queued run to start, 2 for the one after, …; None when not queued.
    pub fn queue_position(&self, run_id: i64) -> Option<usize> {
        let runs = self.runs.lock().expect("not poisoned");
        let run = runs.get(&run_id)?;
        if run.is_running() {
            return None;
        }
        Some(
            runs.range(..run_id)
                .filter(|(_, r)| !r.is_running())
                .count()
                + 1,
        )
    }

    /// Resolves once no run is in flight.
    /// Until `run_id` has left the registry (its end is stored and announced by then).
    pub async fn wait_gone(&self, run_id: i64) {
        loop {
            let removed = self.removed.notified();
            if !self
                .runs
                .lock()
                .expect("not poisoned")
                .contains_key(&run_id)
            {
                return;
            }
            removed.await;
        }
    }

    pub async fn wait_empty(&self) {
        loop {
            let emptied = self.emptied.notified();
            if self.runs.lock().expect("not poisoned").is_empty() {
                return;
            }
            emptied.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_positions_count_earlier_queued_runs() {
        let registry = Registry::default();
        registry.insert(Arc::new(ActiveRun::new(1, Some(1), "a".into(), true)));
        registry.insert(Arc::new(ActiveRun::new(2, Some(1), "a".into(), false)));
        registry.insert(Arc::new(ActiveRun::new(3, Some(1), "a".into(), false)));
        assert_eq!(registry.queue_position(1), None, "running");
        assert_eq!(registry.queue_position(2), Some(1));
        assert_eq!(registry.queue_position(3), Some(2));
        registry.get(2).unwrap().set_running();
        assert_eq!(registry.queue_position(3), Some(1));
        assert_eq!(registry.queue_position(9), None);
    }

    #[tokio::test]
    async fn wait_empty_resolves_when_the_last_run_leaves() {
        let registry = Arc::new(Registry::default());
        registry.insert(Arc::new(ActiveRun::new(1, Some(1), "a".into(), true)));
        let waiter = tokio::spawn({
            let registry = registry.clone();
            async move { registry.wait_empty().await }
        });
        tokio::task::yield_now().await;
        registry.remove(1);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
