//! The work of each command: which instance it names, what policy says, and
//! what the person is told. Starting and stopping live in `change.rs`.

use super::App;
use super::InFlight;
use super::request::Request;
use super::verdict::Verdict;
use crate::act::{BackendError, InstanceStatus, SetupError, State};
use crate::config::{BackendKind, Instance};
use crate::decide::Decision;
use crate::domain::{Command, Principal, Verb};
use crate::report::{Card, messages};
use crate::store::OutcomeKind;

impl App {
    pub(super) async fn run(&self, req: &Request, cmd: &Command, flight: &mut InFlight) -> Verdict {
        let who = &req.principal;
        // The slow, rare branches (a start or stop, a decision, a report) are
        // boxed: a future is as large as its largest branch, and the whole of
        // it is copied on its way into the request's task, for every request.
        match cmd.verb {
            Verb::Help => Verdict::info(self.help_text(who), OutcomeKind::Help),
            Verb::Whoami => Verdict::info(self.whoami(who), OutcomeKind::Whoami),
            Verb::List => self.list(who).await,
            Verb::Costs => self.costs(who).await,
            Verb::Pending => self.pending(who).await,
            Verb::ReportNow => Box::pin(self.report_now(who)).await,
            Verb::Approve | Verb::Deny => Box::pin(self.decide_request(req, cmd)).await,
            Verb::Status if cmd.target.is_none() => self.list(who).await,
            Verb::History if cmd.target.is_none() => self.history(who, None).await,
            Verb::Status
            | Verb::Start
            | Verb::Stop
            | Verb::History
            | Verb::Extend
            | Verb::KeepIdle => {
                let typed = cmd.target.as_deref().unwrap_or_default();
                let Some(inst) = self.config.instance(typed) else {
                    return Verdict::invalid(
                        "unknown_instance",
                        messages::unknown_instance(typed, &self.help_text(who)),
                    );
                };
                if let Decision::Deny(refusal) = self.policy.decide(who, cmd.verb, inst) {
                    if !self.policy.may_view(who, inst) {
                        // To someone who may not see it, it does not exist.
                        let reply = messages::unknown_instance(typed, &self.help_text(who));
                        return Verdict::refused(&refusal, Some(inst)).saying(reply);
                    }
                    return Verdict::refused(&refusal, Some(inst));
                }
                match cmd.verb {
                    Verb::Status => self.status(who, inst).await,
                    Verb::History => self.history(who, Some(inst)).await,
                    Verb::Extend => Box::pin(self.extend(req, cmd, inst)).await,
                    Verb::KeepIdle => self.keep_idle(req, inst).await,
                    Verb::Start => match Box::pin(self.gate(req, cmd, inst)).await {
                        Some(waits) => waits,
                        None => Box::pin(self.change(req, cmd, inst, flight)).await,
                    },
                    _ => Box::pin(self.change(req, cmd, inst, flight)).await,
                }
            }
        }
    }

    pub(crate) fn help_text(&self, who: &Principal) -> String {
        let visible: Vec<&str> = self.policy.visible(who).map(|i| i.alias.as_ref()).collect();
        messages::help(&self.config.slack_command, &visible, &self.policy.ask())
    }

    fn whoami(&self, who: &Principal) -> String {
        let mut operate = Vec::new();
        let mut view = Vec::new();
        for inst in &self.config.instances {
            if self.policy.may_operate(who, inst) {
                operate.push(inst.alias.as_ref());
            } else if self.policy.may_view(who, inst) {
                view.push(inst.alias.as_ref());
            }
        }
        messages::whoami(&messages::WhoAmI {
            who,
            groups: self.config.groups_of(who),
            operate,
            view,
            admin: self.policy.is_admin(who),
        })
    }

    async fn status(&self, who: &Principal, inst: &Instance) -> Verdict {
        let status = match self.backends.get(inst.backend) {
            Ok(b) => b.status(inst).await,
            Err(e) => Err(e),
        };
        match status {
            Ok(s) => Verdict::about(
                inst,
                OutcomeKind::Seen(s.state.as_api().to_owned()),
                messages::status(
                    inst,
                    &s,
                    &(self.money_lines(inst, &s).await
                        + &self.activity_lines(inst, &s, true).await),
                ),
            )
            .with_state(s.state.clone(), self.card(who, inst, &s.state)),
            Err(e) => Verdict::failed(inst, &e),
        }
    }

    async fn list(&self, who: &Principal) -> Verdict {
        let visible: Vec<&Instance> = self.policy.visible(who).collect();
        if visible.is_empty() {
            return Verdict::info(
                messages::sees_nothing(&self.policy.ask()),
                OutcomeKind::Listed(0),
            );
        }
        let statuses = self.statuses(&visible).await;
        let lines = visible
            .iter()
            .zip(&statuses)
            .map(|(inst, s)| messages::list_line(inst, s, !self.policy.may_operate(who, inst)))
            .collect();
        Verdict::info(messages::list(lines), OutcomeKind::Listed(visible.len()))
    }

