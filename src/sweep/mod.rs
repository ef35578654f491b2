//! Parameter sweeps: a sweep file ([`spec`]) names a base topology and axes; [`grid`] expands
//! them into seeded cases; [`apply`] turns a case into a validated topology; [`records`]
//! writes the tidy CSV and merges shards. Running the cases is `app::sweep`'s business.

pub mod apply;
pub mod grid;
pub mod records;
pub mod spec;
pub mod synth;

pub use grid::{case_at, case_seed, cases, expand, Case, Shard};
pub use spec::SweepSpec;
