//! `meshsim calibrate`: fit cost models to raw measurements. A gsd-v1 folder (a metrics CSV
//! per run plus the load generator's reports) gives steady-state CPU and memory per load
//! level and series, their polynomial fits, and from them the per-pass parameters of each
//! proxy kind of the measured placement, written as model files with provenance. Istio's
//! benchmark result file gives per-telemetry-mode sidecar fits and added latency.

use std::path::{Path, PathBuf};

use super::{load_inputs, run_placement, AppError, Inputs, Overrides};
use crate::calibration::{self, Metric, PlacementInputs};
use crate::input_error::{InputError, InputErrors};
use crate::placement::{Deployment, Placement};
use crate::report::number;
use crate::report::outdir::{Source, StagedDir};
use crate::sim::output::IDLE_THRESHOLDS_NS;
use crate::sim::plan::StationKind;
use crate::topology::ProxyKind;

/// Options of `meshsim calibrate`.
#[derive(Clone, Debug)]
pub struct CalibrateArgs {
    /// A gsd-v1 folder, or an Istio benchmark CSV (or a folder holding `benchmark.csv`).
    pub source: PathBuf,
    pub degree: Option<usize>,
    /// The topology that reproduces the measured system (for passes per request).
    pub topology: PathBuf,
    /// Placement of the measured system; default from the data set's name.
    pub placement: Option<Placement>,
    pub out: Option<PathBuf>,
    pub seed: u64,
    /// Write into a folder that is not meshsim's (beside its files) or holds another input's output.
    pub force: bool,
    /// Fit without the measurements that cannot be used (listed in `dropped.csv` and on the
    /// terminal) instead of refusing.
    pub allow_incomplete: bool,
}

/// What calibrate printed and wrote.
pub struct CalibrateReport {
    pub table: String,
    pub out: PathBuf,
}

fn err(e: impl std::fmt::Display) -> AppError {
    AppError::Output(e.to_string())
}

fn input(path: &Path, e: impl std::fmt::Display) -> AppError {
    AppError::Input(InputErrors(vec![InputError { path: path.to_path_buf(), line: 0, col: 0, message: e.to_string() }]))
}

/// A problem in the measurements as an input error (exit 2), each at its file and line.
fn bad_data(source: &Path, e: calibration::CalibrationError) -> AppError {
    let at = |path: PathBuf, line: u64, message: String| InputError { path, line: line as usize, col: usize::from(line > 0), message };
    match e {
        calibration::CalibrationError::Incomplete(list) => {
            let mut errors: Vec<InputError> = list.into_iter().map(|d| at(d.path, d.line, d.message)).collect();
            errors.push(at(
                source.to_path_buf(),
                0,
                "nothing was fitted: fix the files above, or pass --allow-incomplete to fit without them (they are then listed in dropped.csv)".into(),
            ));
            AppError::Input(InputErrors(errors))
        }
        calibration::CalibrationError::Parse { path, line, message } => AppError::Input(InputErrors(vec![at(path, line, message)])),
        calibration::CalibrationError::Invalid { path, message } => AppError::Input(InputErrors(vec![at(path, 0, message)])),
        other => input(source, other),
    }
}

/// The polynomial degree, within `limits::MAX_DEGREE` (higher degrees only fit noise).
fn check_degree(degree: usize) -> Result<usize, AppError> {
    if degree > crate::limits::MAX_DEGREE {
        return Err(AppError::arg("--degree", format!("{degree} is more than the limit of {}", crate::limits::MAX_DEGREE)));
    }
    Ok(degree)
}

