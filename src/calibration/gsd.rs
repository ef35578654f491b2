//! Reader for the "gsd-v1" measurement format (Great Sidecar Debate V1 raw data): per run a
//! `{rps}-{run}-metrics.csv` of resource samples and one or more load-generator reports
//! `{rps}-{run}-*.log` whose `Requests/sec:` lines give the achieved rate.
//!
//! Metrics columns: `timestamp`, then `<name> CPU` in nanocores and `<name> mem` in bytes,
//! each summed over replicas; an empty cell means the component is absent at that sample.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::CalibrationError;

/// One measured run: a target load level, its run number, the rate the load generator
/// reports it achieved, and every metrics column as read (raw units: nanocores, bytes).
#[derive(Clone, Debug, PartialEq)]
pub struct GsdRun {
    /// Load level asked of the generator, requests per second in total.
    pub target_rps: u32,
    /// Run number within the level (as in the file name).
    pub run: u32,
    /// Sum of `Requests/sec` over the run's load-generator logs.
    pub achieved_rps: f64,
    /// Column name (as in the header) → one entry per sample row; `None` where the cell is empty.
    pub columns: BTreeMap<String, Vec<Option<f64>>>,
}

const METRICS_SUFFIX: &str = "-metrics.csv";
const RATE_PREFIX: &str = "Requests/sec:";

/// A measurement that could not be used, and why: the file, the line (0 for the whole file)
/// and, when it belongs to a run, the run it takes out of the fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    pub path: PathBuf,
    pub line: u64,
    /// (target rps, run number) of the run left out, if the problem is in a run's files.
    pub run: Option<(u32, u32)>,
    pub message: String,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)?;
        } else {
            write!(f, "{}: {}", self.path.display(), self.message)?;
        }
        if let Some((rps, run)) = self.run {
            write!(f, " (run {rps}-{run} left out)")?;
        }
        Ok(())
    }
}

impl Dropped {
    pub(crate) fn from_error(e: CalibrationError, run: Option<(u32, u32)>) -> Dropped {
        let (path, line, message) = match e {
            CalibrationError::Parse { path, line, message } => (path, line, message),
            CalibrationError::Invalid { path, message } => (path, 0, message),
            CalibrationError::Io { path, source } => (path, 0, format!("cannot read: {source}")),
            other => (PathBuf::new(), 0, other.to_string()),
        };
        Dropped { path, line, run, message }
    }
}

/// The runs of a gsd-v1 folder that could be read, and every problem found on the way.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GsdData {
    /// Sorted by (target rate, run number); none of them has a problem.
    pub runs: Vec<GsdRun>,
    /// Every problem, in file order; the runs they concern are not in `runs`.
    pub dropped: Vec<Dropped>,
}

/// Read every run in a gsd-v1 folder, sorted by (target rate, run number). Any problem in
/// the folder's files is an error listing them all (file and line each): a missing or
/// unreadable file, a malformed cell, a load-generator log without its `Requests/sec:` line,
/// logs with no metrics file, metrics with no log. [`read_gsd_dir_lenient`] leaves such runs
/// out instead and lists them.
pub fn read_gsd_dir(dir: &Path) -> Result<Vec<GsdRun>, CalibrationError> {
    let data = read_gsd_dir_lenient(dir)?;
    if data.dropped.is_empty() {
        Ok(data.runs)
    } else {
        Err(CalibrationError::Incomplete(data.dropped))
    }
}

