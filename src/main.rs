//! The `workbench-bot` command: `serve`, `check-config`, `simulate`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use workbench_bot::Config;
use workbench_bot::Settings;
use workbench_bot::{Application, shutdown_signal};

/// Cloud Run allows 10 s from SIGTERM to exit: wait this long for work in
/// flight, then mark what is left interrupted, flush the audit, and exit.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(6);

#[derive(Parser)]
#[command(
    name = "workbench-bot",
    version,
    about = "Start, stop and inspect Vertex AI Workbench instances from Slack"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args)]
struct ConfigArg {
    /// The TOML config file.
    #[arg(long, env = "WORKBENCH_BOT_CONFIG")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the Slack app (HTTP routes, or Socket Mode when slack.mode = "socket").
    Serve(ConfigArg),
    /// Carry out a repository_dispatch in a GitHub Actions job; exits 1 on any
    /// refusal or failure, with a one-line reason.
    HandleDispatch {
        /// The event file GitHub Actions provides.
        #[arg(long, env = "GITHUB_EVENT_PATH")]
        event_path: PathBuf,
        #[arg(long, env = "WORKBENCH_BOT_CONFIG")]
        config: PathBuf,
    },
    /// Validate a config file; exits 1 listing every problem with its line.
    CheckConfig(ConfigArg),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Send a signed slash command to a running bot and print what comes back.
    Simulate {
        /// The bot's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The Slack user id to act as.
        #[arg(long = "as", default_value = "U01AAAAAAAA")]
        user: String,
        #[arg(long, default_value = "T0123ABCD")]
        team: String,
        #[arg(long, default_value = "C0SIMULATE")]
        channel: String,
        #[arg(long, default_value = "/notebook")]
        command: String,
        /// Seconds to keep listening after the last message.
        #[arg(long, default_value_t = 3)]
        quiet: u64,
        /// The command text, e.g. "start foo".
        text: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Write every audit row since a date to stdout, oldest first, for BigQuery
    /// or a SIEM. Reads the store the config names (or DATABASE_URL).
    Export {
        #[command(flatten)]
        config: ConfigArg,
        /// A date (2026-11-01, midnight UTC) or an RFC 3339 time.
        #[arg(long)]
        since: String,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: workbench_bot::store::export::Format,
    },
}

/// `audit export`: exits 1 with a sentence on any failure.
async fn audit_export(
    config: &Config,
    since: &str,
    format: workbench_bot::store::export::Format,
) -> ExitCode {
    use workbench_bot::store::{Store, export};
    let result = async {
        let since = export::since(since)?;
        let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| config.store.url.clone());
        let store = Store::open_with(&url, &config.store.pool).await?;
        export::export(&store, &since, format, std::io::stdout()).await
    };
    match result.await {
        Ok(n) => {
            eprintln!("exported {n} audit row(s)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("audit export failed: {e}");
            ExitCode::from(1)
        }
    }
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(1)
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::CheckConfig(c) => match load(&c.config) {
            Ok(cfg) => {
                println!(
                    "{}: ok ({} instance(s), {} group(s), default backend {})",
                    c.config.display(),
                    cfg.instances.len(),
                    cfg.groups.len(),
                    cfg.default_backend.as_str()
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Cmd::Audit(AuditCmd::Export {
            config,
            since,
            format,
        }) => match load(&config.config) {
            Ok(cfg) => audit_export(&cfg, &since, format).await,
            Err(code) => code,
        },
        Cmd::Serve(c) => {
            let _flushing = workbench_bot::logging::init(workbench_bot::logging::Output::Stdout);
            let config = match load(&c.config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let settings = match Settings::from_env() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            let app = match Application::build(config, settings).await {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("cannot start: {e}");
                    return ExitCode::from(1);
                }
            };
            match app.run_until(shutdown_signal(), SHUTDOWN_DRAIN).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("server failed: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::HandleDispatch { event_path, config } => {
            let _flushing = workbench_bot::logging::init(workbench_bot::logging::Output::Stderr);
            let config = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let settings = match Settings::from_env() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("failed: {e}");
                    return ExitCode::from(1);
                }
            };
            let result =
                workbench_bot::transport::dispatch::run(&event_path, config, settings).await;
            if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY") {
                let (notebook, command) =
                    workbench_bot::transport::dispatch::describe_event(&event_path);
                if let Err(e) = workbench_bot::transport::dispatch::write_summary(
                    summary.as_ref(),
                    &notebook,
                    &command,
                    &result,
                ) {
                    eprintln!("could not write the job summary: {e}");
                }
            }
            if result.ok {
                println!("{}", result.line);
                ExitCode::SUCCESS
            } else {
                eprintln!("{}", result.line);
                ExitCode::from(1)
            }
        }
        Cmd::Simulate {
            url,
            user,
            team,
            channel,
            command,
            quiet,
            text,
        } => {
            let Some(secret) = std::env::var("SLACK_SIGNING_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
            else {
                eprintln!("set SLACK_SIGNING_SECRET to the same value the bot runs with");
                return ExitCode::from(2);
            };
            let sim = workbench_bot::simulate::Simulation {
                bot_url: url,
                signing_secret: secret,
                user,
                team,
                channel,
                command,
                text: text.join(" "),
                quiet: Duration::from_secs(quiet),
                max_wait: Duration::from_secs(quiet.max(1) * 10),
            };
            match workbench_bot::simulate::run(sim).await {
                Ok(t) => {
                    println!("{}", t.render());
                    if t.status == 200 {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
