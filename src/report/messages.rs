//! Every sentence a person reads from the bot, in one place, so the wording
//! stays consistent and can be reviewed without reading the pipeline.
//!
//! These functions take plain values and return Slack mrkdwn; deciding what to
//! say is the pipeline's job, saying it is this module's.

use crate::act::{BackendError, InstanceStatus, State};
use crate::config::{BackendKind, Instance};
use crate::decide::Refusal;
use crate::domain::{Principal, Verb};
use std::time::Duration;

/// Escapes what Slack treats as markup (`&`, `<`, `>`), so text a person typed
/// and the bot echoes can never become a live mention, broadcast or link.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Appended to anything the dry-run backend caused.
pub fn dry_tag(kind: BackendKind) -> &'static str {
    if kind == BackendKind::DryRun {
        " _(dry run: nothing was sent to Google or GitHub)_"
    } else {
        ""
    }
}

pub fn refused(refusal: &Refusal) -> String {
    format!(":no_entry: Sorry, {refusal}.")
}

/// Also the answer for an instance the person may not see: to them it does not
/// exist, so the reply cannot tell them it does.
pub fn unknown_instance(typed: &str, help: &str) -> String {
    format!(
        "I don't know an instance called \"{}\".\n\n{help}",
        escape(typed)
    )
}

/// A parse error quotes what the person typed; it is escaped here.
pub fn unparsed(error: &impl std::fmt::Display, help: &str) -> String {
    format!("{}\n\n{help}", escape(&error.to_string()))
}

pub fn sees_nothing(ask: &str) -> String {
    format!("You may not see any instance yet; ask {ask} for access.")
}

pub fn help(command: &str, visible: &[&str], ask: &str) -> String {
    let known = if visible.is_empty() {
        sees_nothing(ask)
    } else {
        let aliases: Vec<String> = visible.iter().map(|a| format!("`{a}`")).collect();
        format!("Instances you can see: {}.", aliases.join(", "))
    };
    format!(
        "*What I can do*\n\
         • `{command} start NAME`: start an instance\n\
         • `{command} stop NAME`: stop it (stop it when you are done: it costs money while it runs)\n\
         • `{command} status [NAME]`: its state and JupyterLab link\n\
         • `{command} list`: every instance you can see\n\
         • `{command} history [NAME]`: the last starts and stops, who asked and how they ended\n\
         • `{command} start NAME for 3h`, `{command} extend NAME 1h`: a start that stops on its own, and more time for it\n\
         • `{command} costs`: what is running now and what this week cost\n\
         • `{command} start NAME because …`: an instance that waits for an approver's yes needs the reason; `{command} pending` lists requests waiting for you\n\
         • `{command} whoami`: who I think you are and what you may do\n\
         {known}"
    )
}

/// What `whoami` tells: who, which groups, what they may operate and see.
pub struct WhoAmI<'a> {
    pub who: &'a Principal,
    pub groups: Vec<&'a str>,
    pub operate: Vec<&'a str>,
    pub view: Vec<&'a str>,
    pub admin: bool,
}

pub fn whoami(w: &WhoAmI<'_>) -> String {
    fn list(items: &[&str], quote: bool) -> String {
        if items.is_empty() {
            return "none".to_owned();
        }
        let items: Vec<String> = items
            .iter()
            .map(|i| {
                if quote {
                    format!("`{i}`")
                } else {
                    format!("@{i}")
                }
            })
            .collect();
        items.join(", ")
    }
    let who = match w.who {
        Principal::User(u) => format!("<@{u}> (`{u}`)"),
        Principal::Guest(u) => format!(
            "<@{u}> (`{u}`), a guest from another organisation: only rules that name you apply"
        ),
        Principal::Workflow(b) => format!("the workflow `{b}`"),
        Principal::Timer(r) => format!("the bot's own {r} timer"),
    };
    let admin = if w.admin {
        "\nYou are an admin: you may act on every instance."
    } else {
        ""
    };
    format!(
        "You are {who}.\nYour groups: {}.\nYou may start and stop: {}.\nYou may see: {}.{admin}",
        list(&w.groups, false),
        list(&w.operate, true),
        list(&w.view, true)
    )
}

/// One line of `list`.
pub fn list_line(
    inst: &Instance,
    status: &Result<InstanceStatus, BackendError>,
    view_only: bool,
) -> String {
    let state = match status {
        Ok(s) => s.state.describe().to_owned(),
        Err(e) => format!("unknown ({})", e.side()),
    };
    let role = if view_only { " (view only)" } else { "" };
    let dry = if inst.backend == BackendKind::DryRun {
        " _(dry run)_"
    } else {
        ""
    };
    format!("• `{}`: {state}{role}{dry}", inst.alias)
}

