//! A stateful fake of Google's OAuth token endpoint and the Notebooks API v2,
//! answering only what the discovery document describes.

use super::http::{Call, Fake};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

pub const TOKEN: &str = "ya29.fake-access-token";
/// Google's discovery document, copied from `shared/reference/` (`.ci/run`
/// checks the copy has not drifted).
const DISCOVERY: &str = include_str!("../../fixtures/notebooks-v2-discovery.json");

/// Every (HTTP method, flatPath) of the discovery document.
pub fn discovery_methods() -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(DISCOVERY).unwrap();
    let mut out = Vec::new();
    fn walk(res: &Value, out: &mut Vec<(String, String)>) {
        let Some(map) = res.as_object() else { return };
        for r in map.values() {
            if let Some(methods) = r.get("methods").and_then(|m| m.as_object()) {
                for m in methods.values() {
                    out.push((
                        m["httpMethod"].as_str().unwrap().into(),
                        m["flatPath"].as_str().unwrap().into(),
                    ));
                }
            }
            if let Some(sub) = r.get("resources") {
                walk(sub, out);
            }
        }
    }
    walk(&doc["resources"], &mut out);
    out
}

pub fn discovery_schema(name: &str) -> Value {
    let doc: Value = serde_json::from_str(DISCOVERY).unwrap();
    doc["schemas"][name].clone()
}

/// Does `path` (after the host) match a discovery flatPath template?
pub fn matches_discovery(method: &str, path: &str) -> bool {
    let path = path.trim_start_matches('/');
    discovery_methods().iter().any(|(m, template)| {
        if m != method {
            return false;
        }
        let t: Vec<&str> = template.split('/').collect();
        let p: Vec<&str> = path.split('/').collect();
        t.len() == p.len()
            && t.iter().zip(&p).all(|(t, p)| {
                // `{instancesId}:start` matches `foo:start`.
                match t.find('{') {
                    None => t == p,
                    Some(open) => {
                        let close = t.find('}').unwrap();
                        let (prefix, suffix) = (&t[..open], &t[close + 1..]);
                        p.starts_with(prefix)
                            && p.ends_with(suffix)
                            && p.len() > prefix.len() + suffix.len()
                            && !p[prefix.len()..p.len() - suffix.len()].contains(':')
                    }
                }
            })
    })
}

/// How operations behave.
#[derive(Clone, Debug)]
pub enum OpBehaviour {
    /// done after this many polls.
    DoneAfter(usize),
    FailAfter(usize, &'static str),
    Never,
}

pub struct GoogleState {
    pub instances: HashMap<String, Value>,
    pub ops: HashMap<String, (String, &'static str, usize)>,
    pub behaviour: OpBehaviour,
    /// One-shot failures: (method, path suffix, status, apply the action anyway).
    pub failures: VecDeque<(&'static str, String, u16, bool)>,
    /// `gceSetup.metadata` of instances that set some (kept across states).
    pub metadata: HashMap<String, Value>,
    next_op: usize,
}

#[derive(Clone)]
pub struct FakeGoogle {
    pub fake: Fake,
    pub state: Arc<Mutex<GoogleState>>,
}

pub fn instance_json(name: &str, state: &str) -> Value {
    json!({
        "name": name,
        "state": state,
        "proxyUri": if state == "ACTIVE" { json!(format!("{}.notebooks.googleusercontent.com", name.rsplit('/').next().unwrap())) } else { Value::Null },
        "updateTime": "2026-11-23T09:00:00.123456Z",
        "createTime": "2026-01-01T00:00:00Z",
        "creator": "platform@example.org",
        "healthState": "HEALTHY",
        "gceSetup": {
            "instanceId": vm_id(name),
            "machineType": "projects/example-project/zones/us-central1-a/machineTypes/a2-highgpu-1g",
            "acceleratorConfigs": [{"type": "NVIDIA_TESLA_A100", "coreCount": "1"}],
            "bootDisk": {"diskSizeGb": "150", "diskType": "PD_BALANCED"}
        }
    })
}

/// The Compute Engine id of the VM behind the instance at `name`: a number
/// made from the name, so each instance's VM has its own.
pub fn vm_id(name: &str) -> String {
    let n = name
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!(
        "{}",
        1_000_000_000_000_000_000 + n % 1_000_000_000_000_000_000
    )
}

/// Google's 404 for a method and path its discovery document does not have.
pub fn not_in_discovery(call: &Call) -> (u16, Value) {
    let what = format!(
        "{} {} is not in the discovery document",
        call.method, call.path
    );
    err(404, "NOT_FOUND", &what)
}

/// Google's status name for an HTTP status, as its error bodies carry it.
pub fn status_name(status: u16) -> &'static str {
    match status {
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        409 | 400 => "FAILED_PRECONDITION",
        _ => "INTERNAL",
    }
}

pub fn err(status: u16, google: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": status, "message": message, "status": google}}),
    )
}

impl FakeGoogle {
    pub async fn start(instances: &[(&str, &str)]) -> Self {
        let state = Arc::new(Mutex::new(GoogleState {
            instances: instances
                .iter()
                .map(|(n, s)| (n.to_string(), instance_json(n, s)))
                .collect(),
            ops: HashMap::new(),
            behaviour: OpBehaviour::DoneAfter(2),
            failures: VecDeque::new(),
            metadata: HashMap::new(),
            next_op: 0,
        }));
        let shared = state.clone();
        let fake = Fake::start(Arc::new(move |call: &Call| respond(&shared, call))).await;
        Self { fake, state }
    }

