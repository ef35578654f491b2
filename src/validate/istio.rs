//! Istio validation on `topologies/istio-perf.toml` (fortio client → fortio server, 1 KB):
//! - against Istio's own sidecar benchmark (`benchmark.csv` of istio/tools perf/benchmark):
//!   for every `both` row, the mode's fitted sidecar model is run at the row's rate and
//!   connection count, with a `none` baseline beside it, and the simulated per-sidecar CPU
//!   and added p50/p90/p99 are set against the measured ones;
//! - against the published Istio 1.24 per-proxy figures at 1000 rps (sidecar, ztunnel,
//!   waypoint CPU and memory) and the published added latency of two proxies.
//!
//! The benchmark models are `envoy-sidecar-istio-bench-<telemetry mode>.toml`, derived from
//! the same file by [`fit_bench_sidecar`] and rendered by [`render_bench_model`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::calibration::{
    calibrate_istio_benchmark, CalibrationError, IstioCalibration, IstioRow, Metric, SidecarMode, SidecarProxy, DEFAULT_ISTIO_DEGREE,
};
use crate::input_error::InputErrors;
use crate::inputs::{check_models, load_inputs, Inputs, Overrides};
use crate::metrics::{summarize, RunSummary};
use crate::model::{self, CostModel};
use crate::placement::{Deployment, Placement};
use crate::report::table::{num, render};
use crate::sim::{simulate, Plan, SimError, SimOptions};
use crate::topology::ProxyKind;

/// End-user requests simulated per benchmark row (and as many for its baseline): enough for
/// a p99 from about 200 samples, few enough that all rows run in seconds in release.
pub const BENCH_REQUESTS_PER_RUN: f64 = 20_000.0;
/// Share of a run spent warming up.
const WARMUP_SHARE: f64 = 0.1;
/// Rate at which the published Istio figures are given.
pub const PUBLISHED_RATE_RPS: f64 = 1000.0;
const MB_IN_MIB: f64 = 1e6 / (1024.0 * 1024.0);

