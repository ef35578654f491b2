//! meshsim: a discrete-event simulator of service-mesh data planes.
//!
//! ```text
//! topology (TOML) ─► placement ─► cost model ─► sim (events) ─► metrics ─► report
//! ```
//! See ARCHITECTURE.md for the map of the code and its invariants.

pub mod calibration;
pub mod report;
pub mod units;
