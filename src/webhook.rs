//! Notifications: every finished run of a script with notifications on is POSTed as JSON to
//! `notify_url`, off the request path (a bounded number of deliveries in flight), with a
//! timeout per attempt and a couple of retries. A failed delivery is logged, never fatal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::catalog::{Catalog, CatalogError, Run, RunStatus};
use crate::runner::Finished;
use crate::settings::{Effective, Settings};

/// Deliveries (with their retries) in flight at once; a run ending beyond that is not notified.
pub const MAX_IN_FLIGHT: usize = 32;

/// The waits before the second and third attempts.
pub const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no notification URL is configured (setting notify_url) or given (\"url\")")]
    NoUrl,
    #[error("url {0}")]
    InvalidUrl(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// The JSON body POSTed for a finished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFinished {
    pub event: &'static str,
    pub script_id: Option<i64>,
    pub path: String,
    pub run_id: i64,
    pub status: RunStatus,
    pub duration_ms: Option<i64>,
    pub exit_code: Option<i32>,
    pub error: Option<RunFailure>,
    pub finished_at: Option<String>,
    /// The run in the API: absolute with `base_url`, else relative.
    pub url: String,
}

/// Why a run did not succeed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFailure {
    pub code: String,
    pub message: Option<String>,
}

impl RunFinished {
    pub fn of(run: &Run, base_url: Option<&str>) -> RunFinished {
        RunFinished {
            event: "run.finished",
            script_id: run.script_id,
            path: run.script_path.clone(),
            run_id: run.id,
            status: run.status,
            duration_ms: run.duration_ms,
            exit_code: run.exit_code,
            error: run.error_code.as_ref().map(|code| RunFailure {
                code: code.clone(),
                message: run.error_message.clone(),
            }),
            finished_at: run.finished_at.clone(),
            url: format!("{}/api/runs/{}", base_url.unwrap_or(""), run.id),
        }
    }

    /// What a test notification carries: the same shape, `event: "test"`, run id 0.
    pub fn sample(base_url: Option<&str>) -> RunFinished {
        RunFinished {
            event: "test",
            script_id: Some(0),
            path: "python/example.py".into(),
            run_id: 0,
            status: RunStatus::Success,
            duration_ms: Some(0),
            exit_code: Some(0),
            error: None,
            finished_at: Some(crate::clock::now_text()),
            url: format!("{}/api/runs/0", base_url.unwrap_or("")),
        }
    }
}

/// How a delivery went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub delivered: bool,
    /// The HTTP status of the last answer, if there was one.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub attempts: u32,
    pub duration_ms: u64,
}

impl Delivery {
    /// A transport failure, a server error, 408 or 429 may go better next time.
    fn worth_retrying(&self) -> bool {
        !self.delivered && self.status.is_none_or(|s| s >= 500 || s == 408 || s == 429)
    }
}

/// Where and how to deliver, fixed when the run ends.
#[derive(Debug, Clone)]
struct Target {
    url: String,
    timeout: Duration,
    base_url: Option<String>,
}

/// Sends notifications; one per gateway.
pub struct Notifier {
    catalog: Catalog,
    settings: Arc<Settings>,
    in_flight: Arc<Semaphore>,
    backoff: Vec<Duration>,
}

impl Notifier {
    pub fn new(catalog: Catalog, settings: Arc<Settings>) -> Notifier {
        Notifier {
            catalog,
            settings,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            backoff: BACKOFF.to_vec(),
        }
    }

