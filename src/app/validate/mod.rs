//! `meshsim validate`: how well the simulator reproduces reality. Simulates the topology
//! that reproduces a measured system at each measured load level and compares data-plane CPU
//! and memory per series with the measured steady state, against the targets (CPU within
//! 10%, memory within 15%).

pub mod bookinfo;
pub mod section;

use std::path::Path;

use rayon::prelude::*;

use super::{load_inputs, run_placement, AppError, Overrides};
use crate::calibration::{self, Metric};
use crate::placement::Placement;

pub const CPU_TARGET: f64 = 0.10;
pub const MEM_TARGET: f64 = 0.15;

/// One comparison of a simulated figure with a measured one.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub dataset: String,
    pub placement: Placement,
    pub series: String,
    pub metric: &'static str,
    pub unit: &'static str,
    pub target_rps: u32,
    pub rate_rps: f64,
    pub measured: f64,
    pub simulated: f64,
    pub target: f64,
}

impl Check {
    pub fn error(&self) -> f64 {
        if self.measured == 0.0 {
            0.0
        } else {
            (self.simulated - self.measured) / self.measured
        }
    }

    /// One line naming the check and its numbers, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {} {} at {} rps: measured {:.1}, simulated {:.1} ({:+.1}%)",
            self.dataset,
            self.series,
            self.metric,
            self.target_rps,
            self.measured,
            self.simulated,
            self.error() * 100.0
        )
    }

    pub fn within_target(&self) -> bool {
        self.error().abs() <= self.target
    }
}

pub use crate::calibration::{shared_dir, shared_path};

fn read_gsd(data: &Path) -> Result<calibration::GsdCalibration, AppError> {
    calibration::calibrate_gsd(data, calibration::DEFAULT_DEGREE).map_err(|e| gsd_error(data, e))
}

fn gsd_error(data: &Path, e: impl std::fmt::Display) -> AppError {
    AppError::Input(crate::input_error::InputErrors(vec![crate::input_error::InputError {
        path: data.to_path_buf(),
        line: 0,
        col: 0,
        message: e.to_string(),
    }]))
}

/// The placement a gsd-v1 data set measured (`ambient` in its name → ambient, else sidecar).
fn measured_placement(cal: &calibration::GsdCalibration) -> Placement {
    if cal.dataset.contains("ambient") {
        Placement::Ambient
    } else {
        Placement::Sidecar
    }
}

/// Largest relative error of a simulated end-to-end latency percentile counted as a match.
pub const LATENCY_TARGET: f64 = 0.25;

/// Validate a gsd-v1 data set (`linkerd` → sidecar placement, `ambient` → ambient) on
/// `topology` with the cost models it names, at every measured level.
pub fn validate_gsd(data: &Path, topology: &Path, duration: &str, seed: u64) -> Result<Vec<Check>, AppError> {
    validate_gsd_with_latency(data, topology, duration, seed).map(|(checks, _)| checks)
}

/// `validate_gsd`, and from the same runs the end-to-end p50 and p99 against the load
/// generator's (wrk2's, the mean over a level's logs). Kept apart from the CPU and memory
/// checks: no model is fitted to latency, so these say how far the simulation is from it.
pub fn validate_gsd_with_latency(data: &Path, topology: &Path, duration: &str, seed: u64) -> Result<(Vec<Check>, Vec<Check>), AppError> {
    let cal = read_gsd(data)?;
    let inputs = load_inputs(topology, &Overrides { duration: Some(duration.into()), warmup: Some("2s".into()), ..Default::default() })?;
    let levels: Vec<(u32, f64)> = cal.levels.iter().map(|l| (l.target_rps, l.achieved_rps_mean)).collect();
    let runs = levels
        .par_iter()
        .map(|&(target, rate)| simulate_level(&inputs, measured_placement(&cal), target, rate, seed))
        .collect::<Result<Vec<_>, _>>()?;
    let measured = calibration::wrk2_latency::read_levels(data).map_err(|e| gsd_error(data, e))?;
    Ok((compare_levels(&cal, &runs), compare_latency(&cal.dataset, &measured, &runs)))
}

/// Measured vs simulated end-to-end p50 and p99 at every level that has both.
fn compare_latency(dataset: &str, measured: &[calibration::wrk2_latency::Wrk2Level], runs: &[LevelRun]) -> Vec<Check> {
    let mut checks = Vec::new();
    for (target_rps, rate, placement, summary) in runs {
        let Some(level) = measured.iter().find(|l| l.target_rps == *target_rps) else { continue };
        let s = &summary.summary;
        for (metric, m, sim) in [("p50", level.p50_ms, s.latency_p50_ms), ("p99", level.p99_ms, s.latency_p99_ms)] {
            let Some(simulated) = sim else { continue };
            checks.push(Check {
                dataset: dataset.to_string(),
                placement: *placement,
                series: "end to end".to_string(),
                metric,
                unit: "ms",
                target_rps: *target_rps,
                rate_rps: *rate,
                measured: m,
                simulated,
                target: LATENCY_TARGET,
            });
        }
    }
    checks
}

