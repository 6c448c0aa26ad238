//! Transports: the ways a request reaches the core. Each knows one wire format and
//! nothing about Google or GitHub.

pub mod dispatch;
pub mod events;
pub mod http;
pub mod interactivity;
pub mod socket;
