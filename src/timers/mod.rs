//! The timer engine: the door through which time asks for things. Time
//! limits, scheduled stops and reminders produce requests of the principals
//! `timer:lease` and `timer:schedule` (which may only stop), and those go
//! through the one request path like a person's; around them sits the ledger
//! of sessions (`ledger`), with its rules in one place.
//!
//! A tick, run every `scheduler.tick_seconds` by each process and by Cloud
//! Scheduler through `POST /tasks/tick`:
//!
//! 1. rekeys state an older version wrote by alias, expires approval
//!    requests whose time is up, and carries out approved
//!    starts that a crash or a shutdown left between the approval and Google;
//! 2. reads every configured instance's state once, closes the sessions whose
//!    stop is confirmed, and notices instances running outside the bot;
//! 3. per instance, side by side: pursues a stop under way (retrying it, with
//!    backoff, told once per failure episode), fires a due time limit or
//!    scheduled stop (a late one too, saying it is late), or warns before one;
//! 4. reminds the team of instances running with no time limit;
//! 5. reads the activity of running instances with `idle_minutes` (once per
//!    `[idle] check_minutes` across replicas), warns before an idle stop, and
//!    fires it only if a reading at its time is still idle (`idle`);
//! 6. counts what is overdue (`workbench_bot_overdue_timers`);
//! 7. posts the weekly report when it is due (`report`).
//!
//! State belongs to an instance's resource path. A process never changes
//! state for an instance its config does not know: it says so once and
//! leaves it, since another replica (a rolling deploy) may know it.

mod due;
mod extend;
mod idle;
mod ledger;
mod pursue;
mod reminders;
mod report;
mod stops;
mod telling;

pub(crate) use crate::act::confirms_stop;
pub(crate) use crate::pipeline::Held;

use crate::act::{BackendError, InstanceStatus};
use crate::config::{BackendKind, Instance};
use crate::pipeline::App;
use crate::store::{Session, StoreError, TimerClaim};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;

/// What one tick did, for logs, metrics and `POST /tasks/tick`'s answer.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    pub warned: usize,
    /// Automatic stops confirmed this tick.
    pub stopped: usize,
    /// Automatic stops that did not go through this tick (retried later).
    pub failed: usize,
    pub reminded: usize,
    /// Approval requests that ran out of time (or can no longer be decided).
    pub expired: usize,
    /// Approved starts carried out late, after their approval was left.
    pub resumed_approvals: usize,
    /// Time limits, scheduled stops and unconfirmed stops past their due
    /// time by more than two ticks.
    pub overdue: usize,
    /// The weekly report, when this tick posted it.
    pub reported: bool,
}

/// What a tick read of an instance's state.
pub(crate) enum Read {
    Known(InstanceStatus),
    /// The backend could not say now: look again next tick.
    Failed(String),
    /// This deployment cannot read states (GitHub only).
    Unreadable,
}

/// What one piece of a tick's work did.
pub(crate) enum Done {
    Nothing,
    Warned,
    Stopped,
    Failed,
}

impl App {
    /// The time timers run on.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// How long a claim on timer work holds before another process may take
    /// it over: the store's lease, like every other claim.
    pub(crate) fn claim_hold(&self) -> Duration {
        self.config.store.lease
    }

