//! The daemon's HTTP surface as other programs meet it: web pages of other sites (a
//! form POST, DNS rebinding), methods and schemes spelled differently, malformed
//! queries; every refusal is a JSON error.

use memscope_tests::daemon::Daemon;

const DIGITS: &str = "name = \"t\"\n[data]\nformat = \"digits\"\n[train]\nepochs = 1\n";

fn job_count(daemon: &Daemon) -> usize {
    daemon.get("/v1/jobs").unwrap().json()["jobs"].as_array().unwrap().len()
}

#[test]
fn a_page_of_another_site_can_neither_submit_nor_read() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "max_running_jobs = 0\nallowed_hosts = [\"memscope.internal\"]\n");
    let own = daemon.url.trim_start_matches("http://").to_string();
    let port = own.rsplit(':').next().unwrap().to_string();

    // What a form on any page can send without asking: refused, nothing queued.
    for media_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let reply = daemon.raw("POST", "/v1/jobs", &[("Content-Type", media_type)], DIGITS);
        assert_eq!(reply.status, 415, "{media_type}: {}", reply.body);
        assert!(reply.json()["error"].as_str().unwrap().contains("application/toml"), "{}", reply.body);
    }
    assert_eq!(daemon.raw("POST", "/v1/jobs", &[], DIGITS).status, 415, "no Content-Type");
    assert_eq!(job_count(&daemon), 0);

    // A page whose origin is not the daemon's, even with the right type.
    for origin in ["http://evil.example", "null", "http://localhost:3000"] {
        let headers = [("Content-Type", "application/toml"), ("Origin", origin)];
        let reply = daemon.raw("POST", "/v1/jobs", &headers, DIGITS);
        assert_eq!(reply.status, 403, "{origin}: {}", reply.body);
        assert!(reply.json()["error"].as_str().unwrap().contains(origin), "{}", reply.body);
        assert_eq!(daemon.raw("GET", "/v1/jobs", &[("Origin", origin)], "").status, 403);
    }
    assert_eq!(job_count(&daemon), 0);

    // DNS rebinding: the page's own name in Host, on the daemon's address.
    for host in [format!("evil.example:{port}"), "evil.example".to_string(), format!("memscope.internal.evil.example:{port}")] {
        let reply = daemon.raw("GET", "/v1/jobs", &[("Host", &host)], "");
        assert_eq!(reply.status, 421, "{host}: {}", reply.body);
        assert!(reply.json()["error"].as_str().unwrap().contains("does not name this daemon"), "{}", reply.body);
    }
    // Its own names, and the configured one, are served.
    for host in [own.clone(), format!("localhost:{port}"), "memscope.internal".to_string()] {
        assert_eq!(daemon.raw("GET", "/v1/jobs", &[("Host", &host)], "").status, 200, "{host}");
    }
    let same_origin = format!("http://{own}");
    let headers = [("Content-Type", "application/toml; charset=utf-8"), ("Origin", same_origin.as_str())];
    assert_eq!(daemon.raw("POST", "/v1/jobs", &headers, DIGITS).status, 201, "the daemon's own origin");
    // `/healthz` answers any name (load balancers probe it by address).
    assert_eq!(daemon.raw("GET", "/healthz", &[("Host", "probe")], "").status, 200);

    // The CLI sends the job's type.
    std::fs::write(dir.path().join("job.toml"), DIGITS).unwrap();
    assert_eq!(daemon.cli(&["submit", "job.toml"]).success().stdout().trim(), "000002");
    assert_eq!(job_count(&daemon), 2);
}

#[test]
fn wrong_methods_schemes_and_queries_get_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
    let daemon = Daemon::start(dir.path(), "max_running_jobs = 0\nauth_token_file = \"token\"\n");
    let auth = ("Authorization", "bearer s3cret");
    let id = {
        let reply = daemon.raw("POST", "/v1/jobs", &[auth, ("Content-Type", "application/toml")], DIGITS);
        assert_eq!(reply.status, 201, "a lower-case scheme is the same scheme: {}", reply.body);
        reply.json()["id"].as_str().unwrap().to_string()
    };
    assert_eq!(daemon.raw("GET", "/v1/jobs", &[("Authorization", "BEARER s3cret")], "").status, 200);
    assert_eq!(daemon.raw("GET", "/v1/jobs", &[("Authorization", "Basic s3cret")], "").status, 401);

    for (method, path, allow) in [
        ("PUT", "/v1/jobs".to_string(), "GET, POST"),
        ("DELETE", "/v1/jobs".to_string(), "GET, POST"),
        ("POST", format!("/v1/jobs/{id}"), "GET, DELETE"),
        ("GET", format!("/v1/jobs/{id}/retry"), "POST"),
        ("POST", "/metrics".to_string(), "GET"),
    ] {
        let reply = daemon.raw(method, &path, &[auth], "");
        assert_eq!(reply.status, 405, "{method} {path}: {}", reply.body);
        assert_eq!(reply.header("allow").as_deref(), Some(allow), "{method} {path}");
        assert!(reply.json()["error"].as_str().unwrap().contains("not allowed"), "{}", reply.body);
    }
    for path in [format!("/v1/jobs/{id}/logs?tail=-1"), format!("/v1/jobs/{id}/logs?tail=x"), format!("/v1/jobs/{id}/scores/loss?format")] {
        let reply = daemon.raw("GET", &path, &[auth], "");
        assert!((400..500).contains(&reply.status), "{path}: {}", reply.status);
        assert!(reply.json()["error"].is_string(), "{path}: {}", reply.body);
    }
    assert_eq!(daemon.raw("GET", "/nowhere", &[auth], "").json()["error"].as_str().map(|e| e.contains("no such endpoint")), Some(true));
}
