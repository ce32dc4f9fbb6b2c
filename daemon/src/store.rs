//! The persistent job queue: one directory per job under `<state_dir>/jobs/<id>/` with
//! the job as submitted (`job.toml`), its record (`record.json`) and its log
//! (`log.txt`). Every write is atomic (temp file, fsync, rename), so a crash at any
//! point leaves each job either fully submitted or absent, and its record readable.

use super::DaemonError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a slot (or to resume after a restart).
    Queued,
    /// Its process is training or scoring.
    Running,
    /// Finished; summary and scores are in the run directory.
    Completed,
    /// Ended with an error (see `message` and the log).
    Failed,
    /// Cancelled by a user.
    Cancelled,
    /// Its `record.json` in the state directory is missing, unreadable, or names
    /// another job: set aside (the reason is its message) so that the daemon and the
    /// other jobs go on. Nothing is written over it; repair or remove the directory.
    Broken,
}

impl JobState {
    /// Whether the job will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Completed | JobState::Failed | JobState::Cancelled | JobState::Broken)
    }

    /// Every state, for the per-state job gauge.
    pub const ALL: [JobState; 6] =
        [JobState::Queued, JobState::Running, JobState::Completed, JobState::Failed, JobState::Cancelled, JobState::Broken];

    /// The state's name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Broken => "broken",
        }
    }
}

/// What the daemon remembers about a job across restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Zero-padded sequence number, in submission order.
    pub id: String,
    /// The job's `name`.
    pub name: String,
    /// Where it is.
    pub state: JobState,
    /// Unix seconds.
    pub submitted_at: f64,
    /// Unix seconds of the latest start (or resume).
    pub started_at: Option<f64>,
    /// Unix seconds.
    pub finished_at: Option<f64>,
    /// How many times a process was started for it (resumes after a restart count).
    pub attempts: u32,
    /// How it ended, or why it waits.
    pub message: Option<String>,
    /// Its run directory.
    pub run_dir: PathBuf,
    /// A user asked to cancel it while it ran.
    #[serde(default)]
    pub cancel_requested: bool,
    /// The `Idempotency-Key` it was submitted with: a client that retries a
    /// submission with the same key and body gets this job instead of a second one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<Idempotency>,
    /// How many GPUs it asked for (see `gpus`).
    #[serde(default)]
    pub gpus_requested: usize,
    /// The GPUs given to its last process (their indices), kept after it ended.
    #[serde(default)]
    pub gpus: Vec<u32>,
}

/// A submission's `Idempotency-Key` and the SHA-256 of what it asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Idempotency {
    /// The key the client chose.
    pub key: String,
    /// Hex SHA-256 of what the request asks: its body, and its `?gpus` when given
    /// (`api::idempotency`). The name is kept from when it was the body alone.
    pub body_sha256: String,
}

/// What a submission's `Idempotency-Key` finds in the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyLookup {
    /// The key is new.
    Free,
    /// A job with this key and body exists (committed).
    Same(JobRecord),
    /// A job with this key and body is being stored right now.
    Pending(String),
    /// The key was used with another request (body or `?gpus`), for this job id.
    OtherBody(String),
}

