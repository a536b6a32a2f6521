//! The Prometheus metrics of the process: one registry, the metric families, and the calls
//! the parts make to record into them. A leaf: it knows no other part of the gateway, so any
//! part may record. Labels carry only bounded values: script paths, statuses, outcomes, route
//! templates and methods; never a run id or a user value.

use std::sync::LazyLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

const PREFIX: &str = "scriptgateway";

/// Seconds, from a quick script start to a long job.
const RUN_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// Seconds an HTTP request takes to answer.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The methods a label may name; any other is `OTHER`.
const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

/// The label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// What is counted at scrape time rather than as it happens.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub running: usize,
    pub queued: usize,
    pub scripts_ok: i64,
    pub scripts_error: i64,
    /// Fork servers alive, and their resident memory together.
    pub warm_servers: usize,
    pub warm_server_bytes: u64,
    /// Pre-started node processes waiting for a run.
    pub idle_node_processes: usize,
}

struct Metrics {
    registry: Registry,
    runs: IntCounterVec,
    run_duration: HistogramVec,
    queue_wait: HistogramVec,
    running: IntGauge,
    queued: IntGauge,
    extractions: IntCounterVec,
    installs: IntCounterVec,
    scripts: IntGaugeVec,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    starts: IntCounterVec,
    warm: IntGaugeVec,
    sessions: IntGauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace(PREFIX)
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> HistogramOpts {
    HistogramOpts::new(name, help)
        .namespace(PREFIX)
        .buckets(buckets.to_vec())
}

impl Metrics {
    fn new() -> Metrics {
        let metrics = Metrics::families().expect("the metric definitions are valid");
        metrics.register().expect("each metric is registered once");
        metrics
    }

    fn families() -> prometheus::Result<Metrics> {
        Ok(Metrics {
            registry: Registry::new(),
            runs: IntCounterVec::new(
                opts("runs_total", "Finished runs by script and final status."),
                &["script", "status"],
            )?,
            run_duration: HistogramVec::new(
                histogram(
                    "run_duration_seconds",
                    "How long finished runs took, by script.",
                    RUN_BUCKETS,
                ),
                &["script"],
            )?,
            queue_wait: HistogramVec::new(
                histogram(
                    "run_queue_wait_seconds",
                    "How long started runs waited for a slot, by script.",
                    RUN_BUCKETS,
                ),
                &["script"],
            )?,
            running: IntGauge::with_opts(opts("runs_running", "Runs executing now."))?,
            sessions: IntGauge::with_opts(opts(
                "sessions_active",
                "Interpreter sessions alive now.",
            ))?,
            queued: IntGauge::with_opts(opts("runs_queued", "Runs waiting for a slot now."))?,
            extractions: IntCounterVec::new(
                opts(
                    "schema_extractions_total",
                    "Schema (ARGS_MAP) extractions by outcome.",
                ),
                &["outcome"],
            )?,
            installs: IntCounterVec::new(
                opts(
                    "dependency_installs_total",
                    "Dependency installs that ran an installer, by runtime and outcome.",
                ),
                &["runtime", "outcome"],
            )?,
            scripts: IntGaugeVec::new(
                opts("scripts", "Scripts in the catalog by load status."),
                &["status"],
            )?,
            http_requests: IntCounterVec::new(
                opts(
                    "http_requests_total",
                    "HTTP requests by route template, method and status.",
                ),
                &["route", "method", "status"],
            )?,
            starts: IntCounterVec::new(
                opts(
                    "warm_starts_total",
                    "Runs that could start warm, by how they started: warm, or cold because no warm process was ready or it failed.",
                ),
                &["started"],
            )?,
            warm: IntGaugeVec::new(
                opts(
                    "warm_processes",
                    "Processes kept for warm runs: fork servers, their resident bytes together, and idle pre-started node processes.",
                ),
                &["kind"],
            )?,
            http_duration: HistogramVec::new(
                histogram(
                    "http_request_duration_seconds",
                    "How long HTTP requests took to answer, by route template, method and status.",
                    HTTP_BUCKETS,
                ),
                &["route", "method", "status"],
            )?,
        })
    }

