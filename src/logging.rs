//! Log lines in the shape Cloud Logging reads from stdout: one JSON object a
//! line with `severity`, `message` and `time`, every field of the event and of
//! the spans it happens in (so each line of a request carries its request id
//! and requester), `httpRequest` built from `http_request.*` fields, and
//! `logging.googleapis.com/trace` when a span carries the trace Cloud Run's
//! header named. A person at a terminal gets the usual human-readable lines.
//!
//! Secrets never reach a field: they are `Secret`, which prints as `***`.

use serde_json::{Map, Value};
use std::fmt;
use std::io::IsTerminal;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The target of the audit line: with `REQUEST`, the only lines that carry
/// their request's `httpRequest`, so each HTTP request is one line.
pub const AUDIT: &str = "audit";
/// The target of a request's line when no audit line stands for it (health
/// checks, refusals before the pipeline, retried events).
pub const REQUEST: &str = "request";

tokio::task_local! {
    /// Whether the task handling a request has written its audit line.
    pub(crate) static AUDITED: std::cell::Cell<bool>;
}

/// Where lines go and in which shape.
pub enum Output {
    /// JSON on stdout, or human lines when stdout is a terminal (`serve`).
    Stdout,
    /// Human lines on stderr: a job's stdout carries its result (`handle-dispatch`).
    Stderr,
}

pub fn init(output: Output) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match output {
        Output::Stdout if !std::io::stdout().is_terminal() => builder
            .fmt_fields(JsonFields::new())
            .event_format(CloudLogging::from_env())
            .with_writer(std::io::stdout)
            .init(),
        Output::Stdout => builder.with_writer(std::io::stdout).init(),
        Output::Stderr => builder.with_writer(std::io::stderr).init(),
    }
}

/// The Cloud Logging line format.
pub struct CloudLogging {
    /// `GOOGLE_CLOUD_PROJECT`: a trace id names its project in Cloud Logging.
    project: Option<String>,
}

impl CloudLogging {
    pub fn from_env() -> Self {
        Self {
            project: std::env::var("GOOGLE_CLOUD_PROJECT")
                .ok()
                .filter(|p| !p.is_empty()),
        }
    }
}

fn severity(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::ERROR => "ERROR",
        tracing::Level::WARN => "WARNING",
        tracing::Level::INFO => "INFO",
        _ => "DEBUG",
    }
}

/// `http_request.request_method` → `httpRequest.requestMethod`, as Cloud
/// Logging's `HttpRequest` names its fields.
fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

impl CloudLogging {
    /// Puts one field where Cloud Logging looks for it.
    fn place(&self, line: &mut Map<String, Value>, key: String, value: Value) {
        if let Some(http) = key.strip_prefix("http_request.") {
            let entry = line
                .entry("httpRequest")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(o) = entry {
                o.insert(camel(http), value);
            }
        } else if key == "trace" {
            if let (Some(project), Some(trace)) = (&self.project, value.as_str()) {
                line.insert(
                    "logging.googleapis.com/trace".into(),
                    Value::String(format!("projects/{project}/traces/{trace}")),
                );
            }
        } else {
            line.insert(key, value);
        }
    }
}

impl<S, N> FormatEvent<S, N> for CloudLogging
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("severity".into(), severity(meta.level()).into());
        line.insert("time".into(), chrono::Utc::now().to_rfc3339().into());
        line.insert("target".into(), meta.target().into());
        // Cloud Logging takes every entry with `httpRequest` for a request:
        // only the request's one line carries its span's.
        let request_line = matches!(meta.target(), AUDIT | REQUEST);
        // Outer spans first, so an inner span's field wins.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                let Some(fields) = ext.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields) {
                    for (k, v) in map {
                        if request_line || !k.starts_with("http_request.") {
                            self.place(&mut line, k, v);
                        }
                    }
                }
            }
        }
        let mut visitor = JsonVisitor::default();
        event.record(&mut visitor);
        for (k, v) in visitor.0 {
            self.place(&mut line, k, v);
        }
        let json = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{json}")
    }
}

/// An event's fields as JSON values; `message` keeps its name.
#[derive(Default)]
struct JsonVisitor(Map<String, Value>);

impl tracing::field::Visit for JsonVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_request_fields_are_named_as_cloud_logging_names_them() {
        assert_eq!(camel("request_method"), "requestMethod");
        assert_eq!(camel("status"), "status");
        let f = CloudLogging {
            project: Some("example-project".into()),
        };
        let mut line = Map::new();
        f.place(
            &mut line,
            "http_request.request_url".into(),
            "/slack/commands".into(),
        );
        f.place(
            &mut line,
            "trace".into(),
            "105445aa7843bc8bf206b12000100000".into(),
        );
        assert_eq!(line["httpRequest"]["requestUrl"], "/slack/commands");
        assert_eq!(
            line["logging.googleapis.com/trace"],
            "projects/example-project/traces/105445aa7843bc8bf206b12000100000"
        );
    }
}
