//! A stop under way, looked at again each tick: confirmed by its workflow
//! run, failed (and so tried again), unreadable (and so left alone, told
//! once), or waiting for Google to finish it.

use super::Done;
use super::Read;
use crate::act::{Handoff, InstanceStatus, Side, State};
use crate::config::Instance;
use crate::domain::{Principal, TimerReason};
use crate::pipeline::{App, Request};
use crate::report::{Reply, timers as say};
use crate::store::{OutcomeKind, Session, Stopping};
use chrono::{DateTime, Utc};

impl App {
    /// A stop under way: confirm it, wait for it, or try it again.
    pub(super) async fn pursue(
        &self,
        inst: &Instance,
        session: &Session,
        stop: &Stopping,
        read: &Read,
        now: DateTime<Utc>,
    ) -> Done {
        if let Some(sent) = stop.handed_off_at {
            let result = match self.backends.get(inst.backend) {
                Ok(b) => b.handoff_result(&stop.request_id, stop.attempt).await,
                Err(_) => Handoff::Unknown,
            };
            let max_age = self
                .config
                .github
                .as_ref()
                .map(|g| g.max_age)
                .unwrap_or(std::time::Duration::from_secs(3600));
            let gave_up = sent + chrono::Duration::from_std(max_age).unwrap_or_default() < now;
            let failed = match result {
                Handoff::Succeeded => {
                    return self
                        .under_claim(
                            inst,
                            &Request::new_id(),
                            Principal::Timer(TimerReason::Lease),
                            async {
                                let status = InstanceStatus::bare(State::Stopped);
                                self.confirmed(inst, session, &status, now).await
                            },
                        )
                        .await
                        .unwrap_or(Done::Nothing);
                }
                Handoff::Failed(why) => why,
                Handoff::Unknown if gave_up => say::no_run_found(&stop.request_id),
                // Nothing can be concluded: no retry, and past its time the
                // starter hears, once, that it is unconfirmed.
                Handoff::Unreadable(why) => {
                    if gave_up && !stop.told {
                        self.tell_unconfirmed(inst, session, stop, &why).await;
                    }
                    return Done::Nothing;
                }
                Handoff::Running | Handoff::Unknown => return Done::Nothing,
            };
            let Some(reason) = stop.reason else {
                // A person's stop is never sent again; the workflow told them.
                self.forget_stop(inst, &stop.request_id).await;
                return Done::Nothing;
            };
            // The row of the attempt the run carried out gets its real end.
            self.store
                .settle(&stop.request_id, OutcomeKind::Failed(Side::Github).into());
            return self
                .under_claim(inst, &Request::new_id(), Principal::Timer(reason), async {
                    self.failed(inst, reason, stop, failed, now).await
                })
                .await
                .unwrap_or(Done::Nothing);
        }
        let Some(reason) = stop.reason else {
            self.forget_stop(inst, &stop.request_id).await;
            return Done::Nothing;
        };
        if let Read::Known(st) = read
            && st.state == State::Stopping
        {
            return Done::Nothing;
        }
        if stop.next_try.is_some_and(|t| t > now) {
            return Done::Nothing;
        }
        self.fire(inst, reason, stop.due).await
    }

    /// Tells the starter, once, that a stop handed to GitHub cannot be
    /// confirmed: the bot does not send it again on a guess.
    async fn tell_unconfirmed(
        &self,
        inst: &Instance,
        session: &Session,
        stop: &Stopping,
        why: &str,
    ) {
        let token = Request::new_id();
        let principal = Principal::Timer(stop.reason.unwrap_or(TimerReason::Lease));
        self.under_claim(inst, &token, principal, async {
            let Ok(Some(current)) = self.session_read(inst).await else {
                return;
            };
            let Some(mut st) = current
                .stopping
                .clone()
                .filter(|s| s.request_id == stop.request_id)
            else {
                return;
            };
            st.told = true;
            let noted = Session {
                stopping: Some(st),
                ..current
            };
            if self.store.db().put_session(&noted).await.is_ok() {
                let text = say::stop_unconfirmed(inst, stop.due, why);
                self.post_to(&self.told(inst, Some(session)), inst, Reply::text(text))
                    .await;
            }
        })
        .await;
    }

    /// Clears a person's stop that GitHub did not carry out: the session
    /// and its time limit stay, as before the stop.
    async fn forget_stop(&self, inst: &Instance, id: &str) {
        let principal = Principal::Timer(TimerReason::Lease);
        self.under_claim(inst, &Request::new_id(), principal, async {
            if let Ok(Some(s)) = self.session_read(inst).await
                && s.stopping.as_ref().is_some_and(|st| st.request_id == id)
            {
                let _ = self
                    .store
                    .db()
                    .put_session(&Session {
                        stopping: None,
                        ..s
                    })
                    .await;
            }
        })
        .await;
    }
}
