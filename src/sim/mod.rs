//! The simulation layer: a compiled [`plan::Plan`] run by the event [`engine`].

pub mod engine;
pub mod plan;

pub use engine::{simulate, Fault, FaultEffect, RunOutput, SimError, SimOptions};
pub use plan::Plan;
