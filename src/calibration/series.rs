//! The named series fitted from gsd-v1 data: which columns are data-plane proxies, their
//! steady-state CPU (millicores) and memory (MiB) per load level, and a polynomial in the
//! achieved rate fitted over every kept sample.
//!
//! Series are columns: `data-plane` (every data-plane proxy together), then each component
//! column `<name> mesh` that is a data-plane proxy group: for Linkerd the per-workload
//! sidecars (`face mesh`, `smiley mesh`, …, summed over replicas), for ambient `ztunnel mesh`
//! and `waypoint mesh`. Control-plane proxies (`linkerd-*`, `istiod`, gateways) and the
//! `mesh` group are not data plane. Columns empty in every run are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::fit::{fit_polynomial, round_rate_to_10, PolyFit};
use super::gsd::{read_gsd_dir, read_gsd_dir_lenient, Dropped, GsdRun};
use super::steady::{pooled_mean, steady_samples};
use super::CalibrationError;

/// Degree of the publisher's curves.
pub const DEFAULT_DEGREE: usize = 2;

/// Component columns that are control plane or gateways, never data-plane proxies.
const NOT_DATA_PLANE_PREFIXES: &[&str] = &["linkerd-", "istiod", "istio-ingressgateway", "istio-egressgateway"];

/// The group column holding every data-plane proxy.
pub const DATA_PLANE: &str = "data-plane";

/// Which resource a series measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// CPU, reported in millicores (source column in nanocores).
    Cpu,
    /// Memory, reported in MiB (source column in bytes).
    Mem,
}

impl Metric {
    pub const ALL: [Metric; 2] = [Metric::Cpu, Metric::Mem];

    /// Suffix of the source column: `<name> CPU` or `<name> mem`.
    pub fn column_suffix(self) -> &'static str {
        match self {
            Metric::Cpu => "CPU",
            Metric::Mem => "mem",
        }
    }

    /// Unit of reported values.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Cpu => "mC",
            Metric::Mem => "MiB",
        }
    }

    /// Lowercase name for CSV and file names.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu",
            Metric::Mem => "mem",
        }
    }

    /// Convert a raw sample (nanocores or bytes) to the reported unit.
    pub fn from_raw(self, raw: f64) -> f64 {
        match self {
            Metric::Cpu => raw / 1e6,
            Metric::Mem => raw / 1_048_576.0,
        }
    }
}

/// One load level: its target rate and the runs measured at it.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadLevel {
    pub target_rps: u32,
    pub runs: Vec<u32>,
    /// Mean over its runs of the achieved rate.
    pub achieved_rps_mean: f64,
}

/// Steady-state value of a series at one load level.
#[derive(Clone, Debug, PartialEq)]
pub struct SteadyPoint {
    pub target_rps: u32,
    /// Mean achieved rate of the level's runs.
    pub achieved_rps: f64,
    /// Mean of the kept samples pooled over the level's runs, in the metric's unit.
    pub value: f64,
    pub samples_kept: usize,
}

/// A kept steady-state sample, as fitted and plotted.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptPoint {
    pub target_rps: u32,
    pub run: u32,
    /// Achieved rate of the run rounded to 10 rps (the fit's x).
    pub rate_rps: f64,
    /// Sample value in the metric's unit (the fit's y).
    pub value: f64,
}

/// One series and metric: steady state per level, kept samples and the fitted curve.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesMetric {
    /// Column name without the metric suffix, e.g. `data-plane`, `ztunnel mesh`.
    pub series: String,
    pub metric: Metric,
    /// One point per load level that has samples, by target rate.
    pub steady: Vec<SteadyPoint>,
    pub kept: Vec<KeptPoint>,
    /// Each run's lowest sample: the proxies idle between runs, before the load starts or
    /// after it ends (the metrics cover the whole run). Their median is the idle CPU.
    pub idle: Vec<KeptPoint>,
    /// The polynomial over all kept samples; `None` when it cannot be fitted (see `fit_note`).
    pub fit: Option<PolyFit>,
    pub fit_note: Option<String>,
}

/// Everything calibrated from one gsd-v1 folder.
#[derive(Clone, Debug, PartialEq)]
pub struct GsdCalibration {
    /// Name of the data set: the folder's name (e.g. `linkerd`, `ambient`).
    pub dataset: String,
    pub source_dir: PathBuf,
    /// Degree asked for the fits.
    pub degree: usize,
    pub levels: Vec<LoadLevel>,
    /// `data-plane` first, then component series by name; CPU before memory.
    pub series: Vec<SeriesMetric>,
    /// Measurements left out (only when fitting incomplete data was asked for).
    pub dropped: Vec<Dropped>,
}

