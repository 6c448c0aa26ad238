//! Decides whether a principal may do what it asked: deny by default, then a
//! per-principal rate limit.
//!
//! Operators may start and stop, viewers may see status, admins may do everything.
//! Every refusal carries a sentence a person can act on: why, and whom to ask.

use crate::config::{Config, Instance};
use crate::domain::{Principal, Verb};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::sync::Arc;

/// The outcome of the decide step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Refusal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotOperator {
        alias: String,
        ask: String,
    },
    NotViewer {
        alias: String,
        ask: String,
    },
    RateLimited {
        per_minute: u32,
        retry_after_secs: u64,
    },
}

impl Refusal {
    /// A short tag for the audit store and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotOperator { .. } => "not_operator",
            Refusal::NotViewer { .. } => "not_viewer",
            Refusal::RateLimited { .. } => "rate_limited",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotOperator { alias, ask } => write!(
                f,
                "you are not an operator of {alias}, so you cannot start or stop it; ask {ask} to add you"
            ),
            Refusal::NotViewer { alias, ask } => {
                write!(
                    f,
                    "you may not see {alias}; ask {ask} to add you as a viewer"
                )
            }
            Refusal::RateLimited {
                per_minute,
                retry_after_secs,
            } => write!(
                f,
                "you have sent more than {per_minute} requests in a minute; try again in {retry_after_secs} s"
            ),
        }
    }
}

pub struct Policy {
    config: Arc<Config>,
    limiter: DefaultKeyedRateLimiter<Principal>,
}

impl Policy {
    pub fn new(config: Arc<Config>) -> Self {
        let limiter = RateLimiter::keyed(Quota::per_minute(config.per_user_per_minute));
        Self { config, limiter }
    }

    /// Counts one request against the principal's budget. Called once per request,
    /// before any other decision, so a refused flood is limited too.
    pub fn admit(&self, who: &Principal) -> Result<(), Refusal> {
        // The bot's own timers are bounded by the config, not by a person.
        if matches!(who, Principal::Timer(_)) {
            return Ok(());
        }
        self.limiter.check_key(who).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            Refusal::RateLimited {
                per_minute: self.config.per_user_per_minute.get(),
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }

    /// Forgets principals whose budget is full again, so memory does not grow with
    /// every user ever seen.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    pub fn is_admin(&self, who: &Principal) -> bool {
        self.config.admins.contains(who)
    }

    pub fn may_operate(&self, who: &Principal, inst: &Instance) -> bool {
        self.is_admin(who) || inst.operators.contains(who)
    }

    pub fn may_view(&self, who: &Principal, inst: &Instance) -> bool {
        self.may_operate(who, inst) || inst.viewers.contains(who)
    }

    /// Whom to ask for access: the admins as the config names them.
    pub fn ask(&self) -> String {
        let names: Vec<String> = self
            .config
            .admins
            .written
            .iter()
            .map(|w| {
                if w.starts_with('U') || w.starts_with('W') {
                    format!("<@{w}>")
                } else {
                    w.clone()
                }
            })
            .collect();
        if names.is_empty() {
            "the platform team".into()
        } else {
            names.join(" or ")
        }
    }

    /// The policy decision for one verb on one instance.
    pub fn decide(&self, who: &Principal, verb: Verb, inst: &Instance) -> Decision {
        let allowed = if let Principal::Timer(_) = who {
            // A timer may stop (and look), never start or extend anything.
            matches!(verb, Verb::Stop | Verb::Status)
        } else if verb.mutates() {
            self.may_operate(who, inst)
        } else {
            self.may_view(who, inst)
        };
        if allowed {
            return Decision::Allow;
        }
        let alias = inst.alias.to_string();
        let ask = self.ask();
        Decision::Deny(if verb.mutates() {
            Refusal::NotOperator { alias, ask }
        } else {
            Refusal::NotViewer { alias, ask }
        })
    }

    /// The instances a principal may see, in config order.
    pub fn visible<'a>(&'a self, who: &'a Principal) -> impl Iterator<Item = &'a Instance> + 'a {
        self.config
            .instances
            .iter()
            .filter(move |i| self.may_view(who, i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BotId, SlackUserId};

    fn policy(per_minute: u32) -> Policy {
        let text = format!(
            r#"
[slack]
teams = ["T0123ABCD"]
[limits]
per_user_per_minute = {per_minute}
[groups]
researchers = ["U01AAAAAAAA"]
platform = ["U02CCCCCCCC"]
[access]
admins = ["@platform"]
[[instance]]
alias = "foo"
name = "projects/example-project/locations/us-central1-a/instances/foo"
operators = ["@researchers", "workflow:B0FLOW1"]
viewers = ["*"]
[[instance]]
alias = "secret"
name = "projects/example-project/locations/us-central1-a/instances/secret"
operators = ["U01AAAAAAAA"]
"#
        );
        Policy::new(Arc::new(Config::parse(&text).unwrap()))
    }

    fn user(id: &str) -> Principal {
        Principal::User(SlackUserId::parse(id).unwrap())
    }

    #[test]
    fn nobody_is_allowed_anything_unless_named() {
        let p = policy(10);
        let secret = p.config.instance("secret").unwrap().clone();
        let stranger = user("U09ZZZZZZZZ");
        assert!(matches!(
            p.decide(&stranger, Verb::Status, &secret),
            Decision::Deny(Refusal::NotViewer { .. })
        ));
        assert!(matches!(
            p.decide(&stranger, Verb::Start, &secret),
            Decision::Deny(Refusal::NotOperator { .. })
        ));
    }

    #[test]
    fn viewers_may_look_but_not_touch() {
        let p = policy(10);
        let foo = p.config.instance("foo").unwrap().clone();
        let viewer = user("U09ZZZZZZZZ");
        assert_eq!(p.decide(&viewer, Verb::Status, &foo), Decision::Allow);
        let Decision::Deny(r) = p.decide(&viewer, Verb::Stop, &foo) else {
            panic!("viewer stopped foo")
        };
        assert_eq!(
            r.to_string(),
            "you are not an operator of foo, so you cannot start or stop it; ask @platform to add you"
        );
    }

    #[test]
    fn operators_groups_workflows_and_admins_may_act() {
        let p = policy(10);
        let foo = p.config.instance("foo").unwrap().clone();
        assert_eq!(
            p.decide(&user("U01AAAAAAAA"), Verb::Start, &foo),
            Decision::Allow
        );
        assert_eq!(
            p.decide(&user("U02CCCCCCCC"), Verb::Stop, &foo),
            Decision::Allow
        );
        let flow = Principal::Workflow(BotId::parse("B0FLOW1").unwrap());
        assert_eq!(p.decide(&flow, Verb::Start, &foo), Decision::Allow);
        let other_flow = Principal::Workflow(BotId::parse("B0OTHER").unwrap());
        assert!(matches!(
            p.decide(&other_flow, Verb::Status, &foo),
            Decision::Deny(_)
        ));
    }

    #[test]
    fn the_rate_limit_is_per_principal() {
        let p = policy(3);
        let (a, b) = (user("U01AAAAAAAA"), user("U01BBBBBBBB"));
        for _ in 0..3 {
            assert!(p.admit(&a).is_ok());
        }
        let refused = p.admit(&a).unwrap_err();
        assert!(matches!(
            refused,
            Refusal::RateLimited {
                per_minute: 3,
                retry_after_secs: 1..
            }
        ));
        assert!(p.admit(&b).is_ok(), "another user is unaffected");
    }
}