pub fn calibrate(a: &CalibrateArgs) -> Result<CalibrateReport, AppError> {
    let istio_csv = if a.source.is_file() {
        Some(a.source.clone())
    } else if a.source.join("benchmark.csv").is_file() {
        Some(a.source.join("benchmark.csv"))
    } else {
        None
    };
    if let Some(csv) = istio_csv {
        return calibrate_istio(a, &csv);
    }
    if !a.source.is_dir() {
        return Err(input(&a.source, "not found: give a gsd-v1 folder or an Istio benchmark CSV"));
    }
    let degree = check_degree(a.degree.unwrap_or(calibration::DEFAULT_DEGREE))?;
    let cal = if a.allow_incomplete {
        calibration::calibrate_gsd_incomplete(&a.source, degree)
    } else {
        calibration::calibrate_gsd(&a.source, degree)
    }
    .map_err(|e| bad_data(&a.source, e))?;
    // A polynomial of degree d needs d + 1 load levels; with fewer its coefficients are empty.
    if degree >= cal.levels.len() {
        return Err(AppError::arg(
            "--degree",
            format!(
                "{degree} needs at least {} load levels, and {} has {}: use --degree {} or less",
                degree + 1,
                a.source.display(),
                cal.levels.len(),
                cal.levels.len().saturating_sub(1)
            ),
        ));
    }
    let placement = a.placement.unwrap_or(if cal.dataset.contains("ambient") { Placement::Ambient } else { Placement::Sidecar });
    let out = a.out.clone().unwrap_or_else(|| Path::new("outputs").join(format!("calibration-{}", cal.dataset)));
    let staged = StagedDir::create(&out, &Source::of_path("calibrate", &a.source), a.force)?;
    calibration::write_gsd_outputs(&cal, staged.path()).map_err(err)?;
    let mut table = calibration::print_table(&cal);
    table.push_str(&calibration::dropped_note(&cal.dropped));

    // Derive each proxy kind's per-pass costs, given the measured system's placement.
    let inputs = load_inputs(&a.topology, &Overrides::default())?;
    let derived = derive_models(&cal, &inputs, placement, a.seed).map_err(|e| match e {
        AppError::Output(m) => input(&a.source, m),
        other => other,
    })?;
    let models_dir = staged.file("models");
    std::fs::create_dir_all(&models_dir).map_err(err)?;
    table.push_str("\nper-pass parameters (at the measured machine, node speed 1.0):\n");
    let mut rows = Vec::new();
    for d in &derived {
        std::fs::write(models_dir.join(&d.file_name), &d.model.text).map_err(err)?;
        rows.push(vec![
            d.kind.as_str().to_string(),
            d.series.to_string(),
            d.instances.to_string(),
            format!("{:.2}", d.passes),
            format!("{:.2}", d.new_connections),
            format!("{:.1}", d.model.pass_us),
            format!("{:.1}", d.model.wake_up_us),
            format!("{:.0}", d.model.wake_up_after_idle_us),
            format!("{:.2}", d.model.idle_millicores),
            format!("{:.2}", d.model.base_mib),
            format!("{:.1}", d.model.per_inflight_kib),
            format!("{:.3}", d.cpu_r2),
            d.file_name.clone(),
        ]);
    }
    table.push_str(&crate::report::table::render(
        &[
            "kind",
            "series",
            "instances",
            "passes/req",
            "new conns/req",
            "pass CPU us",
            "wake-up us",
            "after idle us",
            "idle mC",
            "base MiB",
            "per in-flight KiB",
            "CPU fit R2",
            "model file",
        ],
        &rows,
    ));
    let written = staged.commit()?;
    Ok(CalibrateReport { table, out: written })
}

/// A cost model derived from one series of a calibration.
pub struct DerivedModel {
    pub kind: ProxyKind,
    pub series: &'static str,
    pub instances: u32,
    pub passes: f64,
    pub new_connections: f64,
    /// File name of the starting model it replaces.
    pub file_name: String,
    pub model: FittedModel,
    pub cpu_r2: f64,
}

/// Derive a model for every proxy kind the placement deploys that has a series in the
/// calibration (`data-plane` for sidecars and node proxies, `ztunnel mesh`, `waypoint mesh`),
/// starting from the topology's model of that kind.
pub fn derive_models(
    cal: &calibration::GsdCalibration,
    inputs: &Inputs,
    placement: Placement,
    seed: u64,
) -> Result<Vec<DerivedModel>, AppError> {
    let t = &inputs.topology;
    let d = Deployment::new(t, placement, inputs.models.scopes());
    let counts = d.pass_counts(t);
    let mut out = Vec::new();
    for kind in ProxyKind::ALL {
        let instances = d.proxies.iter().filter(|p| p.kind == kind).count() as u32;
        let series = match kind {
            ProxyKind::Sidecar | ProxyKind::NodeProxy => "data-plane",
            ProxyKind::Ztunnel => "ztunnel mesh",
            ProxyKind::Waypoint => "waypoint mesh",
        };
        if instances == 0 || cal.get(series, Metric::Cpu).is_none() {
            continue;
        }
        let Some(base) = inputs.models.get(kind) else { continue };
        let (passes, new_connections) = counts.of_kind(kind);
        let costs = calibration::derive_pass_costs(
            cal,
            series,
            PlacementInputs { instances, passes_per_request: passes, new_connections_per_request: new_connections },
        )
        .map_err(err)?;
        let model = fit_model(inputs, placement, kind, base, &costs, cal, seed)?;
        let file_name =
            base.source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| format!("{}.toml", kind.as_str()));
        out.push(DerivedModel { kind, series, instances, passes, new_connections, file_name, model, cpu_r2: costs.cpu_fit.r2 });
    }
    Ok(out)
}

