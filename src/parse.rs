//! Turns the text a person typed into a [`Command`] (parse, don't validate).
//!
//! Slack delivers text with its own markup: `<@U…>` mention tokens, `<mailto:…|…>`
//! links, HTML entities, non-breaking spaces, and `/remind` prefixes its messages
//! with `Reminder: ` and ends them with a `.`. All of that is undone here, once, so
//! every entry point hands the same words to the grammar. The older actions-bot
//! syntax (`org/repo event_type notebook:foo command:start`) is accepted too, so teams
//! can switch without editing their workflows, but only with its two keys, each once.

use crate::domain::{Command, Lasting, Verb};

/// The configured repository and event type the actions-bot form must name.
#[derive(Debug, Clone, Default)]
pub struct CompatTarget {
    pub repository: Option<String>,
    pub event_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("I don't know the command \"{0}\".")]
    UnknownVerb(String),
    #[error("`{0}` needs an instance name, like `{0} foo`.")]
    MissingTarget(Verb),
    #[error("`{verb}` takes {what}, but I also got \"{extra}\".")]
    TrailingWords {
        verb: Verb,
        what: &'static str,
        extra: String,
    },
    #[error(
        "The actions-bot form only accepts the keys `notebook:` and `command:`; \"{0}:\" is not allowed (the repository, event and target come from the bot's config)."
    )]
    CompatKeyRefused(String),
    #[error(
        "The key \"{0}:\" appears more than once; say each of `notebook:` and `command:` once."
    )]
    CompatKeyRepeated(String),
    #[error("The actions-bot form needs both `notebook:NAME` and `command:start|stop|status`.")]
    CompatIncomplete,
    #[error(
        "The actions-bot form allows `command:start`, `command:stop` or `command:status`, not \"{0}\"."
    )]
    CompatBadCommand(String),
    #[error(
        "This bot only acts for `{expected}`; \"{got}\" is not it. Use `start NAME` / `stop NAME` instead."
    )]
    CompatWrongTarget { expected: String, got: String },
    #[error("I could not read \"{0}\" as a command or as `key:value`.")]
    CompatStrayWord(String),
    #[error("{0}.")]
    BadLength(String),
    #[error("`extend` needs how much longer, like `extend {0} 1h`.")]
    MissingLength(String),
}

