//! Shape checks: a profile measured on one machine (Envoy 1.40 on this project's loopback
//! bench) set against Istio's published figures and Istio's own benchmark, which ran on other
//! hardware. Absolute CPU and latency do not carry across machines, so only ratios are
//! compared: across rates, connection counts and telemetry modes, between proxy kinds, and
//! between latency percentiles. Every ratio names the hardware of both sides and carries a
//! pass/fail target with the reason for it.
//!
//! **Invariant:** the same inputs and seed give the same checks in the same order.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use rayon::prelude::*;

use super::istio::{
    added, case_seed, mean_of_kind, published_runs, run, set_load, ValidateError, PUBLISHED_SIDECAR, PUBLISHED_TWO_SIDECARS,
    PUBLISHED_TWO_ZTUNNELS, PUBLISHED_WAYPOINT, PUBLISHED_ZTUNNEL,
};
use crate::calibration::{calibrate_istio_benchmark, IstioCalibration, Metric, SidecarMode, SidecarProxy, DEFAULT_ISTIO_DEGREE};
use crate::inputs::{load_inputs, Inputs, Overrides};
use crate::metrics::RunSummary;
use crate::model::CostModels;
use crate::placement::Placement;
use crate::report::table::{num, render};
use crate::topology::{profile, ProxyKind};

/// The profile set against Istio's figures: Envoy in every role, measured here.
pub const ENVOY_PROFILE: &str = "envoy-1.40-loopback";
/// The profile whose ztunnel is the Rust ztunnel measured on the same bench.
pub const ZTUNNEL_PROFILE: &str = "loopback-2026";

/// Ratios of CPU across rates: within 10% of the measured ratio.
pub const RATE_RATIO_TARGET: f64 = 0.10;
/// Ratios of CPU across connection counts: within 25%.
pub const CONNECTION_RATIO_TARGET: f64 = 0.25;
/// Ratios between proxy kinds (CPU or memory per proxy): within 25%.
pub const KIND_RATIO_TARGET: f64 = 0.25;
/// Ratios between latency percentiles: within 10%.
pub const TAIL_RATIO_TARGET: f64 = 0.10;

const WHY_RATE: &str = "repeated benchmark rows at 1000 rps and 16 connections differ by 0.5-6.5% in per-sidecar CPU, so a ratio carries up to about 7%; 10% still fails a CPU linear in the rate with no idle term (2.0 at 2000 vs 1000 rps against a measured 1.56-1.80; 1.0 per request at 100 vs 1000 rps against 1.55-1.68)";
const WHY_CONNECTIONS: &str = "per-sidecar CPU at 1000 rps moves with the connection count in no order (one sidecar 353 mC at 2 connections, 221 at 4), so the measured ratio spans 0.68-0.96 across telemetry modes: 25%";
const WHY_KIND: &str = "both proxies of a ratio ran on the same machine, so its speed cancels; what is left is version and configuration (Istio's sidecars and waypoints run telemetry filters the bench's Envoy does not), allowed 25%";
const WHY_TAIL: &str = "percentile ratios repeat within 2-5% (two benchmark rows at 1000 rps and 16 connections: p90/p50 1.43 and 1.37; two sidecars' p99/p90 1.31 in Istio 1.20, 1.34 in 1.19's re-run); 10% still fails a pass time with no spread (ratio near 1) against a measured 1.18 or more";

/// Istio's benchmark harness, as its results say (no machine type is recorded).
const BENCH_SOURCE: &str =
    "Istio benchmark CSV (istio/tools perf/benchmark, Istio 1.7/1.8, fortio, HTTP/1.1, mTLS, 1 KB): hardware not stated by the harness";
const PUB_124: &str = "Istio 1.24 performance page (1000 rps, 1 KB, 2 workers): bare metal, 5 Equinix M3 Large as its test setup states";
const PUB_120: &str = "Istio 1.20 performance page (two sidecars, 1000 rps, 1 KB, 2-64 connections): bare metal on CNCF infrastructure";
const PUB_122: &str = "Istio 1.22 performance page (two ztunnels, 1000 rps, 1 KB, 1-64 connections): CNCF CIL bare metal";