/// Read the runs of a gsd-v1 folder, leaving out every run with a problem in its files and
/// listing each problem. Errors only when the folder itself cannot be read or holds no run.
pub fn read_gsd_dir_lenient(dir: &Path) -> Result<GsdData, CalibrationError> {
    let entries = fs::read_dir(dir).map_err(|e| CalibrationError::io(dir, e))?;
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CalibrationError::io(dir, e))?;
        let is_file = entry.file_type().map_err(|e| CalibrationError::io(entry.path(), e))?.is_file();
        if is_file {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();

    let mut dropped = Vec::new();
    let mut metrics: BTreeMap<(u32, u32), PathBuf> = BTreeMap::new();
    let mut rates: BTreeMap<(u32, u32), (f64, Vec<PathBuf>)> = BTreeMap::new();
    let mut bad_runs: BTreeSet<(u32, u32)> = BTreeSet::new();
    for name in &names {
        let path = dir.join(name);
        if let Some(stem) = name.strip_suffix(METRICS_SUFFIX) {
            match parse_run_key(stem) {
                Some(key) => {
                    metrics.insert(key, path);
                }
                None => dropped.push(Dropped {
                    path,
                    line: 0,
                    run: None,
                    message: "metrics file name must be `{rps}-{run}-metrics.csv` with whole numbers".into(),
                }),
            }
        } else if let Some(stem) = name.strip_suffix(".log") {
            // `{rps}-{run}-<anything>.log`; logs that name no run are not ours.
            let mut parts = stem.splitn(3, '-');
            let key = match (parts.next(), parts.next(), parts.next()) {
                (Some(rps), Some(run), Some(_)) => parse_run_key(&format!("{rps}-{run}")),
                _ => None,
            };
            let Some(key) = key else { continue };
            let slot = rates.entry(key).or_insert((0.0, Vec::new()));
            slot.1.push(path.clone());
            match read_log_rate(&path) {
                Ok(Some(rate)) => slot.0 += rate,
                // One load generator's rate missing from the sum would understate the run's
                // rate: the whole run is left out.
                Ok(None) => {
                    bad_runs.insert(key);
                    dropped.push(Dropped {
                        path,
                        line: 0,
                        run: Some(key),
                        message: format!("no `{RATE_PREFIX}` line: the load generator's report is missing or cut short"),
                    });
                }
                Err(e) => {
                    bad_runs.insert(key);
                    dropped.push(Dropped::from_error(e, Some(key)));
                }
            }
        }
    }

    if metrics.is_empty() && dropped.is_empty() {
        return Err(CalibrationError::invalid(dir, "no `{rps}-{run}-metrics.csv` files: not a gsd-v1 folder"));
    }
    for ((rps, run), (_, logs)) in &rates {
        if !metrics.contains_key(&(*rps, *run)) {
            dropped.push(Dropped {
                path: logs[0].clone(),
                line: 0,
                run: Some((*rps, *run)),
                message: format!("load-generator log for run {rps}-{run} but no `{rps}-{run}-metrics.csv` beside it"),
            });
        }
    }

    let mut runs = Vec::with_capacity(metrics.len());
    for ((target_rps, run), path) in metrics {
        let key = (target_rps, run);
        let Some((achieved_rps, _)) = rates.get(&key) else {
            dropped.push(Dropped {
                path,
                line: 0,
                run: Some(key),
                message: format!(
                    "no load-generator log with a `{RATE_PREFIX}` line for this run (expected `{target_rps}-{run}-*.log` beside it)"
                ),
            });
            continue;
        };
        match read_metrics_csv(&path) {
            Ok(columns) if !bad_runs.contains(&key) => runs.push(GsdRun { target_rps, run, achieved_rps: *achieved_rps, columns }),
            Ok(_) => {}
            Err(e) => dropped.push(Dropped::from_error(e, Some(key))),
        }
    }
    if runs.is_empty() && dropped.is_empty() {
        return Err(CalibrationError::invalid(dir, "no usable run"));
    }
    Ok(GsdData { runs, dropped })
}

fn parse_run_key(stem: &str) -> Option<(u32, u32)> {
    let (rps, run) = stem.split_once('-')?;
    Some((rps.parse().ok()?, run.parse().ok()?))
}

