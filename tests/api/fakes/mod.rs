//! Local fakes of everything the bot talks to, one file each, all on
//! 127.0.0.1:0 and following the documented wire formats.

pub mod github;
pub mod google;
mod http;
pub mod jwks;
pub mod monitoring;
pub mod scripted;
mod slack;
pub mod socket;

pub use http::{Call, Fake, wait_until};
pub use slack::{fake_slack, slack_answer};