impl SeriesMetric {
    /// Median over runs of each run's lowest sample: the series with no load on it (a run
    /// whose lowest sample still holds a neighbouring run's tail does not move the median).
    pub fn idle_value(&self) -> Option<f64> {
        let mut v: Vec<f64> = self.idle.iter().map(|p| p.value).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
    }
}

impl GsdCalibration {
    /// Look up one series and metric.
    pub fn get(&self, series: &str, metric: Metric) -> Option<&SeriesMetric> {
        self.series.iter().find(|s| s.series == series && s.metric == metric)
    }
}

/// Read a gsd-v1 folder, apply the steady-state method to every data-plane series and fit a
/// polynomial of `degree` in the achieved rate (rounded to 10) over all kept samples.
/// Any problem in the folder's files is an error listing them all.
pub fn calibrate_gsd(dir: &Path, degree: usize) -> Result<GsdCalibration, CalibrationError> {
    calibrate_runs(dir, read_gsd_dir(dir)?, Vec::new(), degree)
}

/// [`calibrate_gsd`], leaving out the runs whose files have problems; they are listed in
/// the result's `dropped`.
pub fn calibrate_gsd_incomplete(dir: &Path, degree: usize) -> Result<GsdCalibration, CalibrationError> {
    let data = read_gsd_dir_lenient(dir)?;
    if data.runs.is_empty() {
        return Err(CalibrationError::Incomplete(data.dropped));
    }
    calibrate_runs(dir, data.runs, data.dropped, degree)
}

fn calibrate_runs(dir: &Path, runs: Vec<GsdRun>, dropped: Vec<Dropped>, degree: usize) -> Result<GsdCalibration, CalibrationError> {
    let dataset = dataset_name(dir);
    let levels = load_levels(&runs);
    let mut series = Vec::new();
    for name in data_plane_series(&runs) {
        for metric in Metric::ALL {
            let column = format!("{name} {}", metric.column_suffix());
            if let Some(calibrated) = calibrate_column(&runs, &levels, &name, &column, metric, degree) {
                series.push(calibrated);
            }
        }
    }
    if series.is_empty() {
        return Err(CalibrationError::invalid(
            dir,
            format!("no `{DATA_PLANE} CPU`/`mem` or data-plane `<name> mesh` column has any sample"),
        ));
    }
    Ok(GsdCalibration { dataset, source_dir: dir.to_path_buf(), degree, levels, series, dropped })
}

fn dataset_name(dir: &Path) -> String {
    let named = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    named(dir).or_else(|| dir.canonicalize().ok().as_deref().and_then(named)).unwrap_or_else(|| "gsd".to_string())
}

fn load_levels(runs: &[GsdRun]) -> Vec<LoadLevel> {
    let mut by_level: BTreeMap<u32, Vec<&GsdRun>> = BTreeMap::new();
    for run in runs {
        by_level.entry(run.target_rps).or_default().push(run);
    }
    by_level
        .into_iter()
        .map(|(target_rps, runs)| LoadLevel {
            target_rps,
            runs: runs.iter().map(|r| r.run).collect(),
            achieved_rps_mean: runs.iter().map(|r| r.achieved_rps).sum::<f64>() / runs.len() as f64,
        })
        .collect()
}

/// Is this column base (name without ` CPU`/` mem`) a data-plane proxy series?
pub fn is_data_plane_series(base: &str) -> bool {
    if base == DATA_PLANE {
        return true;
    }
    match base.strip_suffix(" mesh") {
        Some(component) if !component.is_empty() => !NOT_DATA_PLANE_PREFIXES.iter().any(|prefix| component.starts_with(prefix)),
        _ => false,
    }
}

/// Data-plane series with at least one sample in some run: `data-plane` first, then by name.
fn data_plane_series(runs: &[GsdRun]) -> Vec<String> {
    let mut bases: BTreeSet<String> = BTreeSet::new();
    for run in runs {
        for (column, values) in &run.columns {
            let base = Metric::ALL.iter().find_map(|m| column.strip_suffix(&format!(" {}", m.column_suffix())));
            if let Some(base) = base {
                if is_data_plane_series(base) && values.iter().any(Option::is_some) {
                    bases.insert(base.to_string());
                }
            }
        }
    }
    let mut ordered: Vec<String> = bases.iter().filter(|b| *b == DATA_PLANE).cloned().collect();
    ordered.extend(bases.into_iter().filter(|b| b != DATA_PLANE));
    ordered
}