/// One ratio, measured on one side and simulated from a profile on the other.
#[derive(Clone, Debug, PartialEq)]
pub struct ShapeCheck {
    /// What is divided by what, e.g. "per-sidecar CPU, 2000 vs 1000 rps (16 connections)".
    pub ratio: String,
    /// The telemetry mode or proxies the measured side refers to.
    pub condition: String,
    /// The rate the ratio is taken at (its denominator's), rps.
    pub rate_rps: f64,
    pub measured: f64,
    /// Where the measured ratio comes from, with its hardware.
    pub measured_on: String,
    /// `None` when the simulation gave nothing to divide (no request succeeded, zero added latency).
    pub simulated: Option<f64>,
    pub profile: String,
    /// The profile's hardware, as its `profile.toml` says.
    pub profile_hardware: String,
    /// Largest relative difference of the simulated ratio from the measured one that passes.
    pub target: f64,
    pub why_target: String,
}

impl ShapeCheck {
    /// `(simulated − measured) / measured`.
    pub fn error(&self) -> Option<f64> {
        self.simulated.and_then(|s| super::istio::relative_error(s, self.measured))
    }

    /// A ratio that cannot be simulated fails.
    pub fn within_target(&self) -> bool {
        self.error().is_some_and(|e| e.abs() <= self.target)
    }
}

/// `a / b` when both are positive and finite.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

/// `topology` with the models of profile `name`, looked up in the models folder of the
/// profile the topology names.
pub fn inputs_with_profile(topology: &Path, name: &str) -> Result<Inputs, ValidateError> {
    let mut inputs = load_inputs(topology, &Overrides::default())?;
    let models_dir = inputs.topology.mesh.profile.as_ref().and_then(|p| p.dir.parent()).map(Path::to_path_buf).ok_or_else(|| {
        ValidateError::Invalid(format!("{}: [mesh] names no profile, so there is no models folder to find `{name}` in", topology.display()))
    })?;
    let p = profile::load(&models_dir, name)?;
    inputs.models = CostModels::load(&p.models)?;
    inputs.models.check_work(&inputs.topology)?;
    inputs.topology.mesh.models = p.models.clone();
    inputs.control_plane = crate::control_plane::ControlPlaneModels::load(Some(&p))?;
    inputs.topology.mesh.profile = Some(p);
    Ok(inputs)
}

