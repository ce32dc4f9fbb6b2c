//! Plugin settings checked at submission, through each plugin's own parser. Plugins
//! link libtorch and the daemon does not, so a short-lived `memscope-engine
//! check-plugin-settings` process loads them and runs their checks
//! (`memscope::plugins::check_plugin_settings`). Loading libtorch takes that process
//! about half a second, so answers are kept: a plugin file (path, size, modification
//! time) and settings text checked once are not checked again, and one check process
//! runs at a time (submissions that wait for it then find their answer kept).

use memscope_base::config::Problem;
use memscope_base::plugin_files::locate_plugin;
use memscope_base::settings_check::{PluginSettings, SettingsCheckAnswer, SettingsCheckRequest};
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// How many answers are kept (the oldest goes first).
const KEPT: usize = 512;

/// How long a check process may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// One plugin's settings, with the file that would be loaded for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    file: PathBuf,
    size: u64,
    modified: Option<SystemTime>,
    settings: PluginSettings,
}

/// Runs check processes and keeps their answers.
pub struct SettingsChecker {
    engine: PathBuf,
    kept: Mutex<Kept>,
    /// Held while a check process runs.
    running: Mutex<()>,
}

#[derive(Default)]
struct Kept {
    answers: HashMap<Key, Vec<Problem>>,
    order: VecDeque<Key>,
}

impl SettingsChecker {
    /// A checker that runs `engine` (`memscope-engine`).
    pub fn new(engine: PathBuf) -> SettingsChecker {
        SettingsChecker { engine, kept: Mutex::default(), running: Mutex::new(()) }
    }

    /// The problems of each plugin's settings (keys inside its `config` table), in the
    /// order given; plugins are looked up in `plugin_dirs` (a plugin not found there
    /// has been reported by the caller and is given here no more). The check process
    /// runs in `working_dir`, as the job would. An error when the check process could
    /// not run or gave no answer.
    pub fn check(&self, plugin_dirs: &[PathBuf], working_dir: &Path, plugins: &[PluginSettings]) -> Result<Vec<Vec<Problem>>, String> {
        let keys: Vec<Option<Key>> = plugins.iter().map(|p| key(p, plugin_dirs)).collect();
        if let Some(all) = self.all_kept(&keys) {
            return Ok(all);
        }
        let _one_at_a_time = self.running.lock().expect("check lock");
        // Another submission may have checked the same meanwhile.
        if let Some(all) = self.all_kept(&keys) {
            return Ok(all);
        }
        let missing: Vec<PluginSettings> = {
            let kept = self.kept.lock().expect("kept lock");
            plugins
                .iter()
                .zip(&keys)
                .filter(|(_, k)| k.as_ref().is_some_and(|k| !kept.answers.contains_key(k)))
                .map(|(p, _)| p.clone())
                .collect()
        };
        let request = SettingsCheckRequest { plugin_dirs: plugin_dirs.to_vec(), plugins: missing.clone() };
        let answer = self.run(&request, working_dir)?;
        if answer.plugins.len() != missing.len() {
            return Err(format!("the settings check answered for {} plugin(s), not {}", answer.plugins.len(), missing.len()));
        }
        let mut kept = self.kept.lock().expect("kept lock");
        for (settings, problems) in missing.into_iter().zip(answer.plugins) {
            if let Some(key) = keys.iter().flatten().find(|k| k.settings == settings) {
                kept.insert(key.clone(), problems);
            }
        }
        drop(kept);
        self.all_kept(&keys).ok_or_else(|| "the settings check left a plugin unanswered".to_string())
    }

    /// Every plugin's answer, when all are kept (a plugin whose file is gone has none).
    fn all_kept(&self, keys: &[Option<Key>]) -> Option<Vec<Vec<Problem>>> {
        let kept = self.kept.lock().expect("kept lock");
        keys.iter().map(|k| k.as_ref().map_or(Some(Vec::new()), |k| kept.answers.get(k).cloned())).collect()
    }

    /// Runs one check process.
    fn run(&self, request: &SettingsCheckRequest, working_dir: &Path) -> Result<SettingsCheckAnswer, String> {
        let engine = self.engine.display();
        let mut child = Command::new(&self.engine)
            .arg("check-plugin-settings")
            .current_dir(working_dir)
            .env_remove("MEMSCOPE_PLUGIN_PATH")
            .env("MEMSCOPE_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {engine}: {e}"))?;
        let body = serde_json::to_vec(request).expect("a request serializes");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let writer = std::thread::spawn(move || stdin.write_all(&body));
        let (mut stdout, mut stderr) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
        let out = std::thread::spawn(move || {
            let mut text = Vec::new();
            stdout.read_to_end(&mut text).map(|_| text)
        });
        let err = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.by_ref().take(64 * 1024).read_to_end(&mut text);
            String::from_utf8_lossy(&text).trim().to_string()
        });
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            match child.try_wait().map_err(|e| format!("waiting for {engine}: {e}"))? {
                Some(status) => break status,
                None if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("the plugin settings check did not finish in {} s", TIMEOUT.as_secs()));
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        let _ = writer.join();
        let (out, err) = (out.join().ok().and_then(Result::ok).unwrap_or_default(), err.join().unwrap_or_default());
        if !status.success() {
            return Err(format!("the plugin settings check ({engine} check-plugin-settings) ended with {status}: {err}"));
        }
        serde_json::from_slice(&out).map_err(|e| format!("the plugin settings check gave no answer ({e}): {err}"))
    }
}

impl Kept {
    fn insert(&mut self, key: Key, problems: Vec<Problem>) {
        if self.answers.insert(key.clone(), problems).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > KEPT {
            if let Some(oldest) = self.order.pop_front() {
                self.answers.remove(&oldest);
            }
        }
    }
}

/// The key of a plugin's answer: the file a job would load for it, as it is now.
fn key(settings: &PluginSettings, plugin_dirs: &[PathBuf]) -> Option<Key> {
    let file = locate_plugin(&settings.name, plugin_dirs)?.path;
    let meta = std::fs::metadata(&file).ok()?;
    Some(Key { file, size: meta.len(), modified: meta.modified().ok(), settings: settings.clone() })
}