/// Why a validation could not run. Messages are lowercase and name the file.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("{0}")]
    Calibration(#[from] CalibrationError),
    #[error("{0}")]
    Model(#[from] InputErrors),
    #[error("{0}")]
    Sim(#[from] SimError),
    /// The data or the topology cannot support the validation (named in the message).
    #[error("{0}")]
    Invalid(String),
    #[error("{}: {message}", path.display())]
    Output { path: PathBuf, message: String },
}

/// `(simulated − measured) / measured`; `None` when nothing was measured.
pub fn relative_error(simulated: f64, measured: f64) -> Option<f64> {
    (measured.abs() > f64::EPSILON && simulated.is_finite()).then(|| (simulated - measured) / measured)
}

// ---------------------------------------------------------------------------------------
// Sidecar models fitted from the benchmark.

/// The sidecar cost model one telemetry mode of the benchmark gives.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchSidecarFit {
    pub telemetry_mode: String,
    /// Intercept of the per-sidecar CPU line (mC at 0 rps), clamped at 0.
    pub cpu_idle_millicores: f64,
    /// Slope of the per-sidecar CPU line: CPU per request, one pass per sidecar, µs.
    pub cpu_pass_us: f64,
    pub cpu_r2: f64,
    pub cpu_points: usize,
    /// Intercept of the per-sidecar memory line, MiB.
    pub mem_base_mib: f64,
    pub mem_r2: f64,
    /// The row whose added latency sets the fixed delay: 1000 qps at its fewest connections.
    pub latency_qps: u32,
    pub latency_conns: u32,
    pub added_p50_us: f64,
    /// Added p50 over two sidecars, less the on-path CPU of one pass; clamped at 0.
    pub latency_fixed_us: f64,
}

/// File name of a telemetry mode's benchmark sidecar model.
pub fn bench_model_file_name(telemetry_mode: &str) -> String {
    format!("envoy-sidecar-istio-bench-{telemetry_mode}.toml")
}

/// Telemetry modes with at least one `both` row, sorted.
pub fn bench_telemetry_modes(calibration: &IstioCalibration) -> Vec<String> {
    let mut modes: Vec<String> =
        calibration.rows.iter().filter(|r| r.sidecar_mode == SidecarMode::Both).map(|r| r.telemetry_mode.clone()).collect();
    modes.dedup();
    modes
}

/// Fit the sidecar model of one telemetry mode: idle and per-pass CPU from the `a + b·rps`
/// line of per-sidecar CPU (one pass per sidecar per request), base memory from the memory
/// line, and the fixed delay from the added p50 at 1000 qps and the fewest connections
/// measured (half of it per sidecar, less the pass's CPU time; the network is the same with
/// and without sidecars, and two connections meet two workers without waiting).
pub fn fit_bench_sidecar(calibration: &IstioCalibration, telemetry_mode: &str) -> Result<BenchSidecarFit, ValidateError> {
    let fit = |metric: Metric| {
        calibration
            .fits
            .iter()
            .find(|f| {
                f.telemetry_mode == telemetry_mode
                    && f.sidecar_mode == SidecarMode::Both
                    && f.proxy == SidecarProxy::PerSidecar
                    && f.metric == metric
                    && f.fit.coefficients.len() == 2
            })
            .ok_or_else(|| {
                ValidateError::Invalid(format!(
                    "{}: no linear per-sidecar {} fit for telemetry mode `{telemetry_mode}` (needs `both` rows at two rates or more)",
                    calibration.source.display(),
                    metric.name()
                ))
            })
    };
    let cpu = fit(Metric::Cpu)?;
    let mem = fit(Metric::Mem)?;
    let added = calibration
        .added_latency
        .iter()
        .filter(|a| a.telemetry_mode == telemetry_mode)
        .min_by_key(|a| (a.qps_target != 1000, a.conns, a.qps_target))
        .ok_or_else(|| {
            ValidateError::Invalid(format!(
                "{}: telemetry mode `{telemetry_mode}` has no `both` row with a matching baseline",
                calibration.source.display()
            ))
        })?;
    // b mC per rps is b/1000 s of CPU per second per request: b ms per request.
    let cpu_pass_us = cpu.fit.coefficients[1].max(0.0) * 1000.0;
    Ok(BenchSidecarFit {
        telemetry_mode: telemetry_mode.to_string(),
        cpu_idle_millicores: cpu.fit.coefficients[0].max(0.0),
        cpu_pass_us,
        cpu_r2: cpu.fit.r2,
        cpu_points: cpu.fit.points,
        mem_base_mib: mem.fit.coefficients[0].max(0.0),
        mem_r2: mem.fit.r2,
        latency_qps: added.qps_target,
        latency_conns: added.conns,
        added_p50_us: added.added_p50_us,
        latency_fixed_us: (added.added_p50_us / 2.0 - cpu_pass_us).max(0.0),
    })
}

/// The model file of a fit, with its provenance. Values are rounded to what a file carries
/// (0.1 µs, 0.1 mC, 0.1 MiB).
pub fn render_bench_model(fit: &BenchSidecarFit, benchmark_csv_name: &str) -> String {
    let mode = &fit.telemetry_mode;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Istio sidecar (Envoy, 2 workers) under telemetry mode `{mode}`, fitted from Istio's own\n\
         # sidecar benchmark ({benchmark_csv_name}: istio/tools perf/benchmark example result, Istio 1.7/1.8\n\
         # era, fortio client and server, HTTP/1.1, mTLS, 1 KB, 10-3000 rps, 2-64 connections).\n\
         # Written by meshsim::validate::istio::render_bench_model; tests/istio_validate.rs checks it\n\
         # still matches the data. Per-KiB, connection and TLS costs are folded into l7_pass (all\n\
         # rows are 1 KB over pooled connections)."
    );
    let _ = writeln!(s, "version = 1");
    let _ = writeln!(s, "name = \"envoy-sidecar-istio-bench-{mode}\"");
    let _ = writeln!(s, "kind = \"sidecar\"");
    let _ = writeln!(s, "workers = 2   # proxy concurrency in the harness (values-istio-auth.yaml)\n");
    let _ = writeln!(s, "[cpu]");
    let _ = writeln!(s, "l7_pass = \"{:.1}us\"   # slope of per-sidecar CPU vs rate, 1 pass per sidecar per request", fit.cpu_pass_us);
    let _ = writeln!(s, "l4_pass = \"{:.1}us\"", fit.cpu_pass_us / 3.0);
    let _ = writeln!(s, "per_kib = \"0us\"");
    let _ = writeln!(s, "new_connection = \"50us\"");
    let _ = writeln!(s, "tls_handshake = \"900us\"   # mutual full handshake ~1000-1400/s/core (calibration-sources F)");
    let _ = writeln!(s, "tls_per_new_connection = true");
    let _ = writeln!(s, "idle = \"{:.1}m\"   # intercept of per-sidecar CPU vs rate\n", fit.cpu_idle_millicores);
    let _ = writeln!(s, "[latency]");
    let _ = writeln!(
        s,
        "fixed = \"{:.1}us\"   # added p50 at {} qps, {} connections ({:.0} us) / 2 sidecars - l7_pass\n",
        fit.latency_fixed_us, fit.latency_qps, fit.latency_conns, fit.added_p50_us
    );
    let _ = writeln!(s, "[memory]");
    let _ = writeln!(s, "base = \"{:.1}MiB\"   # intercept of per-sidecar memory vs rate", fit.mem_base_mib);
    let _ = writeln!(s, "per_endpoint = \"0KiB\"   # the benchmark has one service: folded into base");
    let _ = writeln!(s, "per_connection = \"20KiB\"   # \"under 20k\" per connection (calibration-sources E)");
    let _ = writeln!(s, "per_inflight = \"64KiB\"\n");
    let _ = writeln!(s, "[provenance]");
    let _ = writeln!(s, "profile = \"istio-bench-2020\"");
    let _ = writeln!(s, "component = \"Istio sidecar, telemetry mode {mode}, `both` rows (client and server sidecars)\"");
    let _ = writeln!(
        s,
        "value = \"per-sidecar CPU {:.2} mC + {:.4} mC/rps; memory {:.1} MiB at 0 rps; added p50 {:.0} us at {} qps, c={}\"",
        fit.cpu_idle_millicores,
        fit.cpu_pass_us / 1000.0,
        fit.mem_base_mib,
        fit.added_p50_us,
        fit.latency_qps,
        fit.latency_conns
    );
    let _ = writeln!(
        s,
        "source = \"istio/tools perf/benchmark/graph_plotter/example_plot/benchmark.csv (Apache-2.0), copied to ../shared/data/istio-benchmark\""
    );
    let _ = writeln!(s, "version = \"Istio 1.7/1.8 (file last changed 2020-11-09)\"");
    let _ = writeln!(s, "hardware = \"not stated by the harness\"");
    let _ = writeln!(s, "load_levels = \"10, 100, 500, 1000, 2000, 3000 rps\"");
    let _ = writeln!(
        s,
        "fit = \"least squares a + b*rps over {} rows: CPU r2 {:.3}, memory r2 {:.3}\"",
        fit.cpu_points, fit.cpu_r2, fit.mem_r2
    );
    s
}

