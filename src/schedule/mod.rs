//! Scheduled stops: when is a notebook instance next due to be stopped?
//!
//! The platform team writes `stop_at = { time = "20:00", days = "mon-fri",
//! timezone = "Asia/Tokyo" }`; [`StopSchedule::parse`] checks it once, when the
//! config is loaded, and [`StopSchedule::next_after`] answers "the first stop
//! strictly after this instant".
//!
//! A stop is meant by the wall clock of the team's office, so the arithmetic is
//! done in that zone's local time and only the answer is an instant. On the two
//! days a year when the wall clock misbehaves, a stop happens once and as soon as
//! it can: at the configured time if the clock shows it, at the first instant
//! after the gap if the clock skips it, at the first of the two if the clock
//! shows it twice. Put differently, the stop for a day is the first instant at
//! which that day's wall clock reads the configured time or later.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone, TimeZoneDatabase};

/// One scheduled stop: a wall-clock time on some days of the week in one zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopSchedule {
    time: Time,
    /// Bit `n` is the weekday `n` days after Monday.
    days: u8,
    tz: TimeZone,
    /// The database's spelling, so that "asia/tokyo" is shown as "Asia/Tokyo".
    tz_name: String,
}

/// Why a `stop_at` entry was refused. Each carries a sentence for the person
/// who wrote the config, naming what was wrong and the form that is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0}")]
    BadTime(String),
    #[error("{0}")]
    BadDays(String),
    #[error("{0}")]
    UnknownTimeZone(String),
    #[error("no days are given for the scheduled stop: {ACCEPTED_DAYS}")]
    NoDays,
}

const ACCEPTED_TIME: &str = "write the time as HH:MM on the 24-hour clock, from 00:00 to 23:59, \
     such as \"20:00\" or \"07:30\"";

const ACCEPTED_DAYS: &str = "write the days as day names or ranges separated by commas, such as \
     \"mon-fri\", \"sat,sun\", \"wed\" or \"fri-mon\", using three-letter names \
     (mon, tue, wed, thu, fri, sat, sun) or full names (monday to sunday)";

const ACCEPTED_ZONE: &str = "use an IANA time zone name of the form Region/City, \
     such as \"Asia/Tokyo\" or \"Europe/Berlin\", or \"UTC\"";

const DAY_NAMES: [(&str, &str, &str); 7] = [
    ("mon", "monday", "Mon"),
    ("tue", "tuesday", "Tue"),
    ("wed", "wednesday", "Wed"),
    ("thu", "thursday", "Thu"),
    ("fri", "friday", "Fri"),
    ("sat", "saturday", "Sat"),
    ("sun", "sunday", "Sun"),
];

const EVERY_DAY: u8 = 0b111_1111;

/// Far enough to reach every allowed weekday once more, with a day to spare for
/// a wall clock that was turned back across midnight.
const DAYS_AHEAD: usize = 8;

impl StopSchedule {
    /// Checks the three fields of a `stop_at` entry.
    pub fn parse(time: &str, days: &str, timezone: &str) -> Result<Self, ScheduleError> {
        let time = parse_time(time)?;
        let days = parse_days(days)?;
        let (tz, tz_name) = parse_time_zone(timezone)?;
        Ok(Self {
            time,
            days,
            tz,
            tz_name,
        })
    }

    /// The first stop strictly after `after`.
    ///
    /// Strictly, so that a caller that has just stopped the instance at the due
    /// instant and asks again gets the next stop, not the same one.
    ///
    /// Saturates at [`Timestamp::MAX`] when the next stop would fall past the last
    /// instant jiff can represent (the end of the year 9999).
    pub fn next_after(&self, after: Timestamp) -> Timestamp {
        self.next_after_checked(after).unwrap_or(Timestamp::MAX)
    }

    /// Same, for the bot's chrono clock: `chrono::DateTime<chrono::Utc>` in and
    /// out (the rest of the bot uses chrono 0.4).
    ///
    /// chrono reaches further than jiff: before jiff's range the answer is the
    /// first stop jiff can represent; past it, `DateTime::<Utc>::MAX_UTC`, so the
    /// answer is still never earlier than the question.
    pub fn next_after_utc(
        &self,
        after: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        let far_future = chrono::DateTime::<chrono::Utc>::MAX_UTC;
        let after = match chrono_to_jiff(after) {
            Some(after) => after,
            None if after.timestamp() < 0 => Timestamp::MIN,
            None => return far_future,
        };
        self.next_after_checked(after)
            .and_then(jiff_to_chrono)
            .unwrap_or(far_future)
    }

    /// The latest stop at or before `at`, within the last eight days: the
    /// stop a tick that came late should still carry out.
    pub fn last_at_or_before_utc(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let mut t = self.next_after_utc(at - chrono::Duration::days(DAYS_AHEAD as i64));
        if t > at {
            return None;
        }
        loop {
            let next = self.next_after_utc(t);
            if next > at {
                return Some(t);
            }
            t = next;
        }
    }

