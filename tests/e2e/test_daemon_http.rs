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
        ("PUT", "/v1/jobs".to_string(), "GET, HEAD, POST"),
        ("DELETE", "/v1/jobs".to_string(), "GET, HEAD, POST"),
        ("POST", format!("/v1/jobs/{id}"), "GET, HEAD, DELETE"),
        ("GET", format!("/v1/jobs/{id}/retry"), "POST"),
        ("POST", "/metrics".to_string(), "GET, HEAD"),
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

    // HEAD is GET without the body (issue 27, leftover 6: it was 405), behind the same
    // token.
    for path in [
        "/v1/jobs".to_string(),
        format!("/v1/jobs/{id}"),
        format!("/v1/jobs/{id}/config"),
        format!("/v1/jobs/{id}/logs"),
        "/metrics".into(),
        "/healthz".into(),
    ] {
        let get = daemon.raw("GET", &path, &[auth], "");
        let head = daemon.raw("HEAD", &path, &[auth], "");
        assert_eq!((head.status, get.status), (200, 200), "HEAD {path}: {}", head.body);
        assert_eq!(head.body, "", "HEAD {path} sent a body");
        assert_eq!(head.header("content-type"), get.header("content-type"), "HEAD {path}");
    }
    assert_eq!(daemon.raw("HEAD", "/v1/jobs", &[], "").status, 401);
    assert_eq!(daemon.raw("HEAD", "/v1/jobs/999999", &[auth], "").status, 404);
}

/// Sends `head` (a request without its body) on a connection of its own and returns
/// the answer's status line and how long it took; gives up after 20 s.
fn answer_to_head_alone(daemon: &Daemon, head: &str) -> (String, std::time::Duration) {
    use std::io::{Read, Write};
    let addr = daemon.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let started = std::time::Instant::now();
    stream.write_all(head.replace("ADDR", addr).as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no answer after {:?}: {e}", started.elapsed()),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    (text.lines().next().unwrap_or("").to_string(), started.elapsed())
}

/// Issue 27, leftover 5: a submission declaring a 5 MB body that never came got no
/// answer for 100 s.
#[test]
fn a_body_declared_too_large_is_refused_at_once_and_one_that_never_comes_times_out() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
    let daemon = Daemon::start(
        dir.path(),
        "max_running_jobs = 0\nmax_request_bytes = 4096\nrequest_timeout_seconds = 2\nauth_token_file = \"token\"\n",
    );
    let post = |length: usize| {
        format!("POST /v1/jobs HTTP/1.1\r\nHost: ADDR\r\nAuthorization: Bearer s3cret\r\nContent-Type: application/toml\r\nContent-Length: {length}\r\n\r\n")
    };

    let (status, took) = answer_to_head_alone(&daemon, &post(5_000_000));
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    assert!(took.as_secs_f64() < 1.0, "413 after {took:?}: the body was waited for");

    let (status, took) = answer_to_head_alone(&daemon, &post(100));
    assert!(status.starts_with("HTTP/1.1 408"), "{status} after {took:?}");
    assert!((1.5..10.0).contains(&took.as_secs_f64()), "408 after {took:?}, the timeout is 2 s");

    // The daemon goes on serving, and nothing was queued.
    assert_eq!(job_count_with(&daemon, "s3cret"), 0);
}

fn job_count_with(daemon: &Daemon, token: &str) -> usize {
    daemon.get_with("/v1/jobs", Some(token)).unwrap().json()["jobs"].as_array().unwrap().len()
}

#[test]
fn a_submission_retried_with_its_idempotency_key_is_queued_once_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), "max_running_jobs = 0\n");
    let post = |daemon: &Daemon, key: &str, body: &str| {
        daemon.raw("POST", "/v1/jobs", &[("Content-Type", "application/toml"), ("Idempotency-Key", key)], body)
    };

    let first = post(&daemon, "k-1", DIGITS);
    assert_eq!(first.status, 201, "{}", first.body);
    let again = post(&daemon, "k-1", DIGITS);
    assert_eq!(again.status, 200, "the same key and body: the same job, {}", again.body);
    assert_eq!(again.json()["id"], first.json()["id"]);
    let other = post(&daemon, "k-1", &DIGITS.replace("\"t\"", "\"u\""));
    assert_eq!(other.status, 409, "{}", other.body);
    assert!(other.json()["error"].as_str().unwrap().contains("another request"), "{}", other.body);
    assert_eq!(post(&daemon, "k-2", DIGITS).status, 201, "another key is another job");
    let bad_key = post(&daemon, &"x".repeat(300), DIGITS);
    assert_eq!(bad_key.status, 400, "{}", bad_key.body);
    assert_eq!(job_count(&daemon), 2);

    daemon.kill();
    daemon.restart();
    let after = post(&daemon, "k-1", DIGITS);
    assert_eq!((after.status, &after.json()["id"]), (200, &first.json()["id"]), "keys are kept with their jobs");
    assert_eq!(job_count(&daemon), 2);
}

/// Reads one HTTP request (head and `Content-Length` body) from a connection.
fn read_request(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the client closed the connection early");
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()));
            if body.len() >= length.unwrap_or(0) {
                return text;
            }
        }
    }
}

#[test]
fn memscope_submit_retries_a_lost_answer_with_the_same_idempotency_key() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), DIGITS).unwrap();
    // A server that takes the first request and closes without answering (the
    // answer lost), then answers the second.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut lost, _) = listener.accept().unwrap();
        let first = read_request(&mut lost);
        drop(lost);
        let (mut answered, _) = listener.accept().unwrap();
        let second = read_request(&mut answered);
        let job = r#"{"id":"000007","name":"t","state":"queued","submitted_at":1.0,"started_at":null,"finished_at":null,"attempts":0,"message":null,"run_dir":"/r"}"#;
        write!(
            answered,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{job}",
            job.len()
        )
        .unwrap();
        (first, second)
    });
    let out = std::process::Command::new(memscope_tests::memscope_bin())
        .args(["submit", "job.toml", "--server", &url])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "000007");
    let (first, second) = server.join().unwrap();
    let header = |request: &str, name: &str| {
        request.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string()))
    };
    let key = header(&first, "idempotency-key").expect("the CLI sends an Idempotency-Key");
    assert_eq!(key.len(), 32, "{key}");
    assert_eq!(header(&second, "idempotency-key").as_deref(), Some(key.as_str()), "the retry reuses the key");
    for request in [&first, &second] {
        assert_eq!(header(request, "content-type").as_deref(), Some("application/toml"));
        assert!(request.ends_with(DIGITS));
    }
    assert!(stderr.contains("retrying"), "{stderr}");

    // Each invocation has a key of its own.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let keys = std::thread::spawn(move || {
        (0..2)
            .map(|_| {
                let (mut stream, _) = listener.accept().unwrap();
                let request = read_request(&mut stream);
                let body = r#"{"error":"no"}"#;
                write!(stream, "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
                request.lines().find(|l| l.to_ascii_lowercase().starts_with("idempotency-key")).unwrap().to_string()
            })
            .collect::<Vec<_>>()
    });
    for _ in 0..2 {
        let out = std::process::Command::new(memscope_tests::memscope_bin())
            .args(["submit", "job.toml", "--server", &url])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
    }
    let keys = keys.join().unwrap();
    assert_ne!(keys[0], keys[1]);
}
