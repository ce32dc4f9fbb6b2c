//! The crate split holds: the core library (`memscope-runtime`) depends on no CLI,
//! HTTP client, HTTP server (not even the Prometheus exporter's) or progress-bar crate, and the `memscope` binary's crate
//! (`memscope-cli`) and the daemon's (`memscope-daemon`) on no libtorch. Read from `Cargo.lock` (no cargo, no network):
//! the lock lists every dependency any build of the workspace can use, so a crate
//! that appears anywhere below the core through any feature is found.

use memscope_tests::repo_root;
use std::collections::{BTreeSet, HashMap};

/// Every package reachable from `root` in `Cargo.lock`, `root` included.
fn dependencies_of(root: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join("Cargo.lock")).expect("Cargo.lock");
    let lock: toml::Table = toml::from_str(&text).expect("Cargo.lock is TOML");
    let packages = lock["package"].as_array().expect("[[package]]");
    // "name" or "name version" or "name version (source)" -> the package's key.
    let key = |p: &toml::Value| format!("{} {}", p["name"].as_str().unwrap(), p["version"].as_str().unwrap());
    let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
    for p in packages {
        by_name.entry(p["name"].as_str().unwrap().to_string()).or_default().push(key(p));
    }
    let deps: HashMap<String, Vec<String>> = packages
        .iter()
        .map(|p| {
            let list = p.get("dependencies").and_then(|d| d.as_array()).cloned().unwrap_or_default();
            let resolved = list
                .iter()
                .map(|d| {
                    let mut parts = d.as_str().unwrap().split(' ');
                    let name = parts.next().unwrap();
                    match parts.next() {
                        Some(version) => format!("{name} {version}"),
                        None => by_name[name][0].clone(),
                    }
                })
                .collect();
            (key(p), resolved)
        })
        .collect();
    let start = by_name[root][0].clone();
    let mut seen = BTreeSet::new();
    let mut todo = vec![start];
    while let Some(k) = todo.pop() {
        if seen.insert(k.clone()) {
            todo.extend(deps.get(&k).cloned().unwrap_or_default());
        }
    }
    seen.into_iter().map(|k| k.split(' ').next().unwrap().to_string()).collect()
}

#[test]
fn the_core_library_has_no_cli_http_or_progress_bar_dependency() {
    let core = dependencies_of("memscope-runtime");
    assert!(core.contains("tch") && core.contains("actix") && core.contains("libloading"), "not the core's tree: {core:?}");
    // The walk does find them where they are.
    let engine = dependencies_of("memscope-engine");
    assert!(["clap", "indicatif", "memscope-runtime"].iter().all(|c| engine.contains(*c)), "{engine:?}");
    assert!(dependencies_of("memscope-daemon").contains("actix-web"));
    assert!(["metrics-exporter-prometheus", "hyper"].iter().all(|c| engine.contains(*c)), "{engine:?}");
    let edges = ["clap", "indicatif", "ureq", "actix-web", "hyper", "metrics-exporter-prometheus", "plotters"];
    for edge in edges.into_iter().chain(["memscope-report", "memscope-review", "memscope-daemon", "memscope-cli", "memscope-prometheus"]) {
        assert!(!core.contains(edge), "memscope-runtime depends on {edge}");
    }
}

#[test]
fn the_memscope_binary_crate_has_no_libtorch_dependency() {
    let cli = dependencies_of("memscope-cli");
    assert!(cli.contains("clap") && cli.contains("ureq"), "not the CLI's tree: {cli:?}");
    for heavy in ["tch", "torch-sys", "memscope-runtime", "memscope-sdk"] {
        assert!(!cli.contains(heavy), "memscope-cli depends on {heavy}");
    }
}

#[test]
fn the_daemon_crate_has_no_libtorch_dependency() {
    let daemon = dependencies_of("memscope-daemon");
    assert!(daemon.contains("actix-web") && daemon.contains("memscope-base"), "not the daemon's tree: {daemon:?}");
    for heavy in ["tch", "torch-sys", "memscope-runtime", "memscope-review", "memscope-sdk", "memscope-reference", "memscope-torch-ext"] {
        assert!(!daemon.contains(heavy), "memscope-daemon depends on {heavy}");
    }
    // What it shares with the core library carries none either.
    for shared in ["memscope-base", "memscope-npy", "memscope-prometheus"] {
        let tree = dependencies_of(shared);
        assert!(!tree.contains("tch") && !tree.contains("torch-sys"), "{shared} depends on libtorch: {tree:?}");
    }
}