    /// For people: "20:00 Mon–Fri (Asia/Tokyo)"; "20:00 every day (UTC)".
    pub fn describe(&self) -> String {
        let days = if self.days == EVERY_DAY {
            "every day".to_owned()
        } else {
            describe_days(self.days)
        };
        format!(
            "{:02}:{:02} {days} ({})",
            self.time.hour(),
            self.time.minute(),
            self.tz_name
        )
    }

    pub fn time_zone_name(&self) -> &str {
        &self.tz_name
    }

    fn runs_on(&self, weekday: Weekday) -> bool {
        self.days & day_bit(weekday) != 0
    }

    /// `None` only near the end of jiff's range.
    fn next_after_checked(&self, after: Timestamp) -> Option<Timestamp> {
        // Starting from the local date of `after` is enough: the stop of any
        // earlier date is the first instant its wall clock reached a time before
        // the one `after` shows, so it came no later than `after`.
        let mut date = self.tz.to_datetime(after).date();
        for _ in 0..=DAYS_AHEAD {
            if self.runs_on(date.weekday()) {
                match self.stop_on(date) {
                    Some(stop) if stop > after => return Some(stop),
                    _ => {}
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The instant of `date`'s stop, whether or not `date` is a stop day.
    fn stop_on(&self, date: Date) -> Option<Timestamp> {
        let local = date.to_datetime(self.time);
        match self.tz.to_ambiguous_timestamp(local).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(local).ok(),
            // The earlier of the two, and the later is never a candidate: only one
            // instant per date is ever computed, so a stop cannot repeat in the
            // hour the clock is turned back.
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(local).ok(),
            AmbiguousOffset::Gap { before, after } => self.end_of_gap(local, before, after),
        }
    }

    /// The first instant after the gap that swallowed `local`: the transition
    /// itself. jiff's `compatible` disambiguation is not that: it moves the
    /// time forward by the gap's length (02:30 becomes 03:30, not 03:00), which
    /// would leave an instance running for up to an hour longer than the team
    /// asked for.
    fn end_of_gap(
        &self,
        local: DateTime,
        before: jiff::tz::Offset,
        after: jiff::tz::Offset,
    ) -> Option<Timestamp> {
        // Read with the later offset, `local` is an instant shortly before the
        // transition; read with the earlier, one shortly after it.
        let just_before = after.to_timestamp(local).ok()?;
        let just_after = before.to_timestamp(local).ok()?;
        match self.tz.following(just_before).next() {
            Some(t) if t.timestamp() > just_before && t.timestamp() <= just_after => {
                Some(t.timestamp())
            }
            // Not expected from the database; the shifted time is still a stop
            // after the gap rather than none at all.
            _ => Some(just_after),
        }
    }
}

fn day_bit(weekday: Weekday) -> u8 {
    1 << weekday.to_monday_zero_offset()
}

fn parse_time(input: &str) -> Result<Time, ScheduleError> {
    let s = input.trim();
    let refuse = |why: &str| {
        ScheduleError::BadTime(format!(
            "the stop time \"{input}\" is not accepted{why}: {ACCEPTED_TIME}"
        ))
    };
    // Exactly five ASCII bytes: no "8pm", no "7:5", no seconds, no "20.00".
    let b = s.as_bytes();
    let shaped =
        b.len() == 5 && b[2] == b':' && [b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit);
    if !shaped {
        return Err(refuse(""));
    }
    let hour = (b[0] - b'0') * 10 + (b[1] - b'0');
    let minute = (b[3] - b'0') * 10 + (b[4] - b'0');
    if hour > 23 {
        // "24:00" would mean midnight of the next day, which moves the stop to
        // another weekday; make the writer say which day they mean.
        return Err(refuse(" (hours run from 00 to 23)"));
    }
    if minute > 59 {
        return Err(refuse(" (minutes run from 00 to 59)"));
    }
    Time::new(hour as i8, minute as i8, 0, 0).map_err(|_| refuse(""))
}

fn parse_days(input: &str) -> Result<u8, ScheduleError> {
    if input.trim().is_empty() {
        return Err(ScheduleError::NoDays);
    }
    let refuse = |what: String| {
        ScheduleError::BadDays(format!(
            "the days \"{input}\" are not accepted: {what}; {ACCEPTED_DAYS}"
        ))
    };
    let mut days = 0u8;
    for part in input.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(refuse(
                "an empty day name (two commas in a row, or a comma at an end)".to_owned(),
            ));
        }
        let Some((first, last)) = part.split_once('-') else {
            let day =
                day_index(part).ok_or_else(|| refuse(format!("\"{part}\" is not a day name")))?;
            days |= 1 << day;
            continue;
        };
        let (first, last) = (first.trim(), last.trim());
        if first.is_empty() || last.is_empty() || last.contains('-') {
            return Err(refuse(format!(
                "\"{part}\" is not a range of days (a range is two days joined by '-', \
                 such as \"mon-fri\")"
            )));
        }
        let first =
            day_index(first).ok_or_else(|| refuse(format!("\"{first}\" is not a day name")))?;
        let last =
            day_index(last).ok_or_else(|| refuse(format!("\"{last}\" is not a day name")))?;
        if first == last {
            // Could be one day or, wrapping, the whole week; neither reading is
            // safe to guess.
            return Err(refuse(format!(
                "\"{part}\" starts and ends on the same day (write \"{}\" for that day alone, \
                 or \"mon-sun\" for every day)",
                DAY_NAMES[first as usize].0
            )));
        }
        // A range runs forward through the week and may wrap: "fri-mon" is
        // Friday, Saturday, Sunday, Monday.
        let mut day = first;
        loop {
            days |= 1 << day;
            if day == last {
                break;
            }
            day = (day + 1) % 7;
        }
    }
    Ok(days)
}

fn day_index(name: &str) -> Option<u8> {
    let name = name.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|(short, full, _)| name == *short || name == *full)
        .map(|i| i as u8)
}

