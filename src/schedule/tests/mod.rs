//! When the bot stops on its own: parsing `stop_at` and the next stop, across
//! weekdays, time zones and daylight-saving changes.

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

mod next;
