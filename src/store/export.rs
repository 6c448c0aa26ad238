//! `workbench-bot audit export`: the audit trail since a date, as JSON lines or
//! CSV, so a team can ship it to BigQuery or a SIEM. Columns and values are the
//! audit schema's (see `audit`), one row per request.

use super::{AuditRecord, Store, StoreError};
use serde::Serialize;
use std::io::Write;
use std::ops::ControlFlow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("--since \"{0}\" is not a date (2026-11-01) or a time (2026-11-01T09:00:00Z)")]
    Since(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
    #[error("cannot write the export as CSV: {0}")]
    Csv(#[from] csv::Error),
}

/// One exported row: every column, as text.
#[derive(Serialize)]
struct Row<'a> {
    at: String,
    request_id: &'a str,
    team: Option<&'a str>,
    principal: &'a str,
    entry_point: &'a str,
    command: &'a str,
    instance: Option<&'a str>,
    decision: &'a str,
    reason: &'a str,
    backend: Option<&'a str>,
    outcome: String,
    approved_by: Option<&'a str>,
}

impl<'a> From<&'a AuditRecord> for Row<'a> {
    fn from(r: &'a AuditRecord) -> Self {
        Row {
            at: r.at.to_rfc3339(),
            request_id: &r.request_id,
            team: r.team.as_deref(),
            principal: &r.principal,
            entry_point: r.entry_point.as_str(),
            command: &r.command,
            instance: r.instance.as_deref(),
            decision: r.decision.as_str(),
            reason: &r.reason,
            backend: r.backend.as_deref(),
            outcome: r.outcome.to_string(),
            approved_by: r.approved_by.as_deref(),
        }
    }
}

/// The stored form of a moment: `--since` accepts a date (midnight UTC) or any
/// RFC 3339 time, and compares as the store writes times.
pub fn since(text: &str) -> Result<String, ExportError> {
    let at = match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(d) => d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()),
        Err(_) => chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.to_utc()),
    };
    at.map(|t| t.to_rfc3339())
        .ok_or_else(|| ExportError::Since(text.to_owned()))
}

/// Rows read from the store at a time: the export holds one page, so a
/// year's trail streams out in the memory of a thousand rows.
const PAGE: usize = 1000;

/// Writes every row at or after `since`, oldest first, page by page as it
/// reads them; returns how many.
pub async fn export(
    store: &Store,
    since: &str,
    format: Format,
    out: impl Write + Send,
) -> Result<usize, ExportError> {
    let mut sink = Sink::new(format, out);
    let mut written = 0;
    let mut failed = None;
    let mut each = |page: Vec<AuditRecord>| {
        for r in &page {
            if let Err(e) = sink.row(r) {
                failed = Some(e);
                return ControlFlow::Break(());
            }
        }
        written += page.len();
        ControlFlow::Continue(())
    };
    store.db().audit_pages(since, PAGE, &mut each).await?;
    if let Some(e) = failed {
        return Err(e);
    }
    sink.finish()?;
    Ok(written)
}

/// Where rows go, in their format.
enum Sink<W: Write> {
    Jsonl(std::io::BufWriter<W>),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> Sink<W> {
    fn new(format: Format, out: W) -> Self {
        match format {
            Format::Jsonl => Sink::Jsonl(std::io::BufWriter::new(out)),
            Format::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(out))),
        }
    }

    fn row(&mut self, r: &AuditRecord) -> Result<(), ExportError> {
        match self {
            Sink::Jsonl(out) => {
                serde_json::to_writer(&mut *out, &Row::from(r)).map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
            }
            Sink::Csv(csv) => csv.serialize(Row::from(r))?,
        }
        Ok(())
    }

    fn finish(self) -> Result<(), ExportError> {
        match self {
            Sink::Jsonl(mut out) => out.flush()?,
            Sink::Csv(mut csv) => csv.flush()?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_date_or_a_time_and_refuses_anything_else() {
        assert_eq!(since("2026-11-01").unwrap(), "2026-11-01T00:00:00+00:00");
        assert_eq!(
            since("2026-11-01T09:30:00+09:00").unwrap(),
            "2026-11-01T00:30:00+00:00"
        );
        assert!(matches!(since("last week"), Err(ExportError::Since(_))));
    }
}
