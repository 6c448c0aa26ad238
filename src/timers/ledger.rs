//! The ledger of sessions: one row per running instance, keyed by its
//! resource path, and the rules that open, bound and close it.
//!
//! - A session opens when a start goes out (or when the bot first sees an
//!   instance running that it did not start) and keeps its start for as long
//!   as the instance runs, so `max_hours` always counts from it.
//! - It closes only on a confirmed stop: `STOPPED` (or `DELETED`) read from
//!   Google, or the GitHub workflow run of the stop concluded `success`. A
//!   slow operation, an error, a transitional or unknown state leave it as it
//!   is, and the next tick looks again.
//! - Every change to it (an automatic stop, *Keep 1 h*, `extend`, *Stop now*,
//!   a tick's clean-up) is made under the instance's one claim, the lock a
//!   start or stop takes.

use crate::act::InstanceStatus;
use crate::config::Instance;
use crate::cost::Hourly;
use crate::domain::{Command, Principal, TimerReason, Verb};
use crate::pipeline::{App, Held, Request};
use crate::report::{ReplyTo, timers as say};
use crate::store::{IdleWatch, InstanceLock, Session, StoreError};
use chrono::{DateTime, Utc};

impl App {
    /// Takes the instance's one claim for `request_id` (the lock starts and
    /// stops take), until the store's lease ends. A store that cannot be
    /// reached counts as taken: refusing every change then would strand
    /// people, and each change still reads Google's state first.
    pub(crate) async fn hold_instance(
        &self,
        inst: &Instance,
        request_id: &str,
        principal: &Principal,
        verb: Verb,
    ) -> Held {
        let lock = InstanceLock {
            instance: inst.name.to_string(),
            request_id: request_id.to_owned(),
            principal: principal.clone(),
            verb,
            expires_at: self.lease_end_ms(),
        };
        match self.store.db().lock_instance(&lock).await {
            Ok(None) => Held::Mine,
            Ok(Some(holder)) => Held::By(holder),
            Err(e) => {
                tracing::warn!(error = %e, alias = %inst.alias, "could not take the instance's claim; acting without it");
                Held::Mine
            }
        }
    }

    pub(crate) async fn release_instance(&self, inst: &Instance, request_id: &str) {
        if let Err(e) = self
            .store
            .db()
            .unlock_instance(inst.name.as_ref(), request_id)
            .await
        {
            tracing::warn!(error = %e, "could not release the instance's claim; it lapses on its own");
        }
    }

    /// When a claim taken now lapses, in the store's time (ms since the epoch).
    pub(crate) fn lease_end_ms(&self) -> i64 {
        let lease = chrono::Duration::from_std(self.config.store.lease).unwrap_or_default();
        (Utc::now() + lease).timestamp_millis()
    }

