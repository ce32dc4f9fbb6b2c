//! `memscope plugins list`, `new NAME`, `check FILE`, `install PATH` and `remove NAME`.

use super::{PluginsCommand, TemplateKind};
use memscope::plugins::install::{self, InstallError, Installed};
use memscope::plugins::template;
use memscope::plugins::{
    default_plugin_dirs, executable_dir, find_plugin, list_plugins, load_library, user_plugin_dir, Listed, PluginInfo,
};

pub fn plugins(command: PluginsCommand) -> anyhow::Result<()> {
    match command {
        PluginsCommand::List { mut dirs } => {
            dirs.extend(default_plugin_dirs());
            println!("plugin directories: {}", dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "));
            if let Some(user_dir) = user_plugin_dir() {
                println!("user plugin directory (`plugins install`): {}", user_dir.display());
            }
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
            println!(
                "wrote {}: test it with `cargo test --release` there, install it with `memscope plugins install {}` (see its README.md)",
                root.display(),
                root.display()
            );
            Ok(())
        }
        PluginsCommand::Check { file } => {
            let (_, info) = load_library(&file)?;
            println!("ok: {}", describe(&info));
            Ok(())
        }
        PluginsCommand::Install { path } => {
            let user_dir = user_plugin_dir().ok_or(InstallError::NoUserDir)?;
            let shipped: Vec<_> = executable_dir().into_iter().collect();
            let Installed { info, path: installed, replaced } = install::install(&path, &user_dir, &shipped)?;
            let what = if replaced { "replaced the one installed before" } else { "new" };
            println!("installed {} {} ({what}): {}", info.name, info.version, installed.display());
            if info.debug_build {
                println!("warning: it is a debug build, many times slower: build it with --release");
            }
            // A job's own `plugin_dirs` come first; of the directories every job searches,
            // an earlier one may hold a library of this name (MEMSCOPE_PLUGIN_PATH).
            match find_plugin(&info.name, &default_plugin_dirs()) {
                Ok(loaded) if loaded != installed => {
                    println!("warning: a job naming `{}` loads {} instead (earlier in the search order)", info.name, loaded.display())
                }
                _ => println!("a job finds it as [[plugins]] name = \"{}\"", info.name),
            }
            Ok(())
        }
        PluginsCommand::Remove { name } => {
            let user_dir = user_plugin_dir().ok_or(InstallError::NoUserDir)?;
            for file in install::remove(&name, &user_dir)? {
                println!("removed {}", file.display());
            }
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
