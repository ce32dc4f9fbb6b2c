//! `--set key.path=value` overrides, applied by editing the TOML document.
//!
//! Keys are dotted paths (`train.epochs`). Plugin settings are reached two ways:
//! - by plugin name: `plugins.NAME.KEY` is `KEY` in that plugin's `config` table
//!   (`plugins.curvature.h=1e-4`); a name used by two plugins is an error that names
//!   the index form;
//! - by 0-based index into `[[plugins]]`: `plugins[1].KEY` or `plugins.1.KEY`, where
//!   `KEY` is a key of the entry itself (`plugins[1].config.h=1e-4`,
//!   `plugins[0].optional=true`).
//!
//! Every error names the override, never a position in the file: the edited document
//! is not the file the user wrote.

use toml_edit::{DocumentMut, Item, Table};

/// One step of an override path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A key of a table.
    Key(String),
    /// An element of an array of tables.
    Index(usize),
}

/// Applies one `key=value` assignment to `doc`; the error is the message to show after
/// the assignment.
pub(super) fn apply(doc: &mut DocumentMut, assignment: &str) -> Result<(), String> {
    let (key, raw) = assignment.split_once('=').ok_or("expected key=value")?;
    let steps = resolve(doc, &tokenize(key.trim())?)?;
    set(doc.as_table_mut(), &steps, parse_value(raw.trim()))
}

/// `a.b[2].c` and `a.b.2.c` as steps; a number after `plugins` is an index.
fn tokenize(key: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for part in key.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => {
                let digits = rest.strip_suffix(']').ok_or_else(|| format!("`{part}`: expected `name[N]`"))?;
                let index = digits.parse::<usize>().map_err(|_| format!("`{part}`: the index must be a number"))?;
                (name, Some(index))
            }
            None => (part, None),
        };
        if name.is_empty() {
            return Err("empty key segment".into());
        }
        let after_plugins = steps.len() == 1 && steps[0] == Step::Key("plugins".into());
        match name.parse::<usize>() {
            Ok(i) if after_plugins && index.is_none() => steps.push(Step::Index(i)),
            _ => steps.push(Step::Key(name.to_string())),
        }
        if let Some(i) = index {
            steps.push(Step::Index(i));
        }
    }
    Ok(steps)
}

/// Turns `plugins.NAME.rest` into `plugins[i].config.rest` and checks that indices
/// are in range, naming the job's plugins when they are not.
fn resolve(doc: &DocumentMut, steps: &[Step]) -> Result<Vec<Step>, String> {
    if steps.first() != Some(&Step::Key("plugins".into())) {
        if let Some(pos) = steps.iter().position(|s| matches!(s, Step::Index(_))) {
            let parent = display(&steps[..pos]);
            return Err(format!("only `plugins` takes an index, not `{parent}`"));
        }
        return Ok(steps.to_vec());
    }
    let names = plugin_names(doc);
    let listed = || {
        if names.is_empty() {
            "the job has no [[plugins]]".to_string()
        } else {
            format!("plugins: {}", names.iter().enumerate().map(|(i, n)| format!("[{i}] {n}")).collect::<Vec<_>>().join(", "))
        }
    };
    match steps.get(1) {
        None => Err("name a plugin setting: `plugins.NAME.KEY=VALUE` or `plugins[N].config.KEY=VALUE`".into()),
        Some(Step::Index(i)) => {
            if *i >= names.len() {
                return Err(format!("no plugins[{i}] in the job ({}; indices start at 0)", listed()));
            }
            if steps.len() < 3 {
                return Err(format!("name a key of plugins[{i}]: `plugins[{i}].config.KEY=VALUE`"));
            }
            Ok(steps.to_vec())
        }
        Some(Step::Key(name)) => {
            let rest = &steps[2..];
            if rest.is_empty() {
                return Err(format!("name a setting of plugin `{name}`: `plugins.{name}.KEY=VALUE`"));
            }
            let matches: Vec<usize> = names.iter().enumerate().filter(|(_, n)| *n == name).map(|(i, _)| i).collect();
            match matches.as_slice() {
                [] => Err(format!("no plugin named `{name}` in the job ({})", listed())),
                [i] => {
                    let mut out = vec![Step::Key("plugins".into()), Step::Index(*i), Step::Key("config".into())];
                    out.extend_from_slice(rest);
                    Ok(out)
                }
                several => Err(format!(
                    "{} plugins are named `{name}` ({}): use the index form, e.g. `plugins[{}].config.{}`",
                    several.len(),
                    several.iter().map(|i| format!("plugins[{i}]")).collect::<Vec<_>>().join(", "),
                    several[0],
                    display(rest)
                )),
            }
        }
    }
}