pub struct FittedModel {
    /// The model file's text.
    pub text: String,
    pub pass_us: f64,
    pub wake_up_us: f64,
    pub wake_up_after_idle_us: f64,
    pub idle_millicores: f64,
    pub base_mib: f64,
    pub per_inflight_kib: f64,
}

/// Write the fitted parameters into a copy of the topology's model file for `kind`:
/// - idle CPU: measured, the median over runs of each run's lowest sample, per instance;
/// - pass and wake-up CPU with the idle time after which a wake-up is charged: fitted to
///   the levels against the passes and wake-ups the simulation counts there
///   ([`fit_wake_up`]); the file's new-connection costs are kept (an assumption: one fit
///   cannot separate them from the pass);
/// - base memory: chosen so the simulated memory at the lowest level equals the measured one;
/// - memory per in-flight request: chosen so the simulated memory at the highest level does.
fn fit_model(
    inputs: &Inputs,
    placement: Placement,
    kind: ProxyKind,
    base: &crate::model::CostModel,
    costs: &calibration::PassCosts,
    cal: &calibration::GsdCalibration,
    seed: u64,
) -> Result<FittedModel, AppError> {
    let passes = costs.inputs.passes_per_request.max(1e-9);
    let new_conn_us = (base.cpu_new_connection_ns + if base.tls_per_new_connection { base.cpu_tls_handshake_ns } else { 0 }) as f64 / 1e3;
    // The starting line, fitted to the steady-state levels minimising relative error, as
    // validation judges it: the CPU fit below starts from its slope and is compared with it.
    let cpu_series = cal.get(costs.series.as_str(), Metric::Cpu);
    let cpu_points: Vec<(f64, f64)> = cpu_series.map(|m| m.steady.iter().map(|p| (p.achieved_rps, p.value)).collect()).unwrap_or_default();
    let (intercept_mc, slope_mc_per_rps) = relative_line(&cpu_points)
        .unwrap_or((costs.cpu_fit.coefficients.first().copied().unwrap_or(0.0), costs.cpu_per_request_us / 1000.0));
    let line_pass_us = ((slope_mc_per_rps * 1000.0 - costs.inputs.new_connections_per_request * new_conn_us) / passes).max(0.0);
    let instances = costs.inputs.instances.max(1) as f64;
    // Idle CPU is measured, not extrapolated: the runs' samples with no load on the proxies.
    // The line's intercept would take up any fall of per-request CPU with load instead.
    let measured_idle_mc = cpu_series.and_then(|m| m.idle_value());
    let idle = (measured_idle_mc.unwrap_or(intercept_mc) / instances).max(0.0);
    let layer_l7 = kind != ProxyKind::Ztunnel;
    let mut trial = inputs.clone();
    trial.topology.simulation.duration_ns = 12_000_000_000;
    trial.topology.simulation.warmup_ns = 2_000_000_000;
    let set_cpu = |trial: &mut Inputs, cpu: &CpuFit| {
        let m = trial.models.by_kind.get_mut(&kind).expect("the model exists");
        // As written to the file: a ztunnel's L4 pass, and its L7 pass alike.
        m.cpu_l7_pass_ns = if layer_l7 || kind == ProxyKind::Ztunnel { (cpu.pass_us * 1e3) as u64 } else { m.cpu_l7_pass_ns };
        if !layer_l7 {
            m.cpu_l4_pass_ns = (cpu.pass_us * 1e3) as u64;
        }
        m.cpu_wake_up_ns = (cpu.wake_up_us * 1e3) as u64;
        m.wake_up_after_idle_ns = cpu.after_idle_ns;
        m.cpu_idle_millicores = idle;
    };
    let mut cpu = CpuFit { pass_us: line_pass_us, wake_up_us: 0.0, after_idle_ns: IDLE_THRESHOLDS_NS[0], max_error: f64::NAN };
    if measured_idle_mc.is_some() && cpu_points.len() >= 2 {
        cpu = fit_wake_up(&mut trial, placement, kind, &cpu_points, idle * instances, cpu, seed, set_cpu)?;
    }
    set_cpu(&mut trial, &cpu);
    let pass_us = cpu.pass_us;

    // Simulated memory of the series' proxies with the new CPU costs, base 0 and nothing per
    // in-flight request, at a given rate: (memory MiB, mean in-flight requests).
    let mem = cal.get(costs.series.as_str(), Metric::Mem);
    let levels: Vec<(f64, f64)> = mem.map(|m| m.steady.iter().map(|p| (p.achieved_rps, p.value)).collect()).unwrap_or_default();
    {
        let m = trial.models.by_kind.get_mut(&kind).expect("the model exists");
        m.mem_base_bytes = 0;
        m.mem_per_inflight_bytes = 0;
    }
    let simulate_at = |rate: f64| -> Result<(f64, f64), AppError> {
        let mut i = trial.clone();
        i.topology.set_total_rate(rate);
        let r = run_placement(&i, placement, seed, Vec::new(), None)?;
        let of_kind: Vec<_> = r.summary.proxies.iter().filter(|p| p.kind == kind.as_str()).collect();
        Ok((of_kind.iter().map(|p| p.mem_mib).sum(), of_kind.iter().map(|p| p.inflight_mean).sum()))
    };
    let (mut base_mib, mut per_inflight_kib) = (base.mem_base_bytes as f64 / 1048576.0, base.mem_per_inflight_bytes as f64 / 1024.0);
    if let (Some(&(lo_rate, lo_mem)), Some(&(hi_rate, hi_mem))) = (levels.first(), levels.last()) {
        let (lo_sim, _) = simulate_at(lo_rate)?;
        base_mib = ((lo_mem - lo_sim) / instances).max(0.0);
        if hi_rate > lo_rate {
            let (hi_sim, hi_inflight) = simulate_at(hi_rate)?;
            let extra_mib = hi_mem - hi_sim - base_mib * instances;
            per_inflight_kib = if hi_inflight > 0.0 { (extra_mib / hi_inflight * 1024.0).max(0.0) } else { 0.0 };
        }
    }

    let text = std::fs::read_to_string(&base.source).map_err(err)?;
    let mut doc: toml::Table = text.parse().map_err(err)?;
    let set = |doc: &mut toml::Table, table: &str, key: &str, value: toml::Value| {
        if let Some(toml::Value::Table(t)) = doc.get_mut(table) {
            t.insert(key.to_string(), value);
        }
    };
    let pass_key = if layer_l7 { "l7_pass" } else { "l4_pass" };
    let quantity = |field: &str, x: f64, decimals: usize, unit: &str| -> Result<toml::Value, AppError> {
        Ok(toml::Value::String(format!("{}{unit}", number::fixed(field, x, decimals).map_err(err)?)))
    };
    set(&mut doc, "cpu", pass_key, quantity("cpu.l7_pass", pass_us, 1, "us")?);
    if !layer_l7 {
        set(&mut doc, "cpu", "l7_pass", quantity("cpu.l7_pass", pass_us, 1, "us")?);
    }
    set(&mut doc, "cpu", "idle", quantity("cpu.idle", idle, 3, "m")?);
    set(&mut doc, "cpu", "wake_up", quantity("cpu.wake_up", cpu.wake_up_us, 1, "us")?);
    set(&mut doc, "cpu", "wake_up_after_idle", quantity("cpu.wake_up_after_idle", cpu.after_idle_ns as f64 / 1e3, 0, "us")?);
    set(&mut doc, "memory", "base", quantity("memory.base", base_mib * 1024.0, 0, "KiB")?);
    set(&mut doc, "memory", "per_inflight", quantity("memory.per_inflight", per_inflight_kib, 0, "KiB")?);
    let mut prov = toml::Table::new();
    let mut put = |k: &str, v: String| {
        prov.insert(k.to_string(), toml::Value::String(v));
    };
    if let Some(p) = base.provenance.get("profile") {
        put("profile", p.clone());
    }
    put("source", format!("steady-state series `{}` of data set `{}` ({})", costs.series, cal.dataset, cal.source_dir.display()));
    put("method", "publisher's steady-state filter per run and column; least-squares fits against achieved rps rounded to 10".into());
    put(
        "load_levels",
        cal.levels.iter().map(|l| format!("{} ({:.1} achieved)", l.target_rps, l.achieved_rps_mean)).collect::<Vec<_>>().join(", "),
    );
    put(
        "fit",
        format!(
            "CPU mC = idle {} + pass {:.1} us x passes/s + wake_up {:.1} us x passes/s that find the proxy idle over {:.0} us, both counted in the simulation at each level (least relative squares over the levels, largest error {:.1}%); the line CPU mC = {:.3} + {:.5} x rps for comparison (ordinary fit R2 {:.4}); memory MiB = {:.3} + {:.6} x rps (R2 {:.4})",
            match measured_idle_mc {
                Some(mc) => format!("{mc:.3} (median over runs of each run's lowest sample)"),
                None => format!("{intercept_mc:.3} (the line's intercept: no idle samples)"),
            },
            cpu.pass_us,
            cpu.wake_up_us,
            cpu.after_idle_ns as f64 / 1e3,
            cpu.max_error * 100.0,
            intercept_mc,
            slope_mc_per_rps,
            costs.cpu_fit.r2,
            costs.mem_fit.coefficients.first().copied().unwrap_or(0.0),
            costs.mem_fit.coefficients.get(1).copied().unwrap_or(0.0),
            costs.mem_fit.r2
        ),
    );
    put(
        "placement",
        format!(
            "{placement}: {} instances, {:.2} passes and {:.2} new-connection passes per request (topology {})",
            costs.inputs.instances,
            costs.inputs.passes_per_request,
            costs.inputs.new_connections_per_request,
            inputs.topology.source.display()
        ),
    );
    put(
        "assumption",
        format!("new-connection CPU ({new_conn_us:.0} us) kept from the starting model; one fit cannot separate it from the pass cost"),
    );
    if let Some(old) = doc.get("provenance").and_then(|p| p.get("hardware")).and_then(|h| h.as_str()) {
        put("hardware", old.to_string());
    }
    if !cal.dropped.is_empty() {
        let runs: Vec<String> = cal.dropped.iter().map(|d| d.to_string()).collect();
        put("left_out", format!("fitted without these measurements (--allow-incomplete): {}", runs.join("; ")));
    }
    put("generated_by", format!("meshsim {} calibrate", env!("CARGO_PKG_VERSION")));
    doc.insert("provenance".into(), toml::Value::Table(prov));
    let mut text = format!("# {} cost model, fitted by `meshsim calibrate` to measured data ([provenance] says which).\n", base.name);
    text.push_str(&toml::to_string(&doc).map_err(err)?);
    Ok(FittedModel {
        text,
        pass_us,
        wake_up_us: cpu.wake_up_us,
        wake_up_after_idle_us: cpu.after_idle_ns as f64 / 1e3,
        idle_millicores: idle,
        base_mib,
        per_inflight_kib,
    })
}

