//! Blast radius: what one failure takes down and what one compromise exposes, per placement.
//!
//! ```text
//! Deployment ─► static_analysis (pods cut, traffic share, identities, plaintext)
//!            └► scenario (faults and background load for the engine) ─► outcome (shares, recovery)
//! ```
//! Pure: no I/O, no wall clock; `app::blast` runs the scenarios and `report::blast_out`
//! writes the files.

pub mod outcome;
pub mod scenario;
pub mod static_analysis;

pub use outcome::{Outcome, TimelineRow};
pub use scenario::{Scenario, ScenarioKind, Settings};
pub use static_analysis::{Component, ComponentImpact, KindSpread, Spread, StaticAnalysis};
