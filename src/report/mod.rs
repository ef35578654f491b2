//! Reports: terminal tables, CSV and JSON files, plots. Only this layer (and input parsing)
//! knows file formats.

pub mod outdir;
pub mod plot;