/// The CPU terms of one proxy kind fitted to a series.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CpuFit {
    pass_us: f64,
    /// CPU charged to a pass that finds the proxy idle for longer than `after_idle_ns`.
    wake_up_us: f64,
    after_idle_ns: u64,
    /// Largest relative error over the fitted levels.
    max_error: f64,
}

/// What the simulation counted for one proxy kind at one measured level.
struct CpuLevel {
    measured_mc: f64,
    passes_per_s: f64,
    /// Passes per second that found the proxy idle longer than each of `IDLE_THRESHOLDS_NS`.
    idle_starts_per_s: [f64; IDLE_THRESHOLDS_NS.len()],
    /// CPU of the terms not fitted here (new connections, payload), mC.
    other_mc: f64,
}

/// Rounds of simulate-then-fit: the wake-ups counted depend on the CPU of the passes.
const WAKE_UP_ROUNDS: usize = 3;

/// Requests a simulated level holds at least, so that the wake-ups counted at 60 rps are not
/// a few hundred (their count varies by 1/√n).
const MIN_FIT_REQUESTS: f64 = 10_000.0;

/// Fit pass CPU, wake-up CPU and the idle time after which a wake-up is charged to the
/// measured levels `points` (achieved rps, mC): at each level the simulation counts the
/// kind's passes and, for every candidate idle time at once, the passes that find every
/// worker idle that long (what the engine charges a wake-up to: the same traffic, workers
/// and inter-arrival per proxy as the runs that use the model). Then `CPU = idle + pass ·
/// passes/s + wake_up · wake-ups/s + the rest` by non-negative least relative squares per
/// idle time, keeping the best; repeated with the fitted terms, since longer passes shorten
/// the idle gaps. Idle CPU is measured, so it cannot trade off against the wake-ups.
#[allow(clippy::too_many_arguments)]
fn fit_wake_up(
    trial: &mut Inputs,
    placement: Placement,
    kind: ProxyKind,
    points: &[(f64, f64)],
    idle_mc: f64,
    start: CpuFit,
    seed: u64,
    set_cpu: impl Fn(&mut Inputs, &CpuFit),
) -> Result<CpuFit, AppError> {
    use rayon::prelude::*;
    let mut cpu = start;
    for _ in 0..WAKE_UP_ROUNDS {
        set_cpu(trial, &cpu);
        let at = &*trial;
        let levels = points
            .par_iter()
            .map(|&(rate, measured_mc)| simulate_cpu_level(at, placement, kind, rate, measured_mc, &cpu, seed))
            .collect::<Result<Vec<_>, AppError>>()?;
        let next = best_cpu_fit(&levels, idle_mc).unwrap_or(cpu);
        let settled = next.after_idle_ns == cpu.after_idle_ns
            && (next.pass_us - cpu.pass_us).abs() < 0.05
            && (next.wake_up_us - cpu.wake_up_us).abs() < 0.05;
        cpu = next;
        if settled {
            break;
        }
    }
    Ok(cpu)
}

