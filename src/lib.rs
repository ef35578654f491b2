//! meshsim: a discrete-event simulator of service-mesh data planes.
//!
//! ```text
//! topology (TOML) ─► placement ─► cost model ─► sim (events) ─► metrics ─► report
//! ```
//! See ARCHITECTURE.md for the map of the code and its invariants.
pub mod app;
pub mod blast;
pub mod calibration;
pub mod capacity;
pub mod churn;
pub mod cli;
pub mod config_scope;
pub mod control_plane;
pub mod import;
pub mod input_error;
pub mod input_file;
pub mod inputs;
pub mod kernel;
pub mod kubernetes;
pub mod limits;
pub mod mesh_defaults;
pub mod metrics;
pub mod model;
pub mod packing;
pub mod placement;
pub mod report;
pub mod resilience;
pub mod sim;
pub mod sweep;
pub mod toml_doc;
pub mod topology;
pub mod units;
pub mod validate;