/// All jobs, in memory and on disk.
#[derive(Debug)]
pub struct Store {
    jobs_dir: PathBuf,
    jobs: BTreeMap<String, JobRecord>,
    next: u64,
    /// Idempotency keys of stored and staged jobs: key -> (job id, body SHA-256).
    keys: HashMap<String, (String, String)>,
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Store {
    /// Opens (or creates) the queue under `state_dir`. Jobs that were running when the
    /// daemon stopped are queued again to resume from their checkpoints, except those
    /// whose run had in fact completed, or that a user had cancelled.
    pub fn open(state_dir: &Path) -> Result<Store, DaemonError> {
        let jobs_dir = state_dir.join("jobs");
        std::fs::create_dir_all(&jobs_dir).map_err(|e| DaemonError::io(&jobs_dir, e))?;
        let mut store = Store { jobs_dir: jobs_dir.clone(), jobs: BTreeMap::new(), next: 1, keys: HashMap::new() };
        for entry in std::fs::read_dir(&jobs_dir).map_err(|e| DaemonError::io(&jobs_dir, e))? {
            let path = entry.map_err(|e| DaemonError::io(&jobs_dir, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if name.starts_with(".tmp-") {
                // A submission that crashed before its rename: it was never acknowledged.
                let _ = std::fs::remove_dir_all(&path);
                continue;
            }
            let Ok(number) = name.parse::<u64>() else { continue };
            store.next = store.next.max(number + 1);
            let record = match read_record(&path, &name) {
                Ok(record) => record,
                Err(why) => {
                    tracing::error!("job {name} set aside as broken: {why}");
                    broken_record(&path, &name, why)
                }
            };
            if let Some(used) = &record.idempotency {
                store.keys.insert(used.key.clone(), (name.clone(), used.body_sha256.clone()));
            }
            store.jobs.insert(name, record);
        }
        let interrupted: Vec<String> = store.jobs.values().filter(|r| r.state == JobState::Running).map(|r| r.id.clone()).collect();
        for id in interrupted {
            store.update(&id, |r| {
                if r.run_dir.join("summary.json").exists() {
                    r.state = JobState::Completed;
                    r.finished_at = Some(now());
                    r.message = Some("completed (found after a restart)".into());
                } else if r.cancel_requested {
                    r.state = JobState::Cancelled;
                    r.finished_at = Some(now());
                    r.message = Some("cancelled".into());
                } else {
                    r.state = JobState::Queued;
                    r.message = Some("interrupted by a daemon stop; resumes from its last checkpoint".into());
                }
            })?;
        }
        Ok(store)
    }

    /// Reserves the id of a new job and stages its files: `config_text` (validated)
    /// and a queued record, with its run directory under `runs_dir`. Staging writes
    /// and syncs files without the caller holding the store, so that concurrent
    /// submissions share the disk's sync time; [`Store::commit`] then publishes it.
    pub fn stage(
        &mut self,
        name: &str,
        config_text: &str,
        runs_dir: &Path,
        idempotency: Option<Idempotency>,
        gpus_requested: usize,
    ) -> StagedJob {
        let id = format!("{:06}", self.next);
        self.next += 1;
        if let Some(used) = &idempotency {
            self.keys.insert(used.key.clone(), (id.clone(), used.body_sha256.clone()));
        }
        let record = JobRecord {
            id: id.clone(),
            name: name.to_string(),
            state: JobState::Queued,
            submitted_at: now(),
            started_at: None,
            finished_at: None,
            attempts: 0,
            message: None,
            run_dir: runs_dir.join(format!("{id}-{name}")),
            cancel_requested: false,
            idempotency,
            gpus_requested,
            gpus: Vec::new(),
        };
        StagedJob { staging: self.jobs_dir.join(format!(".tmp-{id}")), dir: self.dir(&id), record, config: config_text.to_string() }
    }

    /// Makes a staged job part of the queue.
    pub fn commit(&mut self, staged: StagedJob) -> JobRecord {
        self.jobs.insert(staged.record.id.clone(), staged.record.clone());
        staged.record
    }

    /// Forgets a staged job whose files could not be written (its id stays unused).
    pub fn abandon(&mut self, staged: &StagedJob) {
        if let Some(used) = &staged.record.idempotency {
            self.keys.remove(&used.key);
        }
    }

    /// What a submission with `key` and a body of this SHA-256 finds.
    pub fn lookup_key(&self, key: &str, body_sha256: &str) -> KeyLookup {
        match self.keys.get(key) {
            None => KeyLookup::Free,
            Some((id, sha)) if sha != body_sha256 => KeyLookup::OtherBody(id.clone()),
            Some((id, _)) => match self.jobs.get(id) {
                Some(record) => KeyLookup::Same(record.clone()),
                None => KeyLookup::Pending(id.clone()),
            },
        }
    }

    /// Records a new queued job in one call (stage, write, commit). Durable when this
    /// returns.
    pub fn create(&mut self, name: &str, config_text: &str, runs_dir: &Path) -> Result<JobRecord, DaemonError> {
        let staged = self.stage(name, config_text, runs_dir, None, 0);
        staged.write()?;
        Ok(self.commit(staged))
    }

    /// Changes a job's record and writes it; returns the new record. A broken job's
    /// record is never written over.
    pub fn update(&mut self, id: &str, change: impl FnOnce(&mut JobRecord)) -> Result<JobRecord, DaemonError> {
        let path = self.dir(id).join("record.json");
        let record = self.jobs.get_mut(id).ok_or_else(|| DaemonError::Record { path: path.clone(), message: "no such job".into() })?;
        if record.state == JobState::Broken {
            return Err(DaemonError::Record { path, message: "the job is broken; its record is left as it is".into() });
        }
        let mut changed = record.clone();
        change(&mut changed);
        write_synced(&path, &record_json(&changed))?;
        *record = changed.clone();
        Ok(changed)
    }

    /// A job's record.
    pub fn get(&self, id: &str) -> Option<&JobRecord> {
        self.jobs.get(id)
    }

    /// Every job, oldest first.
    pub fn list(&self) -> impl Iterator<Item = &JobRecord> {
        self.jobs.values()
    }

    /// The job's directory in the state.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.jobs_dir.join(id)
    }

    /// The job as submitted (validated, paths resolved).
    pub fn config_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("job.toml")
    }

    /// What the job's processes wrote to stderr.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("log.txt")
    }
}