    /// Notifies every run `finished` announces, for the life of the runtime.
    pub fn start(
        self: &Arc<Self>,
        mut finished: broadcast::Receiver<Finished>,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let notifier = self.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    next = finished.recv() => next,
                };
                match next {
                    Ok(Finished { run, settings }) => notifier.dispatch(run, &settings),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "runs ended faster than they could be notified")
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }

    fn dispatch(self: &Arc<Self>, run: Arc<Run>, current: &Effective) {
        let Some(url) = current.notify_url.clone() else {
            return;
        };
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            tracing::warn!(
                run_id = run.id,
                limit = MAX_IN_FLIGHT,
                "too many notifications in flight; this run's is dropped"
            );
            return;
        };
        let target = Target {
            url,
            timeout: current.notify_timeout,
            base_url: current.base_url.clone(),
        };
        let notifier = self.clone();
        let span = tracing::info_span!("notify", run_id = run.id, script_id = run.script_id);
        tokio::spawn(
            async move {
                notifier.notify(&target, &run).await;
                drop(permit);
            }
            .instrument(span),
        );
    }

    async fn notify(&self, target: &Target, run: &Run) {
        // Notifications are a script's choice; an ad-hoc run has no script to make it.
        let Some(script_id) = run.script_id else {
            return;
        };
        match self.catalog.script(script_id).await {
            Ok(Some(script)) if script.notify_enabled => {}
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot tell whether the run's script wants notifications");
                return;
            }
        }
        let body = RunFinished::of(run, target.base_url.as_deref());
        let delivery = self.deliver(target, &body).await;
        if !delivery.delivered {
            tracing::warn!(
                host = host_of(&target.url),
                attempts = delivery.attempts,
                status = delivery.status,
                error = delivery.error.as_deref(),
                "a run notification was not delivered"
            );
        }
    }

    /// Delivers `body`, retrying after each wait in the backoff while it may help.
    async fn deliver(&self, target: &Target, body: &RunFinished) -> Delivery {
        let began = Instant::now();
        let mut delivery = post(target.url.clone(), target.timeout, body).await;
        for wait in &self.backoff {
            if !delivery.worth_retrying() {
                break;
            }
            tracing::debug!(
                status = delivery.status,
                error = delivery.error.as_deref(),
                "notification attempt failed; retrying"
            );
            tokio::time::sleep(*wait).await;
            let attempts = delivery.attempts + 1;
            delivery = Delivery {
                attempts,
                ..post(target.url.clone(), target.timeout, body).await
            };
        }
        delivery.duration_ms = elapsed_ms(began);
        delivery
    }

    /// Sends a sample notification now, once, to `url` or else the configured URL.
    pub async fn send_test(&self, url: Option<String>) -> Result<Delivery, WebhookError> {
        let current = self.settings.current();
        let url = match url.map(|u| self.checked_url(u)).transpose()?.flatten() {
            Some(url) => url,
            None => current.notify_url.clone().ok_or(WebhookError::NoUrl)?,
        };
        let body = RunFinished::sample(current.base_url.as_deref());
        Ok(post(url, current.notify_timeout, &body).await)
    }

    /// `url` checked as the `notify_url` setting would be; `None` when it is empty.
    fn checked_url(&self, url: String) -> Result<Option<String>, WebhookError> {
        let mut change = Map::new();
        change.insert("notify_url".into(), Value::String(url));
        let valid = self.settings.validate(&change).map_err(|problems| {
            let message = problems.into_iter().map(|p| p.message).collect::<Vec<_>>();
            WebhookError::InvalidUrl(message.join("; "))
        })?;
        let url = valid.into_iter().next().and_then(|(_, v)| match v {
            Value::String(s) if !s.is_empty() => Some(s),
            _ => None,
        });
        Ok(url)
    }
}

/// One POST of `body` on the blocking pool, bounded by `timeout` in all.
async fn post(url: String, timeout: Duration, body: &RunFinished) -> Delivery {
    let began = Instant::now();
    let body = serde_json::to_value(body).unwrap_or_else(|e| json!({ "error": e.to_string() }));
    let sent = tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout(timeout)
            .redirects(0)
            .user_agent(concat!("script-gateway/", env!("CARGO_PKG_VERSION")))
            .build();
        match agent.post(&url).send_json(body) {
            Ok(response) => (Some(response.status()), None),
            Err(ureq::Error::Status(status, _)) => (Some(status), None),
            Err(ureq::Error::Transport(transport)) => (None, Some(transport.to_string())),
        }
    })
    .await;
    let (status, error) =
        sent.unwrap_or_else(|e| (None, Some(format!("delivery task failed: {e}"))));
    let delivered = status.is_some_and(|s| (200..300).contains(&s));
    let error = match (error, status) {
        (Some(error), _) => Some(error),
        (None, Some(s)) if !delivered => Some(format!("the notify URL answered HTTP {s}")),
        _ => None,
    };
    Delivery {
        delivered,
        status,
        error,
        attempts: 1,
        duration_ms: elapsed_ms(began),
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The host of a URL, for logs (a URL's path or query may hold a token).
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_that_may_pass_later_are_retried() {
        let delivery = |delivered, status| Delivery {
            delivered,
            status,
            error: None,
            attempts: 1,
            duration_ms: 0,
        };
        let cases = [
            (delivery(true, Some(200)), false),
            (delivery(false, None), true),
            (delivery(false, Some(500)), true),
            (delivery(false, Some(503)), true),
            (delivery(false, Some(429)), true),
            (delivery(false, Some(404)), false),
            (delivery(false, Some(301)), false),
        ];
        for (delivery, want) in cases {
            assert_eq!(delivery.worth_retrying(), want, "{delivery:?}");
        }
    }

    #[test]
    fn the_payload_links_the_run_absolutely_only_with_a_base_url() {
        let sample = RunFinished::sample(Some("https://gw.example"));
        assert_eq!(sample.url, "https://gw.example/api/runs/0");
        assert_eq!(RunFinished::sample(None).url, "/api/runs/0");
        let body = serde_json::to_value(&sample).unwrap();
        let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "event",
                "script_id",
                "path",
                "run_id",
                "status",
                "duration_ms",
                "exit_code",
                "error",
                "finished_at",
                "url"
            ]
        );
    }
}
