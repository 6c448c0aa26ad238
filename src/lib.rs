//! workbench-bot: start, stop and inspect Vertex AI Workbench instances from Slack,
//! for people who hold no Google Cloud permission themselves.
//!
//! The request path, one module per step:
//! transport ([`transport`]) → [`verify`] → [`parse`] → [`decide`] → [`act`] →
//! [`report`] → record ([`store`]), tied together by [`core`].

pub mod act;
pub mod backends;
pub mod config;
pub mod core;
pub mod decide;
pub mod domain;
pub mod metrics;
pub mod parse;
pub mod report;
pub mod settings;
pub mod simulate;
pub mod startup;
pub mod store;
pub mod transport;
pub mod verify;