fn simulate_cpu_level(
    trial: &Inputs,
    placement: Placement,
    kind: ProxyKind,
    rate: f64,
    measured_mc: f64,
    cpu: &CpuFit,
    seed: u64,
) -> Result<CpuLevel, AppError> {
    let mut i = trial.clone();
    i.topology.set_total_rate(rate);
    let sim = &mut i.topology.simulation;
    let needed_ns = (MIN_FIT_REQUESTS / rate.max(1.0) * 1e9).ceil() as u64;
    sim.duration_ns = sim.duration_ns.max(sim.warmup_ns.saturating_add(needed_ns));
    let window_ns = (sim.duration_ns - sim.warmup_ns) as f64;
    let r = run_placement(&i, placement, seed, Vec::new(), None)?;
    let charged_idle = IDLE_THRESHOLDS_NS.iter().position(|&t| t == cpu.after_idle_ns);
    let (mut cpu_ns, mut fitted_ns, mut passes) = (0.0, 0.0, 0.0);
    let mut idle_starts = [0.0; IDLE_THRESHOLDS_NS.len()];
    for (s, spec) in r.plan.stations.iter().enumerate() {
        let StationKind::Proxy(x) = spec.kind else { continue };
        if r.deployment.proxies[x].kind != kind {
            continue;
        }
        let st = &r.output.stations[s];
        cpu_ns += st.cpu_ns;
        passes += st.passes as f64;
        let wakes = charged_idle.map(|k| st.idle_starts[k] as f64).unwrap_or(0.0);
        fitted_ns += (st.passes as f64 * cpu.pass_us + wakes * cpu.wake_up_us) * 1e3 * spec.cpu_mult;
        for (sum, &n) in idle_starts.iter_mut().zip(&st.idle_starts) {
            *sum += n as f64;
        }
    }
    let per_s = 1e9 / window_ns;
    Ok(CpuLevel {
        measured_mc,
        passes_per_s: passes * per_s,
        idle_starts_per_s: idle_starts.map(|n| n * per_s),
        other_mc: (cpu_ns - fitted_ns) / window_ns * 1000.0,
    })
}