    /// Runs `work` while renewing the instance's claim for `request_id`, so a
    /// slow stop (a GPU instance takes minutes) keeps it to the end.
    pub(crate) async fn renewing<T>(
        &self,
        inst: &Instance,
        request_id: &str,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        tokio::pin!(work);
        let mut renew = tokio::time::interval(self.config.store.lease / 3);
        renew.tick().await;
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = renew.tick() => {
                    let _ = self.store.db().renew_lock(inst.name.as_ref(), request_id, self.lease_end_ms()).await;
                }
            }
        }
    }

    /// Opens the session of a start that went out, with its time limit: the
    /// length asked for, capped by `max_hours`, or `max_hours` itself. On an
    /// instance that already ran (`start foo for 2h` again), the session it
    /// has keeps its start, so the cap still counts from it. Returns the
    /// sentence to add to the reply.
    pub(crate) async fn open_session(
        &self,
        req: &Request,
        cmd: &Command,
        inst: &Instance,
        already_running: bool,
    ) -> String {
        let now = self.now();
        // An unreadable session must not be replaced by one that starts now:
        // that would reset the start `max_hours` counts from.
        let earlier = match already_running {
            true => match self.session_read(inst).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, alias = %inst.alias, "could not read the session of a running instance; its time limit stays as it was");
                    return say::no_lease_stored();
                }
            },
            false => None,
        };
        let (started_at, started_by, tell) = match &earlier {
            Some(s) => (s.started_at, s.started_by.clone(), s.tell.clone()),
            None => (now, Some(req.principal.clone()), self.tell(req)),
        };
        let wanted = cmd.lasting.or(inst.max_lease).map(|l| now + l.to_chrono());
        let cap = inst.max_lease.map(|max| started_at + max.to_chrono());
        let ends_at = match (wanted, cap) {
            (Some(w), Some(c)) => Some(w.min(c)),
            (w, _) => w,
        };
        let capped = match (wanted, cap) {
            (Some(w), Some(c)) if w > c => inst.max_lease,
            _ => None,
        };
        // What an approver allowed is the most it runs without asking again.
        let approved_until = req
            .grant
            .approved_by
            .as_ref()
            .map(|_| ends_at.unwrap_or(DateTime::<Utc>::MAX_UTC));
        let session = Session {
            instance: inst.name.to_string(),
            started_at,
            ends_at,
            started_by,
            tell,
            approved_until,
            skipped: None,
            stopping: None,
            // A start again says someone means to use it: an idle stop
            // warned of is off (a *Keep 1 h* still holds).
            idle: earlier
                .map(|s| IdleWatch {
                    stop_due: None,
                    ..s.idle
                })
                .unwrap_or_default(),
        };
        if let Err(e) = self.store.db().put_session(&session).await {
            tracing::error!(error = %e, alias = %inst.alias, "could not store the session; no automatic stop will follow");
            return match ends_at {
                Some(_) => say::no_lease_stored(),
                None => String::new(),
            };
        }
        ends_at
            .map(|end| say::lease_set(end, now, capped))
            .unwrap_or_default()
    }

    /// Where later messages about a session go: the thread it began in, or
    /// the starter's direct messages. A workflow's session has nobody to
    /// answer (`Nowhere`): its news goes to the instance's announce target,
    /// looked up when it is told, so a config change is honoured.
    pub(crate) fn tell(&self, req: &Request) -> ReplyTo {
        match (&req.reply_to, &req.principal) {
            (ReplyTo::Thread { .. }, _) => req.reply_to.clone(),
            (_, Principal::User(u) | Principal::Guest(u)) => ReplyTo::Direct(u.to_string()),
            _ => ReplyTo::Nowhere,
        }
    }

    /// Where to tell about a session's timers: its starter, else the
    /// instance's announce target. Older versions stored the announce channel
    /// itself; for an instance not everyone may see, that is not where its
    /// news goes any more.
    pub(crate) fn told(&self, inst: &Instance, session: Option<&Session>) -> ReplyTo {
        let announce_channel = self.config.announce_channel.clone().map(ReplyTo::Channel);
        session
            .map(|s| s.tell.clone())
            .filter(|t| *t != ReplyTo::Nowhere)
            .filter(|t| inst.announce || Some(t) != announce_channel.as_ref())
            .unwrap_or_else(|| self.announce_to(inst))
    }

    /// The instance's announce target (see [`crate::config::Config::announce_target`]).
    pub(crate) fn announce_to(&self, inst: &Instance) -> ReplyTo {
        self.config.announce_target(inst).into()
    }

    /// Ends the instance's session after a confirmed stop, with what it cost.
    /// The caller has read `STOPPED` or `DELETED`, or a stop's workflow run
    /// succeeded: nothing else closes a session.
    pub(crate) async fn close_session(
        &self,
        inst: &Instance,
        status: Option<&InstanceStatus>,
    ) -> Option<(Session, String)> {
        let db = self.store.db();
        let session = self.session_of(inst).await?;
        if let Err(e) = db.end_session(inst.name.as_ref(), None).await {
            tracing::warn!(error = %e, "could not end the session");
        }
        let hourly = status.and_then(|s| self.hourly(s));
        let prices = self.config.prices.as_ref();
        let now = self.now();
        let mut note = String::new();
        if session.stopping.as_ref().and_then(|st| st.reason) == Some(TimerReason::Idle) {
            note = crate::report::idle::idle_cost(prices, hourly.as_ref(), &session, now);
        }
        note.insert_str(0, &say::session_cost(prices, hourly, &session, now));
        Some((session, note))
    }

    /// The instance's session, if it has one; a store that cannot say counts
    /// as none (the lines and checks that ask are advisory).
    pub(crate) async fn session_of(&self, inst: &Instance) -> Option<Session> {
        self.session_read(inst).await.ok().flatten()
    }

    /// The instance's session, or why the store could not say: for changes
    /// to it, which must not act on a guess.
    pub(crate) async fn session_read(
        &self,
        inst: &Instance,
    ) -> Result<Option<Session>, StoreError> {
        self.store.db().session(inst.name.as_ref()).await
    }

    pub(crate) fn hourly(&self, status: &InstanceStatus) -> Option<Hourly> {
        self.config.prices.as_ref().map(|p| p.hourly(status))
    }

    /// The status lines about time and money.
    pub(crate) async fn money_lines(&self, inst: &Instance, status: &InstanceStatus) -> String {
        let hourly = self.hourly(status);
        if !status.state.is_running_or_coming_up() {
            return hourly.map(|h| say::hourly_line(&h)).unwrap_or_default();
        }
        let now = self.now();
        let session = self.session_of(inst).await;
        let lease = session
            .as_ref()
            .and_then(|s| s.ends_at)
            .map(|t| (t, "time limit"));
        let scheduled = inst
            .stop_at
            .as_ref()
            .map(|s| s.next_after_utc(now))
            .filter(|t| session.as_ref().is_none_or(|s| s.skipped != Some(*t)))
            .map(|t| (t, "schedule"));
        let next = [lease, scheduled]
            .into_iter()
            .flatten()
            .min_by_key(|(t, _)| *t);
        say::running_lines(hourly, session.as_ref(), next, now)
    }

    /// The session of an instance the bot finds running without one (started
    /// from the console, or before the bot knew): it starts when Google last
    /// changed its state, or now, and its messages go to its announce target.
    pub(crate) fn seen_running(
        &self,
        inst: &Instance,
        status: Option<&InstanceStatus>,
        now: DateTime<Utc>,
    ) -> Session {
        Session {
            instance: inst.name.to_string(),
            started_at: status
                .and_then(|s| s.update_time.as_deref())
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .filter(|t| *t <= now)
                .unwrap_or(now),
            ends_at: None,
            started_by: None,
            tell: ReplyTo::Nowhere,
            approved_until: None,
            skipped: None,
            stopping: None,
            idle: Default::default(),
        }
    }

    /// The latest end `max_hours` allows a session: counted from its start,
    /// or from now for an instance the bot has not seen running before.
    pub(crate) fn cap_of(
        &self,
        inst: &Instance,
        session: Option<&Session>,
    ) -> Option<DateTime<Utc>> {
        let start = session.map(|s| s.started_at).unwrap_or_else(|| self.now());
        inst.max_lease.map(|max| start + max.to_chrono())
    }
}