// ---------------------------------------------------------------------------------------
// Benchmark rows.

/// One `both` row of the benchmark: measured against simulated.
#[derive(Clone, Debug, PartialEq)]
pub struct IstioBenchRow {
    pub telemetry_mode: String,
    pub run_id: String,
    /// Line of the row in the benchmark CSV.
    pub line: u64,
    pub qps_target: u32,
    /// Rate achieved in the test, which the simulation offers.
    pub rate_rps: f64,
    pub conns: u32,
    /// Mean of the client and server sidecars.
    pub cpu_measured_millicores: f64,
    pub cpu_simulated_millicores: f64,
    pub cpu_error: Option<f64>,
    /// Row minus the mean of the baseline rows at the same (qps, connections, payload);
    /// `None` when there is no such baseline.
    pub added_p50_measured_ms: Option<f64>,
    pub added_p90_measured_ms: Option<f64>,
    pub added_p99_measured_ms: Option<f64>,
    pub added_p50_simulated_ms: f64,
    pub added_p90_simulated_ms: f64,
    pub added_p99_simulated_ms: f64,
    pub added_p50_error: Option<f64>,
    pub added_p90_error: Option<f64>,
    pub added_p99_error: Option<f64>,
}

/// The seed of case `index` of a validation: fixed by (seed, index), not by thread order.
pub(super) fn case_seed(seed: u64, index: usize) -> u64 {
    // SplitMix64 step over the pair.
    let mut z = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Simulate one placement of `inputs` with one timeline bucket (long low-rate runs need no more).
/// Latency added by the mesh: both runs must have measured some (no request succeeding is
/// not a latency of zero).
pub(super) fn added(with: Option<f64>, without: Option<f64>) -> Result<f64, ValidateError> {
    match (with, without) {
        (Some(a), Some(b)) => Ok(a - b),
        _ => Err(ValidateError::Invalid("a simulated run had no successful request, so no latency to compare".into())),
    }
}

/// Offer `rate_rps` over `conns` connections for [`BENCH_REQUESTS_PER_RUN`] requests.
pub(super) fn set_load(inputs: &mut Inputs, rate_rps: f64, conns: u32) {
    let t = &mut inputs.topology;
    t.set_total_rate(rate_rps);
    for load in &mut t.loads {
        load.connections = conns;
    }
    let duration_s = BENCH_REQUESTS_PER_RUN / rate_rps;
    t.simulation.duration_ns = (duration_s * 1e9).round() as u64;
    t.simulation.warmup_ns = (duration_s * WARMUP_SHARE * 1e9).round() as u64;
    t.simulation.max_events = t.simulation.max_events.max(200 * BENCH_REQUESTS_PER_RUN as u64);
}

pub(super) fn run(inputs: &Inputs, placement: Placement, seed: u64) -> Result<RunSummary, ValidateError> {
    let t = &inputs.topology;
    let deployment = Deployment::new(t, placement, inputs.models.scopes());
    check_models(inputs, &deployment)?;
    let plan = Plan::new(t, &deployment, &inputs.models);
    let mut opts = SimOptions::new(seed);
    opts.bucket_ns = t.simulation.duration_ns.max(1);
    let output = simulate(&plan, &opts)?;
    Ok(summarize(t, &deployment, &inputs.models, &plan, &output))
}

pub(super) fn mean_of_kind(summary: &RunSummary, kind: ProxyKind, f: fn(&crate::metrics::ProxySummary) -> f64) -> Option<f64> {
    let values: Vec<f64> = summary.proxies.iter().filter(|p| p.kind == kind.as_str()).map(f).collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Validate the sidecar models fitted from Istio's benchmark: for every `both` row of
/// `benchmark_csv`, run `topology` (istio-perf.toml) with the row's telemetry mode's model
/// from `models_dir` (see [`bench_model_file_name`]) at the row's achieved rate over the row's
/// connections, and a `none` baseline with the same seed; rows come in the order of
/// [`crate::calibration::read_istio_benchmark`].
pub fn validate_istio_benchmark(
    benchmark_csv: &Path,
    topology: &Path,
    models_dir: &Path,
    seed: u64,
) -> Result<Vec<IstioBenchRow>, ValidateError> {
    let calibration = calibrate_istio_benchmark(benchmark_csv, DEFAULT_ISTIO_DEGREE)?;
    let base = load_inputs(topology, &Overrides::default())?;
    if base.topology.loads.is_empty() {
        return Err(ValidateError::Invalid(format!("{}: the topology has no [[load]] to set the rate of", topology.display())));
    }
    let mut models: BTreeMap<String, CostModel> = BTreeMap::new();
    for mode in bench_telemetry_modes(&calibration) {
        let m = model::load(&models_dir.join(bench_model_file_name(&mode)))?;
        if m.kind != ProxyKind::Sidecar {
            return Err(ValidateError::Invalid(format!("{}: kind is `{}`, expected `sidecar`", m.source.display(), m.kind.as_str())));
        }
        models.insert(mode, m);
    }
    let baselines = baseline_means(&calibration.rows);
    let rows: Vec<&IstioRow> = calibration.rows.iter().filter(|r| r.sidecar_mode == SidecarMode::Both).collect();
    rows.par_iter()
        .enumerate()
        .map(|(i, row)| {
            let model =
                models.get(&row.telemetry_mode).ok_or_else(|| ValidateError::Invalid(format!("no model for `{}`", row.telemetry_mode)))?;
            bench_row(&base, model, row, baselines.get(&baseline_key(row)), case_seed(seed, i))
        })
        .collect()
}

type BaselineKey = (u32, u32, u32);

fn baseline_key(r: &IstioRow) -> BaselineKey {
    (r.qps_target, r.conns, r.payload_bytes)
}

/// Mean (p50, p90, p99) in µs of the baseline rows at each (qps, connections, payload), over
/// every telemetry mode (no sidecar runs, so telemetry does not apply), as calibration does.
fn baseline_means(rows: &[IstioRow]) -> BTreeMap<BaselineKey, [f64; 3]> {
    let mut sums: BTreeMap<BaselineKey, ([f64; 3], usize)> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.sidecar_mode == SidecarMode::Baseline) {
        let e = sums.entry(baseline_key(r)).or_insert(([0.0; 3], 0));
        e.0[0] += r.latency_p50_us;
        e.0[1] += r.latency_p90_us;
        e.0[2] += r.latency_p99_us;
        e.1 += 1;
    }
    sums.into_iter().map(|(k, (s, n))| (k, s.map(|x| x / n as f64))).collect()
}

fn bench_row(
    base: &Inputs,
    model: &CostModel,
    row: &IstioRow,
    baseline_us: Option<&[f64; 3]>,
    seed: u64,
) -> Result<IstioBenchRow, ValidateError> {
    if !(row.rate_rps > 0.0 && row.rate_rps.is_finite()) || row.conns == 0 {
        return Err(ValidateError::Invalid(format!(
            "line {}: rate {} rps over {} connections cannot be simulated",
            row.line, row.rate_rps, row.conns
        )));
    }
    let mut inputs = base.clone();
    inputs.models.by_kind.insert(ProxyKind::Sidecar, model.clone());
    set_load(&mut inputs, row.rate_rps, row.conns);
    let with = run(&inputs, Placement::Sidecar, seed)?;
    let without = run(&inputs, Placement::None, seed)?;
    let cpu = mean_of_kind(&with, ProxyKind::Sidecar, |p| p.cpu_millicores).unwrap_or(0.0);
    let (s, b) = (&with.summary, &without.summary);
    let sim = [
        added(s.latency_p50_ms, b.latency_p50_ms)?,
        added(s.latency_p90_ms, b.latency_p90_ms)?,
        added(s.latency_p99_ms, b.latency_p99_ms)?,
    ];
    let measured = baseline_us
        .map(|b| [(row.latency_p50_us - b[0]) / 1000.0, (row.latency_p90_us - b[1]) / 1000.0, (row.latency_p99_us - b[2]) / 1000.0]);
    let err = |k: usize| measured.and_then(|m| relative_error(sim[k], m[k]));
    let cpu_measured = row.value(SidecarProxy::PerSidecar, Metric::Cpu);
    Ok(IstioBenchRow {
        telemetry_mode: row.telemetry_mode.clone(),
        run_id: row.run_id.clone(),
        line: row.line,
        qps_target: row.qps_target,
        rate_rps: row.rate_rps,
        conns: row.conns,
        cpu_measured_millicores: cpu_measured,
        cpu_simulated_millicores: cpu,
        cpu_error: relative_error(cpu, cpu_measured),
        added_p50_measured_ms: measured.map(|m| m[0]),
        added_p90_measured_ms: measured.map(|m| m[1]),
        added_p99_measured_ms: measured.map(|m| m[2]),
        added_p50_simulated_ms: sim[0],
        added_p90_simulated_ms: sim[1],
        added_p99_simulated_ms: sim[2],
        added_p50_error: err(0),
        added_p90_error: err(1),
        added_p99_error: err(2),
    })
}

// ---------------------------------------------------------------------------------------
// Published figures.

/// One published figure against its simulated value.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishedCheck {
    /// What was measured, e.g. "sidecar", "two sidecars", "two ztunnels (ambient L4)".
    pub component: String,
    /// "cpu", "memory", "added p90" or "added p99".
    pub metric: String,
    /// "mC", "MiB" or "ms".
    pub unit: String,
    /// Published value in `unit` (MB converted to MiB).
    pub published: f64,
    pub simulated: f64,
    pub error: Option<f64>,
    /// The published row, as calibration-sources.md section A gives it.
    pub source: String,
}

