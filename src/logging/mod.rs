//! Log lines in the shape Cloud Logging reads from stdout: one JSON object a
//! line with `severity`, `message` and `time`, every field of the event and of
//! the spans it happens in (so each line of a request carries its request id
//! and requester), `httpRequest` built from `http_request.*` fields, and
//! `logging.googleapis.com/trace` when a span carries the trace Cloud Run's
//! header named. A person at a terminal gets the usual human-readable lines.
//!
//! Secrets never reach a field: they are `Secret`, which prints as `***`.

use std::io::{IsTerminal, Write as _};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

mod out;
pub use out::Flushing;

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

/// Installs the subscriber. Keep the guard until the process ends: dropping it
/// writes the JSON lines still waiting for stdout.
pub fn init(output: Output) -> Flushing {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    match output {
        Output::Stdout if !std::io::stdout().is_terminal() => {
            // `Targets` (levels by target) costs nothing per span, where
            // `EnvFilter` tracks every span entered for its span directives;
            // a `RUST_LOG` that names spans still gets `EnvFilter`.
            let rust_log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
            let (targets, env) = match rust_log.parse::<Targets>() {
                Ok(t) => (Some(t), None),
                Err(_) => (None, Some(filter)),
            };
            tracing_subscriber::registry()
                .with(targets)
                .with(env)
                .with(CloudLogging::from_env())
                .init();
            out::start()
        }
        Output::Stdout => {
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stdout)
                .init();
            Flushing::none()
        }
        Output::Stderr => {
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .init();
            Flushing::none()
        }
    }
}

/// The Cloud Logging line format: a layer that writes each event as one JSON
/// line. Span fields are kept as JSON text when the span is made and pasted
/// into each line, never parsed back: logging was a seventh of the bot's CPU
/// per request when every line went through a `serde_json::Map`.
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

/// `request_method` → `requestMethod`, as Cloud Logging's `HttpRequest`
/// names its fields.
fn push_camel(out: &mut Vec<u8>, key: &str) {
    let mut upper = false;
    for b in key.bytes() {
        if b == b'_' {
            upper = true;
        } else {
            out.push(if upper { b.to_ascii_uppercase() } else { b });
            upper = false;
        }
    }
}

/// Fields as (name, value as JSON text), in the order they were recorded,
/// their texts one after another in one buffer.
struct Fields {
    text: Vec<u8>,
    at: Vec<(&'static str, std::ops::Range<usize>)>,
}

impl Default for Fields {
    /// Room for a request's fields from the start: grown from empty, the
    /// buffer was reallocated about a dozen times per request.
    fn default() -> Self {
        Self {
            text: Vec::with_capacity(256),
            at: Vec::with_capacity(16),
        }
    }
}

impl Fields {
    fn push(&mut self, field: &Field, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.text.len();
        write(&mut self.text);
        self.at.push((field.name(), start..self.text.len()));
    }

