//! Prometheus counters served at `GET /metrics`.
//!
//! Counters are lock-free atomics, so counting on the acknowledgement path costs
//! nothing worth measuring.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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

struct Metrics {
    registry: Registry,
    handled: Family<RequestLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
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
        Metrics {
            registry,
            handled,
            rejected,
        }
    })
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

/// The Prometheus text exposition of every counter.
pub fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &metrics().registry);
    out
}
