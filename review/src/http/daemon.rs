//! The review served for the daemon (`memscope-engine serve-review`). The daemon
//! links no libtorch, so it cannot open a run's dataset; it forwards each request of
//! `/v1/jobs/{id}/review/...` to this server unchanged, after its own guard (Host,
//! Origin, token), naming the job's run directory in a header. One server serves
//! every run the daemon names, keeping the last few open, their data read only under
//! the daemon's data roots.
//!
//! It listens on a loopback port, which every local user can reach: each request must
//! carry the secret the daemon gave this process on its standard input, or it is
//! refused (`403`).

use super::cache::RunCache;
use super::locate::{RunLocator, RunPlace};
use super::routes::{scope, Reviewer};
use crate::ReviewError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{self, Next};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use memscope::data::Access;
use memscope_base::review_engine::{decode_path, REVIEW_PATH, RUN_HEADER, SECRET_HEADER};
use std::net::{Ipv4Addr, SocketAddr};

/// Runs kept open at once (each holds its scores and, for formats read into memory,
/// its images): the ones being reviewed now, not every run the daemon has made.
const OPEN_RUNS: usize = 4;

/// Seconds the requests under way get to finish once the daemon ends the server.
const STOP_SECONDS: u64 = 5;

/// What the daemon gave this server.
#[derive(Debug, Clone)]
pub struct DaemonReview {
    /// The value every request must carry in [`SECRET_HEADER`].
    pub secret: String,
    /// Which files a run's dataset may be read from (the daemon's data roots).
    pub access: Access,
}

/// Serves the daemon's review requests on a free loopback port until `until_ended`
/// returns (the daemon closed this process's standard input), then lets requests
/// under way finish. `ready` gets the address once the server is listening.
pub fn serve_for_daemon(
    options: DaemonReview,
    ready: impl FnOnce(SocketAddr),
    until_ended: impl FnOnce() + Send + 'static,
) -> Result<(), ReviewError> {
    if options.secret.is_empty() {
        return Err(ReviewError::NotTheDaemon("no secret was given on standard input".into()));
    }
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let bind_error = |cause| ReviewError::Bind { addr: listen.to_string(), cause };
    let listener = std::net::TcpListener::bind(listen).map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    let locator = NamedRun { access: options.access };
    let reviewer = web::Data::new(Reviewer { locator: Box::new(locator), cache: RunCache::new(OPEN_RUNS) });
    let secret = web::Data::new(Secret(options.secret));
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(secret.clone())
                .wrap(middleware::from_fn(check_secret))
                .service(scope(REVIEW_PATH, reviewer.clone()))
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(ReviewError::NotFound("no such endpoint of the review".into()))
                }))
        })
        .workers(2)
        // The daemon ends this process (Ctrl-C at its terminal reaches both).
        .disable_signals()
        .shutdown_timeout(STOP_SECONDS)
        .listen(listener)
        .map_err(bind_error)?
        .run();
        let handle = server.handle();
        std::thread::spawn(move || {
            until_ended();
            // `stop` sends its command when called; its future only waits for the end.
            drop(handle.stop(true));
        });
        ready(bound);
        server.await.map_err(bind_error)
    })
}

/// The daemon's secret for this process.
struct Secret(String);

/// The middleware: the request must carry the secret, or it is not the daemon's.
async fn check_secret(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let secret = request.app_data::<web::Data<Secret>>().expect("the secret is registered");
    let given = request.headers().get(SECRET_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    if !same_secret(given, secret.0.as_bytes()) {
        return Err(ReviewError::NotTheDaemon(format!("a request without this server's `{SECRET_HEADER}`")).into());
    }
    next.call(request).await
}

/// Compares secrets in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The run the daemon names in [`RUN_HEADER`] (a completed job's run directory).
struct NamedRun {
    access: Access,
}

impl RunLocator for NamedRun {
    fn locate(&self, request: &HttpRequest) -> Result<RunPlace, ReviewError> {
        let header = request.headers().get(RUN_HEADER).and_then(|v| v.to_str().ok());
        let dir =
            header.and_then(decode_path).ok_or_else(|| ReviewError::BadRequest(format!("the daemon named no run in `{RUN_HEADER}`")))?;
        Ok(RunPlace { dir, access: self.access.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_whole() {
        assert!(same_secret(b"abc", b"abc"));
        for other in [&b"abd"[..], b"ab", b"abcd", b""] {
            assert!(!same_secret(other, b"abc"), "{other:?}");
        }
    }
}
