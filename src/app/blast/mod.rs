//! `meshsim blast`: for every placement, the static blast radius of every component, then
//! dynamic runs that fail or squeeze one component at a time; written to
//! `outputs/<name>-blast/` (`blast.csv`, `blast-static.csv`, `blast-spread.csv`, `blast.md`,
//! `timeline.csv`, charts, `run.json`, `results.json`, `report.html`).

pub mod section;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{check_models, load_inputs, resolve_seed, AppError, Inputs, Overrides};
use crate::blast::outage::control_plane_outage;
use crate::blast::reschedule::reschedule;
use crate::blast::scenario::{scenarios, Settings};
use crate::blast::static_analysis::{clusters, zones};
use crate::blast::{outcome, BaselineShares, Component, PlacementResult, ScenarioKind, ScenarioResult, StaticAnalysis};
use crate::churn::{ChurnSetup, ChurnSummary};
use crate::control_plane::ControlPlane;
use crate::metrics::summarize;
use crate::placement::{Deployment, Placement};
use crate::report::blast_out;
use crate::report::outdir::{Source, StagedDir};
use crate::sim::{simulate, Fault, Plan, SimOptions};
use crate::topology::Topology;
use crate::{limits, units};

/// Flags of `meshsim blast` that override the topology's `[blast]` table and its calls.
#[derive(Clone, Debug, Default)]
pub struct BlastFlags {
    pub slo_p99: Option<String>,
    pub fail_at: Option<String>,
    pub outage: Option<String>,
    pub node_reschedule: Option<String>,
    pub cpu_limit: Option<String>,
    pub memory_limit: Option<String>,
    pub noisy_tenant: Option<String>,
    /// Retries on every call and load of the run (each to the next replica).
    pub retries: Option<u32>,
    /// Per-try timeout on every call and load of the run.
    pub timeout: Option<String>,
    /// Show progress on stderr (only when it is a terminal).
    pub progress: bool,
}

/// What `meshsim blast` produced.
pub struct BlastReport {
    pub inputs: Inputs,
    pub seed: u64,
    pub seed_was_picked: bool,
    pub settings: Settings,
    pub results: Vec<PlacementResult>,
}

fn duration_flag(flag: &str, v: &Option<String>) -> Result<Option<u64>, AppError> {
    v.as_ref().map(|s| super::duration_arg(flag, s)).transpose()
}

