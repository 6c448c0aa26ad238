//! The next stop: weekdays, the week's end, daylight-saving gaps and
//! overlaps, and a thousand instants checked against a minute-by-minute scan.

use super::*;

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
