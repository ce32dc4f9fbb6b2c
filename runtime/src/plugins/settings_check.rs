//! A plugin's settings checked without running a job: what the daemon has
//! `memscope-engine check-plugin-settings` do for each plugin of a submitted job, so
//! that bad settings are refused at submission.

use super::host_api::{HostContext, PluginOutputs};
use super::instance::PluginInstance;
use super::{open_plugin, PluginError};
use memscope_sdk::abi::{with_sink, CheckSettingsFn, ProblemSink, Status, StrRef, CHECK_SETTINGS_SYMBOL};
use memscope_sdk::settings::SettingProblem;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicPtr;
use std::sync::{Arc, Mutex};

/// Every problem with `config` (the TOML text of a job's `config` table) as settings of
/// plugin `name`, found in `dirs`: what its settings check reports
/// (`Plugin::check_settings`, exported by the SDK's `export_plugin!`), and when that
/// finds nothing, what `create` refuses when the plugin is created with them (and
/// destroyed at once), as the job would create it. A library built before the check
/// existed has none and is only created. An error when the plugin cannot be found or
/// loaded (the job would fail the same way).
pub fn check_plugin_settings(name: &str, dirs: &[PathBuf], config: &str) -> Result<Vec<SettingProblem>, PluginError> {
    let (descriptor, info) = open_plugin(name, dirs)?;
    let mut problems = match settings_check(&info.path) {
        Some(check) => run_check(check, config),
        None => Vec::new(),
    };
    if problems.is_empty() {
        let context = Arc::new(HostContext {
            plugin: info.name.clone(),
            run: String::new(),
            run_dir: None,
            network: AtomicPtr::new(std::ptr::null_mut()),
            outputs: Arc::new(Mutex::new(PluginOutputs::default())),
            samples: 0,
        });
        match PluginInstance::create(descriptor, info, false, config, context) {
            Ok(instance) => drop(instance),
            Err(PluginError::Hook { message, panicked, .. }) => {
                let message = if panicked { format!("panicked in create: {message}") } else { message };
                problems.push(SettingProblem::new("", message));
            }
            Err(other) => return Err(other),
        }
    }
    Ok(problems)
}

/// The library's settings check, when it exports one.
fn settings_check(path: &Path) -> Option<CheckSettingsFn> {
    // SAFETY: `open_plugin` loaded this library already and checked its descriptor;
    // this takes one more reference to it, never released (libraries stay loaded).
    let library = unsafe { libloading::Library::new(path) }.ok()?;
    // SAFETY: the symbol's type is fixed by its name (`_v1`), see the SDK's `abi`.
    let check = unsafe { library.get::<CheckSettingsFn>(CHECK_SETTINGS_SYMBOL) }.ok().map(|f| *f);
    std::mem::forget(library);
    check
}

/// Runs a settings check; a failing or panicking check is itself the problem.
fn run_check(check: CheckSettingsFn, config: &str) -> Vec<SettingProblem> {
    unsafe extern "C" fn write(ctx: *mut c_void, key: StrRef, message: StrRef) {
        // SAFETY: ctx is the `Vec` below; both strings are valid for this call.
        unsafe { (*(ctx as *mut Vec<SettingProblem>)).push(SettingProblem::new(key.as_str(), message.as_str())) }
    }
    let mut found: Vec<SettingProblem> = Vec::new();
    let mut sink = ProblemSink { ctx: &mut found as *mut Vec<SettingProblem> as *mut c_void, write };
    // SAFETY: the check has the type its symbol names; the string and both sinks are
    // valid for the call.
    let (status, message) = with_sink(|err| unsafe { check(StrRef::new(config), &mut sink, err) });
    let message = message.unwrap_or_else(|| "no message".into());
    match status {
        Status::Ok => found,
        Status::Error => vec![SettingProblem::new("", format!("the settings check failed: {message}"))],
        Status::Panic => vec![SettingProblem::new("", format!("the settings check panicked: {message}"))],
    }
}
