//! workbench-bot: start, stop and inspect Vertex AI Workbench instances from Slack,
//! for people who hold no Google Cloud permission themselves.
//!
//! # Layout
//!
//! In the order a request meets them:
//!
//! - `transport`: the doors. HTTP routes, Socket Mode and `handle-dispatch` turn
//!   a wire format into a pipeline [`Request`] and answer Slack at once.
//! - `verify`: Slack's signature, the timestamp window, the served workspaces
//!   and Enterprise Grid orgs (`verify::served`, one check for every payload).
//! - `pipeline`: the one path every request takes, [`App::handle`], joining the
//!   steps below.
//! - `parse`: text (as Slack delivers it) into a [`domain::Command`].
//! - `decide`: policy, deny by default, and the per-person rate limit.
//! - `act`: the backends (Notebooks API, GitHub dispatch, dry run), their
//!   registry and set-up.
//! - `report`: telling the person in Slack; every sentence in `report::messages`
//!   (and its siblings by topic: `timers`, `idle`, `weekly`), every Block Kit
//!   layout in `report::blocks` and `report::home`, the weekly chart in
//!   `report::chart` and Slack's external upload in `report::upload`.
//! - `record`: one audit row, one log line and one metric per request (the
//!   audit line is the request's one line; `logging` gives it `httpRequest`).
//! - `store`: the audit trail (its schema in `store::audit`), handled event ids,
//!   pending operations, sessions and timer work, behind one interface written
//!   once for SQLite and PostgreSQL (`store/sql.rs`).
//! - `timers`: the door time comes through (time limits, scheduled stops,
//!   reminders, idle stops, the weekly report), and the ledger of sessions
//!   with its rules: a time limit ends only on a confirmed stop.
//! - `activity`: whether anyone uses an instance, from Cloud Monitoring's
//!   CPU and GPU figures; what it cannot read is never idle.
//!
//! - `home`: the App Home tab, a door too: a person's own dashboard, published
//!   when they open it and again (coalesced) when what it shows changes.
//!
//! Around them: `config` (the platform team's TOML), `settings` (secrets and
//! URLs from the environment), `domain` (types that cannot hold a bad value),
//! `startup` (builds and runs the server), `metrics`, `simulate`, `tls`.
//!
//! # Glossary of results
//!
//! - `decide::Decision`: what policy says of one command: allow or deny with a
//!   `Refusal`.
//! - `act::Outcome`: what a backend did (done, already there, pending, handed off).
//! - `Verdict` (inside the pipeline): everything the decide and act steps
//!   concluded about a request, ready to be reported and recorded.
//! - [`Handled`]: what the pipeline hands back to a transport (ok, the reply, the
//!   state), for exit codes and workflow step outputs.
//! - [`transport::Answer`]: what a transport answers Slack at once, before the
//!   work is done.
//! - `transport::dispatch::DispatchResult`: how a `handle-dispatch` job ends
//!   (exit status and one line).
//! - `store::AuditRecord`: the row that outlives all of them.

pub mod act;
pub mod activity;
pub mod clock;
pub mod config;
pub mod cost;
pub mod decide;
pub mod domain;
mod home;
pub mod logging;
mod metrics;
pub mod oidc;
pub mod parse;
mod pipeline;
mod record;
pub mod report;
pub mod schedule;
pub mod settings;
pub mod simulate;
pub mod startup;
pub mod store;
mod timers;
mod tls;
pub mod transport;
pub mod verify;

pub use config::Config;
pub use pipeline::{App, Handled, Input, Request};
pub use settings::{Secret, Settings, Timing};
pub use startup::{Application, shutdown_signal};
pub use timers::TickReport;
pub use tls::install as install_tls;
pub use verify::sign;
