//! Integration tests: the real server on 127.0.0.1:0, local fakes only.

mod config;
mod fakes;
mod helpers;
mod pg;

mod approvals;
mod bad_input;
mod cli;
mod entry_points;
mod faults;
mod github;
mod grid;
mod home;
mod idle;
mod load;
mod notebooks;
mod promises;
mod replicas;
mod slack_core;
mod socket_mode;
mod store;
mod timers;
mod weekly;
