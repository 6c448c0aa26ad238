//! The App Home tab as a door: opening it publishes the person's own
//! dashboard (`views.publish`), and every change the bot makes to an
//! instance (a press, a start, a stop, a timer's stop) republishes the
//! Homes of the people who may see it and have opened theirs.
//!
//! Republishing is coalesced: changes mark Homes as due, and one task
//! publishes each due Home once per [`COALESCE`], so a busy tick never turns
//! into one call per change per person against Slack's rate limits. Only
//! people whose `app_home_opened` came from a served workspace are known,
//! so a Home is never shown outside `slack.teams`.

use crate::act::State;
use crate::config::Instance;
use crate::domain::Principal;
use crate::pipeline::App;
use crate::report::home::{self as view, Home, Part, Press};
use crate::report::{approvals, messages, timers::when};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long changes gather before due Homes are published.
pub const COALESCE: Duration = Duration::from_millis(500);

/// Between two publishes: `views.publish` is Tier 4 (100 a minute), and a
/// change to an instance everyone sees must not spend all of it at once.
const PACE: Duration = Duration::from_millis(700);

/// The most people whose Homes this process keeps up to date.
const MAX_KNOWN: usize = 10_000;

/// A Home not opened for this long is no longer kept up to date.
const FOLLOWED_FOR: Duration = Duration::from_secs(24 * 3600);

/// Who has opened their Home (user id to principal, and when), and whose is due.
#[derive(Default)]
pub struct Homes {
    known: Mutex<HashMap<String, (Principal, Instant)>>,
    due: Mutex<HashSet<String>>,
    wake: Notify,
}

impl Homes {
    /// A person opened their Home (or pressed on it): for a day it follows changes.
    pub fn opened(&self, user: &str, who: &Principal) {
        let mut known = self.known.lock().expect("homes");
        if known.len() >= MAX_KNOWN {
            known.retain(|_, (_, at)| at.elapsed() < FOLLOWED_FOR);
        }
        if known.len() < MAX_KNOWN || known.contains_key(user) {
            known.insert(user.to_owned(), (who.clone(), Instant::now()));
        }
    }

    /// The Home of `user` is due for publishing.
    pub fn touch_user(&self, user: &str) {
        if self.known.lock().expect("homes").contains_key(user) {
            self.due.lock().expect("homes").insert(user.to_owned());
            self.wake.notify_one();
        }
    }

    /// The Homes of everyone known who may see `inst` are due.
    pub fn touch_instance(&self, may_view: impl Fn(&Principal) -> bool) {
        let known = self.known.lock().expect("homes");
        let mut due = self.due.lock().expect("homes");
        let before = due.len();
        due.extend(
            known
                .iter()
                .filter(|(_, (who, at))| at.elapsed() < FOLLOWED_FOR && may_view(who))
                .map(|(u, _)| u.clone()),
        );
        if due.len() > before {
            self.wake.notify_one();
        }
    }

    fn take_due(&self) -> Vec<(String, Principal)> {
        let due: Vec<String> = self.due.lock().expect("homes").drain().collect();
        let known = self.known.lock().expect("homes");
        due.into_iter()
            .filter_map(|u| Some((u.clone(), known.get(&u)?.0.clone())))
            .collect()
    }
}

impl App {
    /// Marks the Homes that show `inst` as due: its viewers', and its
    /// approvers' (whose Homes list its requests).
    pub(crate) fn homes_showing(&self, inst: &Instance) {
        self.homes.touch_instance(|who| {
            self.policy.may_view(who, inst)
                || inst
                    .guard
                    .as_ref()
                    .is_some_and(|g| g.approvers.contains(who))
        });
    }

    /// Publishes `user`'s Home now.
    pub async fn publish_home(&self, user: &str, who: &Principal) {
        let home = self.home_of(who).await;
        let body = serde_json::json!({"user_id": user, "view": view::view(&home)});
        if let Err(e) = self.reporter.call_as_bot("views.publish", &body).await {
            tracing::warn!(error = %e, "could not publish a Home tab");
        }
    }

