//! Entry points: each command wires the layers together (load → place → simulate →
//! summarise → export) and holds no model logic.

pub mod blast;
pub mod calibrate;
pub mod capacity;
pub mod compare;
pub mod import;
pub mod results;
pub mod sweep;
pub mod validate;

use std::path::{Path, PathBuf};

use crate::input_error::InputErrors;
use crate::metrics::summarize;
use crate::metrics::RunSummary;
use crate::placement::{Deployment, Layout};
use crate::sim::{simulate, Fault, Plan, RunOutput, SimError, SimOptions};
use crate::topology::Topology;

/// Why a command failed; the binary maps it to an exit code (2 for bad input).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Input(#[from] InputErrors),
    #[error("{0}")]
    Sim(#[from] SimError),
    #[error("{0}")]
    Output(String),
}

impl From<crate::report::outdir::OutputError> for AppError {
    fn from(e: crate::report::outdir::OutputError) -> AppError {
        match e {
            crate::report::outdir::OutputError::Refused(m) => AppError::arg("--out", m),
            crate::report::outdir::OutputError::Io(m) => AppError::Output(m),
        }
    }
}

/// A validation failure as an exit code: bad inputs (topology, models, measurements) are 2.
impl From<crate::validate::istio::ValidateError> for AppError {
    fn from(e: crate::validate::istio::ValidateError) -> AppError {
        use crate::validate::istio::ValidateError as V;
        match e {
            V::Model(e) => AppError::Input(e),
            V::Sim(e) => AppError::Sim(e),
            e @ (V::Calibration(_) | V::Invalid(_)) => AppError::arg("validate", e.to_string()),
            e @ V::Output { .. } => AppError::Output(e.to_string()),
        }
    }
}

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Input(_) => 2,
            _ => 1,
        }
    }

    /// An error in a command-line value (not in a file).
    pub fn arg(flag: &str, message: impl Into<String>) -> AppError {
        AppError::Input(crate::inputs::arg_error(flag, message))
    }
}

pub use crate::inputs::{Inputs, Overrides};

/// Load a topology and every cost model it names, then apply overrides ([`crate::inputs::load_inputs`]).
pub fn load_inputs(path: &Path, o: &Overrides) -> Result<Inputs, AppError> {
    Ok(crate::inputs::load_inputs(path, o)?)
}

/// A duration flag within the simulated-time ceiling.
pub fn duration_arg(flag: &str, text: &str) -> Result<u64, AppError> {
    Ok(crate::inputs::duration_arg(flag, text)?)
}

/// A total rate flag (`1200` or `1200rps`), within the rate ceiling.
pub fn rate_arg(flag: &str, text: &str) -> Result<f64, AppError> {
    Ok(crate::inputs::rate_arg(flag, text)?)
}

/// Check that every proxy kind a placement deploys has a cost model.
pub fn check_models(inputs: &Inputs, d: &Deployment) -> Result<(), AppError> {
    Ok(crate::inputs::check_models(inputs, d)?)
}

/// The seed of a run: the one given, or one picked now and reported.
pub fn resolve_seed(t: &Topology) -> (u64, bool) {
    match t.simulation.seed {
        Some(s) => (s, false),
        None => {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(std::process::id() as u64);
            (h.finish() % 1_000_000_000, true)
        }
    }
}

/// One simulated placement: its summary, raw output, and wall time of the engine.
pub struct PlacementRun {
    pub summary: RunSummary,
    pub output: RunOutput,
    pub plan: Plan,
    pub deployment: Deployment,
    /// The control plane the deployment runs, with its steady figures and nodes.
    pub control_plane: crate::control_plane::ControlPlane,
    pub wall_s: f64,
}

impl PlacementRun {
    pub fn events_per_s(&self) -> f64 {
        if self.wall_s > 0.0 {
            self.output.events as f64 / self.wall_s
        } else {
            0.0
        }
    }
}