/// Out-of-sample check: for each measured level, fit the models on the other levels only
/// (as `meshsim calibrate` does), then simulate the held-out level and compare.
pub fn cross_validate_gsd(data: &Path, topology: &Path, duration: &str, seed: u64) -> Result<Vec<Check>, AppError> {
    let cal = read_gsd(data)?;
    let placement = measured_placement(&cal);
    let base = load_inputs(topology, &Overrides { duration: Some(duration.into()), warmup: Some("2s".into()), ..Default::default() })?;
    let runs = cal
        .levels
        .par_iter()
        .map(|held| {
            let train = without_level(&cal, held.target_rps);
            let mut inputs = base.clone();
            for d in super::calibrate::derive_models(&train, &base, placement, seed)? {
                let model = crate::model::parse(Path::new(&d.file_name), &d.model.text)?;
                inputs.models.by_kind.insert(d.kind, model);
            }
            simulate_level(&inputs, placement, held.target_rps, held.achieved_rps_mean, seed)
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let mut checks = compare_levels(&cal, &runs);
    for c in &mut checks {
        c.dataset = format!("{} (held out)", c.dataset);
    }
    Ok(checks)
}

/// A calibration with one load level removed from every series.
fn without_level(cal: &calibration::GsdCalibration, target_rps: u32) -> calibration::GsdCalibration {
    let mut c = cal.clone();
    c.levels.retain(|l| l.target_rps != target_rps);
    for s in &mut c.series {
        s.steady.retain(|p| p.target_rps != target_rps);
        s.kept.retain(|p| p.target_rps != target_rps);
        s.idle.retain(|p| p.target_rps != target_rps);
    }
    c
}

type LevelRun = (u32, f64, Placement, crate::metrics::RunSummary);

/// Requests a simulated level measures at least: the count of a Poisson stream varies by
/// 1/√n, 1% here, well inside the ±10% targets. A fixed duration would leave the lowest
/// level (60 rps) with a few hundred requests and its CPU figure ±5% from the draw alone.
const MIN_MEASURED_REQUESTS: f64 = 10_000.0;

fn simulate_level(inputs: &super::Inputs, placement: Placement, target_rps: u32, rate_rps: f64, seed: u64) -> Result<LevelRun, AppError> {
    let mut i = inputs.clone();
    i.topology.set_total_rate(rate_rps);
    let sim = &mut i.topology.simulation;
    let needed_ns = sim.warmup_ns.saturating_add((MIN_MEASURED_REQUESTS / rate_rps.max(1.0) * 1e9).ceil() as u64);
    sim.duration_ns = sim.duration_ns.max(needed_ns);
    run_placement(&i, placement, seed, Vec::new(), None).map(|r| (target_rps, rate_rps, placement, r.summary))
}

/// Measured vs simulated, per series, metric and simulated level.
fn compare_levels(cal: &calibration::GsdCalibration, runs: &[LevelRun]) -> Vec<Check> {
    let series: &[(&str, Option<&str>)] = if measured_placement(cal) == Placement::Ambient {
        &[("data-plane", None), ("ztunnel mesh", Some("ztunnel")), ("waypoint mesh", Some("waypoint"))]
    } else {
        &[("data-plane", None)]
    };
    let mut checks = Vec::new();
    for (name, kind) in series {
        for metric in [Metric::Cpu, Metric::Mem] {
            let Some(measured) = cal.get(name, metric) else { continue };
            for (target_rps, rate, placement, summary) in runs {
                let Some(point) = measured.steady.iter().find(|p| p.target_rps == *target_rps) else { continue };
                let simulated: f64 = summary
                    .proxies
                    .iter()
                    .filter(|p| kind.is_none_or(|k| p.kind == k))
                    .map(|p| if metric == Metric::Cpu { p.cpu_millicores } else { p.mem_mib })
                    .sum();
                checks.push(Check {
                    dataset: cal.dataset.clone(),
                    placement: *placement,
                    series: name.to_string(),
                    metric: metric.name(),
                    unit: metric.unit(),
                    target_rps: *target_rps,
                    rate_rps: *rate,
                    measured: point.value,
                    simulated,
                    target: if metric == Metric::Cpu { CPU_TARGET } else { MEM_TARGET },
                });
            }
        }
    }
    checks
}

/// The checks as a terminal table.
pub fn table(checks: &[Check]) -> String {
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                c.dataset.clone(),
                c.placement.to_string(),
                c.series.clone(),
                format!("{} {}", c.metric, c.unit),
                c.target_rps.to_string(),
                format!("{:.1}", c.measured),
                format!("{:.1}", c.simulated),
                format!("{:+.1}%", c.error() * 100.0),
                format!("{}{:.0}%", if c.within_target() { "ok ±" } else { "MISS ±" }, c.target * 100.0),
            ]
        })
        .collect();
    crate::report::table::render(&["data set", "placement", "series", "metric", "rps", "measured", "simulated", "error", "target"], &rows)
}

/// The checks as CSV.
pub fn write_csv(path: &Path, checks: &[Check]) -> Result<(), AppError> {
    use crate::report::number::cell;
    let e = |x: csv::Error| AppError::Output(format!("{}: {x}", path.display()));
    let mut w = csv::Writer::from_path(path).map_err(e)?;
    w.write_record([
        "data_set",
        "placement",
        "series",
        "metric",
        "unit",
        "target_rps",
        "rate_rps",
        "measured",
        "simulated",
        "error_rel",
        "target_rel",
        "within_target",
    ])
    .map_err(e)?;
    for c in checks {
        w.write_record([
            c.dataset.clone(),
            c.placement.to_string(),
            c.series.clone(),
            c.metric.to_string(),
            c.unit.to_string(),
            c.target_rps.to_string(),
            cell(c.rate_rps, 2),
            cell(c.measured, 3),
            cell(c.simulated, 3),
            cell(c.error(), 4),
            cell(c.target, 2),
            c.within_target().to_string(),
        ])
        .map_err(e)?;
    }
    w.flush().map_err(|x| AppError::Output(format!("{}: {x}", path.display())))
}
