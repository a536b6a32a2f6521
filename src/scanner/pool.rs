//! The bounded pool schema extractions run on. Each lane (the bulk of a full scan, or a
//! prompt change: a saved file, an edit seen by the watcher) has `concurrency` places. An
//! extraction still running after `slow_after` moves to one of the slow places when one is
//! free and gives its lane place back, so a hanging script delays only itself; at most
//! `2 × concurrency + SLOW_PLACES` extractions ever run at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How long an extraction may hold a lane place before it counts as slow.
const SLOW_AFTER: Duration = Duration::from_secs(1);
/// Slow extractions (hanging until their timeout, most likely) running at once.
const SLOW_PLACES: usize = 64;

/// Which queue an extraction waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A full scan: start-up, a forced rescan, `POST /api/scan`.
    Bulk,
    /// One change: a file saved through the API, or seen by the watcher.
    Prompt,
}

pub struct Pool {
    bulk: Arc<Semaphore>,
    prompt: Arc<Semaphore>,
    slow: Arc<Semaphore>,
    slow_after: Duration,
}

impl Pool {
    pub fn new(concurrency: usize) -> Pool {
        Pool::with_slow_after(concurrency, SLOW_AFTER)
    }

    fn with_slow_after(concurrency: usize, slow_after: Duration) -> Pool {
        Pool {
            bulk: Arc::new(Semaphore::new(concurrency)),
            prompt: Arc::new(Semaphore::new(concurrency)),
            slow: Arc::new(Semaphore::new(SLOW_PLACES)),
            slow_after,
        }
    }

    /// Runs `work` once its lane has a place; `None` when `cancel` fires while it waits.
    pub async fn run<T>(
        &self,
        lane: Lane,
        cancel: &CancellationToken,
        work: impl Future<Output = T>,
    ) -> Option<T> {
        let places = match lane {
            Lane::Bulk => &self.bulk,
            Lane::Prompt => &self.prompt,
        };
        let place = tokio::select! {
            _ = cancel.cancelled() => return None,
            place = places.clone().acquire_owned() => place.expect("the pool is never closed"),
        };
        tokio::pin!(work);
        if let Ok(done) = tokio::time::timeout(self.slow_after, &mut work).await {
            return Some(done);
        }
        let slow = self.slow.clone().try_acquire_owned().ok();
        // Without a free slow place it keeps its lane place: the bound holds either way.
        let kept = match slow {
            Some(_) => {
                drop(place);
                None
            }
            None => Some(place),
        };
        let done = work.await;
        drop((slow, kept));
        Some(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hanging_extraction_gives_its_place_to_the_next_one() {
        let pool = Arc::new(Pool::with_slow_after(1, Duration::from_millis(50)));
        let cancel = CancellationToken::new();
        let hanging = {
            let (pool, cancel) = (pool.clone(), cancel.clone());
            tokio::spawn(async move {
                pool.run(Lane::Bulk, &cancel, std::future::pending::<()>())
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let quick = tokio::time::timeout(
            Duration::from_secs(2),
            pool.run(Lane::Bulk, &cancel, async { 7 }),
        )
        .await;
        assert_eq!(
            quick.ok().flatten(),
            Some(7),
            "the quick one ran beside the hanging one"
        );
        hanging.abort();
    }

    #[tokio::test]
    async fn lanes_do_not_wait_for_each_other_and_a_cancelled_wait_ends() {
        let pool = Pool::with_slow_after(1, Duration::from_secs(60));
        let cancel = CancellationToken::new();
        let bulk_busy = pool.bulk.clone().acquire_owned().await.unwrap();
        let prompt = pool.run(Lane::Prompt, &cancel, async { 1 }).await;
        assert_eq!(prompt, Some(1), "a prompt change skips the bulk queue");
        cancel.cancel();
        assert_eq!(pool.run(Lane::Bulk, &cancel, async { 2 }).await, None);
        drop(bulk_busy);
    }
}
