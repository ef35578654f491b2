//! The simulation layer: a compiled [`plan::Plan`] run by the event [`engine`] over the
//! nodes' shared [`cpu`].
//!
//! ```text
//! plan ──► engine (event loop) ──► load ─► calls ─► station ─► cpu (node cores)
//!                                     ▲                  │
//!                                     └──── faults ──────┘
//! ```

mod calls;
pub mod churn;
mod churn_run;
pub mod cpu;
pub mod engine;
pub mod event;
mod faults;
pub mod latency;
mod load;
mod memory;
pub mod output;
mod periodic;
pub mod plan;
mod sampler;
mod station;
mod wrk2;

pub use engine::simulate;
pub use output::{BackgroundLoad, Fault, FaultEffect, NodeHog, PeriodicWork, RunOutput, SimError, SimOptions};
pub use plan::Plan;

#[cfg(test)]
mod memory_tests;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod refusal_tests;
#[cfg(test)]
mod tests;
