//! Approvals for guarded instances (`approvers` in the config). A start of
//! one waits in the store for an approver, never the requester, to say yes;
//! then it runs as the requester's own request, through the same path as any
//! start, naming the approver. A denial or the timeout tells the requester
//! and starts nothing. Deciding is one conditional write in the store, so two
//! approvers pressing at once, on two replicas, start it once.

mod ask;

use super::App;
use super::request::{Grant, Handled, Input, Request};
use super::verdict::Verdict;
use crate::act::Side;
use crate::config::Instance;
use crate::domain::{Command, EntryPoint, Lasting, Origin, Principal, Verb};
use crate::report::{Reply, StepEnd, approvals as say};
use crate::settings::Secret;
use crate::store::{Approval, ApprovalState, Asking, AuditDecision, AuditRecord, OutcomeKind};

/// The timer work of carrying out an approval's grant, claimed so that one
/// process does it (the approver's press, or a tick after a crash).
const CARRY_OUT: &str = "approved-start";

impl App {
    /// *Approve* or *Deny* (with its reason), pressed by `req.principal`.
    pub(super) async fn decide_request(&self, req: &Request, cmd: &Command) -> Verdict {
        let id = cmd.target.as_deref().unwrap_or_default();
        let (mut approval, inst) = match self.decidable(&req.principal, id).await {
            Ok(found) => found,
            Err(v) => return v,
        };
        let (state, note) = match cmd.verb {
            Verb::Approve => (ApprovalState::Approved, None),
            _ => (ApprovalState::Denied, cmd.reason.as_deref()),
        };
        match self
            .store
            .db()
            .decide_approval(id, state, Some(&req.principal), note, self.now())
            .await
        {
            Ok(true) => {}
            // Someone else decided (or it expired) between the read and now.
            Ok(false) => return self.already_decided(id, inst).await,
            Err(e) => return Verdict::store_failed(inst, &e),
        }
        approval.state = state;
        approval.decided_by = Some(req.principal.clone());
        approval.note = note.map(str::to_owned);
        self.show_decision(&approval).await;
        let token = req.grant.step_token.as_ref();
        if state == ApprovalState::Denied {
            self.tell_requester(&approval, say::denied_note(&approval))
                .await;
            let end = StepEnd {
                ok: false,
                state: String::new(),
                message: say::denied_note(&approval),
            };
            self.complete_step(&approval, &end, token).await;
            return Verdict::about(inst, OutcomeKind::Denied, say::you_denied(&approval));
        }
        self.tell_requester(&approval, say::approved_note(&approval))
            .await;
        // One carries the grant out: a tick on another replica may be at it.
        let Some(claim) = self.claim(inst, CARRY_OUT, approval.expires_at).await else {
            return Verdict::about(
                inst,
                OutcomeKind::Approved,
                say::you_approved(&approval, &say::carried_out_elsewhere()),
            );
        };
        let handled = self
            .carry_out(&approval, &req.principal, token.cloned())
            .await;
        if handled.reason != "in_progress" {
            self.finish(&claim).await;
        }
        Verdict::about(
            inst,
            OutcomeKind::Approved,
            say::you_approved(&approval, &handled.reply.text),
        )
    }

    /// Runs what an approval allows as its requester's request, approved by
    /// `by`, and spends the grant unless another change held the instance
    /// (then a later tick tries again). The request message and a waiting
    /// workflow step show the real end.
    async fn carry_out(&self, a: &Approval, by: &Principal, token: Option<Secret>) -> Handled {
        let req = self.approved_request(a, by, token.clone());
        let handled = Box::pin(self.handle(req)).await;
        if handled.reason == "in_progress" {
            return handled;
        }
        // Refused or failed before reaching a backend: spent all the same,
        // and the requester heard why.
        if let Err(e) = self.store.db().consume_approval(&a.id).await {
            tracing::warn!(error = %e, "could not mark the approval as used");
        }
        self.show_end(a, &handled.reply.text, handled.ok).await;
        // Work handed to GitHub: its workflow completes the step.
        if !handled.handed_off {
            self.complete_step(a, &handled.step_end(), token.as_ref())
                .await;
        }
        handled
    }

