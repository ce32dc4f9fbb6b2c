//! `memscope plugins list` and `memscope plugins check FILE`.

use super::PluginsCommand;
use memscope::plugins::{default_plugin_dirs, list_plugins, load_library, PluginInfo};

pub fn plugins(command: PluginsCommand) -> anyhow::Result<()> {
    match command {
        PluginsCommand::List { mut dirs } => {
            dirs.extend(default_plugin_dirs());
            println!("plugin directories: {}", dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "));
            let found = list_plugins(&dirs);
            if found.is_empty() {
                println!("no plugins found");
            }
            for entry in found {
                match entry {
                    Ok(info) => println!("{}", describe(&info)),
                    Err(e) => println!("unusable: {e}"),
                }
            }
            Ok(())
        }
        PluginsCommand::Check { file } => {
            let (_, info) = load_library(&file)?;
            println!("ok: {}", describe(&info));
            Ok(())
        }
    }
}

fn describe(info: &PluginInfo) -> String {
    let hooks: Vec<&str> = info.hooks.iter().map(|h| h.name()).collect();
    format!(
        "{} {} (sdk {}, torch {}) hooks: {}  [{}]",
        info.name,
        info.version,
        info.sdk_version,
        info.torch_version,
        hooks.join(", "),
        info.path.display()
    )
}
