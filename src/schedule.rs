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
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn sched(time: &str, days: &str, tz: &str) -> StopSchedule {
        StopSchedule::parse(time, days, tz).unwrap()
    }

    fn days_of(days: &str) -> Vec<&'static str> {
        let mask = parse_days(days).unwrap();
        (0..7)
            .filter(|d| mask & (1 << d) != 0)
            .map(|d| DAY_NAMES[d].0)
            .collect()
    }

    fn message(err: ScheduleError) -> String {
        err.to_string()
    }

    // --- time ---

    #[test]
    fn time_accepts_hh_mm_from_00_00_to_23_59() {
        for (input, h, m) in [
            ("20:00", 20, 0),
            ("00:00", 0, 0),
            ("23:59", 23, 59),
            ("07:05", 7, 5),
            (" 20:00 ", 20, 0),
        ] {
            assert_eq!(
                parse_time(input).unwrap(),
                Time::new(h, m, 0, 0).unwrap(),
                "{input}"
            );
        }
    }

    #[test]
    fn time_refuses_other_forms_naming_the_expected_one() {
        for input in [
            "8pm",
            "24:00",
            "7:5",
            "7:05",
            "20:60",
            "20:00:00",
            "20.00",
            "",
            "2000",
            "+1:00",
            "٢٠:٠٠",
        ] {
            let err = parse_time(input).unwrap_err();
            let ScheduleError::BadTime(msg) = &err else {
                panic!("{input}: {err:?}")
            };
            assert!(msg.contains(&format!("\"{input}\"")), "{msg}");
            assert!(
                msg.contains("HH:MM on the 24-hour clock, from 00:00 to 23:59"),
                "{msg}"
            );
        }
        assert_eq!(
            message(parse_time("24:00").unwrap_err()),
            "the stop time \"24:00\" is not accepted (hours run from 00 to 23): write the time as \
             HH:MM on the 24-hour clock, from 00:00 to 23:59, such as \"20:00\" or \"07:30\""
        );
        assert!(message(parse_time("20:60").unwrap_err()).contains("(minutes run from 00 to 59)"));
        assert_eq!(
            message(parse_time("8pm").unwrap_err()),
            "the stop time \"8pm\" is not accepted: write the time as HH:MM on the 24-hour clock, \
             from 00:00 to 23:59, such as \"20:00\" or \"07:30\""
        );
    }

    // --- days ---

    #[test]
    fn days_accepts_names_ranges_and_lists() {
        assert_eq!(days_of("mon-fri"), ["mon", "tue", "wed", "thu", "fri"]);
        assert_eq!(days_of("sat,sun"), ["sat", "sun"]);
        assert_eq!(
            days_of("mon-sun"),
            ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        );
        assert_eq!(days_of("wed"), ["wed"]);
        assert_eq!(days_of("fri-mon"), ["mon", "fri", "sat", "sun"]);
        assert_eq!(days_of("sun-mon"), ["mon", "sun"]);
        assert_eq!(days_of("tue-mon"), days_of("mon-sun"));
        assert_eq!(days_of("monday"), ["mon"]);
        assert_eq!(days_of("Monday-FRIDAY"), days_of("mon-fri"));
        assert_eq!(days_of("MON-Fri"), days_of("mon-fri"));
        assert_eq!(days_of("mon-wednesday"), ["mon", "tue", "wed"]);
        assert_eq!(days_of("mon , wed ,fri"), ["mon", "wed", "fri"]);
        assert_eq!(days_of(" Sat, Sunday "), ["sat", "sun"]);
        assert_eq!(days_of("mon - wed, fri"), ["mon", "tue", "wed", "fri"]);
        assert_eq!(days_of("mon-fri,wed"), days_of("mon-fri"));
    }

    #[test]
    fn days_refuses_empty_and_unknown_parts_naming_them() {
        assert_eq!(parse_days(""), Err(ScheduleError::NoDays));
        assert_eq!(parse_days("  "), Err(ScheduleError::NoDays));
        assert_eq!(
            message(ScheduleError::NoDays),
            format!("no days are given for the scheduled stop: {ACCEPTED_DAYS}")
        );
        let cases = [
            ("mon,,fri", "an empty day name"),
            ("mon,", "an empty day name"),
            ("funday", "\"funday\" is not a day name"),
            ("mon,tues", "\"tues\" is not a day name"),
            ("mon fri", "\"mon fri\" is not a day name"),
            ("weekdays", "\"weekdays\" is not a day name"),
            ("mon-xyz", "\"xyz\" is not a day name"),
            ("mon-", "\"mon-\" is not a range of days"),
            ("-fri", "\"-fri\" is not a range of days"),
            ("mon-wed-fri", "\"mon-wed-fri\" is not a range of days"),
            ("mon-mon", "\"mon-mon\" starts and ends on the same day"),
        ];
        for (input, bad_part) in cases {
            let err = parse_days(input).unwrap_err();
            let ScheduleError::BadDays(msg) = &err else {
                panic!("{input}: {err:?}")
            };
            assert!(msg.contains(bad_part), "{input}: {msg}");
            assert!(
                msg.starts_with(&format!("the days \"{input}\" are not accepted: ")),
                "{msg}"
            );
            assert!(msg.ends_with(ACCEPTED_DAYS), "{msg}");
            assert!(
                msg.contains("three-letter names") && msg.contains("full names"),
                "{msg}"
            );
        }
        assert_eq!(
            message(parse_days("mon,funday").unwrap_err()),
            "the days \"mon,funday\" are not accepted: \"funday\" is not a day name; write the \
             days as day names or ranges separated by commas, such as \"mon-fri\", \"sat,sun\", \
             \"wed\" or \"fri-mon\", using three-letter names (mon, tue, wed, thu, fri, sat, sun) \
             or full names (monday to sunday)"
        );
    }

    // --- time zone ---

    #[test]
    fn time_zone_accepts_iana_names_in_their_database_spelling() {
        for (input, name) in [
            ("Asia/Tokyo", "Asia/Tokyo"),
            ("Europe/Berlin", "Europe/Berlin"),
            ("UTC", "UTC"),
            ("utc", "UTC"),
            ("asia/TOKYO", "Asia/Tokyo"),
            (" America/New_York ", "America/New_York"),
        ] {
            let s = sched("20:00", "mon-fri", input);
            assert_eq!(s.time_zone_name(), name);
        }
    }

    #[test]
    fn time_zone_refuses_unknown_names_and_fixed_offsets() {
        for input in [
            "Tokyo",
            "Asia/Tokio",
            "JST",
            "Mars/Olympus_Mons",
            "Etc/Unknown",
            "localtime",
        ] {
            let err = StopSchedule::parse("20:00", "mon-fri", input).unwrap_err();
            assert_eq!(
                err,
                ScheduleError::UnknownTimeZone(format!(
                    "the time zone \"{input}\" is not in the time zone database: use an IANA \
                     time zone name of the form Region/City, such as \"Asia/Tokyo\" or \
                     \"Europe/Berlin\", or \"UTC\""
                ))
            );
        }
        for input in [
            "+09:00",
            "-05:00",
            "+9",
            "0900",
            "Z",
            "UTC+9",
            "GMT-05:00",
            "utc+09:00",
        ] {
            let msg = message(StopSchedule::parse("20:00", "mon-fri", input).unwrap_err());
            assert!(
                msg.starts_with(&format!(
                    "the time zone \"{input}\" is a fixed offset from UTC, which is not accepted"
                )),
                "{msg}"
            );
            assert!(msg.contains("Region/City"), "{msg}");
        }
        let msg = message(StopSchedule::parse("20:00", "mon-fri", " ").unwrap_err());
        assert!(
            msg.starts_with("no time zone is given") && msg.contains("Region/City"),
            "{msg}"
        );
    }

    #[test]
    fn parse_reports_the_first_bad_field() {
        assert!(matches!(
            StopSchedule::parse("8pm", "", "Tokyo"),
            Err(ScheduleError::BadTime(_))
        ));
        assert!(matches!(
            StopSchedule::parse("20:00", "", "Tokyo"),
            Err(ScheduleError::NoDays)
        ));
        assert!(matches!(
            StopSchedule::parse("20:00", "mon", "Tokyo"),
            Err(ScheduleError::UnknownTimeZone(_))
        ));
    }

    // --- describe ---

    #[test]
    fn describe_reads_like_the_config() {
        let cases = [
            (
                "20:00",
                "mon-fri",
                "Asia/Tokyo",
                "20:00 Mon–Fri (Asia/Tokyo)",
            ),
            ("07:05", "mon-sun", "utc", "07:05 every day (UTC)"),
            (
                "20:00",
                "sun,sat,fri,thu,wed,tue,mon",
                "UTC",
                "20:00 every day (UTC)",
            ),
            ("20:00", "sat,sun", "UTC", "20:00 Sat, Sun (UTC)"),
            ("20:00", "wed", "UTC", "20:00 Wed (UTC)"),
            ("20:00", "fri-mon", "UTC", "20:00 Fri–Mon (UTC)"),
            ("20:00", "mon,wed,fri", "UTC", "20:00 Mon, Wed, Fri (UTC)"),
            (
                "20:00",
                "mon,wed,fri-sun",
                "UTC",
                "20:00 Wed, Fri–Mon (UTC)",
            ),
            ("20:00", "sun", "europe/berlin", "20:00 Sun (Europe/Berlin)"),
            ("00:00", "tue-sun", "UTC", "00:00 Tue–Sun (UTC)"),
        ];
        for (time, days, tz, want) in cases {
            assert_eq!(sched(time, days, tz).describe(), want);
        }
    }

    // --- next_after ---

    #[test]
    fn tokyo_20_00_is_11_00_utc() {
        let s = sched("20:00", "mon-fri", "Asia/Tokyo");
        // Monday 2026-06-01.
        assert_eq!(
            s.next_after(ts("2026-06-01T00:00:00Z")),
            ts("2026-06-01T11:00:00Z")
        );
        assert_eq!(
            s.next_after(ts("2026-05-31T20:00:00Z")),
            ts("2026-06-01T11:00:00Z")
        );
    }

    #[test]
    fn exactly_at_the_stop_gives_the_next_one() {
        let s = sched("20:00", "mon-fri", "Asia/Tokyo");
        let stop = ts("2026-06-01T11:00:00Z");
        assert_eq!(s.next_after(stop), ts("2026-06-02T11:00:00Z"));
        let just_before = stop - jiff::SignedDuration::from_nanos(1);
        assert_eq!(s.next_after(just_before), stop);
        // A single day a week: from its own stop, the next is seven days on.
        let wed = sched("20:00", "wed", "Asia/Tokyo");
        assert_eq!(
            wed.next_after(ts("2026-06-03T11:00:00Z")),
            ts("2026-06-10T11:00:00Z")
        );
    }

    #[test]
    fn weekends_are_skipped_for_mon_fri() {
        let s = sched("20:00", "mon-fri", "Asia/Tokyo");
        // After Friday 2026-06-05's stop, through Saturday and Sunday, to Monday.
        for after in [
            "2026-06-05T11:00:00Z",
            "2026-06-05T15:00:00Z", // Saturday 00:00 in Tokyo
            "2026-06-06T11:30:00Z", // Saturday 20:30
            "2026-06-07T10:59:59Z", // Sunday 19:59:59
            "2026-06-07T14:59:59Z", // Sunday 23:59:59
        ] {
            assert_eq!(
                s.next_after(ts(after)),
                ts("2026-06-08T11:00:00Z"),
                "{after}"
            );
        }
    }

    #[test]
    fn next_stop_crosses_the_week_boundary() {
        // Sunday evening to Monday, and a wrapping range across the boundary.
        let s = sched("20:00", "fri-mon", "UTC");
        assert_eq!(
            s.next_after(ts("2026-06-07T20:00:00Z")),
            ts("2026-06-08T20:00:00Z")
        );
        assert_eq!(
            s.next_after(ts("2026-06-08T20:00:00Z")),
            ts("2026-06-12T20:00:00Z")
        );
        // Across the year's end, too: Thursday 2026-12-31 to Monday 2027-01-04.
        let s = sched("09:00", "mon", "Europe/Berlin");
        assert_eq!(
            s.next_after(ts("2026-12-31T12:00:00Z")),
            ts("2027-01-04T08:00:00Z")
        );
        // A local date ahead of UTC's: it is already Monday in Tokyo.
        let s = sched("08:00", "mon", "Asia/Tokyo");
        assert_eq!(
            s.next_after(ts("2026-06-07T22:00:00Z")),
            ts("2026-06-07T23:00:00Z")
        );
    }

    #[test]
    fn berlin_spring_forward_stops_at_the_end_of_the_gap() {
        // Sunday 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC, so
        // 02:30 never shows on the wall clock that day.
        let s = sched("02:30", "mon-sun", "Europe/Berlin");
        let stop = s.next_after(ts("2026-03-28T12:00:00Z"));
        assert_eq!(stop, ts("2026-03-29T01:00:00Z"));
        assert_eq!(
            stop.to_zoned(s.tz.clone()).datetime(),
            date(2026, 3, 29).at(3, 0, 0, 0)
        );
        // jiff's `compatible` would have said 03:30 CEST, half an hour later.
        let compatible =
            s.tz.to_ambiguous_timestamp(date(2026, 3, 29).at(2, 30, 0, 0))
                .compatible();
        assert_eq!(compatible.unwrap(), ts("2026-03-29T01:30:00Z"));
        // The days either side are ordinary: 02:30 CET, then 02:30 CEST.
        assert_eq!(
            s.next_after(ts("2026-03-28T00:00:00Z")),
            ts("2026-03-28T01:30:00Z")
        );
        assert_eq!(s.next_after(stop), ts("2026-03-30T00:30:00Z"));
        // Only on a stop day: a Mon–Fri schedule goes from Friday to Monday.
        let weekdays = sched("02:30", "mon-fri", "Europe/Berlin");
        assert_eq!(
            weekdays.next_after(ts("2026-03-27T12:00:00Z")),
            ts("2026-03-30T00:30:00Z")
        );
    }

    #[test]
    fn berlin_fall_back_stops_once_at_the_earlier_02_30() {
        // Sunday 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC, so 02:30
        // shows at 00:30 UTC and again at 01:30 UTC.
        let s = sched("02:30", "mon-sun", "Europe/Berlin");
        let first = s.next_after(ts("2026-10-24T12:00:00Z"));
        assert_eq!(first, ts("2026-10-25T00:30:00Z"));
        let next = ts("2026-10-26T01:30:00Z"); // Monday 02:30 CET
        assert_eq!(s.next_after(first), next);
        // Between the two 02:30s, and at the second: no second stop that day.
        assert_eq!(s.next_after(ts("2026-10-25T01:00:00Z")), next);
        assert_eq!(s.next_after(ts("2026-10-25T01:29:59Z")), next);
        assert_eq!(s.next_after(ts("2026-10-25T01:30:00Z")), next);
        // The day before is ordinary: 02:30 CEST.
        assert_eq!(
            s.next_after(ts("2026-10-24T00:00:00Z")),
            ts("2026-10-24T00:30:00Z")
        );
    }

    #[test]
    fn new_york_around_both_changes_of_2026() {
        // Sunday 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
        let s = sched("02:30", "sun", "America/New_York");
        assert_eq!(
            s.next_after(ts("2026-03-07T12:00:00Z")),
            ts("2026-03-08T07:00:00Z")
        );
        assert_eq!(
            s.next_after(ts("2026-03-08T07:00:00Z")),
            ts("2026-03-15T06:30:00Z")
        );
        // The gap's first minute is in the gap too.
        let at_two = sched("02:00", "sun", "America/New_York");
        assert_eq!(
            at_two.next_after(ts("2026-03-08T00:00:00Z")),
            ts("2026-03-08T07:00:00Z")
        );
        // The minute before the gap is an ordinary time.
        let at_1_59 = sched("01:59", "sun", "America/New_York");
        assert_eq!(
            at_1_59.next_after(ts("2026-03-08T00:00:00Z")),
            ts("2026-03-08T06:59:00Z")
        );
        // An evening stop keeps its wall time as the offset changes at the weekend.
        let evening = sched("20:00", "mon-fri", "America/New_York");
        assert_eq!(
            evening.next_after(ts("2026-03-06T12:00:00Z")),
            ts("2026-03-07T01:00:00Z")
        );
        assert_eq!(
            evening.next_after(ts("2026-03-07T01:00:00Z")),
            ts("2026-03-10T00:00:00Z")
        );

        // Sunday 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00 UTC; 01:30
        // shows at 05:30 and 06:30 UTC.
        let s = sched("01:30", "mon-sun", "America/New_York");
        assert_eq!(
            s.next_after(ts("2026-10-31T12:00:00Z")),
            ts("2026-11-01T05:30:00Z")
        );
        assert_eq!(
            s.next_after(ts("2026-11-01T05:30:00Z")),
            ts("2026-11-02T06:30:00Z")
        );
        assert_eq!(
            s.next_after(ts("2026-11-01T06:15:00Z")),
            ts("2026-11-02T06:30:00Z")
        );
        assert_eq!(
            evening.next_after(ts("2026-10-30T12:00:00Z")),
            ts("2026-10-31T00:00:00Z")
        );
        assert_eq!(
            evening.next_after(ts("2026-10-31T00:00:00Z")),
            ts("2026-11-03T01:00:00Z")
        );
    }

    #[test]
    fn next_after_utc_agrees_with_next_after() {
        use chrono::{DateTime, TimeZone as _, Utc};
        let s = sched("20:00", "mon-fri", "Asia/Tokyo");
        let after = Utc.with_ymd_and_hms(2026, 6, 5, 11, 0, 0).unwrap();
        assert_eq!(
            s.next_after_utc(after),
            Utc.with_ymd_and_hms(2026, 6, 8, 11, 0, 0).unwrap()
        );
        let sub_second = after - chrono::Duration::nanoseconds(1);
        assert_eq!(s.next_after_utc(sub_second), after);
        // Before 1970, where jiff's sub-second part is negative.
        let old = DateTime::<Utc>::from_timestamp(-86_400 * 365, 123_456_789).unwrap();
        let want = s.next_after(chrono_to_jiff(old).unwrap());
        assert_eq!(s.next_after_utc(old), jiff_to_chrono(want).unwrap());
        assert!(s.next_after_utc(old) > old);
        // Past either end of jiff's range the answer is still not before the question.
        assert_eq!(
            s.next_after_utc(DateTime::<Utc>::MAX_UTC),
            DateTime::<Utc>::MAX_UTC
        );
        assert!(s.next_after_utc(DateTime::<Utc>::MIN_UTC) > DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn the_end_of_time_saturates_instead_of_panicking() {
        let s = sched("20:00", "wed", "Asia/Tokyo");
        assert_eq!(s.next_after(Timestamp::MAX), Timestamp::MAX);
        assert!(s.next_after(Timestamp::MIN) > Timestamp::MIN);
    }

    // --- property-ish ---

    /// The stop due first after `after`, found without the code under test: walk
    /// the wall clock minute by minute (every stop time and, in 2026, every
    /// transition of these zones is on a whole minute) and fire when the highest
    /// wall time seen so far first reaches a stop day's configured time.
    fn oracle(s: &StopSchedule, after: Timestamp) -> Timestamp {
        let minute = jiff::SignedDuration::from_secs(60);
        let floor = Timestamp::from_second(after.as_second().div_euclid(60) * 60).unwrap();
        // A day of history, so a clock turned back before `after` is known.
        let mut at = floor - jiff::SignedDuration::from_hours(24);
        let mut high = s.tz.to_datetime(at);
        loop {
            at += minute;
            let now = s.tz.to_datetime(at);
            if now > high {
                let mut d = high.date();
                while d <= now.date() {
                    let due = d.to_datetime(s.time);
                    if s.runs_on(d.weekday()) && high < due && due <= now && at > after {
                        return at;
                    }
                    d = d.tomorrow().unwrap();
                }
                high = now;
            }
        }
    }

    #[test]
    fn a_thousand_instants_over_2026_in_several_zones() {
        let zones = [
            "Asia/Tokyo",
            "Europe/Berlin",
            "America/New_York",
            "Australia/Lord_Howe", // half-hour changes
            "America/Santiago",    // changes at midnight
            "Asia/Kolkata",
            "UTC",
        ];
        let times = [
            "20:00", "02:30", "02:00", "00:00", "00:30", "01:30", "02:15", "23:59", "03:00",
        ];
        let day_sets = ["mon-fri", "sat,sun", "wed", "fri-mon", "mon-sun", "sun"];
        // A fixed linear congruential generator: the same instants every run.
        let mut seed: u64 = 0x2026_0308;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let year_start = ts("2026-01-01T00:00:00Z").as_second();
        let year_seconds = 365 * 86_400;
        let mut through_gaps = 0;
        for i in 0..1000u64 {
            let s = sched(
                times[next(times.len() as u64) as usize],
                day_sets[next(day_sets.len() as u64) as usize],
                zones[next(zones.len() as u64) as usize],
            );
            // Spread over the year; half of them within two days before one of
            // the zone's changes, where the interesting cases are.
            let mut second = year_start + (i as i64) * year_seconds / 1000 + next(86_400) as i64;
            if i % 2 == 1 {
                let start = Timestamp::from_second(second).unwrap();
                if let Some(change) = s.tz.following(start).next() {
                    second = change.timestamp().as_second() - next(2 * 86_400) as i64;
                }
            }
            let after = Timestamp::new(second, next(1_000_000_000) as i32).unwrap();
            if i % 10 == 0 {
                // Now and then exactly on a minute, as a stop itself would be.
                let after = Timestamp::from_second(second / 60 * 60).unwrap();
                assert_eq!(
                    s.next_after(after),
                    oracle(&s, after),
                    "{} after {after}",
                    s.describe()
                );
            }

            let stop = s.next_after(after);
            let what = format!("{} after {after}: {stop}", s.describe());
            assert!(stop > after, "{what}");
            assert!(
                stop.duration_since(after) <= jiff::SignedDuration::from_hours(8 * 24),
                "{what}"
            );
            let local = stop.to_zoned(s.tz.clone());
            assert!(s.runs_on(local.date().weekday()), "{what}");
            if local.time() != s.time {
                // Only where the day's stop time fell in a gap, and then at the
                // gap's end: a transition, with the wall clock past the time.
                let due = local.date().to_datetime(s.time);
                assert!(
                    matches!(
                        s.tz.to_ambiguous_timestamp(due).offset(),
                        AmbiguousOffset::Gap { .. }
                    ),
                    "{what}"
                );
                let change =
                    s.tz.preceding(stop + jiff::SignedDuration::from_nanos(1))
                        .next();
                assert_eq!(change.map(|c| c.timestamp()), Some(stop), "{what}");
                assert!(local.time() > s.time, "{what}");
                through_gaps += 1;
            }
            assert_eq!(stop, oracle(&s, after), "{what}");
        }
        // The sample must reach the case it is meant to test.
        assert!(through_gaps >= 5, "only {through_gaps} stops fell in a gap");
    }
}
