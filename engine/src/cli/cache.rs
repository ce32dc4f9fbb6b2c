//! `memscope cache list` and `memscope cache clear`: the decoded-image cache, which
//! runs only ever add to.

use super::CacheCommand;
use memscope::data::images::{cache_dir, Inventory};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub fn cache(command: CacheCommand) -> anyhow::Result<()> {
    match command {
        CacheCommand::List { dir } => list(&Inventory::read(&directory(dir)?)?),
        CacheCommand::Clear { dir, unused_for_days } => {
            let inventory = Inventory::read(&directory(dir)?)?;
            let cleared = inventory.clear(unused_for_days)?;
            let kept = match (cleared.kept, unused_for_days) {
                (0, _) | (_, None) => String::new(),
                (n, Some(limit)) => format!("; kept {n} used in the last {}", days(limit)),
            };
            let unfinished = match cleared.unfinished {
                0 => String::new(),
                n => format!(" and {n} file(s) of unfinished decodes"),
            };
            println!("{}: removed {} dataset(s){unfinished}, {}{kept}", inventory.dir.display(), cleared.sets, size(cleared.bytes));
            Ok(())
        }
    }
}

fn directory(dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(cache_dir(dir.as_deref())?)
}

fn list(inventory: &Inventory) -> anyhow::Result<()> {
    println!("{}: {} dataset(s), {}", inventory.dir.display(), inventory.sets.len(), size(inventory.bytes()));
    if !inventory.sets.is_empty() {
        println!("  {:<14} {:>10}  {:>8}  {:<11}  {:<8}  dataset", "last used", "size", "images", "shape", "key");
    }
    let now = SystemTime::now();
    for set in &inventory.sets {
        let [c, h, w] = set.shape;
        println!(
            "  {:<14} {:>10}  {:>8}  {:<11}  {:<8}  {}",
            format!("{} ago", days(now.duration_since(set.last_used).unwrap_or_default())),
            size(set.bytes),
            set.samples,
            format!("{c}x{h}x{w}"),
            &set.key[..8],
            set.dataset.as_deref().unwrap_or("(not recorded)")
        );
    }
    for file in &inventory.unfinished {
        let state = if file.in_progress { "a decode in progress" } else { "left by a decode that ended unfinished" };
        println!("  unfinished: {} ({}, {state})", file.path.display(), size(file.bytes));
    }
    if !inventory.sets.is_empty() || inventory.unfinished.iter().any(|f| !f.in_progress) {
        println!("remove with `memscope cache clear` (`--unused-for-days N` keeps what runs used in the last N days)");
    }
    Ok(())
}

/// `512 B`, `3.1 KiB`, `180.5 MiB`, `1.2 GiB`.
fn size(bytes: u64) -> String {
    let mut value = bytes as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if value < 1024.0 || unit == "GiB" {
            return if unit == "B" { format!("{bytes} B") } else { format!("{value:.1} {unit}") };
        }
        value /= 1024.0;
    }
    unreachable!("the loop returns at GiB")
}

/// `40 s`, `12 min`, `5 h`, `3 days`.
fn days(span: Duration) -> String {
    let s = span.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ if s < 2 * 86_400 => "1 day".into(),
        _ => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_spans_read_as_people_say_them() {
        assert_eq!([size(512), size(3174), size(189_267_968), size(5 << 40)], ["512 B", "3.1 KiB", "180.5 MiB", "5120.0 GiB"]);
        let span = |s| days(Duration::from_secs(s));
        assert_eq!([span(40), span(720), span(18_000), span(100_000), span(300_000)], ["40 s", "12 min", "5 h", "1 day", "3 days"]);
    }
}
