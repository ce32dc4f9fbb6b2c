//! `memscope plugins install PATH` and `plugins remove NAME`, as a user runs them: a
//! crate from `plugins new` is built, checked and copied into the user plugin
//! directory, where `plugins list` and a job find it; a file that is no plugin, or a
//! plugin with the name of a shipped one, is refused and nothing is installed. Every
//! run points HOME (and the variables that come before it) into a temporary folder.

use memscope_tests::{memscope_bin, read_npy_f32, read_summary, write_job, Finished};
use std::path::Path;
use std::process::Command;

/// Runs `memscope ARGS` from `cwd` as a user whose environment has only `vars` of the
/// three variables that place the user plugin directory (`MEMSCOPE_PLUGIN_DIR`,
/// `XDG_DATA_HOME`, `HOME`), without `MEMSCOPE_PLUGIN_PATH`. cargo, which `install`
/// runs, works offline (tests never download).
fn as_user(cwd: &Path, vars: &[(&str, &Path)], args: &[&str]) -> Finished {
    as_user_without(cwd, vars, &[], args)
}

/// [`as_user`] with the variables `unset` removed from the environment too.
fn as_user_without(cwd: &Path, vars: &[(&str, &Path)], unset: &[&str], args: &[&str]) -> Finished {
    let mut command = Command::new(memscope_bin());
    for name in unset {
        command.env_remove(name);
    }
    let output = command
        .args(args)
        .current_dir(cwd)
        .env("MEMSCOPE_LOG", "warn")
        .env_remove("MEMSCOPE_PLUGIN_DIR")
        .env_remove("XDG_DATA_HOME")
        .env_remove("MEMSCOPE_PLUGIN_PATH")
        .env("HOME", cwd.join("no-home"))
        .env("CARGO_NET_OFFLINE", "true")
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("spawning memscope");
    Finished { output }
}

/// A 1-epoch job on 300 digits with noise, the plugin `name` and the comparer.
fn job(dir: &Path, name: &str) -> std::path::PathBuf {
    write_job(
        dir,
        &format!(
            "name = \"job\"\n[data]\nformat = \"digits\"\nlimit = 300\n[train]\nepochs = 1\n\
             [score]\nbatch_size = 128\n[report]\nenabled = false\n\
             [[plugins]]\nname = \"noise\"\nconfig = {{ fraction = 0.2 }}\n\
             [[plugins]]\nname = \"{name}\"\n\
             [[plugins]]\nname = \"baseline\"\nconfig = {{ against = [\"noise_mask\"] }}\n"
        ),
    )
}

#[test]
fn a_crate_from_plugins_new_is_installed_for_jobs_and_plugins_list_then_upgraded_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let user = [("HOME", home.as_path())];
    let installed = home.join(".local/share/memscope/plugins/libmemscope_plugin_inst_check.so");
    as_user(dir.path(), &user, &["plugins", "new", "inst-check", "--dir", dir.path().to_str().unwrap()]).success();
    let root = dir.path().join("inst-check");

    // Before the install no job finds it.
    let path = job(dir.path(), "inst-check");
    let err = as_user(dir.path(), &user, &["run", path.to_str().unwrap(), "--out", "runs", "--quiet"]).clean_failure();
    assert!(err.contains("plugin `inst-check` not found"), "{err}");

    // `install CRATE` builds it in release (its own target/, nothing beside the binary),
    // then copies it into ~/.local/share/memscope/plugins.
    let out = as_user(dir.path(), &user, &["plugins", "install", root.to_str().unwrap()]).success().stdout();
    assert!(out.contains(&format!("installed inst-check 0.1.0 (new): {}", installed.display())), "{out}");
    assert!(out.contains("a job finds it as [[plugins]] name = \"inst-check\""), "{out}");
    assert!(installed.is_file());
    assert!(root.join("target/release/libmemscope_plugin_inst_check.so").is_file(), "built in the crate's own target directory");
    assert!(!memscope_bin().parent().unwrap().join("libmemscope_plugin_inst_check.so").exists(), "nothing beside the binary");

    let listed = as_user(dir.path(), &user, &["plugins", "list"]).success().stdout();
    let line = listed.lines().find(|l| l.starts_with("inst-check 0.1.0 ")).unwrap_or_else(|| panic!("{listed}"));
    assert!(line.ends_with(&format!("[{}]", installed.display())) && !line.contains("shadowed"), "{line}");

    as_user(dir.path(), &user, &["run", path.to_str().unwrap(), "--out", "runs", "--quiet", "--force"]).success();
    let summary = read_summary(&dir.path().join("runs/job"));
    let record = summary["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "inst-check").unwrap_or_else(|| panic!("{summary}"));
    assert_eq!(record["path"], installed.display().to_string());
    let (scores, shape) = read_npy_f32(&dir.path().join("runs/job/scores/inst-check.npy"));
    assert_eq!(shape, vec![300]);
    assert!(scores.iter().all(|v| v.is_finite() && *v >= 0.0), "cross-entropies");

    // Installing again is an upgrade: the new build replaces the installed file. Here
    // from a shell without the checkout's libtorch settings: the crate's
    // `.cargo/config.toml` has them, so torch-sys stays as the checkout built it.
    let manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1)).unwrap();
    let bare = ["LIBTORCH_USE_PYTORCH", "LIBTORCH", "VIRTUAL_ENV"];
    let finished = as_user_without(dir.path(), &user, &bare, &["plugins", "install", root.to_str().unwrap()]).success();
    let out = finished.stdout();
    assert!(out.contains("installed inst-check 0.2.0 (replaced the one installed before)"), "{out}");
    assert!(!finished.stderr().contains("Compiling torch-sys"), "{}", finished.stderr());
    let listed = as_user(dir.path(), &user, &["plugins", "list"]).success().stdout();
    assert!(listed.lines().any(|l| l.starts_with("inst-check 0.2.0 ")), "{listed}");
    assert!(!listed.contains("inst-check 0.1.0"), "{listed}");

    // `remove` takes it out: `list` no longer shows it and a job no longer finds it.
    let out = as_user(dir.path(), &user, &["plugins", "remove", "inst-check"]).success().stdout();
    assert_eq!(out.trim(), format!("removed {}", installed.display()));
    assert!(!installed.exists());
    let listed = as_user(dir.path(), &user, &["plugins", "list"]).success().stdout();
    assert!(!listed.contains("inst-check"), "{listed}");
    let err = as_user(dir.path(), &user, &["run", path.to_str().unwrap(), "--out", "runs", "--quiet", "--force"]).clean_failure();
    assert!(err.contains("plugin `inst-check` not found"), "{err}");
    let err = as_user(dir.path(), &user, &["plugins", "remove", "inst-check"]).clean_failure();
    assert!(err.contains("plugin `inst-check` is not installed in") && err.ends_with("(installed: none)"), "{err}");
}

