//! Asking: a start of a guarded instance becomes a stored request, posted
//! where its approvers look, and the requester hears that it waits.

use super::super::App;
use super::super::request::Request;
use super::super::verdict::Verdict;
use crate::act::Side;
use crate::config::{Guard, Instance};
use crate::domain::{Command, EntryPoint, Lasting, Principal};
use crate::report::{ReplyTo, approvals as say};
use crate::settings::Secret;
use crate::store::{Approval, ApprovalState, Asked, Asking, OutcomeKind};

impl App {
    /// Whether a start may go ahead: `None` when the instance is not guarded,
    /// or the request carries a valid approver; otherwise what the person is
    /// told (the request went to the approvers, or why it cannot).
    pub(in crate::pipeline) async fn gate(
        &self,
        req: &Request,
        cmd: &Command,
        inst: &Instance,
    ) -> Option<Verdict> {
        let guard = inst.guard.as_ref()?;
        if let Some(by) = &req.grant.approved_by {
            return (!guard.may_decide(by, &req.principal)).then(|| {
                Verdict::declined_about(
                    "not_approver",
                    inst.alias.as_ref(),
                    say::approver_refused(inst.alias.as_ref()),
                )
            });
        }
        // A workflow's message names no person, so nobody could tell whether
        // an approver ran it: such starts go through the workflow step, which
        // names who runs it.
        if !matches!(req.principal, Principal::User(_) | Principal::Guest(_)) {
            return Some(Verdict::declined_about(
                "needs_a_person",
                inst.alias.as_ref(),
                say::needs_a_person(inst.alias.as_ref()),
            ));
        }
        if !guard.someone_else(&req.principal) {
            return Some(Verdict::declined_about(
                "no_other_approver",
                inst.alias.as_ref(),
                say::no_other_approver(inst.alias.as_ref()),
            ));
        }
        // A dispatch is the end of an approved request, never the start of one.
        if req.entry == EntryPoint::Dispatch {
            return Some(Verdict::declined_about(
                "not_approved",
                inst.alias.as_ref(),
                say::approver_refused(inst.alias.as_ref()),
            ));
        }
        let Some(reason) = &cmd.reason else {
            let text = say::reason_needed(inst.alias.as_ref(), &self.config.slack_command);
            let mut v = Verdict::invalid("reason_required", text);
            v.instance = Some(inst.alias.to_string());
            return Some(v);
        };
        Some(self.ask(req, cmd, inst, guard, reason, Asking::Start).await)
    }

    /// More time on a guarded instance, past what an approver allowed: the
    /// extension waits for an approver like a start, and until then the
    /// time limit stays as it is.
    pub(crate) async fn ask_for_more(
        &self,
        req: &Request,
        cmd: &Command,
        inst: &Instance,
        guard: &Guard,
        by: Lasting,
    ) -> Verdict {
        // As for a start: a workflow names no person who could be asked.
        if !matches!(req.principal, Principal::User(_) | Principal::Guest(_)) {
            return Verdict::declined_about(
                "needs_a_person",
                inst.alias.as_ref(),
                say::more_needs_a_person(inst.alias.as_ref()),
            );
        }
        if !guard.someone_else(&req.principal) {
            return Verdict::declined_about(
                "no_other_approver",
                inst.alias.as_ref(),
                say::no_other_approver(inst.alias.as_ref()),
            );
        }
        let reason = cmd
            .reason
            .clone()
            .unwrap_or_else(|| format!("more time on `{}`", inst.alias));
        let more = Command {
            lasting: Some(by),
            ..cmd.clone()
        };
        self.ask(req, &more, inst, guard, &reason, Asking::Extend)
            .await
    }