fn hardware(inputs: &Inputs) -> String {
    inputs.topology.mesh.profile.as_ref().map(|p| p.hardware.clone()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Measured side: Istio's benchmark.

/// Per-sidecar CPU (mC) and achieved rate (rps) of one telemetry mode at one (qps, connections),
/// each the mean of the `both` rows there.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BenchPoint {
    pub cpu_millicores: f64,
    pub rate_rps: f64,
    pub rows: usize,
}

/// The `both` rows of each telemetry mode, by (qps target, connections), 1 KB payloads only.
pub fn bench_points(calibration: &IstioCalibration) -> BTreeMap<String, BTreeMap<(u32, u32), BenchPoint>> {
    let mut out: BTreeMap<String, BTreeMap<(u32, u32), BenchPoint>> = BTreeMap::new();
    for r in calibration.rows.iter().filter(|r| r.sidecar_mode == SidecarMode::Both && r.payload_bytes == 1024) {
        let p = out.entry(r.telemetry_mode.clone()).or_default().entry((r.qps_target, r.conns)).or_default();
        p.cpu_millicores += r.value(SidecarProxy::PerSidecar, Metric::Cpu);
        p.rate_rps += r.rate_rps;
        p.rows += 1;
    }
    for p in out.values_mut().flat_map(|m| m.values_mut()) {
        p.cpu_millicores /= p.rows as f64;
        p.rate_rps /= p.rows as f64;
    }
    out
}

/// The simulated side of the benchmark's ratios: per-sidecar CPU at each (rate, connections).
struct SimBench {
    cpu: BTreeMap<(u32, u32), f64>,
    /// Added p50 and p90 of two sidecars at 1000 rps over 16 connections, ms.
    added_p50_p90_ms: Option<(f64, f64)>,
}

/// (rate, connections) simulated with sidecars: the benchmark's ratios need these.
const SIM_POINTS: [(u32, u32); 6] = [(100, 16), (1000, 16), (2000, 16), (1000, 2), (1000, 4), (1000, 64)];

fn simulate_bench(inputs: &Inputs, seed: u64) -> Result<SimBench, ValidateError> {
    let runs: Vec<(RunSummary, Option<RunSummary>)> = SIM_POINTS
        .par_iter()
        .enumerate()
        .map(|(i, &(rate, conns))| {
            let mut at = inputs.clone();
            set_load(&mut at, f64::from(rate), conns);
            let with = run(&at, Placement::Sidecar, case_seed(seed, i))?;
            // The percentile ratio is taken at 1000 rps over 16 connections: it needs a baseline.
            let without = if (rate, conns) == (1000, 16) { Some(run(&at, Placement::None, case_seed(seed, i))?) } else { None };
            Ok((with, without))
        })
        .collect::<Result<_, ValidateError>>()?;
    let mut cpu = BTreeMap::new();
    let mut added_p50_p90_ms = None;
    for (&point, (with, without)) in SIM_POINTS.iter().zip(&runs) {
        if let Some(c) = mean_of_kind(with, ProxyKind::Sidecar, |p| p.cpu_millicores) {
            cpu.insert(point, c);
        }
        if let Some(b) = without {
            let (s, b) = (&with.summary, &b.summary);
            added_p50_p90_ms = Some((added(s.latency_p50_ms, b.latency_p50_ms)?, added(s.latency_p90_ms, b.latency_p90_ms)?));
        }
    }
    Ok(SimBench { cpu, added_p50_p90_ms })
}

/// The benchmark's ratios for every telemetry mode that has both points of a ratio.
fn bench_checks(calibration: &IstioCalibration, sim: &SimBench, profile: &str, profile_hardware: &str) -> Vec<ShapeCheck> {
    let sim_cpu = |p: (u32, u32)| sim.cpu.get(&p).copied().unwrap_or(f64::NAN);
    let mut checks = Vec::new();
    let mut push = |ratio: String, mode: &str, rate: f64, measured: Option<f64>, simulated: Option<f64>, target: f64, why: &str| {
        if let Some(measured) = measured {
            checks.push(ShapeCheck {
                ratio,
                condition: format!("telemetry mode {mode}"),
                rate_rps: rate,
                measured,
                measured_on: BENCH_SOURCE.into(),
                simulated,
                profile: profile.into(),
                profile_hardware: profile_hardware.into(),
                target,
                why_target: why.into(),
            });
        }
    };
    let added_by_point: BTreeMap<(&str, u32, u32), (f64, f64)> = calibration
        .added_latency
        .iter()
        .filter(|a| a.payload_bytes == 1024)
        .map(|a| ((a.telemetry_mode.as_str(), a.qps_target, a.conns), (a.added_p50_us, a.added_p90_us)))
        .collect();
    for (mode, points) in bench_points(calibration) {
        let at = |p: (u32, u32)| points.get(&p);
        let cpu = |p: (u32, u32)| at(p).map(|b| b.cpu_millicores);
        let both = |a: Option<f64>, b: Option<f64>| a.zip(b).and_then(|(a, b)| ratio(a, b));
        push(
            "per-sidecar CPU, 2000 vs 1000 rps (16 connections)".into(),
            &mode,
            1000.0,
            both(cpu((2000, 16)), cpu((1000, 16))),
            ratio(sim_cpu((2000, 16)), sim_cpu((1000, 16))),
            RATE_RATIO_TARGET,
            WHY_RATE,
        );
        let per_request = |p: (u32, u32)| at(p).and_then(|b| ratio(b.cpu_millicores, b.rate_rps));
        push(
            "CPU per request, 100 vs 1000 rps (16 connections)".into(),
            &mode,
            1000.0,
            both(per_request((100, 16)), per_request((1000, 16))),
            ratio(sim_cpu((100, 16)) / 100.0, sim_cpu((1000, 16)) / 1000.0),
            RATE_RATIO_TARGET,
            WHY_RATE,
        );
        // The fewest connections measured at 1000 rps (2, or 4 where no 2 was run).
        if let Some(fewest) = [2, 4].into_iter().find(|&c| at((1000, c)).is_some()) {
            push(
                format!("per-sidecar CPU, 64 vs {fewest} connections (1000 rps)"),
                &mode,
                1000.0,
                both(cpu((1000, 64)), cpu((1000, fewest))),
                ratio(sim_cpu((1000, 64)), sim_cpu((1000, fewest))),
                CONNECTION_RATIO_TARGET,
                WHY_CONNECTIONS,
            );
        }
        push(
            "added latency p90 / p50, two sidecars (1000 rps, 16 connections)".into(),
            &mode,
            1000.0,
            added_by_point.get(&(mode.as_str(), 1000, 16)).and_then(|&(p50, p90)| ratio(p90, p50)),
            sim.added_p50_p90_ms.and_then(|(p50, p90)| ratio(p90, p50)),
            TAIL_RATIO_TARGET,
            WHY_TAIL,
        );
    }
    checks
}

// ---------------------------------------------------------------------------------------
// Measured side: Istio's published figures.

fn published_checks(envoy: &Inputs, ztunnel: &Inputs, seed: u64) -> Result<Vec<ShapeCheck>, ValidateError> {
    let (e, z) = rayon::join(|| published_runs(envoy, seed), || published_runs(ztunnel, seed));
    let (e, z) = (e?, z?);
    let mut checks = Vec::new();
    let mut push = |ratio: &str, condition: &str, measured: f64, measured_on: &str, simulated: Option<f64>, inputs: &Inputs, tail: bool| {
        checks.push(ShapeCheck {
            ratio: ratio.into(),
            condition: condition.into(),
            rate_rps: super::istio::PUBLISHED_RATE_RPS,
            measured,
            measured_on: measured_on.into(),
            simulated,
            profile: inputs.topology.mesh.profile.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
            profile_hardware: hardware(inputs),
            target: if tail { TAIL_RATIO_TARGET } else { KIND_RATIO_TARGET },
            why_target: (if tail { WHY_TAIL } else { WHY_KIND }).into(),
        });
    };
    let per_proxy = |s: &RunSummary, kind: ProxyKind, memory: bool| {
        let figure: fn(&crate::metrics::ProxySummary) -> f64 = if memory { |p| p.mem_mib } else { |p| p.cpu_millicores };
        mean_of_kind(s, kind, figure).unwrap_or(f64::NAN)
    };
    let sidecar = |runs: &super::istio::PublishedRuns, memory: bool| per_proxy(&runs.sidecar, ProxyKind::Sidecar, memory);
    for (memory, what) in [(false, "CPU per proxy"), (true, "memory per proxy")] {
        // Published pairs are (CPU mC, memory MB); MB against MB, so the ratio needs no conversion.
        let pick = |f: (f64, f64)| if memory { f.1 } else { f.0 };
        let wp = ratio(pick(PUBLISHED_WAYPOINT), pick(PUBLISHED_SIDECAR)).unwrap_or(f64::NAN);
        let zt = ratio(pick(PUBLISHED_ZTUNNEL), pick(PUBLISHED_SIDECAR)).unwrap_or(f64::NAN);
        let ratio_name = format!("{what}, waypoint / sidecar (1000 rps)");
        push(
            &ratio_name,
            "Envoy waypoint, Envoy sidecar",
            wp,
            PUB_124,
            ratio(per_proxy(&e.ambient, ProxyKind::Waypoint, memory), sidecar(&e, memory)),
            envoy,
            false,
        );
        let ratio_name = format!("{what}, ztunnel / sidecar (1000 rps)");
        push(
            &ratio_name,
            "Envoy doing ztunnel's job (HBONE), Envoy sidecar",
            zt,
            PUB_124,
            ratio(per_proxy(&e.ambient, ProxyKind::Ztunnel, memory), sidecar(&e, memory)),
            envoy,
            false,
        );
        push(
            &ratio_name,
            "Rust ztunnel, Envoy sidecar",
            zt,
            PUB_124,
            ratio(per_proxy(&z.ambient, ProxyKind::Ztunnel, memory), sidecar(&z, memory)),
            ztunnel,
            false,
        );
    }
    let tail = |runs: &super::istio::PublishedRuns, with: &RunSummary| -> Option<f64> {
        let (s, b) = (&with.summary, &runs.none.summary);
        let p90 = added(s.latency_p90_ms, b.latency_p90_ms).ok()?;
        let p99 = added(s.latency_p99_ms, b.latency_p99_ms).ok()?;
        ratio(p99, p90)
    };
    let sidecars = PUBLISHED_TWO_SIDECARS.1 / PUBLISHED_TWO_SIDECARS.0;
    let ztunnels = PUBLISHED_TWO_ZTUNNELS.1 / PUBLISHED_TWO_ZTUNNELS.0;
    push("added latency p99 / p90, two sidecars (1000 rps)", "Envoy sidecars", sidecars, PUB_120, tail(&e, &e.sidecar), envoy, true);
    push(
        "added latency p99 / p90, two ztunnels (1000 rps)",
        "Envoy doing ztunnel's job (HBONE)",
        ztunnels,
        PUB_122,
        tail(&e, &e.ambient_l4),
        envoy,
        true,
    );
    push("added latency p99 / p90, two ztunnels (1000 rps)", "Rust ztunnel", ztunnels, PUB_122, tail(&z, &z.ambient_l4), ztunnel, true);
    Ok(checks)
}

/// Every shape check: the benchmark's ratios (when `benchmark_csv` is given) and the published
/// ones, with `topology` (istio-perf.toml) simulated under [`ENVOY_PROFILE`] and, for the
/// ztunnel, [`ZTUNNEL_PROFILE`]. Benchmark checks come first, by telemetry mode.
pub fn validate_shape(topology: &Path, benchmark_csv: Option<&Path>, seed: u64) -> Result<Vec<ShapeCheck>, ValidateError> {
    let envoy = inputs_with_profile(topology, ENVOY_PROFILE)?;
    let ztunnel = inputs_with_profile(topology, ZTUNNEL_PROFILE)?;
    if envoy.topology.loads.is_empty() {
        return Err(ValidateError::Invalid(format!("{}: the topology has no [[load]] to set the rate of", topology.display())));
    }
    let mut checks = Vec::new();
    if let Some(csv) = benchmark_csv {
        let calibration = calibrate_istio_benchmark(csv, DEFAULT_ISTIO_DEGREE)?;
        // Seeds of these runs follow the published runs' (which use `seed` itself).
        let sim = simulate_bench(&envoy, seed.wrapping_add(1))?;
        checks.extend(bench_checks(&calibration, &sim, ENVOY_PROFILE, &hardware(&envoy)));
    }
    checks.extend(published_checks(&envoy, &ztunnel, seed)?);
    Ok(checks)
}

// ---------------------------------------------------------------------------------------
// Output.

/// Short names of the measured sources, for the terminal table; the legend under it and the
/// CSV give each in full.
fn source_tag(measured_on: &str) -> &'static str {
    match measured_on {
        BENCH_SOURCE => "istio-bench",
        PUB_124 => "istio-1.24",
        PUB_120 => "istio-1.20",
        PUB_122 => "istio-1.22",
        _ => "other",
    }
}

