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
    #[error("`because` needs the reason after it, like `start gpu because fine-tuning run`.")]
    NoReason,
    #[error("The reason is {0} characters long; keep it to {MAX_REASON}.")]
    LongReason(usize),
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

/// Text a form sent as typed (a dialog's or a workflow step's field, which
/// Slack does not escape): one line, single spaces, nothing decoded.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `3h`, `90m`, `1h30m` or `1h 30m`.
fn lasting(words: &[&str]) -> Result<Lasting, ParseError> {
    Lasting::parse(&words.join(" ")).map_err(|e| ParseError::BadLength(e.to_string()))
}

/// The words after `because`: said, and short enough to show on a card.
fn reason(words: &[&str]) -> Result<String, ParseError> {
    let text = words.join(" ");
    match text.chars().count() {
        0 => Err(ParseError::NoReason),
        n if n > MAX_REASON => Err(ParseError::LongReason(n)),
        _ => Ok(text),
    }
}

/// Longest reason, in characters: a sentence for the approver, not an essay.
pub const MAX_REASON: usize = 300;

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
    // `report now` (admins): the weekly report at once; `report` alone is `costs`.
    if first.eq_ignore_ascii_case("report") && matches!(rest, [w] if w.eq_ignore_ascii_case("now"))
    {
        return Ok(Command::new(Verb::ReportNow, None));
    }
    match verb {
        Verb::Start => {
            // `start gpu [for 3h] [because …]`: the reason is everything after
            // the first `because`, so it may say "for" too.
            let (rest, reason) = match rest.iter().position(|w| w.eq_ignore_ascii_case("because")) {
                Some(at) => (&rest[..at], Some(reason(&rest[at + 1..])?)),
                None => (rest, None),
            };
            let mut command = match rest {
                [] => return Err(ParseError::MissingTarget(verb)),
                [alias] => Command::new(verb, Some(alias.to_string())),
                [alias, word, length @ ..]
                    if word.eq_ignore_ascii_case("for") && !length.is_empty() =>
                {
                    Command {
                        lasting: Some(lasting(length)?),
                        ..Command::new(verb, Some(alias.to_string()))
                    }
                }
                [_, extra @ ..] => {
                    return Err(ParseError::TrailingWords {
                        verb,
                        what: "one instance name, and optionally `for` and a length of time, and `because` and why",
                        extra: extra.join(" "),
                    });
                }
            };
            command.reason = reason;
            Ok(command)
        }
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
        // Only buttons and the deny dialog decide, as the person who pressed.
        Verb::Approve | Verb::Deny | Verb::KeepIdle => {
            Err(ParseError::UnknownVerb(first.to_string()))
        }
        Verb::List | Verb::Help | Verb::Whoami | Verb::Costs | Verb::Pending | Verb::ReportNow => {
            match rest {
                [] => Ok(Command::new(verb, None)),
                extra => Err(ParseError::TrailingWords {
                    verb,
                    what: "nothing more",
                    extra: extra.join(" "),
                }),
            }
        }
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
mod tests;