const SRC_124: &str = "Istio 1.24 performance page, 1000 http rps, 1 KB, 2 workers (calibration-sources A)";
const SRC_120: &str = "Istio 1.20 two proxies: http/1.1, 1 kB, 1000 rps, 2-64 conns, 2 workers, mTLS (calibration-sources A)";
const SRC_122: &str = "Istio 1.22 ambient L4 (2 ztunnels): http/1.1, 1 kB, 1000 rps, 1-64 conns, mTLS (calibration-sources A)";

/// Istio 1.24's published CPU (mC) and memory (MB) of one proxy at 1000 rps.
pub(super) const PUBLISHED_SIDECAR: (f64, f64) = (200.0, 60.0);
pub(super) const PUBLISHED_ZTUNNEL: (f64, f64) = (60.0, 12.0);
pub(super) const PUBLISHED_WAYPOINT: (f64, f64) = (250.0, 60.0);
/// Published added p90 and p99 (ms) of two sidecars (Istio 1.20) and two ztunnels (Istio 1.22).
pub(super) const PUBLISHED_TWO_SIDECARS: (f64, f64) = (0.228, 0.298);
pub(super) const PUBLISHED_TWO_ZTUNNELS: (f64, f64) = (0.17, 0.20);

/// The runs the published figures are set against, all at 1000 rps.
pub(super) struct PublishedRuns {
    pub none: RunSummary,
    pub sidecar: RunSummary,
    /// ztunnels and the namespace waypoint.
    pub ambient: RunSummary,
    /// ztunnels only (waypoints removed).
    pub ambient_l4: RunSummary,
}

