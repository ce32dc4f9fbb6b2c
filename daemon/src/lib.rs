//! `memscope daemon`: a long-running service with a persistent job queue and an HTTP
//! API. Jobs run one process each (`memscope-engine run`, see [`child`]); the queue
//! lives in the state directory, so a crash or a restart loses no job, and interrupted
//! jobs resume from their last checkpoint. The daemon links no libtorch (its binary is
//! `memscope-daemon`): it never trains, plugins' settings are checked in an engine
//! process too ([`plugin_check`]), and the review pages of its runs are served by one
//! ([`review`]).

#![warn(missing_docs)]

mod api;
mod child;
mod error;
mod gpus;
mod guard;
mod job_log;
mod plugin_check;
mod policy;
mod review;
mod run_metrics;
mod runner;
mod shared;
mod signals;
mod store;

pub use api::JobView;
pub use api::JOB_MEDIA_TYPE;
pub use error::{ApiError, DaemonError};
pub use guard::HostRules;
pub use plugin_check::SettingsChecker;
pub use policy::Policy;
pub use runner::RunnerCommand;
pub use store::{JobRecord, JobState, Store};

use actix_web::{middleware, App, HttpServer};
use memscope_base::config::{load_daemon_file, ConfigError, DaemonConfig};
use shared::{Settings, Shared};
use std::path::PathBuf;
use std::sync::Arc;

/// How the daemon was started: its config file and the command-line overrides.
#[derive(Debug, Clone, Default)]
pub struct DaemonOptions {
    /// The config file; defaults apply without one.
    pub config_file: Option<PathBuf>,
    /// Overrides `listen`.
    pub listen: Option<String>,
    /// Overrides `state_dir`.
    pub state_dir: Option<PathBuf>,
}

impl DaemonOptions {
    /// Loads the config file with the overrides applied; also used on SIGHUP.
    pub fn load(&self) -> Result<DaemonConfig, ConfigError> {
        let mut config = load_daemon_file(self.config_file.as_deref())?;
        if let Some(listen) = &self.listen {
            config.listen = listen.clone();
        }
        if let Some(dir) = &self.state_dir {
            config.state_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
        }
        let problems = config.validate();
        if !problems.is_empty() {
            let origin = "daemon config with command-line overrides".to_string();
            return Err(ConfigError::Invalid { origin, problems });
        }
        Ok(config)
    }
}

/// Runs the daemon until SIGTERM or SIGINT; returns after running jobs were stopped
/// (within the grace period) and the server closed.
///
/// The order matters: the listen address is bound first, so that a port in use is an
/// error before the state lock is taken and before any job starts; then the state
/// lock; then the log file inside the state directory.
pub fn serve(options: DaemonOptions) -> Result<(), DaemonError> {
    let config = options.load()?;
    let addr = config.listen_addr().expect("validate() checked the address");
    let listener = std::net::TcpListener::bind(addr).map_err(|source| DaemonError::Bind { addr: addr.to_string(), source })?;
    let state_dir = &config.state_dir;
    std::fs::create_dir_all(state_dir).map_err(|e| DaemonError::io(state_dir, e))?;
    let lock_path = state_dir.join("daemon.lock");
    let lock = std::fs::File::create(&lock_path).map_err(|e| DaemonError::io(&lock_path, e))?;
    lock.try_lock().map_err(|_| DaemonError::StateLocked { path: lock_path.clone() })?;
    let log_path = state_dir.join(LOG_FILE);
    memscope_base::logging::log_to_file(&log_path).map_err(|e| DaemonError::io(&log_path, e))?;
    // After the log file: resolving `gpus = "auto"` says what it found there.
    let settings = Settings::new(config.clone())
        .map_err(|message| DaemonError::Record { path: config.auth_token_file.clone().unwrap_or_default(), message })?;
    if !addr.ip().is_loopback() && settings.token.is_none() {
        tracing::warn!("listening on {addr}, which is not loopback, without `auth_token_file`: anyone who can reach it can submit jobs");
    }
    for root in config.data_roots.iter().filter(|r| !r.exists()) {
        tracing::warn!("data root {} does not exist (yet): nothing under it can be submitted", root.display());
    }
    let runs_dir = config.runs_dir();
    std::fs::create_dir_all(&runs_dir).map_err(|e| DaemonError::io(&runs_dir, e))?;

    // No libtorch in this process: its build_info names none (jobs run in engines).
    let metrics = memscope_prometheus::install_recorder("cpu", "")?;
    let store = Store::open(state_dir)?;
    let (commands, receiver) = crossbeam_channel::unbounded();
    let engine = memscope_cli::engine_path().map_err(|e| DaemonError::io(std::path::Path::new(memscope_cli::ENGINE), e))?;
    let (checker, reviews) = (SettingsChecker::new(engine.clone()), review::ReviewEngine::new(engine));
    let shared = Arc::new(Shared::new(store, settings, commands, metrics, checker, reviews));
    let runner = runner::spawn_runner(shared.clone(), receiver).map_err(|e| DaemonError::io(state_dir, e))?;
    spawn_review_tender(shared.clone()).map_err(|e| DaemonError::io(state_dir, e))?;
    let review_engine = shared.review_engine.clone();

    let system = actix_web::rt::System::new();
    let result = system.block_on(async move {
        let data = api::data(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(middleware::from_fn(guard::guard))
                // Before `/v1`, whose scope would take its paths.
                .service(review::review_scope())
                .configure(api::routes)
        })
        // The head of a request; its body has the same time (`api::submit`). Set at
        // start: a reload does not change it.
        .client_request_timeout(std::time::Duration::from_secs(config.request_timeout_seconds))
        .disable_signals()
        .listen(listener)
        .map_err(|source| DaemonError::Server { addr: addr.to_string(), source })?
        .run();
        tracing::info!(
            "memscope daemon listening on http://{addr} (state in {}, log in {})",
            state_dir_display(&shared),
            log_path.display()
        );
        signals::notify_ready();
        actix_web::rt::spawn(signals::watch(shared.clone(), server.handle(), options));
        server.await.map_err(|source| DaemonError::Server { addr: addr.to_string(), source })
    });
    let _ = runner.join();
    // The server has answered its last request: the review engine ends with the daemon.
    review_engine.close();
    drop(lock);
    result
}

/// The thread that ends the review engine once idle for `review_idle_seconds` (read
/// each time: a reload changes it) and notes one that ended by itself.
fn spawn_review_tender(shared: Arc<Shared>) -> std::io::Result<()> {
    std::thread::Builder::new().name("review-engine".into()).spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let idle = std::time::Duration::from_secs(shared.settings().config.review_idle_seconds);
        shared.review_engine.tend(idle);
    })?;
    Ok(())
}

/// The daemon's own log in the state directory (besides stderr).
pub const LOG_FILE: &str = "daemon.log";

fn state_dir_display(shared: &Shared) -> String {
    shared.settings().config.state_dir.display().to_string()
}
