//! Periodic work: a control-plane replica's steady CPU as a job every fixed interval, in a
//! container of its own that shares the node's cores with every other container.

use super::engine::{Engine, HOG};
use super::event::Event;

impl Engine<'_> {
    /// Periodic work `i` starts its next job; the one after is scheduled while arrivals last.
    pub(super) fn on_periodic(&mut self, i: usize) {
        let w = &self.opts.periodic[i];
        let (job_ns, every_ns) = (w.job_ns, w.every_ns.max(1));
        let next = self.after(every_ns);
        if next < self.plan.duration_ns {
            self.schedule(next, Event::Periodic { work: i as u32 });
        }
        if job_ns > 0 {
            let container = (self.plan.containers.len() + self.opts.hogs.len() + i) as u32;
            // A finished job needs nothing: a hog's tag makes the CPU layer's completion a no-op.
            self.start_task(container, job_ns as f64, HOG | (self.opts.hogs.len() + i) as u32);
        }
    }
}