/// The checks as a terminal table, with the hardware of every source and profile under it and
/// the count that pass.
pub fn format_shape_table(checks: &[ShapeCheck]) -> String {
    let header = ["ratio", "condition", "measured", "source", "simulated", "profile", "err %", "target %", "result"];
    let cells: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                c.ratio.clone(),
                c.condition.clone(),
                format!("{:.3}", c.measured),
                source_tag(&c.measured_on).into(),
                num(c.simulated, 3),
                c.profile.clone(),
                num(c.error().map(|e| e * 100.0), 1),
                format!("±{:.0}", c.target * 100.0),
                (if c.within_target() { "pass" } else { "FAIL" }).into(),
            ]
        })
        .collect();
    let mut out = render(&header, &cells);
    let mut legend: BTreeMap<String, String> = BTreeMap::new();
    for c in checks {
        legend.insert(source_tag(&c.measured_on).into(), c.measured_on.clone());
        legend.insert(format!("profile {}", c.profile), c.profile_hardware.clone());
    }
    for (k, v) in legend {
        let _ = writeln!(out, "  {k}: {v}");
    }
    let mut targets: Vec<(String, &str)> = Vec::new();
    for c in checks {
        let t = (format!("±{:.0}%", c.target * 100.0), c.why_target.as_str());
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    for (k, v) in targets {
        let _ = writeln!(out, "  target {k}: {v}");
    }
    let pass = checks.iter().filter(|c| c.within_target()).count();
    let _ = writeln!(out, "shape checks within target: {pass}/{}", checks.len());
    out
}