    fn iter(&self) -> impl Iterator<Item = (&'static str, &[u8])> {
        self.at.iter().map(|(k, r)| (*k, &self.text[r.clone()]))
    }
}

/// `value`'s `Debug` text as a JSON string, escaped by serde_json as it is
/// formatted (no intermediate `String`).
fn push_debug(t: &mut Vec<u8>, value: &dyn std::fmt::Debug) {
    let _ = serde::Serializer::collect_str(
        &mut serde_json::Serializer::new(t),
        &format_args!("{value:?}"),
    );
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, |t| push_debug(t, value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, |t| push_json_str(t, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, |t| {
            let _ = write!(t, "{value}");
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, |t| {
            let _ = write!(t, "{value}");
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, |t| {
            let _ = write!(t, "{value}");
        });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity.
        self.push(field, |t| match serde_json::Number::from_f64(value) {
            Some(n) => {
                let _ = write!(t, "{n}");
            }
            None => t.extend_from_slice(b"null"),
        });
    }
}

impl<S> Layer<S> for CloudLogging
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut fields = Fields::default();
            attrs.record(&mut fields);
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let spans: Vec<_> = ctx
            .event_scope(event)
            .map(|scope| scope.from_root().collect())
            .unwrap_or_default();
        let extensions: Vec<_> = spans.iter().map(|s| s.extensions()).collect();
        let mut own = Fields::default();
        event.record(&mut own);
        // Outer spans first, then the event, so an inner field wins.
        let fields: Vec<(&str, &[u8])> = extensions
            .iter()
            .filter_map(|e| e.get::<Fields>())
            .chain(std::iter::once(&own))
            .flat_map(Fields::iter)
            .collect();
        LINE.with_borrow_mut(|line| {
            line.clear();
            self.write_line(line, event.metadata(), &fields, own.at.len());
            line.push(b'\n');
            out::line(line);
        });
    }
}

thread_local! {
    /// Each thread's line buffer, reused: a line is built without allocating.
    static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl CloudLogging {
    /// Writes the line's JSON object. `fields` holds the spans' fields then
    /// the event's own (its last `own` entries); a name repeated later wins.
    fn write_line(
        &self,
        line: &mut Vec<u8>,
        meta: &tracing::Metadata<'_>,
        fields: &[(&str, &[u8])],
        own: usize,
    ) {
        line.extend_from_slice(b"{\"severity\":\"");
        line.extend_from_slice(severity(meta.level()).as_bytes());
        let _ = write!(line, "\",\"time\":\"{}\"", jiff::Timestamp::now());
        line.extend_from_slice(b",\"target\":");
        push_json_str(line, meta.target());
        // Cloud Logging takes every entry with `httpRequest` for a request:
        // only the request's one line carries its span's.
        let request_line = matches!(meta.target(), AUDIT | REQUEST);
        let from_span = fields.len() - own;
        let mut http = Vec::new();
        for (i, &(key, value)) in fields.iter().enumerate() {
            // The line's own keys are not a field's to change.
            if fields[i + 1..].iter().any(|(k, _)| *k == key)
                || matches!(key, "severity" | "time" | "target")
            {
                continue;
            }
            if let Some(name) = key.strip_prefix("http_request.") {
                if request_line || i >= from_span {
                    http.push((name, value));
                }
            } else if key == "trace" {
                if let (Some(project), Ok(trace)) =
                    (&self.project, serde_json::from_slice::<String>(value))
                {
                    line.extend_from_slice(b",\"logging.googleapis.com/trace\":");
                    push_json_str(line, &format!("projects/{project}/traces/{trace}"));
                }
            } else {
                line.push(b',');
                push_json_str(line, key);
                line.push(b':');
                line.extend_from_slice(value);
            }
        }
        if !http.is_empty() {
            line.extend_from_slice(b",\"httpRequest\":{");
            for (i, (name, value)) in http.into_iter().enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                line.push(b'"');
                push_camel(line, name);
                line.extend_from_slice(b"\":");
                line.extend_from_slice(value);
            }
            line.push(b'}');
        }
        line.push(b'}');
    }
}

fn push_json_str(line: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(line, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_json_in_cloud_loggings_shape() {
        let f = CloudLogging {
            project: Some("example-project".into()),
        };
        let meta = &META;
        let fields: [(&str, &[u8]); 8] = [
            ("http_request.request_url", b"\"/slack/commands\""),
            ("http_request.status", b"200"),
            ("trace", b"\"105445aa7843bc8bf206b12000100000\""),
            ("principal", b"\"U0OUTER\""),
            ("principal", b"\"U0INNER\""),
            ("time", b"\"not the line's\""),
            ("message", b"\"request \\\"handled\\\"\""),
            ("reason", b"\"a\\u0001b\""),
        ];
        let mut bytes = Vec::new();
        f.write_line(&mut bytes, meta, &fields, 1);
        let line = String::from_utf8(bytes).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["severity"], "WARNING");
        assert_eq!(v["target"], "audit");
        assert!(v["time"].as_str().unwrap().ends_with('Z'), "{line}");
        assert_eq!(v["httpRequest"]["requestUrl"], "/slack/commands");
        assert_eq!(v["httpRequest"]["status"], 200);
        assert_eq!(v["principal"], "U0INNER");
        assert_eq!(v["message"], "request \"handled\"");
        assert_eq!(
            v["logging.googleapis.com/trace"],
            "projects/example-project/traces/105445aa7843bc8bf206b12000100000"
        );
        assert_eq!(v["reason"], "a\u{1}b");
        assert_eq!(line.matches("\"principal\"").count(), 1, "{line}");
        // A field's Debug text, quotes, newlines, control characters and
        // all, is one JSON string: a value cannot end its line early.
        let mut escaped = Vec::new();
        push_debug(&mut escaped, &"q\"b\\n\nt\tc\u{1}é\u{2028}");
        assert!(!escaped.contains(&b'\n'));
        assert_eq!(
            serde_json::from_slice::<String>(&escaped).unwrap(),
            format!("{:?}", "q\"b\\n\nt\tc\u{1}é\u{2028}")
        );
        assert_eq!(line.matches("\"time\"").count(), 1, "{line}");
    }

    struct Callsite;
    static CALLSITE: Callsite = Callsite;
    static META: tracing::Metadata<'static> = tracing::Metadata::new(
        "event",
        AUDIT,
        tracing::Level::WARN,
        None,
        None,
        None,
        tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE)),
        tracing::metadata::Kind::EVENT,
    );
    impl tracing::callsite::Callsite for Callsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &tracing::Metadata<'_> {
            &META
        }
    }
}
