//! The job supervisor: an actix actor that starts the job thread and reports the
//! outcome once every event has been delivered. Cancelling is the job's own flag
//! (`JobSpec::cancel`), which its trainer reads at every step.

use super::job::{run_job_thread, JobOutcome, JobSpec};
use super::{EventBus, EventProcessor, Flush, JobError, JobEvent};
use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message};
use tokio::sync::oneshot;

/// Supervises one job.
pub struct JobSupervisor {
    spec: Option<JobSpec>,
    bus: Addr<EventBus>,
    done: Option<oneshot::Sender<Result<JobOutcome, JobError>>>,
}

impl Actor for JobSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let spec = self.spec.take().expect("a supervisor starts once");
        let me = ctx.address();
        let events = self.bus.clone().recipient();
        let spawned = std::thread::Builder::new().name("memscope-job".into()).spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_job_thread(spec, events)))
                .unwrap_or_else(|panic| Err(JobError::from_panic("job", panic)));
            me.do_send(JobFinished(result));
        });
        if let Err(e) = spawned {
            ctx.notify(JobFinished(Err(JobError::Panicked { thread: "job".into(), message: e.to_string() })));
        }
    }
}

/// Sent by the job thread when it ends.
#[derive(Message)]
#[rtype(result = "()")]
struct JobFinished(Result<JobOutcome, JobError>);

impl Handler<JobFinished> for JobSupervisor {
    type Result = ();
    fn handle(&mut self, JobFinished(result): JobFinished, ctx: &mut Context<Self>) {
        let (ok, message) = match &result {
            Ok(outcome) => match &outcome.run_dir {
                Some(dir) => (true, format!("completed: {}", dir.display())),
                None => (true, "completed (in memory)".to_string()),
            },
            Err(e) => (false, e.to_string()),
        };
        self.bus.do_send(JobEvent::JobEnded { ok, message });
        if let Some(done) = self.done.take() {
            let _ = done.send(result);
        }
        ctx.stop();
    }
}

/// Runs a job under a supervisor, delivering events to `processors`; resolves when the
/// job has ended and every event has been processed. Must be called inside an actix
/// system. Cancel through `spec.cancel`.
pub async fn run_job(spec: JobSpec, processors: Vec<Box<dyn EventProcessor>>) -> Result<JobOutcome, JobError> {
    let bus = EventBus::new(processors).start();
    let (tx, rx) = oneshot::channel();
    let _supervisor = JobSupervisor { spec: Some(spec), bus: bus.clone(), done: Some(tx) }.start();
    let result =
        rx.await.unwrap_or_else(|_| Err(JobError::Panicked { thread: "supervisor".into(), message: "stopped without a result".into() }));
    let _ = bus.send(Flush).await;
    result
}