fn calibrate_column(
    runs: &[GsdRun],
    levels: &[LoadLevel],
    series: &str,
    column: &str,
    metric: Metric,
    degree: usize,
) -> Option<SeriesMetric> {
    let mut kept_by_level: BTreeMap<u32, Vec<Vec<f64>>> = BTreeMap::new();
    let mut kept = Vec::new();
    let mut idle = Vec::new();
    for run in runs {
        let samples: Vec<f64> =
            run.columns.get(column).map(|values| values.iter().flatten().map(|&raw| metric.from_raw(raw)).collect()).unwrap_or_default();
        let steady = steady_samples(&samples);
        let rate_rps = round_rate_to_10(run.achieved_rps);
        if let Some(&lowest) = samples.iter().min_by(|a, b| a.total_cmp(b)) {
            idle.push(KeptPoint { target_rps: run.target_rps, run: run.run, rate_rps, value: lowest });
        }
        kept.extend(steady.iter().map(|&value| KeptPoint { target_rps: run.target_rps, run: run.run, rate_rps, value }));
        kept_by_level.entry(run.target_rps).or_default().push(steady);
    }
    if kept.is_empty() {
        return None;
    }
    let steady = levels
        .iter()
        .filter_map(|level| {
            let pooled = pooled_mean(kept_by_level.get(&level.target_rps)?)?;
            Some(SteadyPoint {
                target_rps: level.target_rps,
                achieved_rps: level.achieved_rps_mean,
                value: pooled.value,
                samples_kept: pooled.samples_kept,
            })
        })
        .collect();
    let points: Vec<(f64, f64)> = kept.iter().map(|p| (p.rate_rps, p.value)).collect();
    let (fit, fit_note) = match fit_polynomial(&points, degree) {
        Ok(fit) => (Some(fit), None),
        Err(err) => (None, Some(err.to_string())),
    };
    Some(SeriesMetric { series: series.to_string(), metric, steady, kept, idle, fit, fit_note })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_plane_series_are_recognised() {
        for yes in ["data-plane", "face mesh", "wrk2 mesh", "ztunnel mesh", "waypoint mesh"] {
            assert!(is_data_plane_series(yes), "{yes}");
        }
        for no in ["mesh", "control-plane", "face app", "linkerd-destination mesh", "istiod mesh", "istio-ingressgateway mesh", "faces"] {
            assert!(!is_data_plane_series(no), "{no}");
        }
    }

    #[test]
    fn units_convert_from_raw() {
        assert_eq!(Metric::Cpu.from_raw(5_000_000.0), 5.0);
        assert_eq!(Metric::Mem.from_raw(3.0 * 1_048_576.0), 3.0);
    }

    fn run(target_rps: u32, run: u32, achieved_rps: f64, cpu: &[Option<f64>]) -> GsdRun {
        let mut columns = BTreeMap::new();
        columns.insert("data-plane CPU".to_string(), cpu.to_vec());
        columns.insert("istiod mesh CPU".to_string(), cpu.to_vec());
        columns.insert("load mesh CPU".to_string(), vec![None; cpu.len()]);
        GsdRun { target_rps, run, achieved_rps, columns }
    }

    #[test]
    fn levels_series_and_steady_points_from_runs() {
        let m = 1e6; // 1 mC in nanocores
        let runs = vec![
            run(60, 1, 59.0, &[Some(0.0), Some(10.0 * m), Some(10.0 * m), None, Some(10.0 * m), Some(10.0 * m), Some(0.0)]),
            run(60, 2, 61.0, &[Some(2.0 * m), Some(10.0 * m), Some(12.0 * m), Some(14.0 * m), Some(30.0 * m), Some(2.0 * m)]),
            run(120, 1, 121.0, &[Some(20.0 * m), Some(20.0 * m)]),
        ];
        let levels = load_levels(&runs);
        assert_eq!(levels.len(), 2);
        assert_eq!(levels[0].runs, vec![1, 2]);
        assert_eq!(levels[0].achieved_rps_mean, 60.0);
        assert_eq!(data_plane_series(&runs), vec!["data-plane".to_string()]);
        let cal = calibrate_column(&runs, &levels, "data-plane", "data-plane CPU", Metric::Cpu, 1).unwrap();
        // level 60: [10; 4] and [12, 14] pooled: 66 / 6 = 11
        assert_eq!(cal.steady[0].samples_kept, 6);
        approx::assert_relative_eq!(cal.steady[0].value, 11.0, max_relative = 1e-12);
        assert_eq!(cal.steady[1].value, 20.0);
        assert_eq!(cal.kept.len(), 8);
        assert_eq!(cal.kept[0].rate_rps, 60.0);
        assert!(cal.fit.is_some());
        // each run's lowest sample is its idle value; the median over runs is the series'
        assert_eq!(cal.idle.iter().map(|p| p.value).collect::<Vec<_>>(), vec![0.0, 2.0, 20.0]);
        assert_eq!(cal.idle_value(), Some(2.0));
        // one distinct rate cannot carry a line
        let one = calibrate_column(&runs[2..], &levels[1..], "data-plane", "data-plane CPU", Metric::Cpu, 1).unwrap();
        assert!(one.fit.is_none() && one.fit_note.is_some());
    }
}
