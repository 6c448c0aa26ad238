//! Builds the whole application from a config and the environment, binds its
//! listener and returns the bound port, so `main` and the tests start exactly the
//! same server (tests on `127.0.0.1:0`).

use crate::act::Backends;
use crate::config::{Config, SlackMode};
use crate::pipeline::App;
use crate::report::{Reporter, SlackError, SlackHttpClient, slack_client};
use crate::settings::Settings;
use crate::store::Store;
use crate::transport::{HttpState, Spawner, router};
use crate::verify::Verifier;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("SLACK_SIGNING_SECRET is not set; the bot cannot verify Slack's requests without it")]
    NoSigningSecret,
    #[error("slack.mode is \"socket\" but SLACK_APP_TOKEN (an app-level xapp- token) is not set")]
    NoAppToken,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error("cannot build the HTTP client that fetches Google's token keys: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub struct Application {
    listener: TcpListener,
    state: HttpState,
    tasks: TaskTracker,
    housekeeping: tokio::task::JoinHandle<()>,
    /// Socket Mode: the Web API client and the app-level token.
    socket: Option<(Arc<SlackHttpClient>, String)>,
}

/// Cloud Monitoring's client, only where it is asked for: an instance with
/// `idle_minutes` on a backend that reaches Google, and Google credentials.
/// Building it calls nothing, so it never delays start-up.
fn monitor(
    config: &Config,
    settings: &Settings,
    backends: &Backends,
) -> Option<crate::activity::Monitor> {
    let wanted = config
        .instances
        .iter()
        .any(|i| i.idle.is_some() && i.backend != crate::config::BackendKind::DryRun);
    let tokens = backends.google().filter(|_| wanted)?.clone();
    let timing = &settings.timing;
    match crate::activity::MonitoringClient::new(
        &settings.monitoring_api_url,
        tokens,
        timing.first_retry,
        timing.request_timeout.min(timing.monitoring_bound),
    ) {
        Ok(client) => Some(crate::activity::Monitor::new(
            client,
            timing.monitoring_bound,
        )),
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the Cloud Monitoring client; idle stops are off");
            None
        }
    }
}