fn parse_time_zone(input: &str) -> Result<(TimeZone, String), ScheduleError> {
    let name = input.trim();
    if name.is_empty() {
        return Err(ScheduleError::UnknownTimeZone(format!(
            "no time zone is given for the scheduled stop: {ACCEPTED_ZONE}"
        )));
    }
    // Only the compiled-in database, not the host's /usr/share/zoneinfo that
    // `TimeZone::get` prefers: the image may carry none, and a config that
    // loads on a laptop must load in production, with the same rules.
    match TimeZoneDatabase::bundled().get(name) {
        Ok(tz) if !tz.is_unknown() => {
            let canonical = tz.iana_name().unwrap_or(name).to_owned();
            Ok((tz, canonical))
        }
        _ if looks_like_offset(name) => Err(ScheduleError::UnknownTimeZone(format!(
            "the time zone \"{input}\" is a fixed offset from UTC, which is not accepted \
             because it does not follow daylight saving time: {ACCEPTED_ZONE}"
        ))),
        _ => Err(ScheduleError::UnknownTimeZone(format!(
            "the time zone \"{input}\" is not in the time zone database: {ACCEPTED_ZONE}"
        ))),
    }
}

/// "+09:00", "-5", "0900", "Z", "UTC+9", "GMT-05:00": shapes people use for an
/// offset, so the refusal can say why rather than just "unknown".
fn looks_like_offset(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("utc")
        .or_else(|| lower.strip_prefix("gmt"))
        .unwrap_or(&lower);
    lower == "z" || rest.starts_with(['+', '-']) || rest.starts_with(|c: char| c.is_ascii_digit())
}

/// Runs of three days or more as ranges, others one by one, starting with the
/// first run that begins on or after Monday, so a weekend-wrapping set reads
/// "Fri–Mon" rather than "Mon, Fri–Sun". Only for sets short of the full week.
fn describe_days(days: u8) -> String {
    let has = |d: usize| days & (1 << (d % 7)) != 0;
    let mut parts = Vec::new();
    let Some(first_start) = (0..7).find(|&d| has(d) && !has(d + 6)) else {
        return String::new();
    };
    let mut d = first_start;
    while d < first_start + 7 {
        if !has(d) {
            d += 1;
            continue;
        }
        let start = d;
        while d + 1 < first_start + 7 && has(d + 1) {
            d += 1;
        }
        let (a, b) = (DAY_NAMES[start % 7].2, DAY_NAMES[d % 7].2);
        match d - start {
            0 => parts.push(a.to_owned()),
            1 => parts.push(format!("{a}, {b}")),
            _ => parts.push(format!("{a}–{b}")),
        }
        d += 1;
    }
    parts.join(", ")
}

fn chrono_to_jiff(t: chrono::DateTime<chrono::Utc>) -> Option<Timestamp> {
    // chrono marks a leap second by nanoseconds past one second; jiff has no
    // leap seconds, so it becomes the last nanosecond of the second before.
    let nanos = i128::from(t.timestamp_subsec_nanos().min(999_999_999));
    Timestamp::from_nanosecond(i128::from(t.timestamp()) * 1_000_000_000 + nanos).ok()
}

fn jiff_to_chrono(t: Timestamp) -> Option<chrono::DateTime<chrono::Utc>> {
    // jiff's sub-second part carries the sign of the timestamp; chrono's is
    // always a non-negative part of the second, so split the whole count.
    let total = t.as_nanosecond();
    let secs = i64::try_from(total.div_euclid(1_000_000_000)).ok()?;
    let nanos = u32::try_from(total.rem_euclid(1_000_000_000)).ok()?;
    chrono::DateTime::from_timestamp(secs, nanos)
}

#[cfg(test)]
mod tests;