/// The `name` of every `[[plugins]]` entry, `?` where it has none.
fn plugin_names(doc: &DocumentMut) -> Vec<String> {
    let name = |t: Option<&str>| t.unwrap_or("?").to_string();
    match doc.get("plugins") {
        Some(Item::ArrayOfTables(tables)) => tables.iter().map(|t| name(t.get("name").and_then(Item::as_str))).collect(),
        Some(Item::Value(toml_edit::Value::Array(array))) => {
            array.iter().map(|v| name(v.as_inline_table().and_then(|t| t.get("name")).and_then(|n| n.as_str()))).collect()
        }
        _ => Vec::new(),
    }
}

fn display(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Sets `value` at `steps` under `table`, creating missing tables on the way; inline
/// tables (and arrays of inline tables) on the way become ordinary ones.
fn set(table: &mut Table, steps: &[Step], value: toml_edit::Value) -> Result<(), String> {
    let Some((Step::Key(key), rest)) = steps.split_first() else {
        return Err(format!("`{}`: expected a key", display(steps)));
    };
    if rest.is_empty() {
        table[key.as_str()] = toml_edit::value(value);
        return Ok(());
    }
    let entry = table.entry(key).or_insert_with(|| Item::Table(Table::new()));
    make_editable(entry);
    match (entry, &rest[0]) {
        (Item::Table(inner), Step::Key(_)) => set(inner, rest, value),
        (Item::ArrayOfTables(array), Step::Index(i)) => {
            let len = array.len();
            let inner = array.get_mut(*i).ok_or_else(|| format!("`{key}` has {len} entries, no [{i}]"))?;
            if rest.len() < 2 {
                return Err(format!("name a key of `{key}[{i}]`"));
            }
            set(inner, &rest[1..], value)
        }
        (Item::ArrayOfTables(_), Step::Key(_)) => Err(format!("`{key}` is a list: give an index, `{key}[N]`")),
        (_, Step::Index(_)) => Err(format!("`{key}` is not a list of tables")),
        (_, Step::Key(_)) => Err(format!("`{key}` is not a table")),
    }
}

/// Turns an inline table into a table and an array of inline tables into an array of
/// tables, so that navigation has two shapes to deal with.
fn make_editable(item: &mut Item) {
    if let Some(inline) = item.as_inline_table_mut() {
        let owned = std::mem::take(inline).into_table();
        *item = Item::Table(owned);
        return;
    }
    if let Some(array) = item.as_array() {
        if !array.is_empty() && array.iter().all(|v| v.is_inline_table()) {
            let mut tables = toml_edit::ArrayOfTables::new();
            for v in array.iter() {
                tables.push(v.as_inline_table().expect("checked above").clone().into_table());
            }
            *item = Item::ArrayOfTables(tables);
        }
    }
}

/// A value as TOML; text that is not valid TOML is taken as a string (`--set name=run2`).
fn parse_value(raw: &str) -> toml_edit::Value {
    let probe = format!("v = {raw}");
    match probe.parse::<DocumentMut>() {
        Ok(doc) => doc["v"].as_value().cloned().unwrap_or_else(|| raw.into()),
        Err(_) => raw.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = "name = \"t\"\n[[plugins]]\nname = \"noise\"\nconfig = { fraction = 0.1 }\n\
                       [[plugins]]\nname = \"curvature\"\nconfig = { draws = 10, h = 1e-3 }\n";

    fn edited(text: &str, assignment: &str) -> Result<toml::Table, String> {
        let mut doc: DocumentMut = text.parse().unwrap();
        apply(&mut doc, assignment)?;
        Ok(toml::from_str(&doc.to_string()).unwrap())
    }

    fn plugin(table: &toml::Table, i: usize) -> &toml::Table {
        table["plugins"].as_array().unwrap()[i].as_table().unwrap()
    }

    #[test]
    fn a_plugin_setting_is_reached_by_the_plugins_name() {
        let t = edited(JOB, "plugins.curvature.h=1e-4").unwrap();
        assert_eq!(plugin(&t, 1)["config"]["h"].as_float(), Some(1e-4));
        assert_eq!(plugin(&t, 1)["config"]["draws"].as_integer(), Some(10), "other settings stay");
        assert_eq!(plugin(&t, 0)["config"]["fraction"].as_float(), Some(0.1));
    }

    #[test]
    fn both_index_forms_reach_an_entry_and_its_config() {
        let t = edited(JOB, "plugins[1].config.h=2e-4").unwrap();
        assert_eq!(plugin(&t, 1)["config"]["h"].as_float(), Some(2e-4));
        let t = edited(JOB, "plugins.0.optional=true").unwrap();
        assert_eq!(plugin(&t, 0)["optional"].as_bool(), Some(true));
        let t = edited(JOB, "plugins.0.config.kind=pairflip").unwrap();
        assert_eq!(plugin(&t, 0)["config"]["kind"].as_str(), Some("pairflip"));
    }

    #[test]
    fn plugins_written_as_an_inline_array_are_reached_too() {
        let text = "plugins = [{ name = \"noise\", config = { fraction = 0.1 } }]\n";
        let t = edited(text, "plugins.noise.fraction=0.3").unwrap();
        assert_eq!(plugin(&t, 0)["config"]["fraction"].as_float(), Some(0.3));
    }

    #[test]
    fn an_unknown_plugin_name_lists_the_plugins_of_the_job() {
        let err = edited(JOB, "plugins.x.h=1").unwrap_err();
        assert_eq!(err, "no plugin named `x` in the job (plugins: [0] noise, [1] curvature)");
        let err = edited("name = \"t\"\n", "plugins.x.h=1").unwrap_err();
        assert_eq!(err, "no plugin named `x` in the job (the job has no [[plugins]])");
    }

    #[test]
    fn a_name_two_plugins_share_points_to_the_index_form() {
        let text = format!("{JOB}[[plugins]]\nname = \"curvature\"\n");
        let err = edited(&text, "plugins.curvature.h=1").unwrap_err();
        assert!(err.contains("2 plugins are named `curvature` (plugins[1], plugins[2])"), "{err}");
        assert!(err.contains("`plugins[1].config.h`"), "{err}");
        let t = edited(&text, "plugins[2].config.h=1e-2").unwrap();
        assert_eq!(plugin(&t, 2)["config"]["h"].as_float(), Some(1e-2), "a table is created where none was");
    }

    #[test]
    fn a_config_table_created_for_an_earlier_plugin_stays_with_it() {
        let text = "[[plugins]]\nname = \"margin\"\n[[plugins]]\nname = \"noise\"\n";
        let t = edited(text, "plugins.margin.x=1").unwrap();
        assert_eq!(plugin(&t, 0)["config"]["x"].as_integer(), Some(1));
        assert!(plugin(&t, 1).get("config").is_none(), "{t:?}");
    }

    #[test]
    fn an_index_out_of_range_names_the_plugins() {
        let err = edited(JOB, "plugins[2].config.h=1").unwrap_err();
        assert_eq!(err, "no plugins[2] in the job (plugins: [0] noise, [1] curvature; indices start at 0)");
    }

    #[test]
    fn malformed_keys_say_what_is_wrong() {
        assert_eq!(edited(JOB, "plugins[x].config.h=1").unwrap_err(), "`plugins[x]`: the index must be a number");
        assert_eq!(edited(JOB, "train[0].epochs=1").unwrap_err(), "only `plugins` takes an index, not `train`");
        assert!(edited(JOB, "plugins.curvature=1").unwrap_err().contains("name a setting of plugin `curvature`"));
        assert!(edited(JOB, "plugins=1").unwrap_err().contains("name a plugin setting"));
        assert_eq!(edited(JOB, "name.first=1").unwrap_err(), "`name` is not a table");
        assert_eq!(edited(JOB, "train..epochs=1").unwrap_err(), "empty key segment");
    }
}
