//! The extractions in flight, at most one per path: a later scan joins the one running for
//! the same content instead of starting another, and cancels one whose content changed or
//! whose file is gone. Only the current extraction of a path may commit its result.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What a started extraction carries: its id, its cancel signal, and the signal it sends
/// when it has ended (committed, superseded or cancelled).
pub struct Ticket {
    pub id: u64,
    pub cancel: CancellationToken,
    pub done: watch::Sender<bool>,
}

/// The answer to `claim`.
pub enum Claim {
    /// The same content is being extracted already: wait for that one.
    Joined(watch::Receiver<bool>),
    /// A new extraction, to be run by the caller.
    Started(Ticket, watch::Receiver<bool>),
}

struct InFlight {
    id: u64,
    hash: String,
    cancel: CancellationToken,
    done: watch::Receiver<bool>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    running: HashMap<String, InFlight>,
}

#[derive(Default)]
pub struct Jobs {
    state: Mutex<State>,
}

impl Jobs {
    /// Joins the extraction running for this content of `path`, or starts one (cancelling
    /// an extraction of other content). `afresh` always starts one: what the script imports
    /// changed since the running one began (its dependencies were just installed).
    pub fn claim(&self, path: &str, hash: &str, afresh: bool) -> Claim {
        let mut state = self.state.lock().expect("never poisoned");
        if let Some(job) = state.running.get(path) {
            if job.hash == hash && !afresh {
                return Claim::Joined(job.done.clone());
            }
            job.cancel.cancel();
        }
        state.next_id += 1;
        let id = state.next_id;
        let (done, receiver) = watch::channel(false);
        let cancel = CancellationToken::new();
        let job = InFlight {
            id,
            hash: hash.to_string(),
            cancel: cancel.clone(),
            done: receiver.clone(),
        };
        state.running.insert(path.to_string(), job);
        Claim::Started(Ticket { id, cancel, done }, receiver)
    }

    /// Cancels the extractions whose file is not in `current` (path → content hash) or has
    /// other content now.
    pub fn cancel_stale(&self, current: &HashMap<&str, &str>) {
        let mut state = self.state.lock().expect("never poisoned");
        state.running.retain(|path, job| {
            let fresh = current.get(path.as_str()) == Some(&job.hash.as_str());
            if !fresh {
                job.cancel.cancel();
            }
            fresh
        });
    }

    /// Takes extraction `id` of `path` off the list; false when it is no longer the current
    /// one (its result must then be dropped).
    pub fn finish(&self, path: &str, id: u64) -> bool {
        let mut state = self.state.lock().expect("never poisoned");
        if state.running.get(path).is_some_and(|job| job.id == id) {
            state.running.remove(path);
            return true;
        }
        false
    }

    /// How many extractions are in flight.
    pub fn pending(&self) -> usize {
        self.state.lock().expect("never poisoned").running.len()
    }
}

/// Waits until an extraction has ended (a dropped ticket counts as ended).
pub async fn ended(mut done: watch::Receiver<bool>) {
    let _ = done.wait_for(|ended| *ended).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(claim: Claim) -> Ticket {
        match claim {
            Claim::Started(ticket, _) => ticket,
            Claim::Joined(_) => panic!("expected a new extraction"),
        }
    }

    #[test]
    fn the_same_content_is_extracted_once_and_new_content_replaces_old() {
        let jobs = Jobs::default();
        let first = started(jobs.claim("python/a.py", "h1", false));
        assert!(
            matches!(jobs.claim("python/a.py", "h1", false), Claim::Joined(_)),
            "same content: joined"
        );
        let second = started(jobs.claim("python/a.py", "h2", false));
        assert!(
            first.cancel.is_cancelled(),
            "the old content's extraction is cancelled"
        );
        assert!(
            !jobs.finish("python/a.py", first.id),
            "its result is dropped"
        );
        assert!(
            jobs.finish("python/a.py", second.id),
            "the current one commits"
        );
        assert_eq!(jobs.pending(), 0);
    }

    #[test]
    fn stale_extractions_are_cancelled() {
        let jobs = Jobs::default();
        let kept = started(jobs.claim("python/kept.py", "h", false));
        let gone = started(jobs.claim("python/gone.py", "h", false));
        let edited = started(jobs.claim("python/edited.py", "h1", false));
        let current = HashMap::from([("python/kept.py", "h"), ("python/edited.py", "h2")]);
        jobs.cancel_stale(&current);
        let cancelled = [&kept, &gone, &edited].map(|t| t.cancel.is_cancelled());
        assert_eq!(cancelled, [false, true, true]);
        assert_eq!(jobs.pending(), 1);
    }

    #[tokio::test]
    async fn a_dropped_ticket_counts_as_ended() {
        let jobs = Jobs::default();
        let Claim::Started(ticket, done) = jobs.claim("python/a.py", "h", false) else {
            panic!("a new extraction")
        };
        drop(ticket);
        ended(done).await;
    }
}
