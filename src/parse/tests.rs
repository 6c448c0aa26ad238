//! The grammar: plain commands, Slack markup, lengths of time, the
//! actions-bot form, and never a panic.

use super::*;
use proptest::prelude::*;

fn compat() -> CompatTarget {
    CompatTarget {
        repository: Some("example-org/notebook-ops".into()),
        event_type: Some("control_vertex_ai_workbench_notebook".into()),
    }
}

fn cmd(verb: Verb, target: Option<&str>) -> Command {
    Command::new(verb, target.map(str::to_owned))
}

#[test]
fn a_start_may_say_why_after_because_with_or_without_a_length() {
    let c = compat();
    let got = parse("start gpu because fine-tuning run", &c).unwrap();
    assert_eq!(got.reason.as_deref(), Some("fine-tuning run"));
    assert_eq!(got.lasting, None);
    let got = parse(
        "Start GPU for 3h BECAUSE the run needs 2 days for 1 epoch",
        &c,
    )
    .unwrap();
    assert_eq!(got.lasting, Some(Lasting::from_minutes(180).unwrap()));
    assert_eq!(
        got.reason.as_deref(),
        Some("the run needs 2 days for 1 epoch")
    );
    assert_eq!(
        got.to_string(),
        "start GPU for 3h because the run needs 2 days for 1 epoch"
    );
    assert_eq!(parse("start gpu because", &c), Err(ParseError::NoReason));
    let long = format!("start gpu because {}", "x".repeat(MAX_REASON + 1));
    assert_eq!(
        parse(&long, &c),
        Err(ParseError::LongReason(MAX_REASON + 1))
    );
    assert!(matches!(
        parse("start gpu now because why", &c),
        Err(ParseError::TrailingWords { .. })
    ));
    // Only buttons decide: typing the verbs does nothing.
    for text in ["approve 0123", "deny 0123"] {
        assert!(matches!(parse(text, &c), Err(ParseError::UnknownVerb(_))));
    }
    assert_eq!(parse("pending", &c).unwrap().verb, Verb::Pending);
}

#[test]
fn starts_may_say_for_how_long_and_extend_says_how_much_longer() {
    let c = compat();
    let hours = |m| Some(Lasting::from_minutes(m).unwrap());
    for (text, minutes) in [
        ("start foo for 3h", 180),
        ("start foo for 90m", 90),
        ("start foo for 1h30m", 90),
        ("start foo for 1h 30m", 90),
        ("start foo for 2m", 2),
    ] {
        let got = parse(text, &c).unwrap();
        assert_eq!(
            (got.verb, got.lasting),
            (Verb::Start, hours(minutes)),
            "{text}"
        );
        assert_eq!(got.target.as_deref(), Some("foo"));
    }
    assert_eq!(
        parse("start foo for 1h30m", &c).unwrap().to_string(),
        "start foo for 1h30m"
    );
    for text in ["extend foo 1h", "extend foo by 1h", "keep foo for 60m"] {
        let got = parse(text, &c).unwrap();
        assert_eq!((got.verb, got.lasting), (Verb::Extend, hours(60)), "{text}");
    }
    assert_eq!(
        parse("extend foo 1h", &c).unwrap().to_string(),
        "extend foo 1h"
    );
    for text in [
        "start foo for ever",
        "start foo for -1h",
        "start foo for 0m",
        "start foo for 30s",
        "start foo for 900h",
        "extend foo soon",
    ] {
        assert!(
            matches!(parse(text, &c), Err(ParseError::BadLength(_))),
            "{text}: {:?}",
            parse(text, &c)
        );
    }
    assert_eq!(
        parse("extend foo", &c),
        Err(ParseError::MissingLength("foo".into()))
    );
    assert!(matches!(
        parse("start foo 3h", &c),
        Err(ParseError::TrailingWords { .. })
    ));
}

#[test]
fn plain_commands_parse() {
    let c = compat();
    assert_eq!(parse("start foo", &c), Ok(cmd(Verb::Start, Some("foo"))));
    assert_eq!(parse("STOP foo", &c), Ok(cmd(Verb::Stop, Some("foo"))));
    assert_eq!(parse("status", &c), Ok(cmd(Verb::Status, None)));
    assert_eq!(parse("status foo", &c), Ok(cmd(Verb::Status, Some("foo"))));
    assert_eq!(parse("list", &c), Ok(cmd(Verb::List, None)));
    assert_eq!(parse("whoami", &c), Ok(cmd(Verb::Whoami, None)));
    assert_eq!(parse("help", &c), Ok(cmd(Verb::Help, None)));
    assert_eq!(parse("", &c), Ok(cmd(Verb::Help, None)));
}

