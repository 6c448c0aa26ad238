//! A recording HTTP fake on 127.0.0.1:0: every call is kept, and a responder
//! decides each answer. The Slack, Google and GitHub fakes are built on it.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request that reached a fake.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Call {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `text` a Slack message call carried (JSON or form body).
    pub fn text(&self) -> String {
        if let Some(t) = self.json().get("text").and_then(|t| t.as_str()) {
            return t.to_owned();
        }
        serde_urlencoded::from_str::<Vec<(String, String)>>(&self.body)
            .ok()
            .and_then(|f| f.into_iter().find(|(k, _)| k == "text").map(|(_, v)| v))
            .unwrap_or_default()
    }
}

pub type Responder = Arc<dyn Fn(&Call) -> (u16, Value) + Send + Sync>;

/// A recording HTTP fake on 127.0.0.1:0 whose answers come from a responder.
#[derive(Clone)]
pub struct Fake {
    pub url: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Fake {
    pub async fn start(responder: Responder) -> Self {
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let recorded = calls.clone();
        let router = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let recorded = recorded.clone();
                let responder = responder.clone();
                async move {
                    let call = Call {
                        method: method.to_string(),
                        path: uri.path().to_owned(),
                        query: uri.query().unwrap_or_default().to_owned(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    let (status, value) = responder(&call);
                    recorded.lock().unwrap().push(call);
                    if status == 204 {
                        return StatusCode::NO_CONTENT.into_response();
                    }
                    if status == 429 {
                        // Slack, GitHub and Google all say when to come back.
                        return (
                            StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", "1")],
                            axum::Json(value),
                        )
                            .into_response();
                    }
                    (StatusCode::from_u16(status).unwrap(), axum::Json(value)).into_response()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { url, calls }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn calls_to(&self, path_suffix: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path.ends_with(path_suffix))
            .collect()
    }

    /// Waits until `n` calls whose path ends with `suffix` arrived, or panics.
    pub async fn wait_for(&self, suffix: &str, n: usize) -> Vec<Call> {
        self.wait_for_within(suffix, n, Duration::from_secs(10))
            .await
    }

    /// `wait_for` with its own bound, for work that waits out a lease and a
    /// real process's polling before it reports.
    pub async fn wait_for_within(&self, suffix: &str, n: usize, limit: Duration) -> Vec<Call> {
        let calls = wait_until(limit, || {
            let c = self.calls_to(suffix);
            (c.len() >= n).then_some(c)
        })
        .await;
        calls.unwrap_or_else(|| panic!("expected {n} call(s) to {suffix}; got {:#?}", self.calls()))
    }
}

pub async fn wait_until<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
