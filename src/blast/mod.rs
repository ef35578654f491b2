//! Blast radius: what one failure takes down and what one compromise exposes, per placement.
//!
//! ```text
//! Deployment ─► static_analysis (pods cut, traffic share, identities, plaintext)
//!            └► scenario (faults and background load for the engine) ─► outcome (shares, recovery)
//! ```
//! Pure: no I/O, no wall clock; `app::blast` runs the scenarios and `report::blast_out`
//! writes the files.

pub mod outage;
pub mod outcome;
pub mod reschedule;
pub mod scenario;
pub mod static_analysis;

pub use outcome::{outcome, BaselineShares, Outcome, TimelineRow};
pub use scenario::{Scenario, ScenarioKind, Settings};
pub use static_analysis::{Component, ComponentImpact, KindSpread, Spread, StaticAnalysis};

use crate::placement::Placement;

/// One scenario as it ran.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub outcome: Outcome,
    /// End-user requests over the whole run: sent = succeeded + failed + in flight.
    pub sent: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub in_flight: u64,
    /// A node, zone or cluster failure: pods rescheduled onto surviving nodes, and pods whose
    /// replacement fit nowhere (`None` for other scenarios).
    pub rescheduled: Option<(u32, u32)>,
    /// Retries sent over the run, and retries not sent because the retry budget was spent.
    pub retries: u64,
    pub retries_over_budget: u64,
    /// CPU the data plane's proxies received in the measurement window, millicores (mean).
    pub data_plane_cpu_millicores: f64,
}

/// Everything `meshsim blast` found for one placement.
#[derive(Clone, Debug)]
pub struct PlacementResult {
    pub placement: Placement,
    pub analysis: StaticAnalysis,
    /// The baseline first, then the scenarios in [`scenario::scenarios`] order.
    pub runs: Vec<ScenarioResult>,
    /// Which retries applied: the mesh's defaults, the topology's or the flag's.
    pub resilience: String,
}

impl PlacementResult {
    pub fn run(&self, name: &str) -> Option<&ScenarioResult> {
        self.runs.iter().find(|r| r.scenario.name == name)
    }

    /// The static figures of a scenario's target, if it has one.
    pub fn target_impact(&self, r: &ScenarioResult) -> Option<&ComponentImpact> {
        let c = r.scenario.target?;
        self.analysis.components.iter().find(|x| x.component == c)
    }
}