    fn register(&self) -> prometheus::Result<()> {
        let r = &self.registry;
        r.register(Box::new(self.runs.clone()))?;
        r.register(Box::new(self.run_duration.clone()))?;
        r.register(Box::new(self.queue_wait.clone()))?;
        r.register(Box::new(self.running.clone()))?;
        r.register(Box::new(self.queued.clone()))?;
        r.register(Box::new(self.extractions.clone()))?;
        r.register(Box::new(self.installs.clone()))?;
        r.register(Box::new(self.scripts.clone()))?;
        r.register(Box::new(self.http_requests.clone()))?;
        r.register(Box::new(self.http_duration.clone()))?;
        r.register(Box::new(self.starts.clone()))?;
        r.register(Box::new(self.warm.clone()))?;
        r.register(Box::new(self.sessions.clone()))?;
        register_process_collector(r)
    }
}

#[cfg(target_os = "linux")]
fn register_process_collector(registry: &Registry) -> prometheus::Result<()> {
    let collector = prometheus::process_collector::ProcessCollector::for_self();
    registry.register(Box::new(collector))
}

#[cfg(not(target_os = "linux"))]
fn register_process_collector(_: &Registry) -> prometheus::Result<()> {
    Ok(())
}

/// A finished run: its script, final status, and the seconds it ran and waited (when known).
pub fn run_finished(script: &str, status: &str, duration: Option<f64>, waited: Option<f64>) {
    let m = &*METRICS;
    m.runs.with_label_values(&[script, status]).inc();
    if let Some(seconds) = duration {
        m.run_duration.with_label_values(&[script]).observe(seconds);
    }
    if let Some(seconds) = waited {
        m.queue_wait.with_label_values(&[script]).observe(seconds);
    }
}

/// Counts one schema extraction and hands its result back unchanged.
pub fn schema_extracted<T, E>(result: Result<T, E>) -> Result<T, E> {
    let outcome = if result.is_ok() { "ok" } else { "error" };
    METRICS.extractions.with_label_values(&[outcome]).inc();
    result
}

/// One dependency install that ran: `runtime` (`python`, `js`), `outcome` (`ready`, `failed`).
pub fn dependency_installed(runtime: &str, outcome: &str) {
    METRICS
        .installs
        .with_label_values(&[runtime, outcome])
        .inc();
}

/// The interpreter sessions alive now.
pub fn sessions_active(count: usize) {
    METRICS
        .sessions
        .set(i64::try_from(count).unwrap_or(i64::MAX));
}

/// A run that could start warm started `warm` or `cold`.
pub fn warm_start(started: &str) {
    METRICS.starts.with_label_values(&[started]).inc();
}

/// One answered HTTP request: its route template (or [`UNMATCHED`]), method and status.
pub fn http_request(route: &str, method: &str, status: u16, seconds: f64) {
    let method = METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(method))
        .copied()
        .unwrap_or("OTHER");
    let status = status.to_string();
    let labels = [route, method, status.as_str()];
    let m = &*METRICS;
    m.http_requests.with_label_values(&labels).inc();
    m.http_duration.with_label_values(&labels).observe(seconds);
}

/// Every metric in the Prometheus text format, with the gauges set from `snapshot`.
pub fn render(snapshot: Snapshot) -> String {
    let m = &*METRICS;
    m.running
        .set(i64::try_from(snapshot.running).unwrap_or(i64::MAX));
    m.queued
        .set(i64::try_from(snapshot.queued).unwrap_or(i64::MAX));
    m.scripts
        .with_label_values(&["ok"])
        .set(snapshot.scripts_ok);
    m.scripts
        .with_label_values(&["error"])
        .set(snapshot.scripts_error);
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    m.warm
        .with_label_values(&["fork_servers"])
        .set(count(snapshot.warm_servers));
    m.warm
        .with_label_values(&["fork_server_resident_bytes"])
        .set(i64::try_from(snapshot.warm_server_bytes).unwrap_or(i64::MAX));
    m.warm
        .with_label_values(&["idle_node_processes"])
        .set(count(snapshot.idle_node_processes));
    let mut text = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&m.registry.gather(), &mut text) {
        tracing::error!(%error, "cannot encode the metrics");
    }
    String::from_utf8(text).unwrap_or_default()
}

/// The content type of [`render`]'s text.
pub fn content_type() -> &'static str {
    prometheus::TEXT_FORMAT
}

/// Seconds between two catalog timestamps (`YYYY-MM-DDTHH:MM:SS.fffZ`), if both parse and
/// the second is not earlier.
pub fn seconds_between(from: &str, to: &str) -> Option<f64> {
    let seconds = epoch_seconds(to)? - epoch_seconds(from)?;
    (seconds >= 0.0).then_some(seconds)
}

fn epoch_seconds(timestamp: &str) -> Option<f64> {
    let (date, time) = timestamp.trim_end_matches('Z').split_once('T')?;
    let mut ymd = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, mo, d) = (ymd.next()?.ok()?, ymd.next()?.ok()?, ymd.next()?.ok()?);
    let mut hms = time.splitn(3, ':');
    let h: f64 = hms.next()?.parse().ok()?;
    let mi: f64 = hms.next()?.parse().ok()?;
    let s: f64 = hms.next()?.parse().ok()?;
    Some(days_from_civil(y, mo, d) as f64 * 86_400.0 + h * 3600.0 + mi * 60.0 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_timestamps_give_the_seconds_between_them() {
        let cases = [
            (
                "2026-12-01T06:00:00.000Z",
                "2026-12-01T06:00:01.500Z",
                Some(1.5),
            ),
            (
                "2026-12-31T23:59:59.000Z",
                "2027-01-01T00:00:01.000Z",
                Some(2.0),
            ),
            (
                "2024-02-28T12:00:00.000Z",
                "2024-03-01T12:00:00.000Z",
                Some(172_800.0),
            ),
            ("2026-12-01T06:00:01.000Z", "2026-12-01T06:00:00.000Z", None),
            ("yesterday", "2026-12-01T06:00:00.000Z", None),
        ];
        for (from, to, expected) in cases {
            let got = seconds_between(from, to);
            match expected {
                Some(e) => assert!(
                    got.is_some_and(|g| (g - e).abs() < 1e-6),
                    "{from} → {to}: {got:?}"
                ),
                None => assert_eq!(got, None, "{from} → {to}"),
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }

    #[test]
    fn unknown_methods_share_one_label() {
        http_request("/unit-test", "BREW", 418, 0.01);
        let text = render(Snapshot::default());
        assert!(
            text.contains(r#"route="/unit-test",status="418""#)
                && text.contains(r#"method="OTHER""#),
            "{text}"
        );
    }
}