/// A new job whose id is reserved, not yet in the queue.
#[derive(Debug)]
pub struct StagedJob {
    staging: PathBuf,
    dir: PathBuf,
    record: JobRecord,
    config: String,
}

impl StagedJob {
    /// Writes the job's directory atomically: files in a temp directory, synced, then
    /// renamed into place and the parent synced. Durable when this returns; a crash
    /// before the rename leaves a temp directory that the next start removes.
    pub fn write(&self) -> Result<(), DaemonError> {
        let _ = std::fs::remove_dir_all(&self.staging);
        std::fs::create_dir(&self.staging).map_err(|e| DaemonError::io(&self.staging, e))?;
        write_synced(&self.staging.join("job.toml"), self.config.as_bytes())?;
        write_synced(&self.staging.join("record.json"), &record_json(&self.record))?;
        std::fs::rename(&self.staging, &self.dir).map_err(|e| DaemonError::io(&self.dir, e))?;
        sync_dir(self.dir.parent().expect("a job directory has a parent"))
    }
}

/// The record in job directory `dir` (named `id`), or why it cannot be used.
fn read_record(dir: &Path, id: &str) -> Result<JobRecord, String> {
    let path = dir.join("record.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if text.trim().is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    let record: JobRecord = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if record.id != id {
        return Err(format!("{} names job `{}`, but its directory is job `{id}`", path.display(), record.id));
    }
    Ok(record)
}

/// A stand-in for a job whose record cannot be used: its id, the name from its
/// `job.toml` when that still reads, and the reason.
fn broken_record(dir: &Path, id: &str, why: String) -> JobRecord {
    let name = std::fs::read_to_string(dir.join("job.toml"))
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|table| table.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .unwrap_or_default();
    JobRecord {
        id: id.to_string(),
        name,
        state: JobState::Broken,
        submitted_at: 0.0,
        started_at: None,
        finished_at: None,
        attempts: 0,
        message: Some(why),
        run_dir: PathBuf::new(),
        cancel_requested: false,
        idempotency: None,
        gpus_requested: 0,
        gpus: Vec::new(),
    }
}

fn record_json(record: &JobRecord) -> Vec<u8> {
    serde_json::to_vec_pretty(record).expect("a job record serializes")
}

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync, rename.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), DaemonError> {
    let temp = path.with_extension("tmp");
    let mut file = File::create(&temp).map_err(|e| DaemonError::io(&temp, e))?;
    file.write_all(bytes).and_then(|_| file.sync_all()).map_err(|e| DaemonError::io(&temp, e))?;
    std::fs::rename(&temp, path).map_err(|e| DaemonError::io(path, e))
}