/// Apply the flags to the loaded inputs.
pub fn apply_flags(inputs: &mut Inputs, f: &BlastFlags) -> Result<(), AppError> {
    let t = &mut inputs.topology;
    let b = &mut t.blast;
    let positive = |flag: &str, v: &Option<String>| -> Result<Option<u64>, AppError> {
        match duration_flag(flag, v)? {
            Some(0) => Err(AppError::arg(flag, "must be more than zero")),
            x => Ok(x),
        }
    };
    if let Some(x) = positive("--slo-p99", &f.slo_p99)? {
        b.slo_p99_ns = x;
    }
    if let Some(x) = duration_flag("--fail-at", &f.fail_at)? {
        b.fail_at_ns = x;
    }
    if let Some(x) = positive("--outage", &f.outage)? {
        b.outage_ns = x;
    }
    if let Some(x) = positive("--node-reschedule", &f.node_reschedule)? {
        b.node_reschedule_ns = Some(x);
    }
    if let Some(c) = &f.cpu_limit {
        let m = units::parse_millicores(c).map_err(|e| AppError::arg("--cpu-limit", e))?;
        if !(limits::MIN_CPU_LIMIT_MILLICORES..=limits::MAX_MILLICORES).contains(&m) {
            return Err(AppError::arg(
                "--cpu-limit",
                format!("must be between {}m and {} cores", limits::MIN_CPU_LIMIT_MILLICORES, limits::MAX_MILLICORES / 1000.0),
            ));
        }
        b.cpu_limit_millicores = m;
    }
    if let Some(m) = &f.memory_limit {
        let x = units::parse_bytes(m).map_err(|e| AppError::arg("--memory-limit", e))?;
        if x == 0 || x > limits::MAX_MEMORY_BYTES {
            return Err(AppError::arg(
                "--memory-limit",
                format!("must be more than zero and at most {}", units::format_bytes(limits::MAX_MEMORY_BYTES)),
            ));
        }
        b.memory_limit_bytes = Some(x);
    }
    if let Some(n) = &f.noisy_tenant {
        let x = units::parse_bits_per_s(n).map_err(|e| AppError::arg("--noisy-tenant", e))?;
        if !(0.0..=limits::MAX_BITS_PER_S).contains(&x) {
            return Err(AppError::arg("--noisy-tenant", "must be between 0 and 1000Gbps"));
        }
        b.noisy_tenant_bits_per_s = x;
    }
    if b.fail_at_ns >= t.simulation.duration_ns {
        return Err(AppError::arg(
            "--fail-at",
            format!(
                "the failure at {} must be earlier than the end of the run ({}): lower --fail-at or raise --duration",
                units::format_duration_ns(b.fail_at_ns),
                units::format_duration_ns(t.simulation.duration_ns)
            ),
        ));
    }
    let timeout = duration_flag("--timeout", &f.timeout)?;
    if timeout.is_some_and(|t| t < limits::MIN_TIMEOUT_NS) {
        return Err(AppError::arg("--timeout", format!("must be at least {}", limits::describe_ns(limits::MIN_TIMEOUT_NS))));
    }
    if f.retries.is_some_and(|r| i64::from(r) > limits::MAX_RETRIES) {
        return Err(AppError::arg("--retries", format!("must be at most {}", limits::MAX_RETRIES)));
    }
    for c in &mut t.calls {
        if let Some(r) = f.retries {
            c.retries = r;
            c.retries_written = true;
        }
        if timeout.is_some() {
            c.timeout_ns = timeout;
        }
    }
    for l in &mut t.loads {
        if let Some(r) = f.retries {
            l.retries = r;
            l.retries_written = true;
        }
        if timeout.is_some() {
            l.timeout_ns = timeout;
        }
    }
    Ok(())
}

/// Analyse and run every scenario of one placement.
pub fn blast_placement(inputs: &Inputs, placement: Placement, settings: &Settings) -> Result<PlacementResult, AppError> {
    blast_placement_with(inputs, placement, settings, &indicatif::ProgressBar::hidden())
}

