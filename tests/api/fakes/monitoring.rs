//! A fake of Cloud Monitoring v3 `projects.timeSeries.list`, answering only
//! what Google's discovery document describes: its path, its query
//! parameters (and their enum values), and its response's field names.
//! Each VM's series is a profile the test sets; the points are made relative
//! to the interval the caller asked for, so the bot's moved clock needs no
//! syncing.

use super::google::{TOKEN, err, not_in_discovery, status_name};
use super::http::{Call, Fake};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const DISCOVERY: &str = include_str!("../../fixtures/monitoring-v3-discovery.json");

pub const CPU: &str = "compute.googleapis.com/instance/cpu/utilization";
pub const GPU: &str = "agent.googleapis.com/gpu/utilization";

/// `projects.timeSeries.list` as the discovery document gives it.
pub fn list_method() -> Value {
    let doc: Value = serde_json::from_str(DISCOVERY).unwrap();
    doc["resources"]["projects"]["resources"]["timeSeries"]["methods"]["list"].clone()
}

pub fn discovery_schema(name: &str) -> Value {
    let doc: Value = serde_json::from_str(DISCOVERY).unwrap();
    doc["schemas"][name].clone()
}

/// One series of a VM: the same value every minute, the newest `lag`
/// minutes before the end asked for, less the minutes in `missing` (minutes
/// before the end).
#[derive(Debug, Clone)]
pub struct Profile {
    pub value: f64,
    pub lag: i64,
    pub missing: Vec<i64>,
    /// From this many minutes before the end on, this value instead.
    pub earlier: Option<(i64, f64)>,
}

impl Profile {
    pub fn steady(value: f64) -> Self {
        Self {
            value,
            lag: 3,
            missing: Vec::new(),
            earlier: None,
        }
    }
}

#[derive(Default)]
pub struct MonitoringState {
    /// (VM id, metric type) to its series; none: Monitoring has no series.
    pub series: HashMap<(String, String), Profile>,
    /// Answer every call with this HTTP status (403: the bot may not read).
    pub refuse: Option<u16>,
}

#[derive(Clone)]
pub struct FakeMonitoring {
    pub fake: Fake,
    pub state: Arc<Mutex<MonitoringState>>,
}

impl FakeMonitoring {
    pub async fn start() -> Self {
        let state: Arc<Mutex<MonitoringState>> = Arc::default();
        let shared = state.clone();
        let fake = Fake::start(Arc::new(move |call: &Call| respond(&shared, call))).await;
        Self { fake, state }
    }

    /// Sets (or with `None` removes) one series of the VM `vm`.
    pub fn set(&self, vm: &str, metric: &str, profile: Option<Profile>) {
        let mut st = self.state.lock().unwrap();
        let key = (vm.to_owned(), metric.to_owned());
        match profile {
            Some(p) => st.series.insert(key, p),
            None => st.series.remove(&key),
        };
    }

    pub fn refuse(&self, status: Option<u16>) {
        self.state.lock().unwrap().refuse = status;
    }

    /// Calls that reached the API (every one is a timeSeries.list).
    pub fn reads(&self) -> Vec<Call> {
        self.fake.calls()
    }
}

fn query_of(call: &Call) -> Vec<(String, String)> {
    serde_urlencoded::from_str(&call.query).unwrap_or_default()
}

/// A quoted value after `key = ` in a Monitoring filter.
fn filter_value<'a>(filter: &'a str, key: &str) -> Option<&'a str> {
    let rest = filter.split(&format!("{key} = \"")).nth(1)?;
    rest.split('"').next()
}

fn respond(state: &Arc<Mutex<MonitoringState>>, call: &Call) -> (u16, Value) {
    let method = list_method();
    let template = method["flatPath"].as_str().unwrap();
    let path = call.path.trim_start_matches('/');
    let shape: Vec<&str> = template.split('/').collect();
    let got: Vec<&str> = path.split('/').collect();
    let path_ok = call.method == method["httpMethod"].as_str().unwrap()
        && shape.len() == got.len()
        && shape
            .iter()
            .zip(&got)
            .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()));
    if !path_ok {
        return not_in_discovery(call);
    }
    let params = &method["parameters"];
    let query = query_of(call);
    for (k, v) in &query {
        let Some(p) = params.get(k) else {
            return err(400, "INVALID_ARGUMENT", &format!("unknown parameter {k}"));
        };
        if let Some(values) = p["enum"].as_array()
            && !values.iter().any(|e| e == v)
        {
            return err(
                400,
                "INVALID_ARGUMENT",
                &format!("{k}={v} is not one of its values"),
            );
        }
    }
    if call.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return err(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    let st = state.lock().unwrap();
    if let Some(status) = st.refuse {
        return err(status, status_name(status), "injected failure");
    }
    let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
    let (Some(filter), Some(start), Some(end)) = (
        get("filter"),
        get("interval.startTime"),
        get("interval.endTime"),
    ) else {
        return err(400, "INVALID_ARGUMENT", "filter and interval are required");
    };
    if get("aggregation.alignmentPeriod") != Some("60s") {
        return err(400, "INVALID_ARGUMENT", "the bot aligns per minute");
    }
    let (Some(metric), Some(vm)) = (
        filter_value(filter, "metric.type"),
        filter_value(filter, "resource.labels.instance_id"),
    ) else {
        return err(400, "INVALID_ARGUMENT", "filter names no metric or VM");
    };
    let (Ok(start), Ok(end)) = (start.parse::<DateTime<Utc>>(), end.parse::<DateTime<Utc>>())
    else {
        return err(400, "INVALID_ARGUMENT", "interval times are not RFC 3339");
    };
    let Some(profile) = st.series.get(&(vm.to_owned(), metric.to_owned())) else {
        return (200, json!({"unit": "10^2.%"}));
    };
    let last = end.duration_trunc(Duration::minutes(1)).unwrap();
    let minutes = (end - start).num_minutes();
    // Newest first, as Google sends them.
    let points: Vec<Value> = (profile.lag..minutes)
        .filter(|m| !profile.missing.contains(m))
        .map(|m| {
            let t = last - Duration::minutes(m);
            let value = match profile.earlier {
                Some((from, v)) if m >= from => v,
                _ => profile.value,
            };
            json!({
                "interval": {
                    "startTime": (t - Duration::minutes(1)).to_rfc3339(),
                    "endTime": t.to_rfc3339(),
                },
                "value": {"doubleValue": value},
            })
        })
        .collect();
    (
        200,
        json!({
            "timeSeries": [{
                "metric": {"type": metric, "labels": {}},
                "resource": {"type": "gce_instance", "labels": {"instance_id": vm, "project_id": "example-project", "zone": "us-central1-a"}},
                "metricKind": "GAUGE",
                "valueType": "DOUBLE",
                "points": points,
            }],
        }),
    )
}