#[test]
fn a_file_that_is_no_plugin_is_refused_with_the_loaders_error_and_nothing_is_installed() {
    let dir = tempfile::tempdir().unwrap();
    let plugin_dir = dir.path().join("my-plugins");
    let user = [("MEMSCOPE_PLUGIN_DIR", plugin_dir.as_path())];

    let text = dir.path().join("libnotes.so");
    std::fs::write(&text, "not a library\n").unwrap();
    let err = as_user(dir.path(), &user, &["plugins", "install", text.to_str().unwrap()]).clean_failure();
    assert!(err.starts_with(&format!("error: not installed: {}: not a loadable plugin library:", text.display())), "{err}");

    // A library built for an ABI this memscope does not load: the loader's message, both versions named.
    let future = dir.path().join("libfuture.so");
    std::fs::copy(memscope_bin().parent().unwrap().join("libmemscope_fixture_future_abi.so"), &future).unwrap();
    let err = as_user(dir.path(), &user, &["plugins", "install", future.to_str().unwrap()]).clean_failure();
    assert!(err.contains("not installed: plugin `fixture-future-abi`") && err.contains("needs a memscope of ABI"), "{err}");

    let folder = dir.path().join("empty");
    std::fs::create_dir(&folder).unwrap();
    let err = as_user(dir.path(), &user, &["plugins", "install", folder.to_str().unwrap()]).clean_failure();
    assert_eq!(err, format!("error: {}: not a plugin crate (no Cargo.toml in it)", folder.display()));
    let err = as_user(dir.path(), &user, &["plugins", "install", "missing.so"]).clean_failure();
    assert!(err.starts_with("error: missing.so: no such file or folder"), "{err}");

    assert!(!plugin_dir.exists(), "nothing was installed");
}

#[test]
fn a_plugin_named_as_a_shipped_one_is_refused_and_one_installed_before_is_shadowed_by_the_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let user = [("XDG_DATA_HOME", data.as_path())];
    let plugin_dir = data.join("memscope/plugins");
    let shipped = memscope_bin().parent().unwrap().join("libmemscope_plugin_margin.so");

    let copy = dir.path().join("libmargin.so");
    std::fs::copy(&shipped, &copy).unwrap();
    let err = as_user(dir.path(), &user, &["plugins", "install", copy.to_str().unwrap()]).clean_failure();
    assert_eq!(
        err,
        format!(
            "error: not installed: plugin `margin` ({}) has the name of a plugin memscope ships ({}), which a job naming `margin` always loads: rename your plugin",
            copy.display(),
            shipped.display()
        )
    );
    // The shipped file itself (a crate built into memscope's target directory lands there).
    let err = as_user(dir.path(), &user, &["plugins", "install", shipped.to_str().unwrap()]).clean_failure();
    assert!(err.starts_with(&format!("error: not installed: {} lies beside the memscope binary", shipped.display())), "{err}");
    assert!(!plugin_dir.exists(), "nothing was installed");

    // A user plugin that got the name of a shipped one later (a release that ships it)
    // comes after it in the search order: `list` says the job loads the shipped one.
    std::fs::create_dir_all(&plugin_dir).unwrap();
    std::fs::copy(&shipped, plugin_dir.join("libmemscope_plugin_margin.so")).unwrap();
    let listed = as_user(dir.path(), &user, &["plugins", "list"]).success().stdout();
    let expected =
        format!("[{}]  (shadowed: a job loads {})", plugin_dir.join("libmemscope_plugin_margin.so").display(), shipped.display());
    assert!(listed.lines().any(|l| l.starts_with("margin ") && l.ends_with(&expected)), "{listed}");
    assert!(listed.contains(&format!("user plugin directory (`plugins install`): {}", plugin_dir.display())), "{listed}");
}
