//! Setting up as a user without root: `scripts/debian-deps` (what `make setup` and
//! `make test` run for Gloo's headers and Prometheus) unpacks Debian packages and the
//! dependencies the system lacks into a project folder, run by an unprivileged user
//! the test creates. The packages come from an apt repository the test writes (no
//! network): two packages, a tool that depends on a library's headers.

use memscope_tests::repo_root;
use std::path::Path;
use std::process::{Command, Output};

/// The unprivileged user the test runs the script as (created once, kept).
const USER: &str = "memscope-setup";

/// Why this test cannot run here, if it cannot.
fn cannot_run() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref().ok() != Some("0") {
        return Some("not root: creating the unprivileged user it runs the setup as needs root (CI runs as root)".into());
    }
    for tool in ["useradd", "runuser", "dpkg-deb", "apt-get", "sha256sum"] {
        if !Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success()) {
            return Some(format!("no `{tool}` on this system"));
        }
    }
    None
}

/// Creates the unprivileged user unless it exists.
fn ensure_user() {
    if Command::new("id").arg(USER).output().unwrap().status.success() {
        return;
    }
    let made = Command::new("useradd").args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER]).output().unwrap();
    assert!(made.status.success(), "useradd: {}", String::from_utf8_lossy(&made.stderr));
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Builds package `name` holding `files` (path, content, mode) into `repo`, and returns
/// its entry of the repository's `Packages` index.
fn package(dir: &Path, repo: &Path, name: &str, depends: Option<&str>, files: &[(&str, &str, u32)]) -> String {
    use std::os::unix::fs::PermissionsExt;
    let root = dir.join("build").join(name);
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    let depends = depends.map(|d| format!("Depends: {d}\n")).unwrap_or_default();
    let control = format!(
        "Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: memscope tests <tests@memscope.invalid>\n{depends}Description: a test package\n"
    );
    std::fs::write(root.join("DEBIAN/control"), &control).unwrap();
    for (path, content, mode) in files {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, content).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    let deb = repo.join(format!("{name}_1.0_all.deb"));
    run(Command::new("dpkg-deb").args(["--build", "--root-owner-group"]).arg(&root).arg(&deb));
    let size = std::fs::metadata(&deb).unwrap().len();
    let sha = String::from_utf8(run(Command::new("sha256sum").arg(&deb)).stdout).unwrap();
    let sha = sha.split_whitespace().next().unwrap();
    let file = deb.file_name().unwrap().to_str().unwrap();
    format!("{control}Filename: ./{file}\nSize: {size}\nSHA256: {sha}\n\n")
}

#[test]
fn debian_packages_are_set_up_without_root_in_the_project_folder() {
    if let Some(why) = cannot_run() {
        println!("skipped: {why}");
        return;
    }
    ensure_user();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let index = [
        package(dir.path(), &repo, "memscope-test-lib", None, &[("usr/include/memscope-test/lib.h", "#define MEMSCOPE_TEST 1\n", 0o644)]),
        package(
            dir.path(),
            &repo,
            "memscope-test-tool",
            Some("memscope-test-lib"),
            &[("usr/bin/memscope-test-tool", "#!/bin/sh\necho \"memscope-test-tool ran\"\n", 0o755)],
        ),
    ];
    std::fs::write(repo.join("Packages"), index.concat()).unwrap();
    // apt reads APT_CONFIG: this repository is its only source.
    std::fs::create_dir_all(dir.path().join("no-more-sources")).unwrap();
    std::fs::write(dir.path().join("sources.list"), format!("deb [trusted=yes] file:{} ./\n", repo.display())).unwrap();
    let apt_config = dir.path().join("apt.conf");
    std::fs::write(
        &apt_config,
        format!(
            "Dir::Etc::SourceList \"{}\";\nDir::Etc::SourceParts \"{}\";\n",
            dir.path().join("sources.list").display(),
            dir.path().join("no-more-sources").display()
        ),
    )
    .unwrap();
    run(Command::new("chown").args(["-R", USER]).arg(dir.path()));
    let deps = dir.path().join("deps");
    let as_user = |packages: &[&str]| {
        Command::new("runuser")
            .args(["-u", USER, "--", "env"])
            .arg(format!("HOME={}", dir.path().display()))
            .arg(format!("APT_CONFIG={}", apt_config.display()))
            .arg(format!("MEMSCOPE_DEPS_DIR={}", deps.display()))
            .arg(repo_root().join("scripts/debian-deps"))
            .args(packages)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };

    // Not root, and the system's apt lists know nothing of the package: lists of its
    // own, then the package and its dependency, unpacked.
    let started = std::time::Instant::now();
    let first = as_user(&["memscope-test-tool"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&first.stdout), String::from_utf8_lossy(&first.stderr));
    assert!(first.status.success(), "{stdout}{stderr}");
    println!("unpacked as {USER} in {:.2} s: {}", started.elapsed().as_secs_f64(), stdout.trim());
    assert!(stdout.contains("memscope-test-lib") && stdout.contains("memscope-test-tool"), "{stdout}");
    let tool = run(&mut Command::new(deps.join("usr/bin/memscope-test-tool")));
    assert_eq!(String::from_utf8_lossy(&tool.stdout), "memscope-test-tool ran\n");
    let header = deps.join("usr/include/memscope-test/lib.h");
    assert_eq!(std::fs::read_to_string(&header).unwrap(), "#define MEMSCOPE_TEST 1\n", "the dependency came too");
    use std::os::unix::fs::MetadataExt;
    let owner = String::from_utf8(run(Command::new("id").args(["-u", USER])).stdout).unwrap();
    assert_eq!(std::fs::metadata(&header).unwrap().uid().to_string(), owner.trim(), "the user's own files");

    // Set up already: nothing to do.
    let again = as_user(&["memscope-test-tool"]);
    assert!(again.status.success() && again.stdout.is_empty(), "{}", String::from_utf8_lossy(&again.stderr));

    // A package no source has, and no sudo for this user: the one command to run.
    let missing = as_user(&["memscope-no-such-package"]);
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.starts_with("error: memscope needs the Debian package(s) memscope-no-such-package"), "{said}");
    assert!(
        said.trim_end().ends_with("install them with: sudo apt-get install --no-install-recommends memscope-no-such-package"),
        "{said}"
    );
}

/// The tests find what the script unpacked: the Makefile, which runs the script for
/// Gloo's headers and Prometheus, puts the project folder's programs first on PATH.
#[test]
fn make_puts_the_project_folders_programs_first_on_path() {
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("probe.mk");
    std::fs::write(&probe, "memscope-print-path:\n\t@echo \"$$PATH\"\n").unwrap();
    let output = run(Command::new("make")
        .args(["-s", "--no-print-directory", "-C"])
        .arg(repo_root())
        .args(["-f", "Makefile", "-f"])
        .arg(&probe)
        .arg("memscope-print-path"));
    let path = String::from_utf8_lossy(&output.stdout);
    let first = path.trim().split(':').next().unwrap_or_default().to_string();
    assert_eq!(Path::new(&first), repo_root().join(".deps/usr/bin"), "{path}");
}
