//! What every transport shares: the immediate [`Answer`] to Slack, and the
//! [`Spawner`] that runs the real work in a task (once per Slack event id), so
//! the acknowledgement never waits for it. An HTTP request handed to a task is
//! logged by that task, in one line (the `SERVING` task-local `http` opens).

use crate::pipeline::{App, Request};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

/// What a transport answers Slack, at once.
#[derive(Debug)]
pub enum Answer {
    /// An empty 200 (closes a submitted dialog).
    Ack,
    /// An ephemeral message to the person, carried by the acknowledgement.
    Ephemeral(String),
    /// Sentences to show under a dialog's inputs: (block id, sentence).
    DialogErrors(Vec<(&'static str, String)>),
    BadRequest(String),
}

/// Runs work after the acknowledgement, tracked so shutdown can wait for it.
#[derive(Clone)]
pub struct Spawner {
    app: Arc<App>,
    tasks: TaskTracker,
    /// `limits.max_in_flight` permits: a task holds one until its work ends.
    slots: Arc<Semaphore>,
}

/// Every slot for work is taken: the person is told the bot is busy.
#[derive(Debug)]
pub struct Busy;

impl Spawner {
    pub fn new(app: Arc<App>, tasks: TaskTracker) -> Self {
        let slots = Arc::new(Semaphore::new(app.config().max_in_flight));
        Self { app, tasks, slots }
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Runs `work` in a task, if a slot is free: work in flight is bounded, so
    /// a flood (or a slow Slack) never grows memory without end. With an event
    /// id, only the first delivery of that event runs it: Slack retries,
    /// possibly to another replica, act once.
    pub fn spawn_once<F, Fut>(&self, event_id: Option<String>, work: F) -> Result<(), Busy>
    where
        F: FnOnce(Arc<App>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let slot = self.reserve()?;
        let (span, under_http) = task_span();
        self.spawn_in(slot, event_id, span, under_http, work);
        Ok(())
    }

    /// A slot for work, if the store keeps up and one is free.
    fn reserve(&self) -> Result<OwnedSemaphorePermit, Busy> {
        if !self.app.store().has_room() {
            // The store is down or far behind: taking more would only queue
            // rows without limit. The log keeps what was turned away.
            tracing::warn!("the audit store is not keeping up; turning a request away as busy");
            crate::metrics::request_rejected("store_backlog");
            return Err(Busy);
        }
        self.slots.clone().try_acquire_owned().map_err(|_| Busy)
    }

    /// Runs `work` in a task inside `span`; `under_http` when that span holds
    /// an HTTP request's `httpRequest`, whose one line the task then writes.
    fn spawn_in<F, Fut>(
        &self,
        slot: OwnedSemaphorePermit,
        event_id: Option<String>,
        span: tracing::Span,
        under_http: bool,
        work: F,
    ) where
        F: FnOnce(Arc<App>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let app = self.app.clone();
        let in_flight = crate::metrics::InFlight::start();
        let work = async move {
            let _held = (slot, in_flight);
            if let Some(id) = event_id {
                match app.store().claim_event(&id).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!(event_id = %id, "Slack event already handled; ignoring the retry");
                        return;
                    }
                    // Acting twice is better than never answering; the log says why.
                    Err(e) => {
                        tracing::warn!(event_id = %id, error = %e, "event dedup failed; acting anyway")
                    }
                }
            }
            // Boxed where it is made: the pipeline's future is kilobytes,
            // and every wrapper on the way into the task would copy it again.
            Box::pin(work(app)).await;
        };
        // One line per HTTP request: the audit line when the work wrote one,
        // else (a retried event, a dialog opened) a request line at the end.
        let work = async move {
            let audited = crate::logging::AUDITED
                .scope(std::cell::Cell::new(false), async {
                    work.await;
                    crate::logging::AUDITED.with(std::cell::Cell::get)
                })
                .await;
            if under_http && !audited {
                tracing::info!(target: crate::logging::REQUEST, "request");
            }
        };
        // The task keeps the request's span (its trace), so its lines carry
        // it; under HTTP, one that also holds the request's `httpRequest`.
        self.tasks
            .spawn(tracing::Instrument::instrument(work, span));
    }

    /// Runs a request through the pipeline in a task; when no slot is free the
    /// request is recorded as turned away, and the caller tells the person.
    pub fn spawn(&self, event_id: Option<String>, req: Request) -> Result<(), Busy> {
        let slot = self.reserve().inspect_err(|_| self.turn_away(&req))?;
        // One span for the request, not the pipeline's inside the handler's:
        // the pipeline's, with the `httpRequest` fields filled in here. An
        // event may be a retry the task drops before the pipeline runs: its
        // lines then are not this request's, so it keeps the two spans.
        let one_span = event_id.is_none();
        let (span, under_http) = if one_span {
            let span = App::request_span(&req);
            let under_http = serving(&span);
            (span, under_http)
        } else {
            task_span()
        };
        self.spawn_in(slot, event_id, span, under_http, move |app| async move {
            if one_span {
                app.handle_in(req).await;
            } else {
                app.handle(req).await;
            }
        });
        Ok(())
    }

    /// Records a request there was no room for. Its audit line is its HTTP
    /// request's one line, like any other request's.
    pub fn turn_away(&self, req: &Request) {
        let span = handing_off().unwrap_or_else(tracing::Span::current);
        span.in_scope(|| self.app.turned_away(req));
    }
}

tokio::task_local! {
    /// The HTTP request a handler runs for: when it hands work to a task,
    /// that task's line (the audit line, or a request line of its own) is
    /// the request's one line.
    pub(super) static SERVING: Serving;
}

pub(super) struct Serving {
    pub(super) started: std::time::Instant,
    pub(super) method: axum::http::Method,
    pub(super) path: String,
    pub(super) handed_off: std::cell::Cell<bool>,
}

/// The span a task runs in, and whether it holds an HTTP request's
/// `httpRequest` (see [`handing_off`]).
fn task_span() -> (tracing::Span, bool) {
    match handing_off() {
        Some(span) => (span, true),
        None => (tracing::Span::current(), false),
    }
}

/// Called where a handler hands work to a task (or records a request turned
/// away), unless it is a request without an event id, whose own span
/// [`serving`] fills in: the span that work runs in, a child of the
/// request's that also holds its `httpRequest` (status 200, since every
/// request handed off is acknowledged, and the latency so far), so the
/// work's line stands for the request and `observe` writes none. `None`
/// outside an HTTP request (Socket Mode).
pub(super) fn handing_off() -> Option<tracing::Span> {
    SERVING
        .try_with(|s| {
            s.handed_off.set(true);
            tracing::info_span!(
                "request",
                http_request.request_method = %s.method,
                http_request.request_url = %s.path,
                http_request.status = 200,
                http_request.latency = %latency(s.started),
            )
        })
        .ok()
}

/// [`handing_off`] for the pipeline's own span ([`App::request_span`]): fills
/// in its `httpRequest` fields. False outside an HTTP request (Socket Mode).
fn serving(span: &tracing::Span) -> bool {
    SERVING
        .try_with(|s| {
            s.handed_off.set(true);
            span.record(
                "http_request.request_method",
                tracing::field::display(&s.method),
            );
            span.record("http_request.request_url", s.path.as_str());
            span.record("http_request.status", 200);
            span.record(
                "http_request.latency",
                tracing::field::display(latency(s.started)),
            );
        })
        .is_ok()
}

pub(super) fn latency(since: std::time::Instant) -> String {
    format!("{:.6}s", since.elapsed().as_secs_f64())
}