#[test]
fn slack_markup_is_undone() {
    let c = compat();
    for text in [
        "<@U0BOT1234> stop foo",
        "<@U0BOT1234|workbench-bot>\u{a0}stop   foo.",
        "Reminder: stop foo.",
        "  stop\u{a0}\u{a0}foo  ",
    ] {
        assert_eq!(
            parse(text, &c),
            Ok(cmd(Verb::Stop, Some("foo"))),
            "{text:?}"
        );
    }
    assert_eq!(
        normalise("<mailto:a@b.org|a@b.org> &amp; you"),
        "a@b.org & you"
    );
    assert_eq!(
        normalise("&lt;@U0FAKE&gt;"),
        "<@U0FAKE>",
        "an escaped token is text, not a mention"
    );
}

#[test]
fn missing_and_extra_words_are_refused_with_a_sentence() {
    let c = compat();
    assert_eq!(
        parse("start", &c),
        Err(ParseError::MissingTarget(Verb::Start))
    );
    assert!(matches!(
        parse("start foo bar", &c),
        Err(ParseError::TrailingWords { .. })
    ));
    assert!(matches!(
        parse("list everything", &c),
        Err(ParseError::TrailingWords { .. })
    ));
    assert_eq!(
        parse("delete foo", &c),
        Err(ParseError::UnknownVerb("delete".into()))
    );
}

#[test]
fn the_actions_bot_form_maps_to_the_same_command() {
    let c = compat();
    let want = Ok(cmd(Verb::Start, Some("foo")));
    assert_eq!(
        parse(
            "<@U0BOT1234> example-org/notebook-ops control_vertex_ai_workbench_notebook notebook:foo command:start",
            &c
        ),
        want
    );
    assert_eq!(parse("notebook:foo command:start", &c), want);
    assert_eq!(parse("command:start notebook:foo", &c), want);
}

#[test]
fn the_actions_bot_form_refuses_keys_that_would_override_anything() {
    let c = compat();
    let base =
        "example-org/notebook-ops control_vertex_ai_workbench_notebook notebook:foo command:start";
    for key in [
        "org",
        "repo",
        "task",
        "event",
        "ref",
        "instance",
        "event_type",
        "requested_by",
    ] {
        let text = format!("{base} {key}:evil");
        assert_eq!(
            parse(&text, &c),
            Err(ParseError::CompatKeyRefused(key.into())),
            "{text}"
        );
    }
    assert_eq!(
        parse(&format!("{base} command:stop"), &c),
        Err(ParseError::CompatKeyRepeated("command".into()))
    );
    assert_eq!(
        parse(&format!("{base} notebook:bar"), &c),
        Err(ParseError::CompatKeyRepeated("notebook".into()))
    );
}

#[test]
fn the_actions_bot_form_must_name_the_configured_repo_and_event() {
    let c = compat();
    assert!(matches!(
        parse(
            "evil-org/other control_vertex_ai_workbench_notebook notebook:foo command:start",
            &c
        ),
        Err(ParseError::CompatWrongTarget { .. })
    ));
    assert!(matches!(
        parse(
            "example-org/notebook-ops delete_everything notebook:foo command:start",
            &c
        ),
        Err(ParseError::CompatWrongTarget { .. })
    ));
    assert_eq!(
        parse("notebook:foo command:delete", &c),
        Err(ParseError::CompatBadCommand("delete".into()))
    );
    assert_eq!(parse("notebook:foo", &c), Err(ParseError::CompatIncomplete));
}

proptest! {
    #[test]
    fn parsing_never_panics(s in ".*") {
        let _ = parse(&s, &compat());
    }

    #[test]
    fn parsing_slackish_text_never_panics(s in "[<>@|:/ .&;a-zA-Z0-9\u{a0}]{0,80}") {
        let _ = parse(&s, &compat());
    }

    #[test]
    fn a_parsed_target_never_contains_whitespace(s in ".*") {
        if let Ok(Command { target: Some(t), .. }) = parse(&s, &compat()) {
            prop_assert!(!t.chars().any(char::is_whitespace));
        }
    }
}
