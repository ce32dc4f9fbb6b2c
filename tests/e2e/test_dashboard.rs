//! The Grafana dashboard is proven through its structure (valid for file provisioning)
//! and its queries: a real Prometheus scrapes a running job, and every PromQL
//! expression of the dashboard must return data.

use memscope_tests::{memscope_bin, repo_root, write_job};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DATASOURCE_UID: &str = "memscope-prometheus";

fn dashboard() -> serde_json::Value {
    let path = repo_root().join("configs/grafana/dashboards/memscope.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every PromQL expression of the dashboard's panels.
fn expressions(dash: &serde_json::Value) -> Vec<String> {
    dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn dashboard_is_valid_for_file_provisioning() {
    let dash = dashboard();
    assert!(dash.get("__inputs").is_none(), "exported-for-sharing dashboards cannot be provisioned");
    assert!(dash["uid"].as_str().is_some_and(|u| !u.is_empty()));
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    for p in panels {
        let title = p["title"].as_str().unwrap();
        assert_eq!(p["datasource"]["uid"], DATASOURCE_UID, "{title}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title} has no query");
        for t in targets {
            assert!(t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()), "{title}");
            assert_eq!(t["datasource"]["uid"], DATASOURCE_UID, "{title}");
        }
        assert!(p["fieldConfig"]["defaults"]["unit"].as_str().is_some_and(|u| !u.is_empty()), "{title} has no unit");
    }
    let provisioning = std::fs::read_to_string(repo_root().join("configs/grafana/provisioning/datasources/memscope.yml")).unwrap();
    assert!(provisioning.contains(&format!("uid: {DATASOURCE_UID}")));
}

#[test]
fn shipped_prometheus_config_is_valid() {
    let promtool = which("promtool").expect("promtool comes with the Debian package `prometheus` (make test installs it)");
    let config = repo_root().join("configs/prometheus.yml");
    let out = Command::new(promtool).args(["check", "config"]).arg(&config).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

fn query(port: u16, expr: &str) -> serde_json::Value {
    let body = http_get(port, &format!("/api/v1/query?query={}", percent_encode(expr))).expect("prometheus answers");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{expr}: {e}: {body}"))
}

#[test]
fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let prometheus = which("prometheus").expect("the Debian package `prometheus` is needed (make test installs it)");
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let job = write_job(
        dir.path(),
        &format!(
            "name = \"dash\"\nthreads = 2\n[data]\nformat = \"digits\"\n[train]\nepochs = 10\n\
             [score]\nbuiltin = [\"loss\", \"eval_loss\"]\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\nlinger_seconds = 60\n\
             [[plugins]]\nname = \"noise\"\nconfig = {{ fraction = 0.1 }}\n\
             [[plugins]]\nname = \"baseline\"\nconfig = {{ against = [\"noise_mask\"] }}\n"
        ),
    );
    let _job = KillOnDrop(
        Command::new(memscope_bin())
            .args(["run", job.to_str().unwrap(), "--out", "runs", "--quiet"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let prom_port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: memscope\n    static_configs:\n      - targets: [\"127.0.0.1:{metrics_port}\"]\n"
        ),
    )
    .unwrap();
    let _prometheus = KillOnDrop(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Wait for the job to end (its exporter lingers), then for a few more scrapes.
    let deadline = Instant::now() + Duration::from_secs(240);
    while !dir.path().join("runs/dash/summary.json").exists() {
        assert!(Instant::now() < deadline, "the job did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    let dash = dashboard();
    let exprs = expressions(&dash);
    let substitute = |e: &str| e.replace("$run", ".*").replace("$scorer", ".*");
    let mut missing = Vec::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(3));
        missing = exprs
            .iter()
            .filter(|e| {
                let answer = query(prom_port, &substitute(e));
                answer["status"] != "success" || answer["data"]["result"].as_array().is_none_or(|r| r.is_empty())
            })
            .cloned()
            .collect();
        if missing.is_empty() {
            break;
        }
    }
    assert!(missing.is_empty(), "dashboard queries without data: {missing:#?}");
    // The memorization verdict reached Prometheus too.
    let auroc = query(prom_port, "memscope_plugin_auroc_eval_loss_noise_mask");
    assert!(auroc["data"]["result"][0]["value"][1].as_str().unwrap().parse::<f64>().unwrap() > 0.9);
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| std::path::Path::new(d).join(name)).find(|p| p.is_file())
}