/// Write the checks as CSV: ratios with 4 decimals, error as a fraction.
pub fn write_shape_csv(path: &Path, checks: &[ShapeCheck]) -> Result<(), ValidateError> {
    let cell = |x: Option<f64>| x.map(|v| crate::report::number::cell(v, 4)).unwrap_or_default();
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                c.ratio.clone(),
                c.condition.clone(),
                cell(Some(c.rate_rps)),
                cell(Some(c.measured)),
                c.measured_on.clone(),
                cell(c.simulated),
                c.profile.clone(),
                c.profile_hardware.clone(),
                cell(c.error()),
                cell(Some(c.target)),
                c.within_target().to_string(),
                c.why_target.clone(),
            ]
        })
        .collect();
    super::istio::write_rows(
        path,
        &[
            "ratio",
            "condition",
            "rate_rps",
            "measured",
            "measured_on",
            "simulated",
            "profile",
            "profile_hardware",
            "error",
            "target",
            "within_target",
            "why_target",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_needs_two_positive_finite_figures() {
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
        for (a, b) in [(0.0, 1.0), (1.0, 0.0), (-1.0, 1.0), (f64::NAN, 1.0), (1.0, f64::INFINITY)] {
            assert_eq!(ratio(a, b), None, "{a} / {b}");
        }
    }

    fn check(measured: f64, simulated: Option<f64>) -> ShapeCheck {
        ShapeCheck {
            ratio: "r".into(),
            condition: "c".into(),
            rate_rps: 1000.0,
            measured,
            measured_on: BENCH_SOURCE.into(),
            simulated,
            profile: ENVOY_PROFILE.into(),
            profile_hardware: "h".into(),
            target: 0.2,
            why_target: WHY_RATE.into(),
        }
    }

    #[test]
    fn a_check_passes_within_its_target_and_fails_beyond_it_or_without_a_simulation() {
        assert!(check(1.5, Some(1.75)).within_target());
        assert!(check(1.5, Some(1.25)).within_target());
        assert!(!check(1.5, Some(1.85)).within_target());
        assert!(!check(1.5, Some(1.15)).within_target());
        assert!(!check(1.5, None).within_target());
        assert_eq!(check(1.5, None).error(), None);
    }

    #[test]
    fn the_table_names_every_source_and_profile_with_its_hardware_and_counts_passes() {
        let mut other = check(1.25, Some(2.0));
        other.measured_on = PUB_124.into();
        other.target = KIND_RATIO_TARGET;
        other.why_target = WHY_KIND.into();
        let t = format_shape_table(&[check(1.5, Some(1.6)), other]);
        assert!(t.contains(&format!("istio-bench: {BENCH_SOURCE}")), "{t}");
        assert!(t.contains(&format!("istio-1.24: {PUB_124}")), "{t}");
        assert!(t.contains("profile envoy-1.40-loopback: h"), "{t}");
        assert!(t.contains("target ±20%: ") && t.contains("target ±25%: "), "{t}");
        assert!(t.contains(&format!("target ±25%: {WHY_KIND}")), "{t}");
        assert!(t.contains("shape checks within target: 1/2"), "{t}");
        assert!(t.contains("FAIL"), "{t}");
    }
}