/// The best non-negative (pass, wake-up) pair over the candidate idle times, by least
/// squares in relative error; `None` when no level can be fitted.
fn best_cpu_fit(levels: &[CpuLevel], idle_mc: f64) -> Option<CpuFit> {
    let mut best: Option<(f64, CpuFit)> = None;
    for (k, &after_idle_ns) in IDLE_THRESHOLDS_NS.iter().enumerate() {
        // Rows in µs of CPU per second (1 mC = 1000 µs/s), scaled by the measured value.
        let rows: Vec<[f64; 3]> = levels
            .iter()
            .filter(|l| l.measured_mc > 0.0)
            .map(|l| {
                let m = l.measured_mc * 1000.0;
                [l.passes_per_s / m, l.idle_starts_per_s[k] / m, (l.measured_mc - idle_mc - l.other_mc) * 1000.0 / m]
            })
            .collect();
        let Some((pass_us, wake_up_us, sse)) = nonnegative_pair(&rows) else { continue };
        if best.as_ref().is_none_or(|(b, _)| sse < *b * (1.0 - 1e-9)) {
            let max_error = rows.iter().map(|r| (r[0] * pass_us + r[1] * wake_up_us - r[2]).abs()).fold(0.0, f64::max);
            best = Some((sse, CpuFit { pass_us, wake_up_us, after_idle_ns, max_error }));
        }
    }
    best.map(|(_, fit)| fit)
}

