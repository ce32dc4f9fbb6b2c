//! The event bus: an actor that hands every event, in order, to each processor
//! (progress display, metrics, plugins). Processors are cheap and never block.

use super::{EventProcessor, JobEvent};
use actix::{Actor, Context, Handler, Message};

/// Delivers events to processors.
pub struct EventBus {
    processors: Vec<Box<dyn EventProcessor>>,
}

impl EventBus {
    /// A bus delivering to `processors`, in order.
    pub fn new(processors: Vec<Box<dyn EventProcessor>>) -> Self {
        EventBus { processors }
    }
}

impl Actor for EventBus {
    type Context = Context<Self>;
}

impl Handler<JobEvent> for EventBus {
    type Result = ();
    fn handle(&mut self, event: JobEvent, _: &mut Context<Self>) {
        for p in &mut self.processors {
            p.process(&event);
        }
    }
}

/// Answered once every event sent before it has been processed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush;

impl Handler<Flush> for EventBus {
    type Result = ();
    fn handle(&mut self, _: Flush, _: &mut Context<Self>) {}
}