    /// Every approver's copy of the request shows how it ended.
    async fn show_end(&self, a: &Approval, end: &str, ok: bool) {
        let text = say::approved_end(a, end, ok);
        for posted in &a.messages {
            if let Err(e) = self.reporter.rewrite(posted, &text).await {
                tracing::warn!(error = %e, "could not update an approval request's message");
            }
        }
    }

    /// The end of an approved start followed by another process: the
    /// request message and a waiting step hear it too.
    pub(in crate::pipeline) async fn show_approved_end(&self, id: &str, end: &str, ok: bool) {
        let Ok(Some(a)) = self.store.db().approval(id).await else {
            return;
        };
        self.show_end(&a, end, ok).await;
        let step = StepEnd {
            ok,
            state: String::new(),
            message: end.to_owned(),
        };
        self.complete_step(&a, &step, None).await;
    }

    /// Approved starts that never reached Google (a crash, a shutdown or a
    /// store error came between): carried out now, once. A grant not used
    /// within another approval timeout after its request's expiry lapses,
    /// and its requester is told.
    pub(crate) async fn start_approved(&self) -> usize {
        let approved = match self.store.db().approved_unstarted().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "could not read approved requests; the next tick tries again");
                return 0;
            }
        };
        let now = self.now();
        let mut carried = 0;
        for a in approved {
            let Some(inst) = self.approval_instance(&a) else {
                self.left_alone("approved request", &a.alias);
                continue;
            };
            let Some(claim) = self.claim(inst, CARRY_OUT, a.expires_at).await else {
                continue;
            };
            // The request's own timeout, whatever the config says now.
            let timeout = a.expires_at - a.asked.requested_at;
            let by = a
                .decided_by
                .clone()
                .filter(|_| now <= a.expires_at + timeout);
            let Some(by) = by else {
                let _ = self.store.db().consume_approval(&a.id).await;
                let why = say::grant_lapsed();
                self.tell_requester(&a, say::expired_note(&a, &why)).await;
                self.show_end(&a, &why, false).await;
                self.finish(&claim).await;
                continue;
            };
            tracing::info!(request_id = %a.id, alias = %inst.alias, "carrying out an approved request its approval left behind");
            let handled = self.carry_out(&a, &by, None).await;
            if handled.reason != "in_progress" {
                self.finish(&claim).await;
                carried += 1;
            }
        }
        carried
    }

    /// The instance an approval request names, as this config knows it.
    pub(crate) fn approval_instance(&self, a: &Approval) -> Option<&Instance> {
        match a.instance.is_empty() {
            true => self.config.instance(&a.alias),
            false => self.config.instance_by_name(&a.instance),
        }
    }

    /// What the approval allows, as its requester asked it, approved by `by`.
    fn approved_request(&self, a: &Approval, by: &Principal, token: Option<Secret>) -> Request {
        let lasting = a
            .asked
            .lasting_minutes
            .and_then(|m| Lasting::from_minutes(m).ok());
        let verb = match a.asked.kind {
            Asking::Start => Verb::Start,
            Asking::Extend => Verb::Extend,
        };
        Request {
            id: a.id.clone(),
            team: a
                .asked
                .team
                .as_deref()
                .and_then(|t| crate::domain::TeamId::parse(t).ok()),
            principal: a.asked.requester.clone(),
            entry: a.asked.entry,
            input: Input::Command(Command {
                lasting,
                reason: Some(a.asked.reason.clone()).filter(|_| verb == Verb::Start),
                // The alias this config gives the instance now, which a
                // rename since the request may have changed.
                ..Command::new(
                    verb,
                    Some(
                        self.approval_instance(a)
                            .map(|i| i.alias.to_string())
                            .unwrap_or_else(|| a.alias.clone()),
                    ),
                )
            }),
            reply_to: a.asked.tell.clone(),
            grant: Grant {
                approved_by: Some(by.clone()),
                step_token: token,
                ..Default::default()
            },
            origin: a.asked.origin.clone(),
        }
    }

    /// The request `id` and its instance, when `who` may decide it now;
    /// otherwise what they are told. A request that can no longer be decided
    /// (its time is up, its instance left the config or needs no approval
    /// now) expires here, with a sentence to its requester.
    async fn decidable(&self, who: &Principal, id: &str) -> Result<(Approval, &Instance), Verdict> {
        let approval = match self.store.db().approval(id).await {
            Ok(Some(a)) => a,
            Ok(None) => return Err(Verdict::invalid("unknown_approval", say::unknown_request())),
            Err(e) => {
                tracing::warn!(error = %e, "could not read an approval request");
                return Err(Verdict::info(
                    say::store_unreadable(),
                    OutcomeKind::Failed(Side::Bot),
                ));
            }
        };
        let refuse = |reason, text| Verdict::declined_about(reason, &approval.alias, text);
        if approval.state != ApprovalState::Waiting {
            return Err(refuse("already_decided", say::already_decided(&approval)));
        }
        // Another replica may know it: decide nothing, expire nothing.
        let Some(inst) = self.approval_instance(&approval) else {
            self.left_alone("approval request", &approval.alias);
            return Err(refuse("unknown_here", say::unknown_here(&approval.alias)));
        };
        let Some(guard) = inst.guard.as_ref() else {
            let why = say::expired_because_unguarded(&approval.alias);
            return Err(self.expired_now(&approval, why).await);
        };
        if self.now() >= approval.expires_at {
            let why = say::expired_because_time(approval.expires_at - approval.asked.requested_at);
            return Err(self.expired_now(&approval, why).await);
        }
        if who.same_as(&approval.asked.requester) {
            return Err(refuse("own_request", say::own_request(inst.alias.as_ref())));
        }
        if !guard.approvers.contains(who) {
            return Err(refuse(
                "not_approver",
                say::not_approver(inst.alias.as_ref(), guard),
            ));
        }
        Ok((approval, inst))
    }

    /// A press on a request that just ran out: it expires now, and the
    /// presser hears so.
    async fn expired_now(&self, a: &Approval, why: String) -> Verdict {
        self.expire(a, why).await;
        let expired = Approval {
            state: ApprovalState::Expired,
            ..a.clone()
        };
        Verdict::declined_about("already_decided", &a.alias, say::already_decided(&expired))
    }

    /// For the deny dialog, opened only for someone who may decide: `req` is
    /// the press (a `deny` with no reason yet). A refusal is recorded here,
    /// like any other; the transport tells it (the reply it is given).
    pub(crate) async fn may_decide(&self, req: &Request) -> Result<Approval, Reply> {
        let Input::Command(cmd) = &req.input else {
            return Err(Reply::text(say::unknown_request()));
        };
        let id = cmd.target.as_deref().unwrap_or_default();
        match self.decidable(&req.principal, id).await {
            Ok((a, _)) => Ok(a),
            Err(v) => {
                let row = self.audit_row(req, &cmd.to_string(), &v);
                crate::record::before_report(&self.store, &row, false);
                crate::record::after_report(&self.store, row, false, std::time::Duration::ZERO);
                Err(v.reply)
            }
        }
    }

    async fn already_decided(&self, id: &str, inst: &Instance) -> Verdict {
        let text = match self.store.db().approval(id).await {
            Ok(Some(a)) => say::already_decided(&a),
            _ => say::unknown_request(),
        };
        Verdict::declined_about("already_decided", inst.alias.as_ref(), text)
    }

    /// Expires a waiting request, once: its messages say so, the requester
    /// is told why, a waiting workflow step ends, and the audit records it.
    pub(super) async fn expire(&self, a: &Approval, why: String) -> bool {
        let db = self.store.db();
        if !matches!(
            db.decide_approval(&a.id, ApprovalState::Expired, None, Some(&why), self.now())
                .await,
            Ok(true)
        ) {
            return false;
        }
        let a = Approval {
            state: ApprovalState::Expired,
            note: Some(why.clone()),
            ..a.clone()
        };
        self.show_decision(&a).await;
        let note = say::expired_note(&a, &why);
        self.tell_requester(&a, note.clone()).await;
        let end = StepEnd {
            ok: false,
            state: String::new(),
            message: note,
        };
        self.complete_step(&a, &end, None).await;
        self.store.record(AuditRecord {
            at: self.now(),
            request_id: a.id.clone(),
            team: a.asked.team.clone(),
            principal: a.asked.requester.to_string(),
            entry_point: EntryPoint::Timer,
            command: format!("expire start {}", a.alias),
            instance: Some(a.alias.clone()),
            decision: AuditDecision::Allowed,
            reason: String::new(),
            backend: None,
            outcome: OutcomeKind::Expired.into(),
            approved_by: None,
        });
        true
    }

    /// Expires every waiting request whose time is up or that can no longer
    /// be decided; returns how many.
    pub(crate) async fn expire_due(&self) -> usize {
        let waiting = match self.store.db().waiting_approvals().await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "could not read approval requests; the next tick tries again");
                return 0;
            }
        };
        let now = self.now();
        let mut expired = 0;
        for a in waiting {
            let Some(inst) = self.approval_instance(&a) else {
                // Another replica may know it; its timeout is kept there.
                self.left_alone("approval request", &a.alias);
                continue;
            };
            let why = match inst.guard.is_some() {
                false => say::expired_because_unguarded(&a.alias),
                true if now >= a.expires_at => {
                    say::expired_because_time(a.expires_at - a.asked.requested_at)
                }
                true => continue,
            };
            if self.expire(&a, why).await {
                expired += 1;
            }
        }
        expired
    }

    /// `pending`: requests waiting for this person, as requester or approver.
    pub(super) async fn pending(&self, who: &Principal) -> Verdict {
        let waiting = match self.store.db().waiting_approvals().await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "could not read approval requests");
                return Verdict::info(say::store_unreadable(), OutcomeKind::Failed(Side::Bot));
            }
        };
        let now = self.now();
        let lines: Vec<String> = waiting
            .iter()
            .filter(|a| a.expires_at > now)
            .filter_map(|a| {
                let inst = self.approval_instance(a)?;
                // What someone may not see does not exist for them.
                if !self.policy.may_view(who, inst) {
                    return None;
                }
                let guard = inst.guard.as_ref();
                let mine = a.asked.requester.same_as(who);
                let to_decide = guard.is_some_and(|g| g.approvers.contains(who));
                (mine || to_decide).then(|| say::pending_line(a, who, guard))
            })
            .collect();
        Verdict::info(say::pending(&lines), OutcomeKind::Listed(lines.len()))
    }

    /// Every approver's copy of the request shows who decided, without buttons.
    async fn show_decision(&self, a: &Approval) {
        let text = say::decided_text(a);
        for posted in &a.messages {
            if let Err(e) = self.reporter.rewrite(posted, &text).await {
                tracing::warn!(error = %e, "could not update an approval request's message");
            }
        }
    }

    async fn tell_requester(&self, a: &Approval, text: String) {
        if let Err(e) = self.reporter.post(&a.asked.tell, &Reply::text(text)).await {
            tracing::warn!(error = %e, "could not tell the requester how their approval request ended");
        }
    }

    /// Ends a Workflow Builder step that waited for the decision: with the
    /// just-in-time token a press on the step's message brought (fresh for
    /// 15 minutes), else the bot token.
    async fn complete_step(&self, a: &Approval, end: &StepEnd, token: Option<&Secret>) {
        let Origin::Step { execution_id } = &a.asked.origin else {
            return;
        };
        if let Err(e) = self
            .reporter
            .complete_step(token.map(Secret::expose), execution_id, end)
            .await
        {
            tracing::warn!(error = %e, "could not complete the workflow step that waited for approval");
        }
    }
}
