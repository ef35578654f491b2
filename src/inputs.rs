//! What every command simulates: a topology loaded with the cost models it names, with the
//! command line's overrides applied and checked like the file's own values. A library layer:
//! commands (`app`) and validation (`validate`) both start here.

use std::path::{Path, PathBuf};

use crate::control_plane::ControlPlaneModels;
use crate::input_error::{InputError, InputErrors};
use crate::model::CostModels;
use crate::placement::Deployment;
use crate::topology::{self, Topology};
use crate::{limits, units};

/// An error in a command-line value (not in a file): reported against the flag.
pub fn arg_error(flag: &str, message: impl Into<String>) -> InputErrors {
    InputErrors(vec![InputError { path: PathBuf::from(flag), line: 0, col: 0, message: message.into() }])
}

/// A topology with its cost models and the text they were read from.
#[derive(Clone, Debug)]
pub struct Inputs {
    pub topology: Topology,
    pub models: CostModels,
    /// The control-plane component models of the topology's profile (none without one).
    pub control_plane: ControlPlaneModels,
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
pub fn load_inputs(path: &Path, o: &Overrides) -> Result<Inputs, InputErrors> {
    let topology_text = crate::input_file::read_text(path, "topology")?;
    let mut topology = topology::parse(path, &topology_text)?;
    let models = CostModels::load(&topology.mesh.models)?;
    let control_plane = ControlPlaneModels::load(topology.mesh.profile.as_ref())?;
    apply_overrides(&mut topology, o)?;
    models.check_work(&topology)?;
    Ok(Inputs { topology, models, control_plane, topology_text })
}

/// A duration flag within the simulated-time ceiling.
pub fn duration_arg(flag: &str, text: &str) -> Result<u64, InputErrors> {
    let ns = units::parse_duration_ns(text).map_err(|e| arg_error(flag, e))?;
    if ns > limits::MAX_DURATION_NS {
        return Err(arg_error(flag, format!("`{text}` is longer than the limit of {}", limits::describe_ns(limits::MAX_DURATION_NS))));
    }
    Ok(ns)
}

/// A total rate flag (`1200` or `1200rps`), within the rate ceiling.
pub fn rate_arg(flag: &str, text: &str) -> Result<f64, InputErrors> {
    let rps = units::parse_rate_rps(text)
        .or_else(|_| text.trim().parse::<f64>().map_err(|_| format!("`{text}` is not a rate: write it like 1200 or 1200rps")))
        .map_err(|e| arg_error(flag, e))?;
    if !(rps > 0.0 && rps.is_finite()) {
        return Err(arg_error(flag, format!("{rps} must be more than zero")));
    }
    topology::check_total_rate(rps).map_err(|e| arg_error(flag, e))?;
    if rps < limits::MIN_RATE_RPS {
        return Err(arg_error(flag, format!("{} is below the lowest rate of {} rps", limits::fmt_number(rps), limits::MIN_RATE_RPS)));
    }
    Ok(rps)
}

fn apply_overrides(topology: &mut Topology, o: &Overrides) -> Result<(), InputErrors> {
    if let Some(r) = &o.rate {
        let rps = rate_arg("--rps", r)?;
        topology.set_total_rate_checked(rps).map_err(|e| arg_error("--rps", e))?;
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
        return Err(arg_error("--duration", "the duration must be longer than the warm-up"));
    }
    if let Some(s) = o.seed {
        topology.simulation.seed = Some(s);
    }
    Ok(())
}

/// Check that every proxy kind a placement deploys has a cost model.
pub fn check_models(inputs: &Inputs, d: &Deployment) -> Result<(), InputErrors> {
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
                message: match &inputs.topology.mesh.profile {
                    Some(p) => format!(
                        "{field}: placement `{}` deploys {} proxies but profile `{}` has no {} model ({}) and [mesh] names no {field}: name one, or leave the placement out (--placements)",
                        d.layout,
                        kind.as_str(),
                        p.name,
                        kind.as_str(),
                        if p.models.is_empty() { "it covers none".to_string() } else { format!("it covers {}", p.models.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")) }
                    ),
                    None => format!("{field}: placement `{}` deploys {} proxies but [mesh] names no {field}", d.layout, kind.as_str()),
                },
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(InputErrors(errors))
    }
}
