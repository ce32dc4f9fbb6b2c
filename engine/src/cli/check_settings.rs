//! `memscope-engine check-plugin-settings` (hidden): the daemon's check of a submitted
//! job's plugin settings. It loads each plugin as the job would and runs its settings
//! check (`memscope::plugins::check_plugin_settings`); the daemon links no libtorch
//! and loads no plugin itself.

use memscope::config::Problem;
use memscope_base::settings_check::{SettingsCheckAnswer, SettingsCheckRequest};

pub fn check_plugin_settings() -> anyhow::Result<()> {
    let request: SettingsCheckRequest = serde_json::from_reader(std::io::stdin().lock())?;
    let plugins = request
        .plugins
        .iter()
        .map(|plugin| match memscope::plugins::check_plugin_settings(&plugin.name, &request.plugin_dirs, &plugin.config) {
            Ok(found) => found.into_iter().map(|p| Problem { key: p.key, message: p.message }).collect(),
            Err(e) => vec![Problem { key: String::new(), message: e.to_string() }],
        })
        .collect();
    serde_json::to_writer(std::io::stdout().lock(), &SettingsCheckAnswer { plugins })?;
    Ok(())
}
