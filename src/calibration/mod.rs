//! Calibration: turn published raw measurements of real proxies into the numbers the cost
//! model needs (idle CPU, CPU per pass, base memory), with the fit quality that goes with them.
//!
//! ```text
//! gsd-v1 dir ─► gsd (runs) ─► steady (publisher's method) ─► fit (polynomial) ─► series ─► derive
//! istio benchmark.csv ─► istio_bench (rows, linear fits, added latency)
//! ```
//!
//! Two public data sets are understood: the Great Sidecar Debate V1 measurements (Linkerd
//! sidecars and Istio ambient under Faces, format "gsd-v1", see [`gsd`]) and the example result
//! file of Istio's benchmark harness (see [`istio_bench`]). Published figures from docs and
//! blogs are listed in `calibration/sources.csv` (see [`sources`]).
//!
//! **Invariant:** nothing here panics on bad input; every problem in a file is returned as a
//! [`CalibrationError`] naming the file and, where there is one, the line.
//! **Invariant:** outputs are deterministic: runs, levels and series are sorted, maps are
//! `BTreeMap`s, and the same input gives the same bytes.

pub mod derive;
pub mod fit;
pub mod gsd;
pub mod gsd_report;
pub mod istio_bench;
pub mod istio_report;
pub mod series;
pub mod sources;
pub mod steady;
pub mod wrk2_latency;

use std::path::PathBuf;

pub use derive::{derive_pass_costs, PassCosts, PlacementInputs};
pub use fit::{fit_polynomial, round_rate_to_10, PolyFit};
pub use gsd::{read_gsd_dir, read_gsd_dir_lenient, Dropped, GsdData, GsdRun};
pub use gsd_report::{print_table, write_gsd_outputs};
pub use istio_bench::{
    calibrate_istio_benchmark, calibrate_istio_benchmark_incomplete, parse_label, read_istio_benchmark, read_istio_benchmark_lenient,
    AddedLatency, IstioCalibration, IstioFit, IstioRow, SidecarMode, SidecarProxy, DEFAULT_ISTIO_DEGREE,
};
pub use istio_report::{print_istio_table, write_istio_outputs};
pub use series::{
    calibrate_gsd, calibrate_gsd_incomplete, GsdCalibration, KeptPoint, LoadLevel, Metric, SeriesMetric, SteadyPoint, DEFAULT_DEGREE,
};
pub use sources::{read_published_figures, PublishedFigure};
pub use steady::{pooled_mean, steady_samples, PooledMean};

/// Everything that can go wrong while calibrating. Messages are lowercase and name the file.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A problem at a known line of an input file (lines count from 1, the header is line 1).
    #[error("{}:{line}: {message}", path.display())]
    Parse { path: PathBuf, line: u64, message: String },
    /// A problem with a whole file or folder (missing companion file, no data, bad name).
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// A fit could not be computed (too few distinct rates, singular system).
    #[error("fit: {0}")]
    Fit(String),
    /// Arguments given by the caller are out of range.
    #[error("{0}")]
    Input(String),
    /// Measurements that could not be used, each at its file and line; nothing was fitted.
    #[error("{}\nmeshsim fits only complete data: fix these, or pass --allow-incomplete to fit without them (they are listed in the outputs)", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Incomplete(Vec<Dropped>),
    /// A chart could not be drawn.
    #[error("{}: cannot draw chart: {message}", path.display())]
    Plot { path: PathBuf, message: String },
}

impl CalibrationError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CalibrationError::Io { path: path.into(), source }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, line: u64, message: impl Into<String>) -> Self {
        CalibrationError::Parse { path: path.into(), line, message: message.into() }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        CalibrationError::Invalid { path: path.into(), message: message.into() }
    }

    /// Place a csv crate error at its file and line.
    pub(crate) fn csv(path: impl Into<PathBuf>, err: csv::Error) -> Self {
        let path = path.into();
        let line = err.position().map(|p| p.line());
        match (err.kind(), line) {
            (csv::ErrorKind::Io(_), _) => {
                let message = err.to_string();
                CalibrationError::invalid(path, message)
            }
            (_, Some(line)) => CalibrationError::parse(path, line, csv_message(&err)),
            (_, None) => CalibrationError::invalid(path, csv_message(&err)),
        }
    }
}

fn csv_message(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => format!("row has {len} fields but the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
        _ => err.to_string(),
    }
}

/// File listing the measurements a calibration left out (written only when some were).
pub const DROPPED_FILE: &str = "dropped.csv";

/// `file,line,run,problem` rows of left-out measurements, header first.
pub(crate) fn dropped_rows(dropped: &[Dropped]) -> Vec<Vec<String>> {
    let mut rows = vec![["file", "line", "run", "problem"].map(String::from).to_vec()];
    rows.extend(dropped.iter().map(|d| {
        vec![
            d.path.display().to_string(),
            if d.line > 0 { d.line.to_string() } else { String::new() },
            d.run.map(|(rps, run)| format!("{rps}-{run}")).unwrap_or_default(),
            d.message.clone(),
        ]
    }));
    rows
}

/// A terminal note listing left-out measurements (empty when none were).
pub fn dropped_note(dropped: &[Dropped]) -> String {
    if dropped.is_empty() {
        return String::new();
    }
    let mut s = format!("\nleft out ({} problems; listed in {DROPPED_FILE}):\n", dropped.len());
    for d in dropped {
        s.push_str(&format!("  {d}\n"));
    }
    s
}

/// `bytes` without a leading UTF-8 byte-order mark (spreadsheet programs write one).
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(bytes)
}

/// Write rows (header first) as a CSV file; the report modules share it.
pub(crate) fn write_csv(path: &std::path::Path, rows: &[Vec<String>]) -> Result<(), CalibrationError> {
    let mut writer = csv::Writer::from_path(path).map_err(|e| CalibrationError::csv(path, e))?;
    for row in rows {
        writer.write_record(row).map_err(|e| CalibrationError::csv(path, e))?;
    }
    writer.flush().map_err(|e| CalibrationError::io(path, e))
}

/// A path under the shared data folder if it exists; otherwise says plainly that it is absent
/// (`skipped: …`), for tests and commands that read the public measurements where they lie.
pub fn shared_path(relative: &str) -> Option<PathBuf> {
    let dir = shared_dir();
    let path = dir.join(relative);
    if path.exists() {
        Some(path)
    } else {
        println!("skipped: shared data not found at {} (set MESHSIM_SHARED)", path.display());
        None
    }
}

/// The shared data folder: `MESHSIM_SHARED` if set, else `../shared` beside the project.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("MESHSIM_SHARED").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}