pub fn list(lines: Vec<String>) -> String {
    let mut out = vec!["*Instances you can see*".to_owned()];
    out.extend(lines);
    out.join("\n")
}

/// `more`: lines about time and money, before the dry-run tag.
pub fn status(inst: &Instance, s: &InstanceStatus, more: &str) -> String {
    use std::fmt::Write;
    // Written into one string: every status read builds this.
    let mut out = String::with_capacity(160 + more.len());
    let _ = write!(
        out,
        "`{}` is *{}*{}",
        inst.alias,
        s.state.describe(),
        jupyter_link(s)
    );
    if let Some(m) = &s.machine_type {
        let _ = write!(out, "\n• machine type: {m}");
    }
    if !s.accelerators.is_empty() {
        out.push_str("\n• accelerators: ");
        for (i, gpu) in s.accelerators.iter().enumerate() {
            let _ = write!(out, "{}{gpu}", if i > 0 { ", " } else { "" });
        }
    }
    if let Some(t) = &s.update_time {
        let _ = write!(out, "\n• since: {t}");
    }
    out.push_str(more);
    out.push_str(dry_tag(inst.backend));
    out
}

/// Posted while a start or stop runs, and replaced by its end.
pub fn progress(verb: Verb, inst: &Instance) -> String {
    let going = if verb == Verb::Start {
        "Starting"
    } else {
        "Stopping"
    };
    format!(":hourglass_flowing_sand: {going} `{}`…", inst.alias)
}

pub fn done(inst: &Instance, s: &InstanceStatus, took: Duration) -> String {
    format!(
        ":white_check_mark: `{}` is {}{} (took {} s).{}",
        inst.alias,
        s.state.describe(),
        jupyter_link(s),
        took.as_secs(),
        dry_tag(inst.backend)
    )
}

pub fn already_there(verb: Verb, inst: &Instance, s: &InstanceStatus) -> String {
    let already = if verb == Verb::Start {
        "already running"
    } else {
        "already stopped"
    };
    let now = if s.state.describe() == already.trim_start_matches("already ") {
        String::new()
    } else {
        format!(" (it is {})", s.state.describe())
    };
    format!(
        ":information_source: `{}` is {already}{now}; nothing to do.{}{}",
        inst.alias,
        jupyter_link(s),
        dry_tag(inst.backend)
    )
}

pub fn history_unavailable() -> String {
    ":x: I could not read the history just now (the bot's store did not answer); try again in a minute, or tell the platform team if it persists.".to_owned()
}

/// The last actions, newest first: when, who, what, how it ended.
pub fn history(alias: Option<&str>, rows: &[crate::store::AuditRecord]) -> String {
    let title = match alias {
        Some(a) => format!("*Last actions on `{a}`*"),
        None => "*Last actions on the instances you can see*".to_owned(),
    };
    if rows.is_empty() {
        return format!(
            "{title}
Nothing has been started or stopped through me yet."
        );
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            let who = match crate::domain::Principal::parse(&r.principal) {
                Some(p) => named(&p),
                None => "someone".to_owned(),
            };
            format!(
                "• {}: {who} `{}`: {}",
                r.at.format("%Y-%m-%d %H:%M UTC"),
                escape(&r.command),
                ended(r)
            )
        })
        .collect();
    format!(
        "{title}
{}",
        lines.join(
            "
"
        )
    )
}

/// How an audited request ended, in words.
fn ended(r: &crate::store::AuditRecord) -> String {
    use crate::store::{AuditDecision, OutcomeKind};
    match (&r.decision, &r.outcome.kind) {
        (AuditDecision::Refused, _) if r.reason == "in_progress" => {
            "not sent: another change was in progress".to_owned()
        }
        (AuditDecision::Refused, _) => format!("refused ({})", r.reason.replace('_', " ")),
        (AuditDecision::Invalid, _) => "not understood".to_owned(),
        (_, OutcomeKind::Done(s)) => format!("done, {}", State::from_api(s).describe()),
        (_, OutcomeKind::Unchanged(s)) => {
            format!("nothing to do, already {}", State::from_api(s).describe())
        }
        (_, OutcomeKind::HandedOff) => "handed to the GitHub workflow".to_owned(),
        (_, OutcomeKind::Pending | OutcomeKind::LeftForNextProcess | OutcomeKind::Running) => {
            "still running".to_owned()
        }
        (_, OutcomeKind::Failed(side)) => format!("failed on the {side} side"),
        (_, OutcomeKind::Interrupted) => "interrupted when the bot stopped".to_owned(),
        (_, other) => other.to_string(),
    }
}

