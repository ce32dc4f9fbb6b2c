//! The checks of `memscope review`'s own server (the daemon applies its own guard): a
//! web page the user visits may send requests to the review's port, and through DNS
//! rebinding even read the answers under its own name. So `Host` must name this
//! server (its address, or `localhost` on loopback), and a browser's `Origin` must be
//! the page's own; decisions must be JSON, which a form on another site cannot send.

use crate::ReviewError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use std::net::{IpAddr, SocketAddr};

/// Which `Host` headers name a server listening on one address.
#[derive(Debug, Clone, Copy)]
pub struct HostCheck {
    listen: SocketAddr,
}

impl HostCheck {
    /// The check for a server bound to `listen`.
    pub fn new(listen: SocketAddr) -> HostCheck {
        HostCheck { listen }
    }

    /// Whether `host` (`name:port`) names this server: its own address and port; on
    /// loopback any loopback address; on all addresses any IP address; `localhost` on
    /// either. Never another name, which DNS could point here.
    pub fn allows(&self, host: &str) -> bool {
        let Some((name, port)) = host.rsplit_once(':') else {
            return false;
        };
        if port.parse::<u16>().ok() != Some(self.listen.port()) {
            return false;
        }
        let ip = self.listen.ip();
        match name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(given) => ip.is_unspecified() || given == ip || (ip.is_loopback() && given.is_loopback()),
            Err(_) => name.eq_ignore_ascii_case("localhost") && (ip.is_loopback() || ip.is_unspecified()),
        }
    }
}

/// The middleware: `Host` must pass [`HostCheck`], `Origin` (when sent) must be
/// `http://` and that host.
pub async fn check_host(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let check = *request.app_data::<HostCheck>().expect("the host check is registered");
    let header = |name: &str| request.headers().get(name).map(|v| v.to_str().unwrap_or("\u{fffd}").to_string());
    let host = header("host").unwrap_or_default();
    if !check.allows(&host) {
        return Err(ReviewError::WrongHost(host).into());
    }
    if let Some(origin) = header("origin") {
        if !origin.eq_ignore_ascii_case(&format!("http://{host}")) {
            return Err(ReviewError::ForeignOrigin(origin).into());
        }
    }
    next.call(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_server_answers_to_its_address_and_localhost_only() {
        let check = HostCheck::new("127.0.0.1:7465".parse().unwrap());
        for host in ["127.0.0.1:7465", "localhost:7465", "LocalHost:7465", "[::1]:7465", "127.0.0.2:7465"] {
            assert!(check.allows(host), "{host}");
        }
        for host in ["evil.example:7465", "localhost:80", "localhost", "10.0.0.1:7465", "", "127.0.0.1:x"] {
            assert!(!check.allows(host), "{host}");
        }
    }

    #[test]
    fn a_server_on_every_address_answers_to_any_ip_but_no_name() {
        let check = HostCheck::new("0.0.0.0:8000".parse().unwrap());
        assert!(check.allows("192.168.1.5:8000"));
        assert!(check.allows("localhost:8000"));
        assert!(!check.allows("rebound.example:8000"));
    }
}