fn sync_dir(dir: &Path) -> Result<(), DaemonError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| DaemonError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_survive_reopening_and_interrupted_ones_are_queued_again() {
        let state = tempfile::tempdir().unwrap();
        let runs = state.path().join("runs");
        let mut store = Store::open(state.path()).unwrap();
        let a = store.create("a", "name = \"a\"\n", &runs).unwrap();
        let b = store.create("b", "name = \"b\"\n", &runs).unwrap();
        assert_eq!((a.id.as_str(), b.id.as_str()), ("000001", "000002"));
        store.update(&a.id, |r| r.state = JobState::Running).unwrap();
        drop(store);

        let store = Store::open(state.path()).unwrap();
        let states: Vec<_> = store.list().map(|r| (r.id.clone(), r.state)).collect();
        assert_eq!(states, [("000001".into(), JobState::Queued), ("000002".into(), JobState::Queued)]);
        assert!(store.get("000001").unwrap().message.as_deref().unwrap().contains("resumes"));
        assert_eq!(std::fs::read_to_string(store.config_path("000002")).unwrap(), "name = \"b\"\n");
    }

    #[test]
    fn ids_keep_increasing_after_a_restart_and_half_written_jobs_are_dropped() {
        let state = tempfile::tempdir().unwrap();
        let runs = state.path().join("runs");
        let mut store = Store::open(state.path()).unwrap();
        store.create("a", "", &runs).unwrap();
        std::fs::create_dir(state.path().join("jobs/.tmp-000002")).unwrap();
        drop(store);
        let mut store = Store::open(state.path()).unwrap();
        assert!(!state.path().join("jobs/.tmp-000002").exists());
        assert_eq!(store.create("b", "", &runs).unwrap().id, "000002");
    }

    #[test]
    fn damaged_records_set_their_job_aside_and_the_others_load() {
        let state = tempfile::tempdir().unwrap();
        let runs = state.path().join("runs");
        let mut store = Store::open(state.path()).unwrap();
        for name in ["good", "corrupt", "empty", "missing", "other-id"] {
            store.create(name, &format!("name = \"{name}\"\n"), &runs).unwrap();
        }
        drop(store);
        let jobs = state.path().join("jobs");
        std::fs::write(jobs.join("000002/record.json"), b"{\"id\": \"000002\", \"na").unwrap();
        std::fs::write(jobs.join("000003/record.json"), b"").unwrap();
        std::fs::remove_file(jobs.join("000004/record.json")).unwrap();
        let moved = std::fs::read_to_string(jobs.join("000001/record.json")).unwrap();
        std::fs::write(jobs.join("000005/record.json"), moved).unwrap();

        let mut store = Store::open(state.path()).unwrap();
        let seen: Vec<(&str, &str, JobState)> = store.list().map(|r| (r.id.as_str(), r.name.as_str(), r.state)).collect();
        assert_eq!(
            seen,
            [
                ("000001", "good", JobState::Queued),
                ("000002", "corrupt", JobState::Broken),
                ("000003", "empty", JobState::Broken),
                ("000004", "missing", JobState::Broken),
                ("000005", "other-id", JobState::Broken),
            ]
        );
        let why = |id: &str| store.get(id).unwrap().message.clone().unwrap();
        assert!(why("000002").contains("record.json: EOF while parsing"), "{}", why("000002"));
        assert!(why("000003").ends_with("record.json is empty"), "{}", why("000003"));
        assert!(why("000004").contains("No such file"), "{}", why("000004"));
        assert!(why("000005").ends_with("names job `000001`, but its directory is job `000005`"), "{}", why("000005"));
        // The evidence stays as it is, and ids go on after the broken ones.
        assert!(store.update("000003", |r| r.state = JobState::Queued).is_err());
        assert_eq!(std::fs::read(jobs.join("000003/record.json")).unwrap(), b"");
        assert_eq!(store.create("next", "", &runs).unwrap().id, "000006");
    }
}
