//! Transports: the ways a request reaches the pipeline. Each knows one wire
//! format and nothing about Google or GitHub.
//!
//! `answer` holds what they share (the immediate answer, the deduplicated
//! spawn); `commands`, `events`, `interactivity` and `dialog` turn Slack's
//! payloads into pipeline requests without knowing HTTP; `http` and `socket` are
//! thin adapters that carry those payloads; `dispatch` is the GitHub Actions side.

mod answer;
mod commands;
mod dialog;
pub mod dispatch;
mod events;
mod http;
mod interactivity;
mod socket;

pub use answer::{Answer, Spawner};
pub use events::FUNCTION_CALLBACK;
pub use http::{HttpState, MAX_BODY, router};
pub use interactivity::SHORTCUT_CALLBACK;
pub use socket::run as socket_mode;