/// [`blast_placement`], counting finished runs on `progress`.
fn blast_placement_with(
    inputs: &Inputs,
    placement: Placement,
    settings: &Settings,
    progress: &indicatif::ProgressBar,
) -> Result<PlacementResult, AppError> {
    let d = Deployment::new(&inputs.topology, placement, inputs.models.scopes());
    check_models(inputs, &d)?;
    let (resolved, connect_timeout_ns, resilience) = crate::mesh_defaults::mesh_defaults(&inputs.topology, &d, &inputs.models);
    let t = &resolved;
    let (budgets, budget_note) = crate::mesh_defaults::retry_budgets(t, &d, &inputs.models, settings.blast.retry_budget);
    let resilience = format!("{resilience}; {budget_note}");
    let compile = |t: &crate::topology::Topology, d: &Deployment| {
        let mut plan = Plan::new(t, d, &inputs.models);
        for (e, b) in plan.edges.iter_mut().zip(&budgets) {
            e.retry_budget = *b;
        }
        plan
    };
    let plan = compile(t, &d);
    let analysis = StaticAnalysis::new(t, &d);
    // The control plane's steady work shares its nodes' cores in every run, as in `run`; the
    // topology's churn happens in every run too.
    let control_plane = ControlPlane::for_deployment(t, &d, &inputs.models, &inputs.control_plane);
    let periodic = control_plane.periodic_work(t);
    let churn_of = |t: &Topology, d: &Deployment, plan: &Plan| {
        crate::churn::compile(t, d, &inputs.models, &inputs.control_plane, &control_plane, plan.containers.len() as u32)
    };
    let opts = |faults: Vec<Fault>, background, churn: Option<&ChurnSetup>| {
        let mut o = SimOptions::new(settings.seed);
        o.faults = faults;
        if let Some(c) = churn {
            c.add_to(&mut o);
        }
        o.periodic = periodic.clone();
        o.background = background;
        o.slo_ns = Some(settings.blast.slo_p99_ns);
        o.connect_timeout_ns = connect_timeout_ns.clone();
        o
    };
    let base_churn = churn_of(t, &d, &plan);
    let base_out = simulate(&plan, &opts(Vec::new(), Vec::new(), base_churn.as_ref()))?;
    let memory_bytes: Vec<f64> =
        summarize(t, &d, &inputs.models, &plan, &base_out).proxies.iter().map(|p| p.mem_mib * 1024.0 * 1024.0).collect();
    let warmup = t.simulation.warmup_ns;
    let base = outcome(&base_out, (0, 0), warmup, BaselineShares::default());
    let base_shares = BaselineShares { failed_share: base.failed_share_run, slo_missed_share: base.slo_missed_share_run };
    let mut list = scenarios(t, &d, &inputs.models, &analysis, settings, &memory_bytes);
    let outage = control_plane_outage(t, &d, &control_plane, &inputs.control_plane, &settings.blast);
    if let Some(o) = &outage {
        list.push(o.scenario.clone());
    }
    progress.inc_length(list.len() as u64);
    let runs: Vec<ScenarioResult> = list
        .into_par_iter()
        .map(|mut sc| {
            // A node, zone or cluster failure: Kubernetes marks the nodes NotReady, evicts
            // their pods and reschedules them where there is room.
            let place = sc.kind == ScenarioKind::Crash
                && matches!(sc.target, Some(Component::Node(_) | Component::Zone(_) | Component::Cluster(_)));
            let mut rescheduled = None;
            let mut own_plan = None;
            if let (true, Some(c)) = (place, sc.target) {
                let (zones, clusters) = (zones(t), clusters(t));
                let failed: Vec<bool> = (0..t.nodes.len()).map(|n| c.holds_node(t, &zones, &clusters, n)).collect();
                let down_ns = sc.window_ns.1.saturating_sub(sc.window_ns.0);
                let r = reschedule(t, &d, &inputs.models, &memory_bytes, &failed, &settings.blast, down_ns);
                if r.topology.pods.len() != t.pods.len() || r.deployment.proxies.len() != d.proxies.len() {
                    own_plan = Some((compile(&r.topology, &r.deployment), r.topology.clone(), r.deployment.clone()));
                }
                sc.faults = r.faults;
                sc.note = r.note;
                rescheduled = Some((r.rescheduled, r.unscheduled.len() as u32));
            }
            let run_plan = own_plan.as_ref().map_or(&plan, |o| &o.0);
            let is_outage = sc.kind == ScenarioKind::ControlPlaneOutage;
            // The outage's topology and a rescheduled one have churn of their own.
            let own_churn = match (&outage, own_plan.as_ref()) {
                (Some(planned), _) if is_outage => Some(churn_of(&planned.topology, &d, &plan)),
                (_, Some((p, rt, rd))) => Some(churn_of(rt, rd, p)),
                _ => None,
            };
            let run_churn = own_churn.as_ref().unwrap_or(&base_churn);
            let out = if sc.faults.is_empty() && sc.background.is_empty() && !is_outage {
                base_out.clone()
            } else {
                simulate(run_plan, &opts(sc.faults.clone(), sc.background.clone(), run_churn.as_ref()))?
            };
            if let (true, Some(planned)) = (is_outage, &outage) {
                let back_ns = settings.blast.fail_at_ns.saturating_add(settings.blast.outage_ns);
                // Back after the run's end: what the drain did then is no recovery to report.
                let recovery = match (run_churn, &out.churn) {
                    _ if back_ns > t.simulation.duration_ns => None,
                    (Some(setup), Some(stats)) => {
                        ChurnSummary::of(stats, &out, setup, t.simulation.duration_ns).recovery_ms.into_iter().reduce(f64::max)
                    }
                    _ => None,
                };
                let held = crate::blast::outage::pods_held(&planned.topology, sc.window_ns.0, back_ns);
                let left_out = run_churn.as_ref().map_or(&[][..], |c| &c.left_out[..]);
                sc.note = crate::blast::outage::note(&planned.certificates, &inputs.control_plane, recovery, held, left_out);
            }
            let window_ns = t.simulation.duration_ns.saturating_sub(warmup).max(1) as f64;
            let data_plane_cpu_millicores =
                (out.stations[run_plan.proxy_station_offset..].iter().map(|x| x.cpu_ns).sum::<f64>() / window_ns * 1000.0).max(0.0);
            progress.inc(1);
            let mut o = outcome(&out, sc.window_ns, warmup, base_shares);
            if sc.kind == ScenarioKind::Upgrade {
                // A rollout takes instance after instance down: a healthy second between two
                // of them is not the mesh routing around a failure.
                o.time_to_route_around_s = None;
            }
            Ok(ScenarioResult {
                outcome: o,
                scenario: sc,
                sent: out.sent,
                succeeded: out.succeeded,
                failed: out.failed,
                in_flight: out.in_flight,
                rescheduled,
                retries: out.retries,
                retries_over_budget: out.retries_over_budget,
                data_plane_cpu_millicores,
            })
        })
        .collect::<Result<_, AppError>>()?;
    Ok(PlacementResult { placement, analysis, runs, resilience })
}

