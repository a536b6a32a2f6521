//! Who may run now: a global limit, optional per-script limits, and a bounded queue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Held for the whole of a run; dropping it frees the slots.
pub struct Slots {
    global: Option<OwnedSemaphorePermit>,
    _script: Option<OwnedSemaphorePermit>,
    /// Global slots still to retire after the limit was lowered while they were in use.
    debt: Arc<AtomicUsize>,
}

impl Drop for Slots {
    fn drop(&mut self) {
        let retire = self
            .debt
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| d.checked_sub(1))
            .is_ok();
        if let (true, Some(permit)) = (retire, self.global.take()) {
            permit.forget();
        }
    }
}

/// A place in the queue; waiting on it yields slots in arrival order.
pub struct QueuePlace {
    global: Arc<Semaphore>,
    debt: Arc<AtomicUsize>,
    script: Option<Arc<Semaphore>>,
    waiting: Arc<AtomicUsize>,
}

impl QueuePlace {
    pub async fn wait(self) -> Slots {
        // The script's own slot first, so a run never sits on a global slot it cannot use.
        let script = match &self.script {
            Some(semaphore) => Some(
                semaphore
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("never closed"),
            ),
            None => None,
        };
        let global = self
            .global
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        Slots {
            global: Some(global),
            _script: script,
            debt: self.debt.clone(),
        }
    }
}

impl Drop for QueuePlace {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

pub enum Entry {
    Now(Slots),
    Queued(QueuePlace),
}

#[derive(Debug, thiserror::Error)]
#[error("{waiting} runs are already waiting (the queue holds {capacity})")]
pub struct QueueFull {
    pub waiting: usize,
    pub capacity: usize,
}

pub struct Admission {
    global: Arc<Semaphore>,
    limit: AtomicUsize,
    debt: Arc<AtomicUsize>,
    per_script: Mutex<HashMap<i64, (usize, Arc<Semaphore>)>>,
    waiting: Arc<AtomicUsize>,
    capacity: AtomicUsize,
}

impl Admission {
    pub fn new(max_running: usize, queue_capacity: usize) -> Admission {
        Admission {
            global: Arc::new(Semaphore::new(max_running.max(1))),
            limit: AtomicUsize::new(max_running.max(1)),
            debt: Arc::new(AtomicUsize::new(0)),
            per_script: Mutex::new(HashMap::new()),
            waiting: Arc::new(AtomicUsize::new(0)),
            capacity: AtomicUsize::new(queue_capacity),
        }
    }

    /// Applies new limits live: more slots open at once; fewer close as runs finish.
    pub fn resize(&self, max_running: usize, queue_capacity: usize) {
        self.capacity.store(queue_capacity, Ordering::SeqCst);
        let new = max_running.max(1);
        let old = self.limit.swap(new, Ordering::SeqCst);
        if new > old {
            let mut added = new - old;
            while added > 0
                && self
                    .debt
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| d.checked_sub(1))
                    .is_ok()
            {
                added -= 1;
            }
            self.global.add_permits(added);
        } else if old > new {
            let retired = self.global.forget_permits(old - new);
            self.debt.fetch_add(old - new - retired, Ordering::SeqCst);
        }
    }

    /// Slots now, a place in the queue, or a refusal when the queue is full.
    pub fn enter(&self, script_id: i64, script_limit: Option<usize>) -> Result<Entry, QueueFull> {
        let script = script_limit.map(|limit| self.script_semaphore(script_id, limit));
        if let Some(slots) = self.try_now(script.as_ref()) {
            return Ok(Entry::Now(slots));
        }
        let capacity = self.capacity.load(Ordering::SeqCst);
        let reserved = self
            .waiting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < capacity).then_some(n + 1)
            });
        match reserved {
            Ok(_) => Ok(Entry::Queued(QueuePlace {
                global: self.global.clone(),
                debt: self.debt.clone(),
                script,
                waiting: self.waiting.clone(),
            })),
            Err(waiting) => Err(QueueFull { waiting, capacity }),
        }
    }

    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    fn try_now(&self, script: Option<&Arc<Semaphore>>) -> Option<Slots> {
        let script_permit = match script {
            Some(semaphore) => Some(semaphore.clone().try_acquire_owned().ok()?),
            None => None,
        };
        let global = self.global.clone().try_acquire_owned().ok()?;
        Some(Slots {
            global: Some(global),
            _script: script_permit,
            debt: self.debt.clone(),
        })
    }

    /// The script's semaphore; a changed limit starts a new one (runs holding the old drain away).
    fn script_semaphore(&self, script_id: i64, limit: usize) -> Arc<Semaphore> {
        let mut per_script = self.per_script.lock().expect("not poisoned");
        match per_script.get(&script_id) {
            Some((current, semaphore)) if *current == limit => semaphore.clone(),
            _ => {
                let semaphore = Arc::new(Semaphore::new(limit.max(1)));
                per_script.insert(script_id, (limit, semaphore.clone()));
                semaphore
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_beyond_the_limit_queue_and_beyond_the_queue_are_refused() {
        let admission = Admission::new(2, 2);
        let first = admission.enter(1, None).unwrap();
        let second = admission.enter(2, None).unwrap();
        assert!(matches!((&first, &second), (Entry::Now(_), Entry::Now(_))));
        let third = admission.enter(3, None).unwrap();
        let fourth = admission.enter(4, None).unwrap();
        assert!(matches!(
            (&third, &fourth),
            (Entry::Queued(_), Entry::Queued(_))
        ));
        let refused = admission.enter(5, None).err().expect("the queue is full");
        assert_eq!((refused.waiting, refused.capacity), (2, 2));
        drop(first);
        let Entry::Queued(place) = third else {
            unreachable!()
        };
        let slots = tokio::time::timeout(std::time::Duration::from_secs(1), place.wait())
            .await
            .expect("a slot freed up");
        assert_eq!(admission.waiting(), 1);
        drop((slots, second, fourth));
        assert_eq!(admission.waiting(), 0);
    }

    #[tokio::test]
    async fn limits_change_live() {
        let admission = Admission::new(2, 5);
        let a = admission.enter(1, None).unwrap();
        let b = admission.enter(1, None).unwrap();
        admission.resize(1, 5);
        drop(a);
        assert!(
            matches!(admission.enter(1, None).unwrap(), Entry::Queued(_)),
            "one slot, still taken by b"
        );
        drop(b);
        assert!(
            matches!(admission.enter(1, None).unwrap(), Entry::Now(_)),
            "b's slot reopens"
        );
        admission.resize(3, 0);
        let held: Vec<_> = (0..3).map(|_| admission.enter(1, None).unwrap()).collect();
        assert!(
            held.iter().all(|e| matches!(e, Entry::Now(_))),
            "three slots now"
        );
        assert!(
            admission.enter(1, None).is_err(),
            "a queue of 0 refuses at once"
        );
    }

    #[tokio::test]
    async fn a_script_limit_queues_its_own_runs_only() {
        let admission = Admission::new(10, 10);
        let held = admission.enter(7, Some(1)).unwrap();
        assert!(matches!(held, Entry::Now(_)));
        assert!(matches!(
            admission.enter(7, Some(1)).unwrap(),
            Entry::Queued(_)
        ));
        assert!(
            matches!(admission.enter(8, Some(1)).unwrap(), Entry::Now(_)),
            "another script is not held back"
        );
        assert!(matches!(admission.enter(9, None).unwrap(), Entry::Now(_)));
    }
}
