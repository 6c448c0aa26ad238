//! The direct backend: the Notebooks API v2 (Workbench Instances), called with the
//! bot's own service account.
//!
//! Start and stop are not blindly repeated: each attempt reads the state first, so
//! a start that Google applied before answering 503 is never sent twice.

mod client;

pub use client::{
    ApiAcceleratorConfig, ApiGceSetup, ApiInstance, ApiOperation, ApiStatus, NotebooksClient,
    NotebooksError, SCOPE, TokenSource,
};
pub(crate) use client::{Refused, google_answer, google_http};

use super::{ActContext, Backend, BackendError, InstanceStatus, Outcome, State};
use crate::config::{BackendKind, Instance};
use crate::domain::InstanceName;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Polling {
    pub first: Duration,
    pub max: Duration,
    pub timeout: Duration,
}

pub struct Notebooks {
    client: NotebooksClient,
    polling: Polling,
}

impl Notebooks {
    pub fn new(client: NotebooksClient, polling: Polling) -> Self {
        Self { client, polling }
    }

    async fn change(&self, inst: &Instance, start: bool) -> Result<Outcome, BackendError> {
        let (action, permission) = if start {
            ("start", "notebooks.instances.start")
        } else {
            ("stop", "notebooks.instances.stop")
        };
        let mut backoff = self.client.backoff();
        loop {
            let current = self
                .client
                .get_instance(&inst.name)
                .await
                .map_err(|e| explain(e, "notebooks.instances.get", &inst.name))?
                .status();
            let already = if start {
                current.state.is_running_or_coming_up()
            } else {
                current.state.is_stopped_or_going_down()
            };
            if already {
                return Ok(Outcome::AlreadyThere(current));
            }
            let may = if start {
                matches!(current.state, State::Stopped)
            } else {
                matches!(current.state, State::Active)
            };
            if !may {
                return Err(wrong_state(inst, &current.state, action));
            }
            match self.client.post_action(&inst.name, action).await {
                Ok(op) if op.done => return self.finish(inst, op, action).await,
                Ok(op) => return Ok(Outcome::Pending { operation: op.name }),
                Err(e) if e.is_transient() => match e.wait_before_retry(backoff.next()) {
                    Some(wait) => {
                        tracing::info!(error = %e, ?wait, instance = %inst.name, "{action} failed; will re-read the state and retry");
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(explain(e, permission, &inst.name)),
                },
                Err(e) => return Err(explain(e, permission, &inst.name)),
            }
        }
    }

    /// A finished operation: its error, or the instance it returned (read afresh
    /// when the response does not carry one).
    async fn finish(
        &self,
        inst: &Instance,
        op: ApiOperation,
        action: &str,
    ) -> Result<Outcome, BackendError> {
        if let Some(err) = op.error {
            let advice = operation_advice(action, inst, err.code, &err.message);
            return Err(BackendError::Google {
                advice,
                source: Arc::new(NotebooksError::Operation {
                    code: err.code,
                    message: err.message,
                }),
            });
        }
        let from_response = op
            .response
            .and_then(|r| serde_json::from_value::<ApiInstance>(r).ok())
            .filter(|i| i.state.is_some());
        let instance = match from_response {
            Some(i) => i,
            None => self
                .client
                .get_instance(&inst.name)
                .await
                .map_err(|e| explain(e, "notebooks.instances.get", &inst.name))?,
        };
        Ok(Outcome::Done(instance.status()))
    }
}

fn wrong_state(inst: &Instance, state: &State, action: &'static str) -> BackendError {
    let hint = match (state, action) {
        (State::Stopping, "start") => "; wait until it has stopped, then start it".to_owned(),
        (State::Starting | State::Provisioning | State::Initializing, "stop") => {
            "; wait until it is running, then stop it".to_owned()
        }
        (State::Deleted, _) => "; the platform team should remove it from the config".to_owned(),
        (State::Orphaned, _) => {
            "; its VM is gone, so ask the platform team to look at it".to_owned()
        }
        _ => format!("; ask the platform team if it stays {state}"),
    };
    BackendError::WrongState {
        alias: inst.alias.to_string(),
        state: state.clone(),
        verb: action,
        hint,
    }
}

#[async_trait]
impl Backend for Notebooks {
    fn kind(&self) -> BackendKind {
        BackendKind::Notebooks
    }

    async fn status(&self, inst: &Instance) -> Result<InstanceStatus, BackendError> {
        self.client
            .get_instance(&inst.name)
            .await
            .map(|i| i.status())
            .map_err(|e| explain(e, "notebooks.instances.get", &inst.name))
    }

    async fn statuses(&self, insts: &[&Instance]) -> Vec<Result<InstanceStatus, BackendError>> {
        // One paged list per location instead of one read per instance.
        let mut by_parent: HashMap<&str, Result<HashMap<String, InstanceStatus>, BackendError>> =
            HashMap::new();
        for inst in insts {
            let parent = inst.name.parent();
            if !by_parent.contains_key(parent) {
                let listed = self
                    .client
                    .list_instances(parent)
                    .await
                    .map(|all| {
                        all.into_iter()
                            .map(|i| (i.name.clone(), i.status()))
                            .collect()
                    })
                    .map_err(|e| explain(e, "notebooks.instances.list", &inst.name));
                by_parent.insert(parent, listed);
            }
        }
        insts
            .iter()
            .map(|inst| match &by_parent[inst.name.parent()] {
                Ok(found) => found.get(inst.name.as_ref()).cloned().ok_or_else(|| {
                    let gone = NotebooksError::Status {
                        status: 404,
                        google_status: "NOT_FOUND".into(),
                        message: String::new(),
                        retry_after: None,
                    };
                    explain(gone, "notebooks.instances.get", &inst.name)
                }),
                Err(e) => Err(e.clone()),
            })
            .collect()
    }

