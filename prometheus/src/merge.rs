//! Several registries rendered as one Prometheus text page: a family (its `# HELP`,
//! `# TYPE` and samples) must appear once, so families of the same name are joined.

/// One metric family of a rendered page.
#[derive(Debug, Default)]
struct Family {
    help: Option<String>,
    kind: Option<String>,
    samples: Vec<String>,
}

/// Joins rendered pages family by family, in the order families first appear; the
/// first page's `# HELP` and `# TYPE` lines win.
pub fn merge_pages<'a>(pages: impl IntoIterator<Item = &'a str>) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut families: std::collections::HashMap<String, Family> = std::collections::HashMap::new();
    for page in pages {
        let mut current: Option<String> = None;
        for line in page.lines().filter(|l| !l.trim().is_empty()) {
            let comment = line.strip_prefix("# HELP ").map(|r| (true, r)).or_else(|| line.strip_prefix("# TYPE ").map(|r| (false, r)));
            let name = match comment {
                Some((_, rest)) => rest.split_whitespace().next().unwrap_or("").to_string(),
                None => match &current {
                    Some(name) => name.clone(),
                    // A sample before any header: its own family, named by itself.
                    None => line.split(['{', ' ']).next().unwrap_or("").to_string(),
                },
            };
            let family = families.entry(name.clone()).or_insert_with(|| {
                order.push(name.clone());
                Family::default()
            });
            match comment {
                Some((true, _)) => {
                    family.help.get_or_insert_with(|| line.to_string());
                }
                Some((false, _)) => {
                    family.kind.get_or_insert_with(|| line.to_string());
                }
                None => family.samples.push(line.to_string()),
            }
            current = Some(name);
        }
    }
    let mut text = String::new();
    for name in order {
        let family = &families[&name];
        for line in family.help.iter().chain(&family.kind).chain(&family.samples) {
            text.push_str(line);
            text.push('\n');
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_of_several_pages_appear_once_with_every_sample() {
        let daemon = "# HELP memscope_epoch Epochs completed\n# TYPE memscope_epoch gauge\nmemscope_epoch{run=\"a\"} 3\n\n\
                      # HELP memscope_daemon_jobs Jobs\n# TYPE memscope_daemon_jobs gauge\nmemscope_daemon_jobs{state=\"queued\"} 0\n\n";
        let run = "# HELP memscope_epoch Epochs completed\n# TYPE memscope_epoch gauge\nmemscope_epoch{run=\"b\"} 1\n\n\
                   # TYPE memscope_step_seconds histogram\nmemscope_step_seconds_bucket{run=\"b\",le=\"+Inf\"} 2\nmemscope_step_seconds_sum{run=\"b\"} 0.5\n";
        let merged = merge_pages([daemon, run]);
        assert_eq!(
            merged,
            "# HELP memscope_epoch Epochs completed\n# TYPE memscope_epoch gauge\nmemscope_epoch{run=\"a\"} 3\nmemscope_epoch{run=\"b\"} 1\n\n\
             # HELP memscope_daemon_jobs Jobs\n# TYPE memscope_daemon_jobs gauge\nmemscope_daemon_jobs{state=\"queued\"} 0\n\n\
             # TYPE memscope_step_seconds histogram\nmemscope_step_seconds_bucket{run=\"b\",le=\"+Inf\"} 2\nmemscope_step_seconds_sum{run=\"b\"} 0.5\n\n"
        );
        assert_eq!(merged.matches("# TYPE memscope_epoch ").count(), 1);
    }
}