    /// Publishes due Homes until the process stops, each at most once per
    /// [`COALESCE`], one after another at [`PACE`].
    pub async fn keep_homes(&self) {
        loop {
            tokio::select! {
                _ = self.homes.wake.notified() => {}
                _ = self.stopping.cancelled() => return,
            }
            tokio::time::sleep(COALESCE).await;
            for (user, who) in self.homes.take_due() {
                self.publish_home(&user, &who).await;
                tokio::time::sleep(PACE).await;
            }
        }
    }

    /// What `who`'s Home shows: every instance they may see, with what
    /// `status` says of it and the buttons they may press; the approval
    /// requests waiting for them; and what could not be read.
    async fn home_of(&self, who: &Principal) -> Home {
        let visible: Vec<&Instance> = self.policy.visible(who).collect();
        let statuses = self.statuses(&visible).await;
        let mut problems = Vec::new();
        if let Err(e) = self.store.db().ping().await {
            problems.push(view::store_unreadable(&e));
        }
        let mut parts = Vec::with_capacity(visible.len());
        for (inst, status) in visible.iter().zip(statuses) {
            let operate = self.policy.may_operate(who, inst);
            let part = match status {
                Ok(s) => {
                    let more = self.money_lines(inst, &s).await
                        + &self.activity_lines(inst, &s, false).await;
                    let mut presses = Vec::new();
                    match (&s.state, operate) {
                        (State::Stopped, true) => presses.push(Press::Start),
                        (State::Active, true) => {
                            presses.push(Press::Stop);
                            presses.extend(self.keep_press(inst).await);
                        }
                        _ => {}
                    }
                    Part {
                        alias: inst.alias.to_string(),
                        text: messages::status(inst, &s, &more),
                        presses,
                    }
                }
                Err(e) => Part {
                    alias: inst.alias.to_string(),
                    text: format!(
                        "`{}`: its state could not be read, so nothing is shown as current: {e}",
                        inst.alias
                    ),
                    presses: Vec::new(),
                },
            };
            parts.push(part);
        }
        let approvals = match self.waiting_for(who).await {
            Ok(a) => a,
            Err(e) => {
                problems.push(view::approvals_unreadable(&e));
                Vec::new()
            }
        };
        Home {
            nothing: visible
                .is_empty()
                .then(|| messages::sees_nothing(&self.policy.ask())),
            parts,
            approvals,
            problems,
            built: when(self.now()),
        }
    }

    /// *Keep 1 h* of the stop that comes next: a time limit or a scheduled
    /// stop, else the idle stop.
    async fn keep_press(&self, inst: &Instance) -> Option<Press> {
        let session = self.session_of(inst).await;
        let timed = session.as_ref().is_some_and(|s| s.ends_at.is_some()) || inst.stop_at.is_some();
        match (timed, inst.idle.is_some()) {
            (true, _) => Some(Press::Keep),
            (false, true) => Some(Press::KeepIdle),
            _ => None,
        }
    }

    /// The approval requests `who` may decide, with *Approve* / *Deny*.
    async fn waiting_for(
        &self,
        who: &Principal,
    ) -> Result<Vec<serde_json::Value>, crate::store::StoreError> {
        let now = self.now();
        let waiting = self.store.db().waiting_approvals().await?;
        Ok(waiting
            .iter()
            .filter(|a| a.expires_at > now && !a.asked.requester.same_as(who))
            .filter(|a| {
                self.approval_instance(a)
                    .and_then(|i| i.guard.as_ref())
                    .is_some_and(|g| g.approvers.contains(who))
            })
            .flat_map(|a| approvals::request_blocks(a, &approvals::request_text(a, None)))
            .filter_map(|b| serde_json::to_value(b).ok())
            .collect())
    }
}