pub(super) fn published_runs(inputs: &Inputs, seed: u64) -> Result<PublishedRuns, ValidateError> {
    let mut inputs = inputs.clone();
    inputs.topology.set_total_rate(PUBLISHED_RATE_RPS);
    let mut l4 = inputs.clone();
    for ns in &mut l4.topology.namespaces {
        ns.waypoint = None;
    }
    Ok(PublishedRuns {
        none: run(&inputs, Placement::None, seed)?,
        sidecar: run(&inputs, Placement::Sidecar, seed)?,
        ambient: run(&inputs, Placement::Ambient, seed)?,
        ambient_l4: run(&l4, Placement::Ambient, seed)?,
    })
}

/// Run `topology` (istio-perf.toml) at 1000 rps with sidecars, with ambient (ztunnels and
/// the namespace waypoint), with ambient L4 only (waypoints removed) and without a mesh,
/// and set per-proxy CPU and memory and the added latency of two proxies against the
/// published figures. CPU and memory are the mean over the instances of a kind.
pub fn validate_istio_published(topology: &Path, seed: u64) -> Result<Vec<PublishedCheck>, ValidateError> {
    let inputs = load_inputs(topology, &Overrides::default())?;
    let PublishedRuns { none, sidecar, ambient, ambient_l4 } = published_runs(&inputs, seed)?;

    let mut checks = Vec::new();
    let mut per_proxy = |summary: &RunSummary, kind: ProxyKind, cpu_mc: f64, mem_mb: f64, component: &str| -> Result<(), ValidateError> {
        let missing = || {
            ValidateError::Invalid(format!(
                "{}: the run deploys no {} (check [mesh] and the namespaces)",
                topology.display(),
                kind.as_str()
            ))
        };
        let cpu = mean_of_kind(summary, kind, |p| p.cpu_millicores).ok_or_else(missing)?;
        let mem = mean_of_kind(summary, kind, |p| p.mem_mib).ok_or_else(missing)?;
        let source = format!("{component}: {:.2} vCPU, {mem_mb} MB; {SRC_124}", cpu_mc / 1000.0);
        checks.push(PublishedCheck {
            component: component.to_string(),
            metric: "cpu".into(),
            unit: "mC".into(),
            published: cpu_mc,
            simulated: cpu,
            error: relative_error(cpu, cpu_mc),
            source: source.clone(),
        });
        let mem_mib = mem_mb * MB_IN_MIB;
        checks.push(PublishedCheck {
            component: component.to_string(),
            metric: "memory".into(),
            unit: "MiB".into(),
            published: mem_mib,
            simulated: mem,
            error: relative_error(mem, mem_mib),
            source,
        });
        Ok(())
    };
    for (summary, kind, (cpu_mc, mem_mb), component) in [
        (&sidecar, ProxyKind::Sidecar, PUBLISHED_SIDECAR, "Istio 1.24 sidecar"),
        (&ambient, ProxyKind::Ztunnel, PUBLISHED_ZTUNNEL, "Istio 1.24 ztunnel"),
        (&ambient, ProxyKind::Waypoint, PUBLISHED_WAYPOINT, "Istio 1.24 waypoint"),
    ] {
        per_proxy(summary, kind, cpu_mc, mem_mb, component)?;
    }

    let base = &none.summary;
    for (summary, component, p90, p99, source) in [
        (&sidecar, "Istio 1.20 two sidecars", PUBLISHED_TWO_SIDECARS.0, PUBLISHED_TWO_SIDECARS.1, SRC_120),
        (&ambient_l4, "Istio 1.22 two ztunnels (ambient L4)", PUBLISHED_TWO_ZTUNNELS.0, PUBLISHED_TWO_ZTUNNELS.1, SRC_122),
    ] {
        let s = &summary.summary;
        for (metric, published, simulated) in [
            ("added p90", p90, added(s.latency_p90_ms, base.latency_p90_ms)?),
            ("added p99", p99, added(s.latency_p99_ms, base.latency_p99_ms)?),
        ] {
            checks.push(PublishedCheck {
                component: component.to_string(),
                metric: metric.into(),
                unit: "ms".into(),
                published,
                simulated,
                error: relative_error(simulated, published),
                source: format!("{component}: p90/p99 added {p90}/{p99} ms; {source}"),
            });
        }
    }
    Ok(checks)
}

