//! The dry-run backend: a simulated state per instance, kept in memory.
//!
//! For trying the bot without Google or GitHub. Every instance starts STOPPED; start
//! makes it ACTIVE and stop makes it STOPPED, so `status`, `list` and the card
//! buttons behave as they will for real. Nothing leaves the process.

use super::{Accelerator, ActContext, Backend, BackendError, InstanceStatus, Outcome, State};
use crate::config::{BackendKind, Instance};
use crate::domain::Alias;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// What every dry-run instance pretends to be.
pub const SIMULATED_MACHINE_TYPE: &str = "n1-standard-8";
pub const SIMULATED_ACCELERATOR: &str = "NVIDIA_TESLA_T4";

#[derive(Default)]
pub struct DryRun {
    // A std mutex: it is never held across an await.
    states: Mutex<HashMap<Alias, State>>,
}

impl DryRun {
    fn current(&self, inst: &Instance) -> State {
        self.states
            .lock()
            .expect("dry-run state lock")
            .get(&inst.alias)
            .cloned()
            .unwrap_or(State::Stopped)
    }

    fn set(&self, inst: &Instance, state: State) {
        self.states
            .lock()
            .expect("dry-run state lock")
            .insert(inst.alias.clone(), state);
    }

    fn status_of(&self, inst: &Instance, state: State) -> InstanceStatus {
        let running = state == State::Active;
        InstanceStatus {
            state,
            // A plausible GPU notebook, so prices and costs show in a try-out.
            machine_type: Some(SIMULATED_MACHINE_TYPE.into()),
            accelerators: vec![Accelerator {
                kind: SIMULATED_ACCELERATOR.into(),
                count: 1,
            }],
            update_time: None,
            vm_id: None,
            idle_shutdown_seconds: None,
            proxy_uri: running.then(|| format!("https://dry-run.invalid/{}", inst.alias)),
        }
    }
}

#[async_trait]
impl Backend for DryRun {
    fn kind(&self) -> BackendKind {
        BackendKind::DryRun
    }

    async fn status(&self, inst: &Instance) -> Result<InstanceStatus, BackendError> {
        Ok(self.status_of(inst, self.current(inst)))
    }

    async fn start(&self, inst: &Instance, _ctx: &ActContext) -> Result<Outcome, BackendError> {
        if self.current(inst) == State::Active {
            return Ok(Outcome::AlreadyThere(self.status_of(inst, State::Active)));
        }
        self.set(inst, State::Active);
        Ok(Outcome::Done(self.status_of(inst, State::Active)))
    }

    async fn stop(&self, inst: &Instance, _ctx: &ActContext) -> Result<Outcome, BackendError> {
        if self.current(inst) == State::Stopped {
            return Ok(Outcome::AlreadyThere(self.status_of(inst, State::Stopped)));
        }
        self.set(inst, State::Stopped);
        Ok(Outcome::Done(self.status_of(inst, State::Stopped)))
    }
}