impl Application {
    pub async fn build(config: Config, settings: Settings) -> Result<Self, StartupError> {
        crate::tls::install();
        let config = Arc::new(config);
        let verifier = match (&settings.slack_signing_secret, config.slack_mode) {
            (Some(s), _) => Some(
                Verifier::new(s.expose()).with_previous(
                    settings
                        .slack_signing_secret_previous
                        .as_ref()
                        .map(|p| p.expose()),
                ),
            ),
            (None, SlackMode::Socket) => None,
            (None, SlackMode::Http) => return Err(StartupError::NoSigningSecret),
        };
        // DATABASE_URL replaces store.url whole (a platform's usual way to hand
        // over a database with its password).
        let url = settings
            .database_url
            .as_ref()
            .map(|u| u.expose().to_owned())
            .unwrap_or_else(|| config.store.url.clone());
        let store = Store::open_with(&url, &config.store.pool).await?;
        let client = Arc::new(slack_client(&settings.slack_api_url)?);
        let socket = match config.slack_mode {
            SlackMode::Http => None,
            SlackMode::Socket => match &settings.slack_app_token {
                Some(t) => Some((client.clone(), t.expose().to_owned())),
                None => return Err(StartupError::NoAppToken),
            },
        };
        let reporter = Reporter::new(
            client,
            settings
                .slack_bot_token
                .as_ref()
                .map(|t| t.expose().to_owned()),
        )
        .with_timeout(settings.timing.slack_timeout);
        let backends = Backends::build(&config, &settings).await;
        let monitor = monitor(&config, &settings, &backends);
        let app = Arc::new(
            App::new(config.clone(), backends, reporter, store)
                .with_clock(settings.clock.clone())
                .with_monitor(monitor),
        );

        let addr = match settings.port {
            Some(port) => SocketAddr::from(([0, 0, 0, 0], port)),
            None => config.listen,
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let tasks = TaskTracker::new();
        let housekeeping =
            tokio::spawn(housekeeping(app.clone(), tasks.clone(), config.store.sweep));
        let homes = app.clone();
        tokio::spawn(async move { homes.keep_homes().await });
        let tick_auth = match (&config.scheduler.audience, &config.scheduler.invoker) {
            (Some(audience), Some(invoker)) => Some(crate::oidc::OidcVerifier::new(
                config.scheduler.jwks_url.clone(),
                audience.clone(),
                invoker.clone(),
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(StartupError::HttpClient)?,
            )),
            _ => None,
        };
        if let Some(people) = config.step_builders.clone() {
            tokio::spawn(set_step_builders(app.reporter.clone(), people));
        }
        app.adopt_alias_keys().await;
        let resumed = app.resume_pending(&tasks).await;
        if resumed > 0 {
            tracing::info!(resumed, "following operations a previous process left");
        }
        Ok(Self {
            listener,
            state: HttpState {
                spawner: Spawner::new(app, tasks.clone()),
                verifier,
                metrics_token: settings.metrics_token.clone(),
                tick_auth,
            },
            tasks,
            housekeeping,
            socket,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn app(&self) -> Arc<App> {
        self.state.spawner.app().clone()
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish (at
    /// most `drain`) and flushes the audit trail before returning.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        drain: Duration,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            state,
            tasks,
            housekeeping,
            socket,
        } = self;
        let app = state.spawner.app().clone();
        // Socket Mode runs beside the HTTP server, which keeps serving health.
        let socket = socket.map(|(client, token)| {
            let (spawner, stop) = (state.spawner.clone(), app.stopping.clone());
            tokio::spawn(async move {
                if let Err(e) = crate::transport::socket_mode(spawner, client, token, stop).await {
                    tracing::error!(error = %e, "Socket Mode stopped");
                }
            })
        });
        let router = router(state);
        tracing::info!(addr = %listener.local_addr()?, "workbench-bot listening");
        // The peer's address decides who may read /metrics without a token.
        let router = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        // Pollers let go of their operations (the next process resumes them);
        // quick work in flight finishes and is recorded.
        app.stopping.cancel();
        if let Some(s) = socket {
            let _ = s.await;
        }
        tasks.close();
        if tokio::time::timeout(drain, tasks.wait()).await.is_err() {
            let interrupted = app.store.interrupt_unsettled();
            tracing::warn!(
                interrupted,
                "requests still running at shutdown; their audit rows are marked interrupted"
            );
        }
        housekeeping.abort();
        app.store.flush().await;
        served
    }
}

/// Off the start-up path: Slack being slow or refusing must not keep the bot
/// from serving; the step's setting in Slack then stays as it was.
async fn set_step_builders(reporter: Reporter, people: Vec<String>) {
    match reporter.set_step_builders(&people).await {
        Ok(permission) => tracing::info!(
            builders = people.len(),
            permission,
            "set who may add the Control a notebook step to a workflow"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            "could not set who may add the Control a notebook step to a workflow; it stays as set in Slack"
        ),
    }
}

/// Keeps memory and tables from growing with time, and picks up operations that
/// a stopping or dead process let go of: in a rolling deploy the new process is
/// already running when the old one stops, so start-up alone would miss them.
async fn housekeeping(app: Arc<App>, tasks: TaskTracker, resume_every: Duration) {
    let mut prune = tokio::time::interval(Duration::from_secs(60));
    let mut resume = tokio::time::interval(resume_every);
    resume.tick().await;
    // The first tick comes one period after start-up, not at once: replicas of
    // a rolling deploy would otherwise all tick together, and a test that
    // drives `tick` itself would race the process's own.
    let tick = app.config.scheduler.tick;
    let mut timers = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    timers.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = timers.tick() => {
                match app.tick().await {
                    Ok(r) if r.warned + r.stopped > 0 => tracing::info!(warned = r.warned, stopped = r.stopped, "timers done"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not look at timers; trying again next tick"),
                }
                let prune_before = app.now() - chrono::Duration::days(30);
                if let Err(e) = app.store.db().prune_timers(prune_before.timestamp_millis()).await {
                    tracing::warn!(error = %e, "could not prune finished timer work");
                }
            }
            _ = prune.tick() => {
                app.policy.forget_idle();
                if let Err(e) = app.store.prune_events(Duration::from_secs(24 * 3600)).await {
                    tracing::warn!(error = %e, "could not prune old Slack event ids");
                }
                prune_audit(&app).await;
            }
            _ = resume.tick() => {
                if let Ok(n) = app.store.db().pending_count().await {
                    crate::metrics::pending_operations(n);
                }
                let resumed = app.resume_pending(&tasks).await;
                if resumed > 0 {
                    tracing::info!(resumed, "following operations another process let go of");
                }
            }
        }
    }
}

/// Deletes audit rows older than `store.audit_retention_days`, when set.
async fn prune_audit(app: &App) {
    let Some(days) = app.config.store.audit_retention_days else {
        return;
    };
    let before = (chrono::Utc::now() - chrono::Duration::days(i64::from(days))).to_rfc3339();
    match app.store.db().prune_audit(&before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            rows = n,
            days,
            "deleted audit rows past the retention period"
        ),
        Err(e) => tracing::warn!(error = %e, "could not apply the audit retention"),
    }
}

/// Resolves on SIGTERM (Cloud Run, systemd) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
