//! Lengths of time people give, and why the bot stops an instance on its own.

use super::InvalidValue;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why the bot stops an instance on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimerReason {
    /// The time a start asked for (or `max_hours`) ran out.
    Lease,
    /// The instance's `stop_at` schedule came round.
    Schedule,
    /// Cloud Monitoring read it idle for its `idle_minutes`, and still idle
    /// after the warning.
    Idle,
}

impl TimerReason {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerReason::Lease => "lease",
            TimerReason::Schedule => "schedule",
            TimerReason::Idle => "idle",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [TimerReason::Lease, TimerReason::Schedule, TimerReason::Idle]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

impl fmt::Display for TimerReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A length of time a person gave (`90m`, `3h`, `1h30m`): whole minutes, from
/// one minute to a week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lasting(u32);

impl Lasting {
    pub const MAX_MINUTES: u32 = 7 * 24 * 60;

    /// Reads `90m`, `3h`, `1h30m`, `2h 15m` (jiff's friendly duration format).
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let bad = || {
            InvalidValue(format!(
                "\"{s}\" is not a length of time; write it like `90m`, `3h` or `1h30m`"
            ))
        };
        let d: jiff::SignedDuration = s.trim().parse().map_err(|_| bad())?;
        let secs = d.as_secs();
        if d.is_negative() || secs % 60 != 0 || d.subsec_nanos() != 0 {
            return Err(bad());
        }
        Self::from_minutes(u32::try_from(secs / 60).map_err(|_| bad())?)
    }

    pub fn from_minutes(minutes: u32) -> Result<Self, InvalidValue> {
        if minutes == 0 || minutes > Self::MAX_MINUTES {
            return Err(InvalidValue(format!(
                "a length of time must be between 1 minute and 7 days, not {minutes} minutes"
            )));
        }
        Ok(Self(minutes))
    }

    pub fn minutes(self) -> u32 {
        self.0
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.0))
    }
}

impl fmt::Display for Lasting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0 / 60, self.0 % 60) {
            (0, m) => write!(f, "{m}m"),
            (h, 0) => write!(f, "{h}h"),
            (h, m) => write!(f, "{h}h{m}m"),
        }
    }
}