    /// How late a timer may be before it counts as overdue: two ticks.
    pub(super) fn late(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.scheduler.tick * 2).unwrap_or_default()
    }

    /// Logs, once per process, that state in the store names an instance
    /// this config does not know, and that it is left alone.
    pub(crate) fn left_alone(&self, what: &str, key: &str) {
        if self.unknown.first_time(key) {
            tracing::warn!(
                instance = key,
                what,
                "the store holds state for an instance this config does not know; leaving it alone (another replica may know it)"
            );
        }
    }

    /// Looks for due timer work and does it.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        // First, apart: a slow stop or unreadable sessions must not hold up expiries.
        // An older replica of a rolling deploy may still write alias keys.
        self.adopt_alias_keys().await;
        let expired = self.expire_due().await;
        let resumed_approvals = self.start_approved().await;
        let mut report = TickReport {
            expired,
            resumed_approvals,
            ..Default::default()
        };
        let sessions = self.store.db().sessions().await?;
        let mut by_instance: HashMap<&str, &Session> = HashMap::new();
        for s in &sessions {
            match self.config.instance_by_name(&s.instance) {
                Some(_) => {
                    by_instance.insert(s.instance.as_str(), s);
                }
                None => self.left_alone("session", &s.instance),
            }
        }
        let reads = self.read_all().await;
        // Due work runs side by side: one slow stop (a GPU instance takes
        // minutes) must not hold up the others, or Cloud Scheduler's deadline.
        let work = self.config.instances.iter().zip(reads).map(|(inst, read)| {
            let session = by_instance.get(inst.name.as_ref()).map(|s| (*s).clone());
            async move { self.instance_tick(inst, session, read).await }
        });
        for (done, reminded) in futures::future::join_all(work).await {
            report.reminded += usize::from(reminded);
            match done {
                Done::Stopped => report.stopped += 1,
                Done::Warned => report.warned += 1,
                Done::Failed => report.failed += 1,
                Done::Nothing => {}
            }
        }
        report.overdue = self.overdue().await?;
        report.reported = self.weekly_if_due(self.now()).await;
        crate::metrics::ticked(self.now().timestamp(), report.overdue);
        // On Cloud Run a process answering `/tasks/tick` may get no CPU once it
        // has answered: the rows of what this tick did are written before.
        self.store.flush().await;
        Ok(report)
    }

    /// Every configured instance's state, in config order, read in bulk per
    /// backend.
    async fn read_all(&self) -> Vec<Read> {
        let mut reads: Vec<Option<Read>> = self.config.instances.iter().map(|_| None).collect();
        for kind in [
            BackendKind::Notebooks,
            BackendKind::Github,
            BackendKind::DryRun,
        ] {
            let (at, insts): (Vec<usize>, Vec<&Instance>) = self
                .config
                .instances
                .iter()
                .enumerate()
                .filter(|(_, i)| i.backend == kind)
                .unzip();
            if insts.is_empty() {
                continue;
            }
            let statuses = match self.backends.get(kind) {
                Ok(b) => b.statuses(&insts).await,
                Err(e) => insts.iter().map(|_| Err(e.clone())).collect(),
            };
            for (i, status) in at.into_iter().zip(statuses) {
                reads[i] = Some(read_of(status));
            }
        }
        reads
            .into_iter()
            .map(|r| r.unwrap_or(Read::Unreadable))
            .collect()
    }

    /// The instance's state right before acting on it: someone may have
    /// stopped it since the tick's read.
    pub(crate) async fn read_now(&self, inst: &Instance) -> Read {
        match self.backends.get(inst.backend) {
            Ok(b) => read_of(b.status(inst).await),
            Err(e) => read_of(Err(e)),
        }
    }

    /// How many time limits, scheduled stops and unconfirmed stops are past
    /// their due time by more than two ticks, on instances this config knows.
    async fn overdue(&self) -> Result<usize, StoreError> {
        let now = self.now();
        let late = self.late();
        let sessions = self.store.db().sessions().await?;
        Ok(sessions
            .iter()
            .filter_map(|s| Some((self.config.instance_by_name(&s.instance)?, s)))
            .filter(|(inst, s)| {
                let lease = s.ends_at.is_some_and(|e| e + late < now);
                let stop = s.stopping.as_ref().is_some_and(|st| st.due + late < now);
                let scheduled = self
                    .missed_schedule(inst, s, now)
                    .is_some_and(|due| due + late < now);
                lease || stop || scheduled
            })
            .count())
    }

    /// Claims one occurrence of timer work (a warning, a reminder); `None`
    /// when another process has it or did it.
    pub(crate) async fn claim<'a>(
        &self,
        inst: &'a Instance,
        kind: &'static str,
        due: DateTime<Utc>,
    ) -> Option<TimerClaim<'a>> {
        let claim = TimerClaim {
            instance: inst.name.as_ref(),
            kind,
            due_ms: due.timestamp_millis(),
        };
        match self
            .store
            .db()
            .claim_timer(&claim, &self.owner, self.claim_hold())
            .await
        {
            Ok(true) => Some(claim),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(error = %e, alias = %inst.alias, kind, "could not claim timer work; the next tick tries again");
                None
            }
        }
    }

    pub(crate) async fn finish(&self, claim: &TimerClaim<'_>) {
        if let Err(e) = self.store.db().finish_timer(claim).await {
            tracing::warn!(error = %e, instance = claim.instance, kind = claim.kind, "could not mark timer work done");
        }
    }

    /// Rewrites state older versions keyed by alias to the resource paths
    /// this config gives; the rest is left for a replica that knows it.
    pub async fn adopt_alias_keys(&self) {
        let known: Vec<(&str, &str)> = self
            .config
            .instances
            .iter()
            .map(|i| (i.alias.as_ref(), i.name.as_ref()))
            .collect();
        match self.store.db().adopt_alias_keys(&known).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                rows = n,
                "keyed timer state written by an older version by instance"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not rekey timer state written by an older version")
            }
        }
    }
}

fn read_of(status: Result<InstanceStatus, BackendError>) -> Read {
    match status {
        Ok(s) => Read::Known(s),
        Err(BackendError::Setup(_)) => Read::Unreadable,
        Err(e) => Read::Failed(e.to_string()),
    }
}