    pub fn set_state(&self, name: &str, st: &str) {
        self.state
            .lock()
            .unwrap()
            .instances
            .insert(name.into(), instance_json(name, st));
    }

    pub fn state_of(&self, name: &str) -> String {
        self.state.lock().unwrap().instances[name]["state"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn fail_once(&self, method: &'static str, suffix: &str, status: u16, apply_anyway: bool) {
        self.state.lock().unwrap().failures.push_back((
            method,
            suffix.into(),
            status,
            apply_anyway,
        ));
    }

    /// Sets `gceSetup.metadata` of the instance at `name`, as the console would.
    pub fn set_metadata(&self, name: &str, metadata: Value) {
        self.state
            .lock()
            .unwrap()
            .metadata
            .insert(name.into(), metadata);
    }

    pub fn behave(&self, b: OpBehaviour) {
        self.state.lock().unwrap().behaviour = b;
    }

    /// Calls to the Notebooks API (not the token endpoint).
    pub fn api_calls(&self) -> Vec<Call> {
        self.fake
            .calls()
            .into_iter()
            .filter(|c| c.path.starts_with("/v2/"))
            .collect()
    }

    pub fn posts(&self, action: &str) -> Vec<Call> {
        self.api_calls()
            .into_iter()
            .filter(|c| c.method == "POST" && c.path.ends_with(&format!(":{action}")))
            .collect()
    }

    pub fn key_json(&self) -> String {
        json!({
            "type": "service_account",
            "project_id": "example-project",
            "private_key_id": "0123456789abcdef",
            "private_key": test_private_key_pem(),
            "client_email": "workbench-bot@example-project.iam.gserviceaccount.com",
            "client_id": "100000000000000000001",
            "token_uri": format!("{}/token", self.fake.url),
        })
        .to_string()
    }
}

fn respond(state: &Arc<Mutex<GoogleState>>, call: &Call) -> (u16, Value) {
    if call.path == "/token" {
        let form: HashMap<String, String> =
            serde_urlencoded::from_str(&call.body).unwrap_or_default();
        if form.get("grant_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
            || form
                .get("assertion")
                .is_none_or(|a| a.split('.').count() != 3)
        {
            return (400, json!({"error": "invalid_grant"}));
        }
        return (
            200,
            json!({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
        );
    }
    if !matches_discovery(&call.method, &call.path) {
        return not_in_discovery(call);
    }
    if call.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return err(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    let mut st = state.lock().unwrap();
    let path = call.path.trim_start_matches("/v2/").to_owned();
    let mut apply_despite_failure = None;
    if let Some(pos) = st
        .failures
        .iter()
        .position(|(m, s, _, _)| *m == call.method && path.ends_with(s.as_str()))
    {
        let (_, _, status, apply) = st.failures.remove(pos).unwrap();
        if !apply {
            return err(status, status_name(status), "injected failure");
        }
        apply_despite_failure = Some(status);
    }
    let answer = match (call.method.as_str(), path.as_str()) {
        ("POST", p) if p.ends_with(":start") || p.ends_with(":stop") => {
            let (name, action) = p.rsplit_once(':').unwrap();
            let Some(inst) = st.instances.get(name).cloned() else {
                return err(404, "NOT_FOUND", "instance not found");
            };
            let now = inst["state"].as_str().unwrap().to_owned();
            let (from, via, to) = if action == "start" {
                ("STOPPED", "STARTING", "ACTIVE")
            } else {
                ("ACTIVE", "STOPPING", "STOPPED")
            };
            if now != from {
                return err(
                    400,
                    "FAILED_PRECONDITION",
                    &format!("Instance is in state {now}"),
                );
            }
            st.next_op += 1;
            let op = format!(
                "{}/operations/operation-{}",
                name.split("/instances/").next().unwrap(),
                st.next_op
            );
            st.ops.insert(op.clone(), (name.to_owned(), to, 0));
            st.instances
                .insert(name.to_owned(), instance_json(name, via));
            (
                200,
                json!({"name": op, "done": false, "metadata": {"@type": "type.googleapis.com/google.cloud.notebooks.v2.OperationMetadata", "verb": action, "target": name}}),
            )
        }
        ("GET", p) if p.contains("/operations/") => {
            let behaviour = st.behaviour.clone();
            let Some((name, to, polls)) = st.ops.get(p).cloned() else {
                return err(404, "NOT_FOUND", "operation not found");
            };
            st.ops.insert(p.to_owned(), (name.clone(), to, polls + 1));
            match behaviour {
                OpBehaviour::DoneAfter(n) if polls + 1 >= n => {
                    st.instances.insert(name.clone(), instance_json(&name, to));
                    let mut inst = instance_json(&name, to);
                    inst["@type"] = json!("type.googleapis.com/google.cloud.notebooks.v2.Instance");
                    (200, json!({"name": p, "done": true, "response": inst}))
                }
                OpBehaviour::FailAfter(n, msg) if polls + 1 >= n => (
                    200,
                    json!({"name": p, "done": true, "error": {"code": 9, "message": msg}}),
                ),
                _ => (200, json!({"name": p, "done": false})),
            }
        }
        ("GET", p) if p.ends_with("/instances") => {
            let mut all: Vec<Value> = st
                .instances
                .iter()
                .filter(|(n, _)| n.starts_with(p))
                .map(|(_, v)| v.clone())
                .collect();
            all.sort_by_key(|v| v["name"].as_str().unwrap().to_owned());
            // One instance a page, so paging is always exercised.
            let page: usize = call
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("pageToken="))
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let mut body =
                json!({"instances": all.get(page).cloned().into_iter().collect::<Vec<_>>()});
            if page + 1 < all.len() {
                body["nextPageToken"] = json!((page + 1).to_string());
            }
            (200, body)
        }
        ("GET", p) => match st.instances.get(p) {
            Some(i) => {
                let mut i = i.clone();
                if let Some(m) = st.metadata.get(p) {
                    i["gceSetup"]["metadata"] = m.clone();
                }
                (200, i)
            }
            None => err(404, "NOT_FOUND", &format!("Resource '{p}' was not found")),
        },
        _ => err(404, "NOT_FOUND", "no such method"),
    };
    match apply_despite_failure {
        // The action happened, but the caller is told it failed (a lost answer).
        Some(status) => err(status, "UNAVAILABLE", "injected failure after applying"),
        None => answer,
    }
}

/// One RSA key for the whole test run (PKCS#8 PEM, what a key file holds).
pub fn test_private_key_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        use rsa::pkcs8::EncodePrivateKey;
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string()
    })
}
