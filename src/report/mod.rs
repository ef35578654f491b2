//! Reports: terminal tables, CSV and JSON files, plots. Only this layer (and input parsing)
//! knows file formats.

pub mod blast_out;
pub mod csv_out;
pub mod number;
pub mod outdir;
pub mod plot;
pub mod table;
pub mod temp;