/// Place, simulate and summarise one placement (or a mixed mesh as written).
pub fn run_placement(
    inputs: &Inputs,
    placement: impl Into<Layout>,
    seed: u64,
    faults: Vec<Fault>,
    slo_ns: Option<u64>,
) -> Result<PlacementRun, AppError> {
    let deployment = Deployment::for_layout(&inputs.topology, placement.into(), inputs.models.scopes());
    check_models(inputs, &deployment)?;
    // Under churn a stale endpoint's failure is retried as the mesh ships its retries.
    let (resolved, connect_timeout_ns, resilience) = if inputs.topology.churn.is_empty() {
        (None, Vec::new(), String::new())
    } else {
        let (r, ct, line) = crate::mesh_defaults::mesh_defaults(&inputs.topology, &deployment, &inputs.models);
        (Some(r), ct, line)
    };
    let t = resolved.as_ref().unwrap_or(&inputs.topology);
    let mut plan = Plan::new(t, &deployment, &inputs.models);
    let mut resilience = resilience;
    if resolved.is_some() {
        let (budgets, note) = crate::mesh_defaults::retry_budgets(t, &deployment, &inputs.models, t.blast.retry_budget);
        for (e, b) in plan.edges.iter_mut().zip(&budgets) {
            e.retry_budget = *b;
        }
        resilience = format!("{resilience}; {note}");
    }
    let control_plane = crate::control_plane::ControlPlane::for_deployment(t, &deployment, &inputs.models, &inputs.control_plane);
    let mut opts = SimOptions::new(seed);
    opts.periodic = control_plane.periodic_work(t);
    opts.faults = faults;
    opts.connect_timeout_ns = connect_timeout_ns;
    let churn = crate::churn::compile(t, &deployment, &inputs.models, &inputs.control_plane, &control_plane, plan.containers.len() as u32);
    if let Some(c) = &churn {
        c.add_to(&mut opts);
    }
    opts.slo_ns = slo_ns;
    // Wall time is measured out here, around the engine, and only reported on the terminal.
    let started = std::time::Instant::now();
    let output = simulate(&plan, &opts)?;
    let wall_s = started.elapsed().as_secs_f64();
    let mut summary = summarize(t, &deployment, &inputs.models, &plan, &output);
    if !control_plane.components.is_empty() {
        let received = summary.containers.iter().filter(|c| c.kind == "control-plane").map(|c| c.cpu_millicores).sum::<f64>();
        summary.summary.cp_cpu_millicores = Some(received);
        summary.summary.cp_mem_mib = Some(control_plane.mem_bytes() / (1024.0 * 1024.0));
    }
    summary.summary.control_plane = control_plane.components.clone();
    summary.summary.cp_unmodelled = control_plane.unmodelled_kinds.clone();
    if let (Some(setup), Some(stats)) = (&churn, &output.churn) {
        let mut c = crate::churn::ChurnSummary::of(stats, &output, setup, t.simulation.duration_ns);
        c.resilience = resilience;
        summary.summary.churn = Some(c);
    }
    Ok(PlacementRun { summary, output, plan, deployment, control_plane, wall_s })
}

/// Default output folder of a command.
pub fn default_out(t: &Topology, suffix: Option<&str>) -> PathBuf {
    let name = match suffix {
        Some(s) => format!("{}-{s}", t.name),
        None => t.name.clone(),
    };
    Path::new("outputs").join(name)
}

/// Charts keyed by position, for pages that place them in order.
pub(crate) fn keyed(charts: Vec<crate::report::plot::Chart>) -> Vec<(String, crate::report::plot::Chart)> {
    charts.into_iter().enumerate().map(|(i, c)| (format!("chart-{i}"), c)).collect()
}

/// `run.json`: everything needed to repeat the run: version, seed, the resolved settings (with
/// the placement each namespace used in each row) and the exact text of the topology and cost
/// model files.
pub fn run_record(inputs: &Inputs, seed: u64, placements: &[Layout], command: &str) -> Result<String, AppError> {
    let t = &inputs.topology;
    let models: Vec<serde_json::Value> = inputs
        .models
        .by_kind
        .iter()
        .map(|(k, m)| {
            serde_json::json!({
                "kind": k.as_str(),
                "name": m.name,
                "path": m.source.display().to_string(),
                "text": std::fs::read_to_string(&m.source).unwrap_or_default(),
            })
        })
        .collect();
    // Row label → namespace → placement.
    let namespace_record: serde_json::Map<String, serde_json::Value> = placements
        .iter()
        .map(|&l| {
            let per: serde_json::Map<String, serde_json::Value> =
                t.namespaces.iter().zip(l.namespace_placements(t)).map(|(n, p)| (n.name.clone(), p.as_str().into())).collect();
            (l.as_str().to_string(), per.into())
        })
        .collect();
    let v = serde_json::json!({
        "meshsim_version": env!("CARGO_PKG_VERSION"),
        "command": command,
        "topology": {
            "name": t.name,
            "path": t.source.display().to_string(),
            "text": inputs.topology_text,
        },
        "resolved": {
            "seed": seed,
            "duration_ns": t.simulation.duration_ns,
            "warmup_ns": t.simulation.warmup_ns,
            "total_rate_rps": crate::report::number::json("total_rate_rps", t.total_rate_rps()).map_err(|e| AppError::Output(format!("run.json: {e}")))?,
            "placements": placements.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            "namespace_placements": namespace_record,
            "pods": t.pods.iter().map(|p| serde_json::json!({"pod": p.name, "node": t.nodes[p.node].name})).collect::<Vec<_>>(),
        },
        "profile": t.mesh.profile.as_ref().map(|p| p.name.clone()),
        "model_sources": results::model_sources(&inputs.models).into_iter().map(|(s, _)| s).collect::<Vec<_>>(),
        "models": models,
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    Ok(s)
}