/// Undoes Slack's markup and the noise around a command.
pub fn normalise(text: &str) -> String {
    // Angle-bracket tokens first: Slack escapes a literal `<` as `&lt;`, so every
    // real `<` starts a token, and decoding entities first would forge tokens.
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('>') {
            Some(close) => {
                let token = &after[..close];
                if !(token.starts_with('@') || token.starts_with("!")) {
                    // `<mailto:a@b|a@b>`, `<https://…|label>`: keep what people saw.
                    let shown = token.split_once('|').map(|(_, l)| l).unwrap_or(token);
                    out.push_str(shown.strip_prefix("mailto:").unwrap_or(shown));
                }
                out.push(' ');
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let mut words: Vec<&str> = decoded
        .split(char::is_whitespace)
        .filter(|w| !w.is_empty())
        .collect();
    if words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("reminder:"))
    {
        words.remove(0);
    }
    let mut joined = words.join(" ");
    while joined.ends_with('.') {
        joined.pop();
    }
    joined.trim_end().to_owned()
}

/// `3h`, `90m`, `1h30m` or `1h 30m`.
fn lasting(words: &[&str]) -> Result<Lasting, ParseError> {
    Lasting::parse(&words.join(" ")).map_err(|e| ParseError::BadLength(e.to_string()))
}

/// Parses normalised or raw text into a command. Empty text means `help`.
pub fn parse(text: &str, compat: &CompatTarget) -> Result<Command, ParseError> {
    let text = normalise(text);
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    let Some(first) = words.first() else {
        return Ok(Command::new(Verb::Help, None));
    };
    if first.contains('/') || first.contains(':') {
        return parse_compat(&words, compat);
    }
    let verb = Verb::from_word(first).ok_or_else(|| ParseError::UnknownVerb(first.to_string()))?;
    let rest = &words[1..];
    match verb {
        Verb::Start => match rest {
            [] => Err(ParseError::MissingTarget(verb)),
            [alias] => Ok(Command::new(verb, Some(alias.to_string()))),
            [alias, word, length @ ..]
                if word.eq_ignore_ascii_case("for") && !length.is_empty() =>
            {
                Ok(Command {
                    lasting: Some(lasting(length)?),
                    ..Command::new(verb, Some(alias.to_string()))
                })
            }
            [_, extra @ ..] => Err(ParseError::TrailingWords {
                verb,
                what: "one instance name, and optionally `for` and a length of time",
                extra: extra.join(" "),
            }),
        },
        Verb::Extend => match rest {
            [] => Err(ParseError::MissingTarget(verb)),
            [alias] => Err(ParseError::MissingLength(alias.to_string())),
            [alias, length @ ..] => {
                // `extend foo 1h`, `extend foo by 1h`, `extend foo for 1h`.
                let length = match length {
                    [w, more @ ..]
                        if (w.eq_ignore_ascii_case("by") || w.eq_ignore_ascii_case("for"))
                            && !more.is_empty() =>
                    {
                        more
                    }
                    all => all,
                };
                Ok(Command {
                    lasting: Some(lasting(length)?),
                    ..Command::new(verb, Some(alias.to_string()))
                })
            }
        },
        Verb::Stop => match rest {
            [] => Err(ParseError::MissingTarget(verb)),
            [alias] => Ok(Command::new(verb, Some(alias.to_string()))),
            [_, extra @ ..] => Err(ParseError::TrailingWords {
                verb,
                what: "one instance name",
                extra: extra.join(" "),
            }),
        },
        Verb::Status | Verb::History => match rest {
            [] => Ok(Command::new(verb, None)),
            [alias] => Ok(Command::new(verb, Some(alias.to_string()))),
            [_, extra @ ..] => Err(ParseError::TrailingWords {
                verb,
                what: "at most one instance name",
                extra: extra.join(" "),
            }),
        },
        Verb::List | Verb::Help | Verb::Whoami | Verb::Costs => match rest {
            [] => Ok(Command::new(verb, None)),
            extra => Err(ParseError::TrailingWords {
                verb,
                what: "nothing more",
                extra: extra.join(" "),
            }),
        },
    }
}

fn parse_compat(words: &[&str], compat: &CompatTarget) -> Result<Command, ParseError> {
    let mut rest = words;
    // `org/repo event_type` prefix: both must be the configured ones.
    if let [repo, ..] = rest
        && repo.contains('/')
    {
        let expected = compat
            .repository
            .clone()
            .unwrap_or_else(|| "(no repository configured)".into());
        if compat
            .repository
            .as_deref()
            .is_none_or(|r| !r.eq_ignore_ascii_case(repo))
        {
            return Err(ParseError::CompatWrongTarget {
                expected,
                got: repo.to_string(),
            });
        }
        rest = &rest[1..];
        let event = compat
            .event_type
            .as_deref()
            .unwrap_or("control_vertex_ai_workbench_notebook");
        match rest.first() {
            Some(ev) if *ev == event => rest = &rest[1..],
            Some(ev) if !ev.contains(':') => {
                return Err(ParseError::CompatWrongTarget {
                    expected: format!("{expected} {event}"),
                    got: format!("{repo} {ev}"),
                });
            }
            _ => {}
        }
    }
    let mut notebook = None;
    let mut command = None;
    for word in rest {
        let Some((key, value)) = word.split_once(':') else {
            return Err(ParseError::CompatStrayWord(word.to_string()));
        };
        let slot = match key.to_ascii_lowercase().as_str() {
            "notebook" => &mut notebook,
            "command" => &mut command,
            _ => return Err(ParseError::CompatKeyRefused(key.to_string())),
        };
        if slot.is_some() {
            return Err(ParseError::CompatKeyRepeated(key.to_string()));
        }
        *slot = Some(value.to_string());
    }
    let (Some(notebook), Some(command)) = (notebook, command) else {
        return Err(ParseError::CompatIncomplete);
    };
    let verb = match Verb::from_word(&command) {
        Some(v @ (Verb::Start | Verb::Stop | Verb::Status)) => v,
        _ => return Err(ParseError::CompatBadCommand(command)),
    };
    if notebook.is_empty() {
        return Err(ParseError::CompatIncomplete);
    }
    Ok(Command::new(verb, Some(notebook)))
}

#[cfg(test)]
mod tests {
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
        let base = "example-org/notebook-ops control_vertex_ai_workbench_notebook notebook:foo command:start";
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
}
