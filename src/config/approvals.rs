//! `approvers` and `approval_timeout_minutes`: the instances whose starts wait
//! for a second person's yes, and where the request for it goes.

use super::Members;
use super::lists::{MemberLists, Problems};
use super::raw::RawInstance;
use crate::domain::{Lasting, Principal};

/// How long an approval request waits for an answer, unless set.
const DEFAULT_TIMEOUT_MINUTES: u32 = 60;

/// A guarded instance: its starts wait for one of `approvers`, never the
/// requester, for at most `timeout`. Stops never wait: stopping saves money.
#[derive(Debug, Clone)]
pub struct Guard {
    pub approvers: Members,
    pub timeout: Lasting,
}

impl Guard {
    /// Who may say yes to `requester`'s start: an approver, never themselves.
    pub fn may_decide(&self, who: &Principal, requester: &Principal) -> bool {
        self.approvers.contains(who) && !who.same_as(requester)
    }

    /// Whether anyone but `requester` may approve their request.
    pub fn someone_else(&self, requester: &Principal) -> bool {
        self.approvers.anyone
            || self
                .approvers
                .principals
                .iter()
                .any(|p| matches!(p, Principal::User(_)) && !p.same_as(requester))
    }

    /// The people to ask directly when there is no approvals channel.
    pub fn people(&self) -> Vec<String> {
        self.approvers.people()
    }
}

pub(super) fn guard(
    inst: &RawInstance,
    members: &MemberLists,
    approvals_channel: Option<&str>,
    p: &mut Problems,
) -> Option<Guard> {
    let alias = inst.alias.get_ref();
    let Some(list) = &inst.approvers else {
        if let Some(t) = &inst.approval_timeout_minutes {
            p.add(
                t.span(),
                format!("instance \"{alias}\" sets approval_timeout_minutes but no approvers"),
            );
        }
        return None;
    };
    let field = format!("instance \"{alias}\" approvers");
    if list.get_ref().is_empty() {
        p.add(
            list.span(),
            format!("{field} is empty: name who may approve a start, or leave the key out"),
        );
        return None;
    }
    let approvers = members.resolve(list.get_ref(), &field, p);
    let guard = Guard {
        approvers,
        timeout: Lasting::from_minutes(DEFAULT_TIMEOUT_MINUTES).expect("an hour is a length"),
    };
    let timeout = match &inst.approval_timeout_minutes {
        None => guard.timeout,
        Some(t) => match Lasting::from_minutes(*t.get_ref()) {
            Ok(l) => l,
            Err(e) => {
                p.add(
                    t.span(),
                    format!("instance \"{alias}\" approval_timeout_minutes: {e}"),
                );
                return None;
            }
        },
    };
    if approvals_channel.is_none() && (guard.approvers.anyone || guard.people().is_empty()) {
        p.add(
            list.span(),
            format!(
                "{field} must name people (U… or @group of them) when slack.approvals_channel is unset: the bot asks each of them in a direct message"
            ),
        );
        return None;
    }
    Some(Guard { timeout, ..guard })
}
