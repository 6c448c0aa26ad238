//! A fake that plays a script of raw answers in order, for faults the
//! well-behaved fakes cannot produce: any status with any headers, bodies that
//! are not JSON, and answers that never come. The last step repeats.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Step {
    /// This status, these headers, this body verbatim.
    Raw {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Holds the connection open and never answers.
    Hang,
}

impl Step {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Step::Raw {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn with_header(self, name: &'static str, value: &str) -> Self {
        match self {
            Step::Raw {
                status,
                mut headers,
                body,
            } => {
                headers.push((name, value.to_owned()));
                Step::Raw {
                    status,
                    headers,
                    body,
                }
            }
            Step::Hang => Step::Hang,
        }
    }
}

/// A scripted fake on 127.0.0.1:0 that records when each call came.
#[derive(Clone)]
pub struct Scripted {
    pub url: String,
    calls: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl Scripted {
    pub async fn start(script: Vec<Step>) -> Self {
        assert!(!script.is_empty(), "a script needs at least one step");
        let calls: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let recorded = calls.clone();
        let script = Arc::new(script);
        let router = Router::new().fallback(
            move |method: Method, uri: Uri, _headers: HeaderMap, _body: Bytes| {
                let recorded = recorded.clone();
                let script = script.clone();
                async move {
                    let n = {
                        let mut calls = recorded.lock().unwrap();
                        calls.push((format!("{method} {}", uri.path()), Instant::now()));
                        calls.len() - 1
                    };
                    match script[n.min(script.len() - 1)].clone() {
                        Step::Hang => std::future::pending::<Response>().await,
                        Step::Raw {
                            status,
                            headers,
                            body,
                        } => {
                            let mut response =
                                (StatusCode::from_u16(status).unwrap(), body).into_response();
                            for (name, value) in headers {
                                response.headers_mut().insert(name, value.parse().unwrap());
                            }
                            response
                        }
                    }
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

    /// "METHOD /path" of every call so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// When each call arrived.
    pub fn times(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().iter().map(|(_, t)| *t).collect()
    }
}
