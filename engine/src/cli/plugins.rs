//! `memscope plugins list`, `memscope plugins new NAME` and `memscope plugins check FILE`.

use super::{PluginsCommand, TemplateKind};
use memscope::plugins::template;
use memscope::plugins::{default_plugin_dirs, list_plugins, load_library, Listed, PluginInfo};

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
                    Ok(Listed { info, shadowed_by: None }) => println!("{}", describe(&info)),
                    Ok(Listed { info, shadowed_by: Some(winner) }) => {
                        println!("{}  (shadowed: a job loads {})", describe(&info), winner.display())
                    }
                    Err(e) => println!("unusable: {e}"),
                }
            }
            Ok(())
        }
        PluginsCommand::New { name, dir, kind } => {
            let kind = match kind {
                TemplateKind::Scorer => template::Kind::Scorer,
                TemplateKind::Training => template::Kind::Training,
            };
            let root = template::new_plugin(&name, &dir, kind)?;
            println!("wrote {}: build it with `cargo build --release` there (see its README.md)", root.display());
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
        "{} {} (sdk {}, abi {}, torch {}{}) hooks: {}  [{}]",
        info.name,
        info.version,
        info.sdk_version,
        info.abi,
        info.torch_version,
        if info.debug_build { ", DEBUG BUILD: slow, build with --release" } else { "" },
        hooks.join(", "),
        info.path.display()
    )
}