// ---------------------------------------------------------------------------------------
// Output.

fn pct(x: Option<f64>) -> String {
    num(x.map(|e| e * 100.0), 1)
}

fn cell(x: Option<f64>, decimals: usize) -> String {
    x.map(|v| crate::report::number::cell(v, decimals)).unwrap_or_default()
}

const BENCH_HEADER: [&str; 21] = [
    "telemetry_mode",
    "run_id",
    "line",
    "qps_target",
    "rate_rps",
    "conns",
    "cpu_measured_millicores",
    "cpu_simulated_millicores",
    "cpu_error",
    "added_p50_measured_ms",
    "added_p50_simulated_ms",
    "added_p50_error",
    "added_p90_measured_ms",
    "added_p90_simulated_ms",
    "added_p90_error",
    "added_p99_measured_ms",
    "added_p99_simulated_ms",
    "added_p99_error",
    "cpu_within_10pct",
    "added_p50_within_25pct",
    "added_p90_within_25pct",
];

fn within(e: Option<f64>, target: f64) -> String {
    match e {
        Some(e) => (e.abs() <= target).to_string(),
        None => String::new(),
    }
}

pub(super) fn write_rows(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<(), ValidateError> {
    let out = |e: csv::Error| ValidateError::Output { path: path.to_path_buf(), message: e.to_string() };
    let mut w = csv::Writer::from_path(path).map_err(out)?;
    w.write_record(header).map_err(out)?;
    for r in rows {
        w.write_record(r).map_err(out)?;
    }
    w.flush().map_err(|e| ValidateError::Output { path: path.to_path_buf(), message: e.to_string() })
}

/// Write the benchmark rows as CSV (errors as fractions, fixed decimals).
pub fn write_bench_csv(path: &Path, rows: &[IstioBenchRow]) -> Result<(), ValidateError> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.telemetry_mode.clone(),
                r.run_id.clone(),
                r.line.to_string(),
                r.qps_target.to_string(),
                cell(Some(r.rate_rps), 3),
                r.conns.to_string(),
                cell(Some(r.cpu_measured_millicores), 3),
                cell(Some(r.cpu_simulated_millicores), 3),
                cell(r.cpu_error, 4),
                cell(r.added_p50_measured_ms, 4),
                cell(Some(r.added_p50_simulated_ms), 4),
                cell(r.added_p50_error, 4),
                cell(r.added_p90_measured_ms, 4),
                cell(Some(r.added_p90_simulated_ms), 4),
                cell(r.added_p90_error, 4),
                cell(r.added_p99_measured_ms, 4),
                cell(Some(r.added_p99_simulated_ms), 4),
                cell(r.added_p99_error, 4),
                within(r.cpu_error, 0.10),
                within(r.added_p50_error, 0.25),
                within(r.added_p90_error, 0.25),
            ]
        })
        .collect();
    write_rows(path, &BENCH_HEADER, &cells)
}

