//! Signals and systemd: SIGTERM/SIGINT stop the daemon gracefully, SIGHUP reloads the
//! config where that is safe, and sd-notify reports readiness, reloads, stopping and
//! watchdog pings when systemd started the daemon (`Type=notify`).

use super::shared::{Settings, Shared};
use super::{DaemonOptions, RunnerCommand};
use actix_web::dev::ServerHandle;
use sd_notify::NotifyState;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

/// Tells systemd (when it is listening) that the daemon is ready, and starts the
/// watchdog pings it asked for.
pub fn notify_ready() {
    let _ = sd_notify::notify(false, &[NotifyState::Ready]);
    let mut usec = 0;
    if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
        let every = Duration::from_micros(usec / 2);
        actix_web::rt::spawn(async move {
            loop {
                let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
                actix_web::rt::time::sleep(every).await;
            }
        });
    }
}

/// Waits for signals until a stop signal has been handled.
pub async fn watch(shared: Arc<Shared>, server: ServerHandle, options: DaemonOptions) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        tracing::error!("cannot install signal handlers; stop the daemon with SIGKILL");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(&shared, &options),
        }
    }
    tracing::info!("stopping: no new jobs; running jobs stop at their next step and resume at the next start");
    shared.stop_accepting();
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
    let (done, stopped) = crossbeam_channel::bounded(1);
    if shared.runner.send(RunnerCommand::Shutdown(done)).is_ok() {
        let _ = actix_web::rt::task::spawn_blocking(move || stopped.recv()).await;
    }
    server.stop(true).await;
}

/// Reloads the config file: the job limit, token, data roots, plugin directories,
/// request limit and grace period apply at once; `listen` and `state_dir` need a
/// restart. A config that does not load leaves the running one in place.
fn reload(shared: &Shared, options: &DaemonOptions) {
    let _ = sd_notify::notify(false, &[NotifyState::Reloading]);
    let loaded = options.load().map_err(|e| e.to_string()).and_then(Settings::new);
    match loaded {
        Ok(new) => {
            let mut settings = shared.settings.write().expect("settings lock");
            for (key, old, now) in [
                ("listen", settings.config.listen.clone(), new.config.listen.clone()),
                ("state_dir", settings.config.state_dir.display().to_string(), new.config.state_dir.display().to_string()),
                ("runs_dir", settings.config.runs_dir().display().to_string(), new.config.runs_dir().display().to_string()),
            ] {
                if old != now {
                    tracing::warn!("reload: `{key}` changed from {old} to {now}; this takes a restart");
                }
            }
            let mut new = new;
            new.config.listen = settings.config.listen.clone();
            new.config.state_dir = settings.config.state_dir.clone();
            new.config.runs_dir = Some(settings.config.runs_dir());
            *settings = new;
            tracing::info!("reloaded the config");
        }
        Err(e) => tracing::error!("reload failed, keeping the running config: {e}"),
    }
    let _ = shared.runner.send(RunnerCommand::Wake);
    let _ = sd_notify::notify(false, &[NotifyState::Ready]);
}