    async fn start(&self, inst: &Instance, _ctx: &ActContext) -> Result<Outcome, BackendError> {
        self.change(inst, true).await
    }

    async fn stop(&self, inst: &Instance, _ctx: &ActContext) -> Result<Outcome, BackendError> {
        self.change(inst, false).await
    }

    async fn wait(&self, inst: &Instance, operation: &str) -> Result<Outcome, BackendError> {
        let started = Instant::now();
        let mut interval = self.polling.first;
        loop {
            let op = self
                .client
                .get_operation(operation)
                .await
                .map_err(|e| explain_operation(e, operation, &inst.name))?;
            if op.done {
                return self.finish(inst, op, "requested").await;
            }
            let left = self.polling.timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                let what = self
                    .client
                    .get_instance(&inst.name)
                    .await
                    .map(|i| i.status().state.describe().to_owned())
                    .unwrap_or_else(|_| "changing".into());
                return Err(BackendError::StillRunning {
                    alias: inst.alias.to_string(),
                    what,
                    waited_secs: started.elapsed().as_secs(),
                });
            }
            tokio::time::sleep(interval.min(left)).await;
            interval = (interval * 2).min(self.polling.max);
        }
    }
}

/// Puts a Notebooks API failure in a person's words (what failed, on which side,
/// what to do), keeping the failure itself as the source.
fn explain(e: NotebooksError, permission: &str, name: &InstanceName) -> BackendError {
    let advice = match &e {
        NotebooksError::Status {
            status: 401,
            message,
            ..
        } => format!(
            "Google did not accept the bot's credentials (HTTP 401: {message}): the access token is expired or revoked. On Cloud Run this fixes itself at the next token; in a GitHub workflow, the step that mints GOOGLE_OAUTH_ACCESS_TOKEN must run again"
        ),
        NotebooksError::Status {
            status: 403,
            message,
            ..
        } => format!(
            "the bot's service account may not do this: it needs `{permission}` on {name} (Google said: {message}). The platform team can grant the bot's custom role"
        ),
        NotebooksError::Status { status: 404, .. } => format!(
            "{name} does not exist in Google Cloud; the bot's config names an instance that is gone, so the platform team should fix the config"
        ),
        NotebooksError::Status {
            status: 400 | 409,
            google_status,
            message,
            ..
        } => format!("Google would not do it now ({google_status}): {message}"),
        NotebooksError::Status {
            status: 429,
            retry_after,
            ..
        } => match retry_after {
            Some(wait) => format!(
                "Google is rate limiting the bot and asked it to wait {} s; nothing was changed, try again after that",
                wait.as_secs()
            ),
            None => "Google is rate limiting the bot; nothing was changed, try again in a minute"
                .to_owned(),
        },
        NotebooksError::Status {
            status, message, ..
        } if *status >= 500 => format!(
            "Google Cloud had an error (HTTP {status}: {message}) and kept having it after retries; try again in a few minutes"
        ),
        other => other.to_string(),
    };
    BackendError::Google {
        advice,
        source: Arc::new(e),
    }
}

/// What a failed operation means and what to try. Running out of GPUs in a
/// zone and out of quota are the two failures people meet most on GPU
/// notebooks, and both have a next step that is not "try again now".
fn operation_advice(action: &str, inst: &Instance, code: i32, message: &str) -> String {
    let alias = &inst.alias;
    let lower = message.to_ascii_lowercase();
    if message.contains("ZONE_RESOURCE_POOL_EXHAUSTED")
        || message.contains("STOCKOUT")
        || lower.contains("does not have enough resources available")
    {
        format!(
            "Google has no free capacity for {alias}'s machine type or GPUs in its zone right now (ZONE_RESOURCE_POOL_EXHAUSTED), so the {action} did not happen. Try again in 15 to 30 minutes; if it keeps happening, the platform team can move the instance to another zone or machine type"
        )
    } else if lower.contains("quota") && lower.contains("exceeded") {
        format!(
            "the project is out of quota, so the {action} of {alias} did not happen ({message}). Stop another instance that uses the same GPUs, or ask the platform team to request more quota (IAM & Admin, Quotas)"
        )
    } else {
        format!("the {action} operation on {alias} failed: {message} (code {code})")
    }
}

/// A failure while following an operation: a 404 there means Google no longer
/// knows the operation, not that the instance is gone.
fn explain_operation(e: NotebooksError, operation: &str, name: &InstanceName) -> BackendError {
    match e {
        NotebooksError::Status { status: 404, .. } => BackendError::Google {
            advice: format!(
                "Google no longer knows the operation {operation} on {name}, so the bot cannot tell how it ended; check the instance's state with `status`"
            ),
            source: Arc::new(e),
        },
        other => explain(other, "notebooks.operations.get", name),
    }
}