/// Least squares `x·a + y·b ≈ t` over rows `[a, b, t]` with `x, y ≥ 0`: (x, y, sum of
/// squared residuals). The unconstrained solution if it is non-negative, else the better of
/// the two one-term fits.
fn nonnegative_pair(rows: &[[f64; 3]]) -> Option<(f64, f64, f64)> {
    if rows.is_empty() {
        return None;
    }
    let sum = |f: &dyn Fn(&[f64; 3]) -> f64| rows.iter().map(f).sum::<f64>();
    let (aa, ab, bb, at, bt) =
        (sum(&|r| r[0] * r[0]), sum(&|r| r[0] * r[1]), sum(&|r| r[1] * r[1]), sum(&|r| r[0] * r[2]), sum(&|r| r[1] * r[2]));
    let sse = |x: f64, y: f64| sum(&|r| (r[0] * x + r[1] * y - r[2]).powi(2));
    let mut candidates = Vec::new();
    let det = aa * bb - ab * ab;
    if det > 1e-12 * aa * bb {
        let (x, y) = ((at * bb - bt * ab) / det, (bt * aa - at * ab) / det);
        if x >= 0.0 && y >= 0.0 {
            candidates.push((x, y));
        }
    }
    if aa > 0.0 {
        candidates.push(((at / aa).max(0.0), 0.0));
    }
    if bb > 0.0 {
        candidates.push((0.0, (bt / bb).max(0.0)));
    }
    candidates.into_iter().map(|(x, y)| (x, y, sse(x, y))).min_by(|a, b| a.2.total_cmp(&b.2))
}

fn calibrate_istio(a: &CalibrateArgs, csv: &Path) -> Result<CalibrateReport, AppError> {
    let degree = check_degree(a.degree.unwrap_or(calibration::DEFAULT_ISTIO_DEGREE))?;
    if degree != 1 {
        return Err(AppError::arg(
            "--degree",
            format!("{degree}: the sidecar models fitted to Istio's benchmark need a line (degree 1); leave --degree out"),
        ));
    }
    let cal = if a.allow_incomplete {
        calibration::calibrate_istio_benchmark_incomplete(csv, degree)
    } else {
        calibration::calibrate_istio_benchmark(csv, degree)
    }
    .map_err(|e| bad_data(csv, e))?;
    // Every model is fitted before anything is written: a data set that cannot give one is
    // bad input, found now.
    let csv_name = csv.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut models = Vec::new();
    for mode in crate::validate::istio::bench_telemetry_modes(&cal) {
        let fit = crate::validate::istio::fit_bench_sidecar(&cal, &mode).map_err(|e| input(csv, e))?;
        models.push((crate::validate::istio::bench_model_file_name(&mode), crate::validate::istio::render_bench_model(&fit, &csv_name)));
    }
    let out = a.out.clone().unwrap_or_else(|| Path::new("outputs").join("calibration-istio-benchmark"));
    let staged = StagedDir::create(&out, &Source::of_path("calibrate", csv), a.force)?;
    calibration::write_istio_outputs(&cal, staged.path()).map_err(err)?;
    let mut table = calibration::print_istio_table(&cal);
    table.push_str(&calibration::dropped_note(&cal.dropped));
    // One Envoy sidecar model per telemetry mode, as `meshsim validate` reads them.
    let models_dir = staged.file("models");
    std::fs::create_dir_all(&models_dir).map_err(err)?;
    table.push_str("\nsidecar models written:\n");
    for (name, text) in models {
        std::fs::write(models_dir.join(&name), text).map_err(err)?;
        table.push_str(&format!("  models/{name}\n"));
    }
    let written = staged.commit()?;
    Ok(CalibrateReport { table, out: written })
}

