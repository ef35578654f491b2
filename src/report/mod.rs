//! Reports: terminal tables, CSV and JSON files, plots. Only this layer (and input parsing)
//! knows file formats.

pub mod blast_out;
pub mod churn_out;
pub mod control_plane_figures;
pub mod csv_out;
pub mod digest;
pub mod html;
pub mod number;
pub mod outdir;
pub mod plot;
pub mod progress;
pub mod result_charts;
pub mod results;
pub mod table;
pub mod temp;
pub mod traffic_out;