/// Write the published checks as CSV.
pub fn write_published_csv(path: &Path, checks: &[PublishedCheck]) -> Result<(), ValidateError> {
    let cells: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                c.component.clone(),
                c.metric.clone(),
                c.unit.clone(),
                cell(Some(c.published), 4),
                cell(Some(c.simulated), 4),
                cell(c.error, 4),
                c.source.clone(),
            ]
        })
        .collect();
    write_rows(path, &["component", "metric", "unit", "published", "simulated", "error", "source"], &cells)
}

/// Rows within a target, over rows that have the figure: (within, of).
fn count_within(rows: &[IstioBenchRow], f: fn(&IstioBenchRow) -> Option<f64>, target: f64) -> (usize, usize) {
    let errs: Vec<f64> = rows.iter().filter_map(f).collect();
    (errs.iter().filter(|e| e.abs() <= target).count(), errs.len())
}

/// The benchmark rows as a terminal table, errors in %, with counts within the targets.
pub fn format_bench_table(rows: &[IstioBenchRow]) -> String {
    let header = [
        "mode",
        "qps",
        "c",
        "CPU meas mC",
        "CPU sim mC",
        "err %",
        "+p50 meas ms",
        "+p50 sim ms",
        "err %",
        "+p90 meas ms",
        "+p90 sim ms",
        "err %",
        "+p99 meas ms",
        "+p99 sim ms",
        "err %",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.telemetry_mode.clone(),
                r.qps_target.to_string(),
                r.conns.to_string(),
                format!("{:.1}", r.cpu_measured_millicores),
                format!("{:.1}", r.cpu_simulated_millicores),
                pct(r.cpu_error),
                num(r.added_p50_measured_ms, 3),
                format!("{:.3}", r.added_p50_simulated_ms),
                pct(r.added_p50_error),
                num(r.added_p90_measured_ms, 3),
                format!("{:.3}", r.added_p90_simulated_ms),
                pct(r.added_p90_error),
                num(r.added_p99_measured_ms, 3),
                format!("{:.3}", r.added_p99_simulated_ms),
                pct(r.added_p99_error),
            ]
        })
        .collect();
    let mut out = render(&header, &cells);
    let (c, cn) = count_within(rows, |r| r.cpu_error, 0.10);
    let (p50, p50n) = count_within(rows, |r| r.added_p50_error, 0.25);
    let (p90, p90n) = count_within(rows, |r| r.added_p90_error, 0.25);
    let _ = writeln!(out, "within target: CPU ±10% {c}/{cn}, added p50 ±25% {p50}/{p50n}, added p90 ±25% {p90}/{p90n}");
    out
}

/// The published checks as a terminal table, errors in %.
pub fn format_published_table(checks: &[PublishedCheck]) -> String {
    let cells: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                c.component.clone(),
                c.metric.clone(),
                c.unit.clone(),
                format!("{:.3}", c.published),
                format!("{:.3}", c.simulated),
                pct(c.error),
            ]
        })
        .collect();
    render(&["component", "metric", "unit", "published", "simulated", "err %"], &cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_needs_a_measurement() {
        assert_eq!(relative_error(1.1, 1.0).map(|e| (e * 1e9).round()), Some(1e8));
        assert_eq!(relative_error(1.0, 0.0), None);
        assert_eq!(relative_error(f64::NAN, 1.0), None);
    }

    #[test]
    fn case_seeds_differ_by_index_and_repeat() {
        assert_eq!(case_seed(1, 3), case_seed(1, 3));
        assert_ne!(case_seed(1, 3), case_seed(1, 4));
        assert_ne!(case_seed(1, 3), case_seed(2, 3));
    }
}
