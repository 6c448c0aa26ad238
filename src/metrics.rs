//! Prometheus counters served at `GET /metrics`.
//!
//! Counters are lock-free atomics, so counting on the acknowledgement path costs
//! nothing worth measuring.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    decision: String,
    entry_point: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

struct Metrics {
    registry: Registry,
    handled: Family<RequestLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
    http: Family<HttpLabels, Counter>,
    backend: Family<BackendLabels, Histogram>,
    slack_errors: Family<MethodLabels, Counter>,
    pending: Gauge,
    in_flight: Gauge,
    last_tick: Gauge,
    overdue: Gauge,
}

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let mut registry = Registry::with_prefix("workbench_bot");
        let handled = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests_handled",
            "Requests that went through the core, by decision and entry point",
            handled.clone(),
        );
        let rejected = Family::<RejectLabels, Counter>::default();
        registry.register(
            "requests_rejected",
            "HTTP requests refused before the core (bad signature, team, body)",
            rejected.clone(),
        );
        let http = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            http.clone(),
        );
        let backend = Family::<BackendLabels, Histogram>::new_with_constructor(|| {
            // 5 ms to about 80 s: a state read to a slow GPU start.
            Histogram::new(exponential_buckets(0.005, 2.0, 15))
        });
        registry.register(
            "backend_call_seconds",
            "Time of each backend call, by backend and method",
            backend.clone(),
        );
        let slack_errors = Family::<MethodLabels, Counter>::default();
        registry.register(
            "slack_api_errors",
            "Slack Web API calls that failed or timed out, by method",
            slack_errors.clone(),
        );
        let pending = Gauge::default();
        registry.register(
            "pending_operations",
            "Operations being followed to their end, in the shared store",
            pending.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "work_in_flight",
            "Requests acknowledged whose work is still running in this process",
            in_flight.clone(),
        );
        let last_tick = Gauge::default();
        registry.register(
            "last_tick_timestamp_seconds",
            "When timers were last looked at successfully (Unix time); alert when it falls behind",
            last_tick.clone(),
        );
        let overdue = Gauge::default();
        registry.register(
            "overdue_timers",
            "Leases past their end by more than two ticks: stops that are not happening",
            overdue.clone(),
        );
        Metrics {
            registry,
            last_tick,
            overdue,
            handled,
            rejected,
            http,
            backend,
            slack_errors,
            pending,
            in_flight,
        }
    })
}

/// A tick that read the store and did its work.
pub fn ticked(at_unix: i64, overdue: usize) {
    metrics().last_tick.set(at_unix);
    metrics().overdue.set(overdue as i64);
}

pub fn request_handled(decision: &str, entry_point: &str) {
    metrics()
        .handled
        .get_or_create(&RequestLabels {
            decision: decision.to_owned(),
            entry_point: entry_point.to_owned(),
        })
        .inc();
}

pub fn request_rejected(reason: &'static str) {
    metrics()
        .rejected
        .get_or_create(&RejectLabels {
            reason: reason.to_owned(),
        })
        .inc();
}

pub fn http_request(route: &str, status: u16) {
    metrics()
        .http
        .get_or_create(&HttpLabels {
            route: route.to_owned(),
            status,
        })
        .inc();
}

pub fn backend_call(backend: &str, method: &str, seconds: f64) {
    metrics()
        .backend
        .get_or_create(&BackendLabels {
            backend: backend.to_owned(),
            method: method.to_owned(),
        })
        .observe(seconds);
}

pub fn slack_error(method: &str) {
    metrics()
        .slack_errors
        .get_or_create(&MethodLabels {
            method: method.to_owned(),
        })
        .inc();
}

pub fn pending_operations(n: usize) {
    metrics().pending.set(n as i64);
}

/// Counts work in flight while the guard lives.
pub struct InFlight;

impl InFlight {
    pub fn start() -> Self {
        metrics().in_flight.inc();
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics().in_flight.dec();
    }
}

/// The Prometheus text exposition of every counter.
pub fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &metrics().registry);
    out
}