/// Load, apply flags, and blast every placement.
pub fn blast(path: &Path, placements: &[Placement], o: &Overrides, flags: &BlastFlags) -> Result<BlastReport, AppError> {
    let mut inputs = load_inputs(path, o)?;
    apply_flags(&mut inputs, flags)?;
    let (seed, picked) = resolve_seed(&inputs.topology);
    let settings = Settings { blast: inputs.topology.blast.clone(), seed };
    let progress = crate::report::progress::bar(flags.progress, "runs");
    let results = placements.iter().map(|&p| blast_placement_with(&inputs, p, &settings, &progress)).collect::<Result<_, _>>()?;
    progress.finish_and_clear();
    Ok(BlastReport { inputs, seed, seed_was_picked: picked, settings, results })
}

/// Write a blast report into `out` (whole or not at all), with the default report options.
pub fn write(r: &BlastReport, out: &Path, force: bool) -> Result<PathBuf, AppError> {
    write_with(r, out, force, &super::results::ReportOptions::default())
}

/// Write a blast report into `out` (whole or not at all).
pub fn write_with(r: &BlastReport, out: &Path, force: bool, o: &super::results::ReportOptions) -> Result<PathBuf, AppError> {
    let io = |e: std::io::Error| AppError::Output(format!("{}: {e}", out.display()));
    let staged = StagedDir::create(out, &Source::of_path("blast", &r.inputs.topology.source), force)?;
    let t = &r.inputs.topology;
    blast_out::write_all(&staged, t, &r.settings, &r.results, o.charts).map_err(AppError::Output)?;
    let charts = blast_out::charts(t, &r.settings, &r.results, o.charts);
    crate::report::html::write(staged.path(), &section::blast(r), &charts).map_err(AppError::Output)?;
    let placements: Vec<crate::placement::Layout> = r.results.iter().map(|p| p.placement.into()).collect();
    let record = super::run_record(&r.inputs, r.seed, &placements, "blast")?;
    std::fs::write(staged.file("run.json"), record).map_err(io)?;
    Ok(staged.commit()?)
}
