//! The actors of a job: a supervisor (actix) that starts the job thread and waits for
//! it, the trainer (owning model and optimizer on its own thread), the scorer (its own
//! thread, fed weight snapshots), and the event bus delivering events to processors.
//! libtorch work never runs on the async arbiter.

mod bus;
mod checkpointing;
mod error;
mod job;
mod partial;
mod replication;
mod resume;
mod scorer;
mod supervisor;
mod trainer;

pub use bus::{EventBus, Flush};
pub use error::JobError;
pub use job::{JobOutcome, JobSpec, UserData};
pub use memscope_base::events::{EpochStats, EventProcessor, JobEvent};
pub use partial::PartialScores;
pub use supervisor::{run_job, JobSupervisor};