    /// The last actions (starts and stops, whoever asked and however they
    /// ended) on one instance, or on every instance the person may see.
    async fn history(&self, who: &Principal, inst: Option<&Instance>) -> Verdict {
        const SHOWN: usize = 10;
        let instances: Vec<&Instance> = match inst {
            Some(i) => vec![i],
            None => self.policy.visible(who).collect(),
        };
        // What this process queued moments ago is part of the history too.
        self.store.flush().await;
        let aliases: Vec<&str> = instances.iter().map(|i| i.alias.as_ref()).collect();
        let recent = self.now() - chrono::Duration::days(7);
        let mut rows = match self.store.history(&aliases, recent, SHOWN).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the history");
                return Verdict::info(
                    messages::history_unavailable(),
                    OutcomeKind::Failed(crate::act::Side::Bot),
                );
            }
        };
        rows.sort_by_key(|r| std::cmp::Reverse(r.at));
        rows.truncate(SHOWN);
        let text = messages::history(inst.map(|i| i.alias.as_ref()), &rows);
        match inst {
            Some(i) => Verdict::about(i, OutcomeKind::Listed(rows.len()), text),
            None => Verdict::info(text, OutcomeKind::Listed(rows.len())),
        }
    }

    /// Statuses of several instances, one bulk read per backend.
    pub(crate) async fn statuses(
        &self,
        insts: &[&Instance],
    ) -> Vec<Result<InstanceStatus, BackendError>> {
        let mut out: Vec<Option<Result<InstanceStatus, BackendError>>> = vec![None; insts.len()];
        for kind in [
            BackendKind::DryRun,
            BackendKind::Notebooks,
            BackendKind::Github,
        ] {
            let idx: Vec<usize> = (0..insts.len())
                .filter(|&i| insts[i].backend == kind)
                .collect();
            if idx.is_empty() {
                continue;
            }
            let group: Vec<&Instance> = idx.iter().map(|&i| insts[i]).collect();
            let results = match self.backends.get(kind) {
                Ok(b) => b.statuses(&group).await,
                Err(e) => vec![Err(e); group.len()],
            };
            for (i, r) in idx.into_iter().zip(results) {
                out[i] = Some(r);
            }
        }
        out.into_iter()
            .zip(insts)
            .map(|(r, inst)| {
                r.unwrap_or_else(|| Err(SetupError::NoStatus(inst.alias.to_string()).into()))
            })
            .collect()
    }

    /// The buttons the reader of a result may press.
    pub(super) fn card(&self, who: &Principal, inst: &Instance, state: &State) -> Card {
        Card {
            alias: inst.alias.to_string(),
            running: *state == State::Active,
            stopped: *state == State::Stopped,
            can_operate: self.policy.may_operate(who, inst),
            keep: None,
        }
    }

    /// Instances a principal may start and stop, for the dialog.
    pub(crate) fn operable(&self, who: &Principal) -> Vec<&Instance> {
        self.config
            .instances
            .iter()
            .filter(|i| self.policy.may_operate(who, i))
            .collect()
    }

    /// Checks a dialog's choices before it closes, so a person fixes them in
    /// place: the instance (which they must be allowed to operate) and the action.
    /// Errors are (dialog block, sentence) pairs.
    pub(crate) fn dialog_choice(
        &self,
        who: &Principal,
        alias: Option<&str>,
        action: Option<&str>,
        reason: Option<String>,
    ) -> Result<Command, Vec<(&'static str, String)>> {
        use crate::report::blocks::{MODAL_ACTION_BLOCK, MODAL_INSTANCE_BLOCK, MODAL_REASON_BLOCK};
        let mut errors = Vec::new();
        // An instance the person may not see is as absent as one that is not there.
        let inst = alias
            .and_then(|a| self.config.instance(a))
            .filter(|i| self.policy.may_view(who, i));
        match inst {
            None => errors.push((MODAL_INSTANCE_BLOCK, messages::dialog_choose_instance())),
            Some(i) if !self.policy.may_operate(who, i) => errors.push((
                MODAL_INSTANCE_BLOCK,
                messages::dialog_may_not(i.alias.as_ref(), &self.policy.ask()),
            )),
            Some(_) => {}
        }
        let verb = match action {
            Some("start") => Some(Verb::Start),
            Some("stop") => Some(Verb::Stop),
            _ => {
                errors.push((MODAL_ACTION_BLOCK, messages::dialog_choose_action()));
                None
            }
        };
        if let (Some(i), Some(Verb::Start), None) = (inst, verb, &reason)
            && i.guard.is_some()
        {
            errors.push((
                MODAL_REASON_BLOCK,
                messages::dialog_needs_reason(i.alias.as_ref()),
            ));
        }
        match (inst, verb) {
            (Some(inst), Some(verb)) if errors.is_empty() => Ok(Command {
                reason,
                ..Command::new(verb, Some(inst.alias.to_string()))
            }),
            _ => Err(errors),
        }
    }
}
