//! Entry points: each command wires the layers together (load → place → simulate →
//! summarise → export) and holds no model logic.

pub mod blast;
pub mod calibrate;
pub mod capacity;
pub mod compare;
pub mod results;
pub mod sweep;
pub mod validate;
pub mod variants;

use std::path::{Path, PathBuf};

use crate::input_error::{InputError, InputErrors};
use crate::metrics::{summarize, RunSummary};
use crate::model::CostModels;
use crate::placement::{Deployment, Layout};
use crate::sim::{simulate, Fault, Plan, RunOutput, SimError, SimOptions};
use crate::topology::{self, Topology};
use crate::{limits, units};

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

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Input(_) => 2,
            _ => 1,
        }
    }

    /// An error in a command-line value (not in a file).
    pub fn arg(flag: &str, message: impl Into<String>) -> AppError {
        AppError::Input(InputErrors(vec![InputError { path: PathBuf::from(flag), line: 0, col: 0, message: message.into() }]))
    }
}

/// A topology with its cost models and the text they were read from.
#[derive(Clone, Debug)]
pub struct Inputs {
    pub topology: Topology,
    pub models: CostModels,
    pub topology_text: String,
}

/// Command-line overrides of a topology's settings.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub rate: Option<String>,
    pub duration: Option<String>,
    pub warmup: Option<String>,
    pub seed: Option<u64>,
}

/// Load a topology and every cost model it names, then apply overrides. Overrides go
/// through the same range checks as the file's values.
pub fn load_inputs(path: &Path, o: &Overrides) -> Result<Inputs, AppError> {
    let topology_text = crate::input_file::read_text(path, "topology")?;
    let mut topology = topology::parse(path, &topology_text)?;
    let models = CostModels::load(&topology.mesh.models)?;
    apply_overrides(&mut topology, o)?;
    models.check_work(&topology)?;
    Ok(Inputs { topology, models, topology_text })
}

/// A duration flag within the simulated-time ceiling.
pub fn duration_arg(flag: &str, text: &str) -> Result<u64, AppError> {
    let ns = units::parse_duration_ns(text).map_err(|e| AppError::arg(flag, e))?;
    if ns > limits::MAX_DURATION_NS {
        return Err(AppError::arg(flag, format!("`{text}` is longer than the limit of {}", limits::describe_ns(limits::MAX_DURATION_NS))));
    }
    Ok(ns)
}

/// A total rate flag (`1200` or `1200rps`), within the rate ceiling.
pub fn rate_arg(flag: &str, text: &str) -> Result<f64, AppError> {
    let rps = units::parse_rate_rps(text)
        .or_else(|_| text.trim().parse::<f64>().map_err(|_| format!("`{text}` is not a rate: write it like 1200 or 1200rps")))
        .map_err(|e| AppError::arg(flag, e))?;
    if !(rps > 0.0 && rps.is_finite()) {
        return Err(AppError::arg(flag, format!("{rps} must be more than zero")));
    }
    topology::check_total_rate(rps).map_err(|e| AppError::arg(flag, e))?;
    if rps < limits::MIN_RATE_RPS {
        return Err(AppError::arg(flag, format!("{} is below the lowest rate of {} rps", limits::fmt_number(rps), limits::MIN_RATE_RPS)));
    }
    Ok(rps)
}

fn apply_overrides(topology: &mut Topology, o: &Overrides) -> Result<(), AppError> {
    if let Some(r) = &o.rate {
        let rps = rate_arg("--rps", r)?;
        topology.set_total_rate_checked(rps).map_err(|e| AppError::arg("--rps", e))?;
    }
    if let Some(d) = &o.duration {
        topology.simulation.duration_ns = duration_arg("--duration", d)?;
    }
    if let Some(w) = &o.warmup {
        topology.simulation.warmup_ns = duration_arg("--warmup", w)?;
    } else if o.duration.is_some() && topology.simulation.warmup_ns >= topology.simulation.duration_ns {
        topology.simulation.warmup_ns = topology.simulation.duration_ns / 10;
    }
    if topology.simulation.duration_ns == 0 || topology.simulation.warmup_ns >= topology.simulation.duration_ns {
        return Err(AppError::arg("--duration", "the duration must be longer than the warm-up"));
    }
    if let Some(s) = o.seed {
        topology.simulation.seed = Some(s);
    }
    Ok(())
}

/// Check that every proxy kind a placement deploys has a cost model.
pub fn check_models(inputs: &Inputs, d: &Deployment) -> Result<(), AppError> {
    let mut errors = Vec::new();
    for kind in crate::topology::ProxyKind::ALL {
        if d.proxies.iter().any(|p| p.kind == kind) && inputs.models.get(kind).is_none() {
            let field = match kind {
                crate::topology::ProxyKind::Sidecar => "mesh.sidecar_model",
                crate::topology::ProxyKind::NodeProxy => "mesh.node_proxy_model",
                crate::topology::ProxyKind::Ztunnel => "mesh.ztunnel_model",
                crate::topology::ProxyKind::Waypoint => "mesh.waypoint_model",
            };
            let line = inputs.topology_text.lines().position(|l| l.trim_start().starts_with("[mesh]")).map(|i| i + 1).unwrap_or(0);
            errors.push(InputError {
                path: inputs.topology.source.clone(),
                line,
                col: if line > 0 { 1 } else { 0 },
                message: format!("{field}: placement `{}` deploys {} proxies but [mesh] names no {field}", d.layout, kind.as_str()),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Input(InputErrors(errors)))
    }
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
    let t = &inputs.topology;
    let deployment = Deployment::for_layout(t, placement.into());
    check_models(inputs, &deployment)?;
    let plan = Plan::new(t, &deployment, &inputs.models);
    let mut opts = SimOptions::new(seed);
    opts.faults = faults;
    opts.slo_ns = slo_ns;
    // Wall time is measured out here, around the engine, and only reported on the terminal.
    let started = std::time::Instant::now();
    let output = simulate(&plan, &opts)?;
    let wall_s = started.elapsed().as_secs_f64();
    let summary = summarize(t, &deployment, &inputs.models, &plan, &output);
    Ok(PlacementRun { summary, output, plan, deployment, wall_s })
}

/// Default output folder of a command.
pub fn default_out(t: &Topology, suffix: Option<&str>) -> PathBuf {
    let name = match suffix {
        Some(s) => format!("{}-{s}", t.name),
        None => t.name.clone(),
    };
    Path::new("outputs").join(name)
}
