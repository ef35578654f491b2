//! The simulator's spine, end to end: queueing cases with known answers, placement counts,
//! determinism, bad input, golden outputs, invariants and the run report.

mod churn;
mod cli;
mod common;
mod control_plane;
mod golden;
mod inputs;
mod invariants;
mod jackson;
mod node_cpu;
mod outputs;
mod pass_latency;
mod placement;
mod profiles;
mod properties;
mod queueing;
mod report;
mod scheduling;
mod scope;