/// The `Requests/sec:` figure of one load-generator log, if it has one.
fn read_log_rate(path: &Path) -> Result<Option<f64>, CalibrationError> {
    let bytes = fs::read(path).map_err(|e| CalibrationError::io(path, e))?;
    let text = String::from_utf8_lossy(super::strip_bom(&bytes));
    let mut found: Option<(f64, u64)> = None;
    for (index, line) in text.lines().enumerate() {
        let line_no = index as u64 + 1;
        let Some(rest) = line.trim().strip_prefix(RATE_PREFIX) else {
            continue;
        };
        let value: f64 = rest.trim().parse().map_err(|_| {
            CalibrationError::parse(path, line_no, format!("`{RATE_PREFIX}` is followed by `{}`, not a number", rest.trim()))
        })?;
        if !value.is_finite() || value < 0.0 {
            return Err(CalibrationError::parse(
                path,
                line_no,
                format!("`{RATE_PREFIX}` must be a finite, non-negative rate, got {value}"),
            ));
        }
        if let Some((_, first)) = found {
            return Err(CalibrationError::parse(
                path,
                line_no,
                format!("second `{RATE_PREFIX}` line (the first is at line {first}); one report per log"),
            ));
        }
        found = Some((value, line_no));
    }
    Ok(found.map(|(value, _)| value))
}