/// The line `a + b·x` minimising the sum of squared relative errors `((a + b·x − y) / y)²`
/// (weighted least squares with weights `1/y²`); `None` with fewer than two usable points.
pub fn relative_line(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let (mut sw, mut swx, mut swy, mut swxx, mut swxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut n = 0;
    for &(x, y) in points {
        if y <= 0.0 || !y.is_finite() || !x.is_finite() {
            continue;
        }
        let w = 1.0 / (y * y);
        sw += w;
        swx += w * x;
        swy += w * y;
        swxx += w * x * x;
        swxy += w * x * y;
        n += 1;
    }
    let det = sw * swxx - swx * swx;
    if n < 2 || det.abs() < f64::EPSILON * sw * swxx {
        return None;
    }
    let b = (sw * swxy - swx * swy) / det;
    let a = (swy - b * swx) / sw;
    Some((a, b))
}

#[cfg(test)]
mod tests {
    use super::{best_cpu_fit, nonnegative_pair, relative_line, CpuLevel, IDLE_THRESHOLDS_NS};
    use approx::assert_relative_eq;

    #[test]
    fn the_pair_fit_is_exact_on_exact_rows_and_never_negative() {
        let rows: Vec<[f64; 3]> = [(1.0, 0.5), (2.0, 0.4), (3.0, 0.1)].iter().map(|&(a, b)| [a, b, 7.0 * a + 3.0 * b]).collect();
        let (x, y, sse) = nonnegative_pair(&rows).unwrap();
        assert_relative_eq!(x, 7.0, max_relative = 1e-9);
        assert_relative_eq!(y, 3.0, max_relative = 1e-9);
        assert!(sse < 1e-18);
        // Targets that call for a negative second term get 0 there, and the best first term.
        let rows: Vec<[f64; 3]> = [(1.0, 1.0), (2.0, 0.5), (3.0, 0.1)].iter().map(|&(a, b)| [a, b, 7.0 * a - 3.0 * b]).collect();
        let (x, y, _) = nonnegative_pair(&rows).unwrap();
        assert!(x > 0.0 && y == 0.0, "{x} {y}");
        assert!(nonnegative_pair(&[]).is_none());
    }

    #[test]
    fn the_cpu_fit_recovers_pass_wake_up_and_idle_time_from_counted_levels() {
        // Passes and idle starts as a simulation would count them: fewer passes find the proxy
        // idle as the rate grows, and fewer the longer the idle time asked for.
        let (idle, pass, wake, k) = (5.0, 200.0, 300.0, 6);
        let levels: Vec<CpuLevel> = [60.0, 120.0, 240.0, 600.0, 1200.0]
            .iter()
            .map(|&rps: &f64| {
                let passes = 6.0 * rps;
                let idle_starts = IDLE_THRESHOLDS_NS.map(|t| passes * (-(passes / 3.0) * t as f64 * 1e-9).exp());
                let other = 0.1 * rps;
                let measured = idle + other + (pass * passes + wake * idle_starts[k]) / 1000.0;
                CpuLevel { measured_mc: measured, passes_per_s: passes, idle_starts_per_s: idle_starts, other_mc: other }
            })
            .collect();
        let fit = best_cpu_fit(&levels, idle).unwrap();
        assert_eq!(fit.after_idle_ns, IDLE_THRESHOLDS_NS[k]);
        assert_relative_eq!(fit.pass_us, pass, max_relative = 1e-6);
        assert_relative_eq!(fit.wake_up_us, wake, max_relative = 1e-6);
        assert!(fit.max_error < 1e-9, "{}", fit.max_error);
    }

    #[test]
    fn relative_line_recovers_an_exact_line() {
        let pts: Vec<(f64, f64)> = [60.0, 120.0, 600.0, 1200.0].iter().map(|&x| (x, 5.0 + 2.0 * x)).collect();
        let (a, b) = relative_line(&pts).unwrap();
        assert_relative_eq!(a, 5.0, max_relative = 1e-9);
        assert_relative_eq!(b, 2.0, max_relative = 1e-9);
    }

    #[test]
    fn relative_line_weighs_small_values_more_than_ordinary_least_squares() {
        // A convex set: the relative fit must pass closer to the smallest point.
        let pts = [(10.0, 10.0), (100.0, 120.0), (1000.0, 1500.0)];
        let (a, b) = relative_line(&pts).unwrap();
        let rel = |(x, y): (f64, f64)| ((a + b * x - y) / y).abs();
        assert!(rel(pts[0]) < 0.1, "{}", rel(pts[0]));
        assert!(relative_line(&[(1.0, 1.0)]).is_none());
    }
}
