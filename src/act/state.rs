//! What a backend can tell about an instance: its state in the Notebooks API's
//! own words, and how those read to a person.

use std::fmt;

/// Instance states as the Notebooks API v2 names them (revision 20261006).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum State {
    Starting,
    Provisioning,
    Active,
    Stopping,
    Stopped,
    Deleted,
    Upgrading,
    Initializing,
    Suspending,
    Suspended,
    Orphaned,
    Unspecified,
    Other(String),
}

impl State {
    pub fn from_api(s: &str) -> Self {
        match s {
            "STARTING" => State::Starting,
            "PROVISIONING" => State::Provisioning,
            "ACTIVE" => State::Active,
            "STOPPING" => State::Stopping,
            "STOPPED" => State::Stopped,
            "DELETED" => State::Deleted,
            "UPGRADING" => State::Upgrading,
            "INITIALIZING" => State::Initializing,
            "SUSPENDING" => State::Suspending,
            "SUSPENDED" => State::Suspended,
            "ORPHANED" => State::Orphaned,
            "STATE_UNSPECIFIED" => State::Unspecified,
            other => State::Other(other.to_owned()),
        }
    }

    pub fn as_api(&self) -> &str {
        match self {
            State::Starting => "STARTING",
            State::Provisioning => "PROVISIONING",
            State::Active => "ACTIVE",
            State::Stopping => "STOPPING",
            State::Stopped => "STOPPED",
            State::Deleted => "DELETED",
            State::Upgrading => "UPGRADING",
            State::Initializing => "INITIALIZING",
            State::Suspending => "SUSPENDING",
            State::Suspended => "SUSPENDED",
            State::Orphaned => "ORPHANED",
            State::Unspecified => "STATE_UNSPECIFIED",
            State::Other(s) => s,
        }
    }

    /// Words a researcher reads: "running", not "ACTIVE".
    pub fn describe(&self) -> &str {
        match self {
            State::Active => "running",
            State::Stopped => "stopped",
            State::Starting | State::Provisioning | State::Initializing => "starting",
            State::Stopping => "stopping",
            State::Deleted => "deleted",
            State::Upgrading => "upgrading",
            State::Suspending => "suspending",
            State::Suspended => "suspended",
            State::Orphaned => "orphaned (its VM is gone)",
            State::Unspecified | State::Other(_) => "in an unknown state",
        }
    }

    pub fn is_running_or_coming_up(&self) -> bool {
        matches!(
            self,
            State::Active | State::Starting | State::Provisioning | State::Initializing
        )
    }

    pub fn is_stopped_or_going_down(&self) -> bool {
        matches!(self, State::Stopped | State::Stopping)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// GPUs attached to an instance: Google's type name and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accelerator {
    pub kind: String,
    pub count: u32,
}

impl fmt::Display for Accelerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} × {}", self.count, self.kind)
    }
}

/// What a backend can tell about one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    pub state: State,
    pub machine_type: Option<String>,
    pub accelerators: Vec<Accelerator>,
    /// RFC 3339 time of the last change, as Google reports it.
    pub update_time: Option<String>,
    /// The JupyterLab address, when the instance runs.
    pub proxy_uri: Option<String>,
    /// The Compute Engine id of the VM behind it (`gceSetup.instanceId`):
    /// what Cloud Monitoring's series are labelled with.
    pub vm_id: Option<String>,
    /// Workbench's own idle shutdown (metadata `idle-timeout-seconds`), when set.
    pub idle_shutdown_seconds: Option<u64>,
}

impl InstanceStatus {
    pub fn bare(state: State) -> Self {
        Self {
            state,
            machine_type: None,
            accelerators: Vec::new(),
            update_time: None,
            proxy_uri: None,
            vm_id: None,
            idle_shutdown_seconds: None,
        }
    }
}

/// Whether a state read confirms that an instance is no longer running.
pub fn confirms_stop(state: &State) -> bool {
    matches!(state, State::Stopped | State::Deleted)
}