/// Read a metrics file into columns (every column except `timestamp`).
fn read_metrics_csv(path: &Path) -> Result<BTreeMap<String, Vec<Option<f64>>>, CalibrationError> {
    let bytes = fs::read(path).map_err(|e| CalibrationError::io(path, e))?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(super::strip_bom(&bytes));
    let headers = reader.headers().map_err(|e| CalibrationError::csv(path, e))?.clone();
    if headers.get(0).map(str::trim) != Some("timestamp") {
        return Err(CalibrationError::parse(path, 1, "the first column must be `timestamp`"));
    }
    let names: Vec<String> = headers.iter().skip(1).map(|h| h.trim().to_string()).collect();
    let mut columns: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for name in &names {
        if name.is_empty() {
            return Err(CalibrationError::parse(path, 1, "a column has an empty name"));
        }
        if columns.insert(name.clone(), Vec::new()).is_some() {
            return Err(CalibrationError::parse(path, 1, format!("column `{name}` appears twice")));
        }
    }
    let mut record = csv::StringRecord::new();
    let mut rows = 0usize;
    loop {
        let more = reader.read_record(&mut record).map_err(|e| CalibrationError::csv(path, e))?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        for (name, cell) in names.iter().zip(record.iter().skip(1)) {
            let cell = cell.trim();
            let value = if cell.is_empty() {
                None
            } else {
                match cell.parse::<f64>() {
                    Ok(v) if v.is_finite() => Some(v),
                    _ => return Err(CalibrationError::parse(path, line, format!("column `{name}`: `{cell}` is not a finite number"))),
                }
            };
            if let Some(col) = columns.get_mut(name) {
                col.push(value);
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(CalibrationError::invalid(path, "no sample rows after the header"));
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("meshsim-gsd-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(dir: &Path, name: &str, text: &str) {
        fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn reads_runs_sums_logs_and_keeps_empty_cells_absent() {
        let dir = temp_dir("ok");
        write(&dir, "60-1-metrics.csv", "timestamp,data-plane CPU,data-plane mem\nt0,1000000,1048576\nt1,,2097152\n");
        write(&dir, "60-1-wrk2-a.log", "Running\nRequests/sec:     20.02\n");
        write(&dir, "60-1-wrk2-b.log", "  Requests/sec:   19.98\nTransfer/sec: 1KB\n");
        write(&dir, "README.md", "ignored");
        let runs = read_gsd_dir(&dir).unwrap();
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert_eq!((run.target_rps, run.run), (60, 1));
        approx::assert_relative_eq!(run.achieved_rps, 40.0, max_relative = 1e-12);
        assert_eq!(run.columns["data-plane CPU"], vec![Some(1e6), None]);
        assert_eq!(run.columns["data-plane mem"], vec![Some(1048576.0), Some(2097152.0)]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_log_without_its_rate_is_reported_and_its_run_left_out_only_when_asked() {
        let dir = temp_dir("norate");
        write(&dir, "60-1-metrics.csv", "timestamp,x CPU\nt0,1\n");
        write(&dir, "60-1-wrk2-a.log", "Requests/sec: 20\n");
        write(&dir, "60-1-wrk2-b.log", "Running\nno report here\n");
        write(&dir, "120-1-metrics.csv", "\u{feff}timestamp,x CPU\nt0,2\n");
        write(&dir, "120-1-wrk2-a.log", "\u{feff}Requests/sec: 40\n");
        let err = read_gsd_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("60-1-wrk2-b.log") && err.contains("Requests/sec"), "{err}");
        let data = read_gsd_dir_lenient(&dir).unwrap();
        // The run with a missing report is left out whole, not fitted with half its rate.
        assert_eq!(data.runs.iter().map(|r| (r.target_rps, r.achieved_rps)).collect::<Vec<_>>(), vec![(120, 40.0)]);
        assert_eq!(data.dropped.len(), 1);
        assert_eq!(data.dropped[0].run, Some((60, 1)));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let dir = temp_dir("several");
        write(&dir, "60-1-metrics.csv", "timestamp,x CPU\nt0,abc\n");
        write(&dir, "60-1-w.log", "Requests/sec: 1\n");
        write(&dir, "120-1-metrics.csv", "timestamp,x CPU\nt0,1\n");
        write(&dir, "240-1-w.log", "Requests/sec: 1\n");
        let data = read_gsd_dir_lenient(&dir).unwrap();
        let listed: Vec<String> = data.dropped.iter().map(|d| d.to_string()).collect();
        assert_eq!(listed.len(), 3, "{listed:?}");
        assert!(listed.iter().any(|d| d.contains("60-1-metrics.csv:2:")), "{listed:?}");
        assert!(listed.iter().any(|d| d.contains("120-1-metrics.csv") && d.contains("no load-generator log with")), "{listed:?}");
        assert!(listed.iter().any(|d| d.contains("240-1-w.log") && d.contains("no `240-1-metrics.csv`")), "{listed:?}");
        assert!(data.runs.is_empty());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_cell_names_file_and_line() {
        let dir = temp_dir("badcell");
        write(&dir, "60-1-metrics.csv", "timestamp,x CPU\nt0,1\nt1,abc\n");
        write(&dir, "60-1-w.log", "Requests/sec: 1\n");
        let err = read_gsd_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("60-1-metrics.csv:3:"), "{err}");
        assert!(err.contains("`abc`"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_rate_log_is_an_error_naming_the_metrics_file() {
        let dir = temp_dir("nolog");
        write(&dir, "120-2-metrics.csv", "timestamp,x CPU\nt0,1\n");
        let err = read_gsd_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("120-2-metrics.csv"), "{err}");
        assert!(err.contains("Requests/sec"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_rate_line_names_log_and_line() {
        let dir = temp_dir("badrate");
        write(&dir, "60-1-metrics.csv", "timestamp,x CPU\nt0,1\n");
        write(&dir, "60-1-w.log", "a\nb\nRequests/sec: lots\n");
        let err = read_gsd_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("60-1-w.log:3:"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn ragged_row_and_missing_timestamp_are_errors() {
        let dir = temp_dir("ragged");
        write(&dir, "60-1-metrics.csv", "timestamp,x CPU\nt0,1\nt1,2,3\n");
        write(&dir, "60-1-w.log", "Requests/sec: 1\n");
        let err = read_gsd_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("60-1-metrics.csv:3:"), "{err}");
        write(&dir, "60-1-metrics.csv", "time,x CPU\nt0,1\n");
        let err = read_gsd_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("60-1-metrics.csv:1:"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn empty_folder_and_orphan_log_are_errors() {
        let dir = temp_dir("empty");
        assert!(read_gsd_dir(&dir).is_err());
        write(&dir, "60-1-metrics.csv", "timestamp,x CPU\nt0,1\n");
        write(&dir, "60-1-w.log", "Requests/sec: 1\n");
        write(&dir, "60-2-w.log", "Requests/sec: 1\n");
        let err = read_gsd_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("60-2-w.log"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }
}