/// Told to the second of two people changing one instance at once.
pub fn in_progress(inst: &Instance, holder: &Principal, verb: Verb) -> String {
    let who = named(holder);
    let doing = if verb == Verb::Start {
        "starting"
    } else {
        "stopping"
    };
    format!(
        ":hourglass: {who} is {doing} `{}` right now, so I did not send yours. Check with `status {}` when that has finished, and try again if you still need to.",
        inst.alias, inst.alias
    )
}

pub fn handed_off(detail: &str) -> String {
    format!(":outbox_tray: {detail}")
}

pub fn still_changing(inst: &Instance, operation: &str) -> String {
    let alias = &inst.alias;
    format!(
        ":hourglass: `{alias}` is still changing (operation `{operation}`); check with `status {alias}`."
    )
}

/// A failed start, stop or status, saying which side failed.
pub fn failure(inst: &Instance, e: &BackendError) -> String {
    let alias = &inst.alias;
    match e {
        BackendError::WrongState { .. } | BackendError::StillRunning { .. } => {
            format!(":warning: {e}.")
        }
        BackendError::Google { .. } => format!(
            ":x: Could not act on `{alias}`: {e}. This is on the Google Cloud side, not yours; if it persists tell the platform team."
        ),
        BackendError::Github { .. } => format!(
            ":x: Could not hand `{alias}` to GitHub: {e}. This is on the GitHub side, not yours; if it persists tell the platform team."
        ),
        BackendError::Setup(_) => format!(":x: Could not act on `{alias}`: {e}."),
    }
}

/// The team channel's copy of a start or stop result.
pub fn announcement(who: &Principal, command: &str, result: &str) -> String {
    let who = named(who);
    format!("{who} asked to `{}`: {result}", escape(command))
}

/// What a workflow step did as the person who ran it; `undo` is the command
/// that takes it back.
pub fn done_in_your_name(command: &str, result: &str, undo: &str) -> String {
    format!(
        ":information_source: A workflow you ran asked the bot, in your name, to `{}`.\n{result}\nNot what you meant? Undo it with `{}`.",
        escape(command),
        escape(undo)
    )
}

pub fn dialog_needs_reason(alias: &str) -> String {
    format!("`{alias}` waits for an approver's yes before it starts: say why.")
}

pub fn reason_too_long() -> String {
    format!("Keep it to {} characters.", crate::parse::MAX_REASON)
}

pub fn deny_dialog_failed() -> String {
    "Slack did not open the dialog for the reason (it allows 3 seconds); press *Deny* again."
        .to_owned()
}

pub fn deny_needs_reason() -> String {
    "Say why: the requester is told.".to_owned()
}

/// Who did something, as a message names them.
pub fn named(who: &Principal) -> String {
    match who {
        Principal::User(u) | Principal::Guest(u) => format!("<@{u}>"),
        Principal::Workflow(b) => format!("the workflow `{b}`"),
        Principal::Timer(r) => format!("the bot ({r})"),
    }
}

pub fn workflow_run(url: &str) -> String {
    format!(":arrow_forward: The GitHub workflow run: <{url}|{url}>")
}

pub fn busy() -> String {
    ":hourglass: I am busy with many requests right now and did not start yours; please try again in a minute.".to_owned()
}

pub fn foreign_workspace() -> String {
    "Sorry, this bot is not set up for your workspace. Ask your Slack admins or the bot's platform team if you need it here.".to_owned()
}

pub fn may_operate_nothing(ask: &str) -> String {
    format!("You may not start or stop any instance; ask {ask} for access.")
}

pub fn dialog_choose_instance() -> String {
    "Choose one of the instances in the list.".to_owned()
}

pub fn dialog_may_not(alias: &str, ask: &str) -> String {
    format!("You may not start or stop {alias}; ask {ask}.")
}

pub fn dialog_choose_action() -> String {
    "Choose Start or Stop.".to_owned()
}

pub fn dispatch_refused(why: &str) -> String {
    format!(
        ":no_entry: The GitHub workflow refused this request: {}.",
        escape(why)
    )
}

fn jupyter_link(s: &InstanceStatus) -> String {
    match (&s.state, &s.proxy_uri) {
        (State::Active, Some(uri)) => {
            let uri = if uri.starts_with("http") {
                uri.clone()
            } else {
                format!("https://{uri}")
            };
            format!(": <{uri}|open JupyterLab>")
        }
        _ => String::new(),
    }
}
