//! `memscope review RUN`: the run opened first (a broken run is an error before
//! anything listens), then the address bound, then the URL handed to the caller to
//! print, then the page served until Ctrl-C.

use super::cache::RunCache;
use super::host::{check_host, HostCheck};
use super::locate::{FixedRun, RunPlace};
use super::routes::{scope, Reviewer};
use crate::ReviewError;
use actix_web::{middleware, web, App, HttpServer};
use memscope::data::Access;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// What `memscope review` was asked for.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The run directory.
    pub run_dir: PathBuf,
    /// `IP:PORT` to listen on (port 0: a free one).
    pub listen: String,
    /// Which files the run's dataset may be read from.
    pub access: Access,
}

/// Serves the review of one run until the process is interrupted. `ready` gets the
/// page's URL once the server is listening.
pub fn serve(options: ServeOptions, ready: impl FnOnce(&str)) -> Result<(), ReviewError> {
    let listen: SocketAddr = options.listen.parse().map_err(|_| ReviewError::Listen(options.listen.clone()))?;
    let place = RunPlace { dir: options.run_dir, access: options.access };
    let cache = RunCache::new(1);
    cache.get(&place)?;
    let listener = std::net::TcpListener::bind(listen).map_err(|cause| ReviewError::Bind { addr: listen.to_string(), cause })?;
    let bound = listener.local_addr().map_err(|cause| ReviewError::Bind { addr: listen.to_string(), cause })?;
    let reviewer = web::Data::new(Reviewer { locator: Box::new(FixedRun(place)), cache });
    let check = HostCheck::new(bound);
    let bind_error = |cause| ReviewError::Bind { addr: bound.to_string(), cause };
    actix_web::rt::System::new().block_on(async move {
        let server =
            HttpServer::new(move || App::new().app_data(check).wrap(middleware::from_fn(check_host)).service(scope("", reviewer.clone())))
                .workers(2)
                .listen(listener)
                .map_err(bind_error)?
                .run();
        ready(&url(bound));
        server.await.map_err(bind_error)
    })
}

/// The URL a browser on this machine opens: the bound address, or loopback when it
/// listens on every address.
fn url(bound: SocketAddr) -> String {
    let mut shown = bound;
    if bound.ip().is_unspecified() {
        shown.set_ip(if bound.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
    }
    format!("http://{shown}/")
}
