//! What every request passes before a handler sees it: the `Host` header must name
//! this daemon, a browser's `Origin` must be the daemon's own, the bearer token must
//! match (when one is configured); and each request is timed.
//!
//! The first two stop other web pages. A page the operator visits may send requests to
//! `127.0.0.1:7464` (a form POST needs no permission), and through DNS rebinding
//! (`evil.example` resolving to 127.0.0.1) it may even read the answers, with its own
//! name in `Host`. Browsers name the page's origin in `Origin` on every cross-origin
//! POST, and cannot forge `Host`; submissions must also carry `application/toml`,
//! which a form cannot send (see `api::submit`).

use super::shared::Shared;
use super::ApiError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use memscope_base::metrics::Metric;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// The middleware: host, origin and token checks, then the request timer.
pub async fn guard(req: ServiceRequest, next: Next<impl MessageBody>) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let shared = req.app_data::<web::Data<Shared>>().expect("shared state is registered").clone();
    if req.path() != "/healthz" {
        let settings = shared.settings();
        let rules = HostRules::new(&settings.config.listen, &settings.config.allowed_hosts);
        let header = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap_or("\u{fffd}").to_string());
        let host = header("host").unwrap_or_default();
        if !rules.allows_host(&host) {
            return Err(ApiError::WrongHost(host).into());
        }
        if let Some(origin) = header("origin") {
            if !rules.allows_origin(&origin, &host) {
                return Err(ApiError::ForeignOrigin(origin).into());
            }
        }
        // The review page's files hold no data; its API requests carry the token.
        if let Some(token) = settings.token.as_ref().filter(|_| !super::review::is_review_page(req.path())) {
            match header("authorization").as_deref().and_then(bearer) {
                None => return Err(ApiError::Unauthorized("this daemon requires `Authorization: Bearer <token>`").into()),
                Some(given) if !same_secret(given, token) => return Err(ApiError::Unauthorized("wrong bearer token").into()),
                Some(_) => {}
            }
        }
    }
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.call(req).await?;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(Metric::ApiRequestDuration.name(), "method" => method, "status" => status).record(started.elapsed().as_secs_f64());
    Ok(response)
}

/// The credentials of an `Authorization: Bearer <token>` header; the scheme is
/// case-insensitive (RFC 9110, 11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(char::is_whitespace)?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares secrets in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Which names a request may use for this daemon.
#[derive(Debug, Clone)]
pub struct HostRules {
    listen: Option<SocketAddr>,
    allowed: Vec<(String, Option<u16>)>,
}

impl HostRules {
    /// The rules for a daemon listening on `listen` with `allowed_hosts`.
    pub fn new(listen: &str, allowed_hosts: &[String]) -> HostRules {
        let allowed = allowed_hosts.iter().filter_map(|h| split_host_port(h)).collect();
        HostRules { listen: listen.parse().ok(), allowed }
    }

    /// Whether a `Host` header names this daemon: the listen address itself (any IP
    /// address when it listens on all of them), `localhost` when it listens on
    /// loopback, on the listen port; or an entry of `allowed_hosts` (any port unless
    /// the entry gives one). An IP address cannot be rebound by DNS; a name can.
    pub fn allows_host(&self, host: &str) -> bool {
        let Some((name, port)) = split_host_port(host) else { return false };
        if self.in_allowed(&name, port) {
            return true;
        }
        let Some(listen) = self.listen else { return false };
        if port.unwrap_or(80) != listen.port() {
            return false;
        }
        let ip = listen.ip();
        match name.parse::<IpAddr>() {
            Ok(given) => ip.is_unspecified() || given == ip || (ip.is_loopback() && given.is_loopback()),
            Err(_) => name == "localhost" && (ip.is_loopback() || ip.is_unspecified()),
        }
    }

    /// Whether a request whose `Host` passed may come from a page of `origin`: the
    /// daemon's own origin (the same host and port as `Host`), or an allowed host.
    pub fn allows_origin(&self, origin: &str, host: &str) -> bool {
        let Some((scheme, authority)) = origin.split_once("://") else { return false };
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "http" => 80,
            "https" => 443,
            _ => return false,
        };
        let (Some((name, port)), Some((host_name, host_port))) = (split_host_port(authority), split_host_port(host)) else {
            return false;
        };
        // The API is plain HTTP: an https page is another origin, unless allowed.
        let same = default_port == 80 && name == host_name && port.unwrap_or(80) == host_port.unwrap_or(80);
        same || self.in_allowed(&name, port.or(Some(default_port)))
    }

    fn in_allowed(&self, name: &str, port: Option<u16>) -> bool {
        self.allowed.iter().any(|(n, p)| n == name && (p.is_none() || *p == port))
    }
}

/// `(name, port)` of `host[:port]` or `[v6][:port]`, the name in lower case and without
/// brackets; `None` when it is not of that shape.
fn split_host_port(text: &str) -> Option<(String, Option<u16>)> {
    let text = text.trim();
    let (name, port) = if let Some(rest) = text.strip_prefix('[') {
        let (name, after) = rest.split_once(']')?;
        match after {
            "" => (name, None),
            _ => (name, Some(after.strip_prefix(':')?)),
        }
    } else {
        match text.rsplit_once(':') {
            Some((name, port)) if !name.contains(':') => (name, Some(port)),
            Some(_) => return None,
            None => (text, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c));
    ok.then(|| (name.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_daemon_answers_to_its_address_and_localhost_only() {
        let rules = HostRules::new("127.0.0.1:7464", &[]);
        for host in ["127.0.0.1:7464", "localhost:7464", "LOCALHOST:7464", "[::1]:7464"] {
            assert!(rules.allows_host(host), "{host}");
        }
        for host in ["evil.example:7464", "localhost:80", "localhost", "10.0.0.1:7464", "", "a b:7464", "127.0.0.1:x"] {
            assert!(!rules.allows_host(host), "{host}");
        }
    }

    #[test]
    fn allowed_hosts_and_unspecified_addresses() {
        let rules = HostRules::new("0.0.0.0:7464", &["memscope.internal".into(), "proxy.lan:8080".into()]);
        assert!(rules.allows_host("192.168.1.5:7464"));
        assert!(rules.allows_host("memscope.internal"));
        assert!(rules.allows_host("memscope.internal:443"));
        assert!(rules.allows_host("proxy.lan:8080"));
        assert!(!rules.allows_host("proxy.lan:8081"));
        assert!(!rules.allows_host("attacker.example:7464"), "a name resolving to us is not ours");
    }

    #[test]
    fn only_the_daemons_own_origin_passes() {
        let rules = HostRules::new("127.0.0.1:7464", &[]);
        assert!(rules.allows_origin("http://127.0.0.1:7464", "127.0.0.1:7464"));
        assert!(rules.allows_origin("http://localhost:7464", "localhost:7464"));
        for origin in ["http://evil.example", "null", "http://localhost:3000", "https://127.0.0.1:7464", "file://"] {
            assert!(!rules.allows_origin(origin, "127.0.0.1:7464"), "{origin}");
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER   abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
