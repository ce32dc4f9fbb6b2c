//! The runs opened so far, so that every request after the first is answered from
//! memory. A run is known by its directory and the modification time of its
//! `labels.npy` (a run written again in the same place is opened again). The least
//! recently used run is dropped past `capacity`. Each run has its own lock, so a
//! run being opened (seconds for 60,000 images) holds up only requests for it.

use super::locate::RunPlace;
use crate::{ReviewError, ReviewRun};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

type Slot = Arc<Mutex<Option<Arc<ReviewRun>>>>;

/// Opened runs, most recently used first.
#[derive(Debug)]
pub struct RunCache {
    capacity: usize,
    slots: Mutex<VecDeque<(PathBuf, Option<SystemTime>, Slot)>>,
}

impl RunCache {
    /// A cache keeping up to `capacity` runs (at least one).
    pub fn new(capacity: usize) -> RunCache {
        RunCache { capacity: capacity.max(1), slots: Mutex::new(VecDeque::new()) }
    }

    /// The run at `place`, opened now unless it is kept. Blocks: call it off the
    /// async executor.
    pub fn get(&self, place: &RunPlace) -> Result<Arc<ReviewRun>, ReviewError> {
        let stamp = std::fs::metadata(place.dir.join("labels.npy")).and_then(|m| m.modified()).ok();
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let found = slots.iter().position(|(dir, s, _)| *dir == place.dir && *s == stamp);
            let entry = match found {
                Some(at) => slots.remove(at).expect("found above"),
                None => (place.dir.clone(), stamp, Slot::default()),
            };
            let slot = entry.2.clone();
            slots.push_front(entry);
            slots.truncate(self.capacity);
            slot
        };
        let mut run = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(run) = run.as_ref() {
            return Ok(run.clone());
        }
        let opened = Arc::new(ReviewRun::open(&place.dir, &place.access)?);
        *run = Some(opened.clone());
        Ok(opened)
    }
}