    /// Stores the request, then posts it where the approvers look.
    async fn ask(
        &self,
        req: &Request,
        cmd: &Command,
        inst: &Instance,
        guard: &Guard,
        reason: &str,
        kind: Asking,
    ) -> Verdict {
        let now = self.now();
        let approval = Approval {
            id: req.id.clone(),
            alias: inst.alias.to_string(),
            instance: inst.name.to_string(),
            state: ApprovalState::Waiting,
            expires_at: now + guard.timeout.to_chrono(),
            decided_by: None,
            note: None,
            messages: Vec::new(),
            asked: Asked {
                kind,
                requester: req.principal.clone(),
                lasting_minutes: cmd.lasting.map(Lasting::minutes),
                reason: reason.to_owned(),
                entry: req.entry,
                team: req.team.as_ref().map(|t| t.to_string()),
                tell: later(req),
                origin: req.origin.clone(),
                requested_at: now,
            },
        };
        let db = self.store.db();
        if let Err(e) = db.put_approval(&approval).await {
            return Verdict::store_failed(inst, &e);
        }
        // The price needs the machine type: a read, never an action.
        let hourly = match self.backends.get(inst.backend) {
            Ok(b) => b.status(inst).await.ok().and_then(|s| self.hourly(&s)),
            Err(_) => None,
        };
        let text = say::request_text(&approval, hourly.as_ref());
        let token = req.grant.step_token.as_ref().map(Secret::expose);
        // Nobody is asked to approve their own request.
        let places = match &self.config.approvals_channel {
            Some(channel) => vec![channel.clone()],
            None => {
                let me = req.principal.to_string();
                guard.people().into_iter().filter(|p| *p != me).collect()
            }
        };
        let mut posted = Vec::with_capacity(places.len());
        let mut failure = None;
        for place in &places {
            let blocks = || say::request_blocks(&approval, &text);
            let mut sent = self
                .reporter
                .post_blocks(token, place, &text, blocks())
                .await;
            if sent.is_err() && token.is_some() {
                // The step's token may not reach this place; the bot's may.
                sent = self
                    .reporter
                    .post_blocks(None, place, &text, blocks())
                    .await;
            }
            match sent {
                Ok(p) => posted.push(p),
                Err(e) => {
                    tracing::warn!(error = %e, place, "could not post an approval request");
                    failure = Some(e.to_string());
                }
            }
        }
        if posted.is_empty() {
            let why = failure.unwrap_or_else(|| "no approver to ask".into());
            let _ = db
                .decide_approval(&approval.id, ApprovalState::Expired, None, Some(&why), now)
                .await;
            return Verdict::about(
                inst,
                OutcomeKind::Failed(Side::Bot),
                say::not_asked(inst.alias.as_ref(), &why),
            );
        }
        if let Err(e) = db.note_approval_messages(&approval.id, &posted).await {
            tracing::warn!(error = %e, "could not store where the approval request was posted; it will not be updated");
        }
        // An approver quick enough to decide before the messages were on
        // record found none to update: show the decision on them now.
        if let Ok(Some(decided)) = db.approval(&approval.id).await
            && decided.state != ApprovalState::Waiting
        {
            self.show_decision(&Approval {
                messages: posted,
                ..decided
            })
            .await;
        }
        let waiting = match kind {
            Asking::Start => say::waiting(inst, guard, &approval),
            Asking::Extend => say::waiting_more(inst, guard, &approval),
        };
        // A workflow step shows nothing until it completes: the person who
        // ran it hears that it waits, where they will hear the rest.
        if req.reply_to == ReplyTo::Nowhere {
            self.tell_requester(&approval, waiting.clone()).await;
        }
        Verdict::about(inst, OutcomeKind::AwaitingApproval, waiting)
    }
}

/// Where the requester hears the decision, which may come an hour later: a
/// `response_url` lives 30 minutes, so a slash command or button hears it in
/// the person's direct messages; a thread stays a thread.
fn later(req: &Request) -> ReplyTo {
    match (&req.reply_to, &req.principal) {
        (ReplyTo::Thread { .. } | ReplyTo::Direct(_) | ReplyTo::Channel(_), _) => {
            req.reply_to.clone()
        }
        (_, Principal::User(u) | Principal::Guest(u)) => ReplyTo::Direct(u.to_string()),
        _ => ReplyTo::Nowhere,
    }
}
