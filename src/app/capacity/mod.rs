//! `meshsim capacity`: for each placement, the highest total request rate that meets a p99
//! SLO (bisection over simulated runs), the data-plane and total CPU and memory to request
//! there, and the nodes of the topology's node type that hold it (bin-packing the pods'
//! requests, see [`crate::packing`]); with `--rate`, the same figures at a given rate, and
//! with `--autoscale`, at that rate after scaling replicas as a HorizontalPodAutoscaler
//! would. Writes `capacity.csv` (and `capacity-at-rate.csv`).

pub mod section;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{load_inputs, resolve_seed, run_placement, AppError, Inputs, Overrides};
use crate::capacity::{max_rate, MaxRate, NodeType, Search};
use crate::metrics::{PlacementSummary, RunSummary};
use crate::packing::{hpa_replicas, pack, NodeShape, PodRequest};
use crate::placement::Placement;
use crate::report::outdir::{Source, StagedDir};
use crate::report::table::{num, render};
use crate::topology::ProxyKind;

/// What to plan for.
#[derive(Clone, Debug)]
pub struct CapacityOptions {
    pub slo_p99_ns: u64,
    /// Highest share of failed requests a rate may have and still meet the SLO.
    pub max_error_rate: f64,
    /// Share of each node kept free.
    pub headroom: f64,
    /// Ceiling of the search, rps (default: 64 times the topology's rate).
    pub max_rps: Option<f64>,
    /// Also report the nodes needed at this rate.
    pub rate_rps: Option<f64>,
    /// With `rate_rps`: scale each service's replicas to keep its pods' CPU utilisation
    /// (used over requested CPU) at this share, as a HorizontalPodAutoscaler would.
    pub autoscale_target: Option<f64>,
    pub placements: Vec<Placement>,
    /// Show progress on stderr (only when it is a terminal).
    pub progress: bool,
}

/// Resources at one rate for one placement.
#[derive(Clone, Debug)]
pub struct Sizing {
    pub rate_rps: f64,
    pub summary: PlacementSummary,
    pub meets_slo: bool,
    pub app_cpu_request_millicores: f64,
    pub app_mem_request_mib: f64,
    pub total_cpu_millicores: f64,
    pub total_mem_mib: f64,
    /// Nodes that carry the load: the larger of the packings by requests and by use
    /// (`None`: a pod fits on no node).
    pub nodes: Option<u32>,
    /// Nodes the packing of every pod's requests needs, as the scheduler places them.
    pub nodes_by_requests: Option<u32>,
    /// Which packing bound `nodes`.
    pub nodes_bound: Option<NodesBound>,
    /// What to know about the node count: why there is none, or that autoscaling had not
    /// settled.
    pub nodes_note: Option<String>,
    /// Replicas of each service in this run, in the file's order.
    pub replicas: Vec<(String, u32)>,
    /// Rounds of autoscaling that led to these replicas (0: the file's replicas).
    pub autoscale_rounds: u32,
}

/// One placement's answer.
#[derive(Clone, Debug)]
pub struct PlacementCapacity {
    pub placement: Placement,
    pub search: MaxRate,
    /// Sizing at the highest rate that met the SLO (none met: `None`).
    pub at_max: Option<Sizing>,
    pub at_rate: Option<Sizing>,
    /// Every rate probed by the search, in order.
    pub probed: Vec<Sizing>,
}

pub struct CapacityReport {
    pub inputs: Inputs,
    pub seed: u64,
    pub seed_was_picked: bool,
    pub node: NodeType,
    pub options: CapacityOptions,
    pub rows: Vec<PlacementCapacity>,
}

/// Plan capacity for a topology.
pub fn capacity(path: &Path, overrides: &Overrides, o: &CapacityOptions) -> Result<CapacityReport, AppError> {
    let mut ov = overrides.clone();
    // A shorter run than the topology's by default: capacity simulates many rates.
    if ov.duration.is_none() {
        ov.duration = Some("10s".into());
        if ov.warmup.is_none() {
            ov.warmup = Some("2s".into());
        }
    }
    let inputs = load_inputs(path, &ov)?;
    if let Some(l) = inputs.topology.loads.iter().find(|l| l.closed.is_some()) {
        // The search varies the offered rate; a closed loop's rate comes out of the simulation.
        return Err(input_error(
            &inputs,
            first_load_line(&inputs),
            format!(
                "load: the load to `{}` is closed-loop (`connections`): capacity searches over an offered rate, so it needs open-loop loads (`rate`); sweep `connections` instead (meshsim sweep)",
                inputs.topology.services[l.to].name
            ),
        ));
    }
    if inputs.topology.total_rate_rps() <= 0.0 {
        // The search starts from the file's rate and splits every probed rate in its loads' proportions.
        return Err(input_error(
            &inputs,
            first_load_line(&inputs),
            "load: the loads add up to 0 rps: capacity searches from the topology's rate, split over its loads in their proportions; give the loads their rates".into(),
        ));
    }
    let (seed, picked) = resolve_seed(&inputs.topology);
    let first = &inputs.topology.nodes[0];
    // Nodes of a `count = N` entry are named `<name>-1` …; the type is `<name>`.
    let type_name = match first.name.rsplit_once('-') {
        Some((stem, n)) if n.parse::<u32>().is_ok() => stem.to_string(),
        _ => first.name.clone(),
    };
    let node =
        NodeType { name: type_name, vcpu: first.vcpu, memory_mib: first.memory_bytes as f64 / (1024.0 * 1024.0), max_pods: first.max_pods };
    let start = inputs.topology.total_rate_rps();
    let search =
        // The default ceiling stays within the rate limit every probe is held to.
        Search {
            start_rps: start,
            tolerance: 0.01,
            max_rps: o.max_rps.unwrap_or((start * 64.0).min(crate::limits::MAX_RATE_RPS)),
            min_rps: (start / 1024.0).max(0.1),
        };
    let progress = crate::report::progress::counter(o.progress, "rates probed");
    let rows = o
        .placements
        .par_iter()
        .map(|&p| {
            let mut best: Option<Sizing> = None;
            let mut probed = Vec::new();
            let result = max_rate(search, |rate| {
                let s = size(&inputs, p, rate, seed, o, &node)?;
                let ok = s.meets_slo;
                progress.inc(1);
                probed.push(s.clone());
                if ok && best.as_ref().is_none_or(|b| b.rate_rps < rate) {
                    best = Some(s);
                }
                Ok::<_, AppError>(ok)
            })?;
            let at_rate = match (o.rate_rps, o.autoscale_target) {
                (Some(r), Some(target)) => Some(autoscaled(&inputs, p, r, seed, o, &node, target)?),
                (Some(r), None) => Some(size(&inputs, p, r, seed, o, &node)?),
                (None, _) => None,
            };
            Ok(PlacementCapacity { placement: p, search: result, at_max: best, at_rate, probed })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    progress.finish_and_clear();
    Ok(CapacityReport { inputs, seed, seed_was_picked: picked, node, options: o.clone(), rows })
}

/// Most rounds of simulate-then-scale an autoscaled sizing runs before it packs what it has.
pub const MAX_AUTOSCALE_ROUNDS: u32 = 5;

/// Most replicas autoscaling gives a service, as a multiple of the file's replicas (an HPA's
/// `maxReplicas`); never more than the topology limit of replicas.
pub const MAX_AUTOSCALE_FACTOR: u32 = 10;

/// The line of the file's first `[[load]]` table (0 when there is none to point at).
fn first_load_line(inputs: &Inputs) -> usize {
    inputs.topology_text.lines().position(|x| x.trim_start().starts_with("[[load]]")).map_or(0, |i| i + 1)
}

/// A problem with the topology, placed at `line` of its file (0: the file as a whole).
fn input_error(inputs: &Inputs, line: usize, message: String) -> AppError {
    let e = crate::input_error::InputError { path: inputs.topology.source.clone(), line, col: usize::from(line > 0), message };
    AppError::Input(crate::input_error::InputErrors(vec![e]))
}

/// Simulate one placement at one rate with replicas scaled as a HorizontalPodAutoscaler
/// would for `target` utilisation, then size it: each round simulates, measures each
/// service's pods' mean CPU over their CPU request, and sets replicas to
/// `ceil(replicas × utilisation / target)` (within the HPA's 10% tolerance, no change), at
/// least the file's and at most [`MAX_AUTOSCALE_FACTOR`] times the file's; it stops when no
/// service changes or after [`MAX_AUTOSCALE_ROUNDS`] rounds.
fn autoscaled(
    inputs: &Inputs,
    placement: Placement,
    rate_rps: f64,
    seed: u64,
    o: &CapacityOptions,
    node: &NodeType,
    target: f64,
) -> Result<Sizing, AppError> {
    let file: Vec<u32> = inputs.topology.services.iter().map(|s| s.replicas).collect();
    let mut current = inputs.clone();
    let mut rounds = 0;
    loop {
        let (mut s, run) = size_run(&current, placement, rate_rps, seed, o, node)?;
        let t = &current.topology;
        let next: Vec<u32> = t
            .services
            .iter()
            .enumerate()
            .map(|(k, svc)| {
                let cap = file[k].saturating_mul(MAX_AUTOSCALE_FACTOR).min(crate::limits::MAX_REPLICAS as u32).max(file[k]);
                match service_utilization(t, &run, k) {
                    Some(u) => hpa_replicas(svc.replicas, u, target).clamp(file[k], cap),
                    None => svc.replicas,
                }
            })
            .collect();
        s.autoscale_rounds = rounds;
        let capped: Vec<String> = t
            .services
            .iter()
            .enumerate()
            .filter(|&(k, svc)| file[k] > 0 && svc.replicas >= file[k].saturating_mul(MAX_AUTOSCALE_FACTOR))
            .map(|(_, svc)| format!("{} at its maximum of {} replicas", svc.name, svc.replicas))
            .collect();
        if !capped.is_empty() {
            let note = format!("autoscaling stopped at a cap: {}", capped.join(", "));
            s.nodes_note = Some(match s.nodes_note.take() {
                Some(n) => format!("{note}; {n}"),
                None => note,
            });
        }
        let unchanged = next.iter().zip(&t.services).all(|(n, svc)| *n == svc.replicas);
        if unchanged || rounds >= MAX_AUTOSCALE_ROUNDS {
            if !unchanged {
                let unsettled = format!("replicas still changing after {MAX_AUTOSCALE_ROUNDS} rounds of autoscaling");
                s.nodes_note = Some(match s.nodes_note.take() {
                    Some(n) => format!("{unsettled}; {n}"),
                    None => unsettled,
                });
            }
            return Ok(s);
        }
        current = with_replicas(&current, &next)?;
        rounds += 1;
    }
}

/// Mean CPU utilisation of a service's pods over their CPU request (`None`: no request
/// to measure against, as an HPA has none).
fn service_utilization(t: &crate::topology::Topology, run: &RunSummary, service: usize) -> Option<f64> {
    let svc = &t.services[service];
    if svc.cpu_request_millicores <= 0.0 || svc.pods.is_empty() {
        return None;
    }
    let names: std::collections::BTreeSet<&str> = svc.pods.iter().map(|&p| t.pods[p].name.as_str()).collect();
    let used: f64 = run.containers.iter().filter(|c| c.kind == "app" && names.contains(c.name.as_str())).map(|c| c.cpu_millicores).sum();
    Some(used / svc.pods.len() as f64 / svc.cpu_request_millicores)
}

/// The inputs with each service's replicas set, re-parsed from the topology's text so that
/// pods are scheduled onto nodes as for a file that said so; run settings are kept.
fn with_replicas(inputs: &Inputs, replicas: &[u32]) -> Result<Inputs, AppError> {
    let t = &inputs.topology;
    let mut doc: toml::Value = toml::from_str(&inputs.topology_text).map_err(|e| input_error(inputs, 0, e.message().to_string()))?;
    for (svc, &n) in t.services.iter().zip(replicas) {
        crate::sweep::apply::set_path(&mut doc, &format!("service.{}.replicas", svc.name), toml::Value::Integer(i64::from(n)))
            .map_err(|e| input_error(inputs, 0, format!("autoscaling: {e}")))?;
    }
    let text = toml::to_string(&doc).map_err(|e| input_error(inputs, 0, format!("autoscaling: {e}")))?;
    let mut topology = crate::topology::parse(&t.source, &text).map_err(|es| {
        let what: Vec<String> = t.services.iter().zip(replicas).map(|(s, n)| format!("{}={n}", s.name)).collect();
        let why: Vec<String> = es.0.iter().map(|e| e.message.clone()).collect();
        input_error(inputs, 0, format!("with autoscaled replicas ({}) the topology becomes invalid: {}", what.join(", "), why.join("; ")))
    })?;
    topology.simulation = t.simulation.clone();
    topology.loads = t.loads.clone();
    Ok(Inputs { topology, models: inputs.models.clone(), control_plane: inputs.control_plane.clone(), topology_text: text })
}

/// Simulate one placement at one rate and size it.
fn size(inputs: &Inputs, placement: Placement, rate_rps: f64, seed: u64, o: &CapacityOptions, node: &NodeType) -> Result<Sizing, AppError> {
    Ok(size_run(inputs, placement, rate_rps, seed, o, node)?.0)
}

/// What the nodes' count is bound by: the pods' requests (as the scheduler packs them), or
/// what the run measured them using, when that is more than they request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodesBound {
    Requests,
    CpuUse,
}

impl NodesBound {
    pub fn as_str(self) -> &'static str {
        match self {
            NodesBound::Requests => "requests",
            NodesBound::CpuUse => "cpu-use",
        }
    }
}

/// What each pod takes of its node: by its requests, or (`by_use`) by the larger of its
/// requests and the CPU the run measured it using.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Footprint {
    Requests,
    RequestsOrUse,
}

/// The pods a placement runs, with what each takes of its node (see [`Footprint`]), and the
/// DaemonSets (one pod per node). An application pod requests its service's CPU and memory,
/// plus its sidecar's when it has one; a sidecar, waypoint, ztunnel or node proxy requests its
/// model's `cpu.request` and, for memory, what the run measured of it (the largest instance
/// of a DaemonSet, as one request serves every node). By use, each pod's CPU is its used CPU
/// where that is more (a DaemonSet's, its busiest instance's).
pub fn pod_requests(
    t: &crate::topology::Topology,
    run: &super::PlacementRun,
    models: &crate::model::CostModels,
    footprint: Footprint,
) -> (Vec<PodRequest>, Vec<PodRequest>) {
    let mib = 1024.0 * 1024.0;
    let by_use = footprint == Footprint::RequestsOrUse;
    let mem_of: std::collections::BTreeMap<&str, f64> = run.summary.proxies.iter().map(|p| (p.name.as_str(), p.mem_mib)).collect();
    let used: std::collections::BTreeMap<&str, f64> =
        run.summary.containers.iter().filter(|_| by_use).map(|c| (c.name.as_str(), c.cpu_millicores)).collect();
    let used_of = |name: &str| used.get(name).copied().unwrap_or(0.0);
    let cpu_of = |k: ProxyKind| models.get(k).map(|m| m.cpu_request_millicores).unwrap_or(0.0);
    let mut pods: Vec<PodRequest> = t
        .pods
        .iter()
        .map(|p| {
            let s = &t.services[p.service];
            PodRequest {
                name: s.name.clone(),
                cpu_millicores: s.cpu_request_millicores.max(used_of(&p.name)),
                memory_mib: s.memory_request_bytes as f64 / mib,
            }
        })
        .collect();
    let mut daemonsets: Vec<PodRequest> = Vec::new();
    for x in &run.deployment.proxies {
        let mem = mem_of.get(x.name.as_str()).copied().unwrap_or(0.0);
        let cpu = cpu_of(x.kind).max(used_of(&x.name));
        match (x.kind, x.pod) {
            (ProxyKind::Sidecar, Some(pod)) => {
                pods[pod].cpu_millicores += cpu;
                pods[pod].memory_mib += mem;
            }
            (ProxyKind::Ztunnel | ProxyKind::NodeProxy, _) => match daemonsets.iter_mut().find(|d| d.name == x.kind.as_str()) {
                Some(d) => {
                    d.memory_mib = d.memory_mib.max(mem);
                    d.cpu_millicores = d.cpu_millicores.max(cpu);
                }
                None => daemonsets.push(PodRequest { name: x.kind.as_str().into(), cpu_millicores: cpu, memory_mib: mem }),
            },
            _ => pods.push(PodRequest { name: x.name.clone(), cpu_millicores: cpu, memory_mib: mem }),
        }
    }
    // The control plane's replicas are pods like the others: their requests, or what their
    // model says they use where that is more.
    for c in &run.control_plane.components {
        for r in 0..c.replicas {
            pods.push(PodRequest {
                name: format!("{}-{}", c.name, r + 1),
                cpu_millicores: c.cpu_request_millicores.max(c.cpu_millicores_per_replica()),
                memory_mib: (c.memory_request_bytes as f64 / mib).max(c.mem_bytes_per_replica() / mib),
            });
        }
    }
    (pods, daemonsets)
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Nodes of `node` that hold a placement's pods: packed by their requests (what the
/// scheduler does) and by the larger of requests and use (what carries the load), with the
/// headroom kept in both; the count is the larger, and says which bound it.
fn nodes_needed(
    t: &crate::topology::Topology,
    run: &super::PlacementRun,
    models: &crate::model::CostModels,
    node: &NodeType,
    headroom: f64,
) -> (Option<u32>, Option<u32>, Option<NodesBound>, Option<String>) {
    let shape = NodeShape { vcpu: node.vcpu, memory_mib: node.memory_mib, max_pods: node.max_pods };
    let packed = |f| {
        let (pods, daemonsets) = pod_requests(t, run, models, f);
        pack(&shape, &pods, &daemonsets, headroom).map(|p| p.nodes.len() as u32)
    };
    let by_requests = match packed(Footprint::Requests) {
        Ok(n) => n,
        Err(e) => return (None, None, None, Some(e.to_string())),
    };
    match packed(Footprint::RequestsOrUse) {
        Ok(by_use) if by_use > by_requests => (
            Some(by_use),
            Some(by_requests),
            Some(NodesBound::CpuUse),
            Some(format!(
                "the pods' requests pack onto {by_requests} node{}, but the CPU they use needs {by_use} ({:.0}% headroom kept): \
                 raise cpu_request to what they use, or use --autoscale",
                plural(by_requests),
                headroom * 100.0
            )),
        ),
        Ok(_) => (Some(by_requests), Some(by_requests), Some(NodesBound::Requests), None),
        Err(e) => {
            let why = match e {
                crate::packing::PackError::PodTooLarge { name, cpu, free_cpu, headroom, .. } => format!(
                    "a pod of `{name}` uses {cpu:.0}m CPU, more than a node offers after DaemonSets and {headroom:.0}% headroom \
                     ({free_cpu:.0}m): give `{name}` more replicas (or use --autoscale), or use a larger node type"
                ),
                e => e.to_string(),
            };
            (
                None,
                Some(by_requests),
                None,
                Some(format!("the pods' requests pack onto {by_requests} node{}, but {why}", plural(by_requests))),
            )
        }
    }
}

fn size_run(
    inputs: &Inputs,
    placement: Placement,
    rate_rps: f64,
    seed: u64,
    o: &CapacityOptions,
    node: &NodeType,
) -> Result<(Sizing, RunSummary), AppError> {
    let mut at = inputs.clone();
    at.topology.set_total_rate(rate_rps);
    let run = run_placement(&at, placement, seed, Vec::new(), None)?;
    let s = run.summary.summary.clone();
    let t = &at.topology;
    let mib = 1024.0 * 1024.0;
    let app_cpu: f64 = t.services.iter().map(|s| s.cpu_request_millicores * s.replicas as f64).sum();
    let app_mem: f64 = t.services.iter().map(|s| s.memory_request_bytes as f64 * s.replicas as f64 / mib).sum();
    // App pods ask for their requests or use more, whichever is larger.
    let total_cpu = app_cpu.max(s.app_cpu_millicores) + s.dp_cpu_millicores;
    let total_mem = app_mem + s.dp_mem_mib;
    let (nodes, nodes_by_requests, nodes_bound, nodes_note) = nodes_needed(t, &run, &at.models, node, o.headroom);
    let meets_slo = s.latency_p99_ms.is_some_and(|p99| p99 * 1e6 <= o.slo_p99_ns as f64)
        && s.error_rate <= o.max_error_rate
        && s.requests_succeeded > 0;
    let replicas = t.services.iter().map(|s| (s.name.clone(), s.replicas)).collect();
    let sizing = Sizing {
        rate_rps,
        summary: s,
        meets_slo,
        app_cpu_request_millicores: app_cpu,
        app_mem_request_mib: app_mem,
        total_cpu_millicores: total_cpu,
        total_mem_mib: total_mem,
        nodes,
        nodes_by_requests,
        nodes_bound,
        nodes_note,
        replicas,
        autoscale_rounds: 0,
    };
    Ok((sizing, run.summary))
}

const HEADER: [&str; 18] = [
    "placement",
    "slo_p99_ms",
    "rate_max_rps",
    "rate_failing_rps",
    "latency_p99_ms",
    "error_rate",
    "dp_cpu_millicores",
    "dp_mem_mib",
    "app_cpu_request_millicores",
    "app_mem_request_mib",
    "total_cpu_millicores",
    "total_mem_mib",
    "node_type",
    "nodes_needed",
    "nodes_by_requests",
    "nodes_bound",
    "headroom",
    "probes",
];

const AT_RATE_HEADER: [&str; 16] = [
    "placement",
    "rate_rps",
    "slo_p99_ms",
    "latency_p99_ms",
    "meets_slo",
    "error_rate",
    "dp_cpu_millicores",
    "dp_mem_mib",
    "total_cpu_millicores",
    "total_mem_mib",
    "node_type",
    "nodes_needed",
    "nodes_by_requests",
    "nodes_bound",
    "headroom",
    "replicas",
];

/// Replicas per service as `name=n` joined by spaces.
fn replicas_cell(s: &Sizing) -> String {
    s.replicas.iter().map(|(n, r)| format!("{n}={r}")).collect::<Vec<_>>().join(" ")
}

fn f(x: f64) -> String {
    crate::report::number::cell(x, 4)
}

fn slo_ms(r: &CapacityReport) -> f64 {
    r.options.slo_p99_ns as f64 / 1e6
}

fn nodes_cell(n: Option<u32>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

fn bound_cell(s: &Sizing) -> String {
    s.nodes_bound.map(|b| b.as_str().to_string()).unwrap_or_default()
}

/// The terminal's node count: the count and, when use rather than requests bound it, so.
fn nodes_shown(s: &Sizing) -> String {
    match (s.nodes, s.nodes_bound) {
        (Some(n), Some(NodesBound::CpuUse)) => format!("{n} (by use)"),
        (Some(n), _) => n.to_string(),
        (None, _) => "-".into(),
    }
}

/// Rows of `capacity.csv`.
pub fn rows(r: &CapacityReport) -> Vec<Vec<String>> {
    r.rows
        .iter()
        .map(|c| {
            let m = c.at_max.as_ref();
            let opt = |g: fn(&Sizing) -> f64| m.map(|s| f(g(s))).unwrap_or_default();
            let latency = m.and_then(|s| s.summary.latency_p99_ms).map(f).unwrap_or_default();
            vec![
                c.placement.to_string(),
                f(slo_ms(r)),
                f(c.search.rate_rps),
                c.search.failing_rps.map(f).unwrap_or_default(),
                latency,
                m.map(|s| crate::report::number::cell(s.summary.error_rate, 6)).unwrap_or_default(),
                opt(|s| s.summary.dp_cpu_millicores),
                opt(|s| s.summary.dp_mem_mib),
                opt(|s| s.app_cpu_request_millicores),
                opt(|s| s.app_mem_request_mib),
                opt(|s| s.total_cpu_millicores),
                opt(|s| s.total_mem_mib),
                r.node.name.clone(),
                m.map(|s| nodes_cell(s.nodes)).unwrap_or_default(),
                m.map(|s| nodes_cell(s.nodes_by_requests)).unwrap_or_default(),
                m.map(bound_cell).unwrap_or_default(),
                f(r.options.headroom),
                c.search.probes.len().to_string(),
            ]
        })
        .collect()
}

/// Rows of `capacity-at-rate.csv` (empty without `--rate`).
pub fn at_rate_rows(r: &CapacityReport) -> Vec<Vec<String>> {
    r.rows
        .iter()
        .filter_map(|c| {
            let s = c.at_rate.as_ref()?;
            Some(vec![
                c.placement.to_string(),
                f(s.rate_rps),
                f(slo_ms(r)),
                s.summary.latency_p99_ms.map(f).unwrap_or_default(),
                s.meets_slo.to_string(),
                crate::report::number::cell(s.summary.error_rate, 6),
                f(s.summary.dp_cpu_millicores),
                f(s.summary.dp_mem_mib),
                f(s.total_cpu_millicores),
                f(s.total_mem_mib),
                r.node.name.clone(),
                nodes_cell(s.nodes),
                nodes_cell(s.nodes_by_requests),
                bound_cell(s),
                f(r.options.headroom),
                replicas_cell(s),
            ])
        })
        .collect()
}

/// The terminal tables.
pub fn tables(r: &CapacityReport) -> String {
    let cap = |c: &PlacementCapacity| match c.search.failing_rps {
        None => format!(">= {:.0}", c.search.rate_rps),
        Some(_) if c.at_max.is_none() => "none".into(),
        Some(_) => format!("{:.0}", c.search.rate_rps),
    };
    let body: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|c| {
            let m = c.at_max.as_ref();
            vec![
                c.placement.to_string(),
                cap(c),
                num(m.and_then(|s| s.summary.latency_p99_ms), 2),
                num(m.map(|s| s.summary.dp_cpu_millicores), 0),
                num(m.map(|s| s.summary.dp_mem_mib), 1),
                num(m.map(|s| s.total_cpu_millicores), 0),
                num(m.map(|s| s.total_mem_mib), 0),
                m.map(nodes_shown).unwrap_or("-".into()),
            ]
        })
        .collect();
    let mut out = render(&["placement", "max rps", "p99 ms", "DP CPU mC", "DP mem MiB", "total CPU mC", "total mem MiB", "nodes"], &body);
    let at: Vec<Vec<String>> = r
        .rows
        .iter()
        .filter_map(|c| {
            let s = c.at_rate.as_ref()?;
            Some(vec![
                c.placement.to_string(),
                format!("{:.0}", s.rate_rps),
                num(s.summary.latency_p99_ms, 2),
                if s.meets_slo { "yes" } else { "no" }.into(),
                num(Some(s.summary.dp_cpu_millicores), 0),
                num(Some(s.summary.dp_mem_mib), 1),
                num(Some(s.total_cpu_millicores), 0),
                num(Some(s.total_mem_mib), 0),
                nodes_shown(s),
                replicas_cell(s),
            ])
        })
        .collect();
    if !at.is_empty() {
        out.push('\n');
        if let Some(target) = r.options.autoscale_target {
            out.push_str(&format!("replicas autoscaled to keep pods' CPU at {:.0}% of their request:\n", target * 100.0));
        }
        out.push_str(&render(
            &["placement", "rps", "p99 ms", "meets SLO", "DP CPU mC", "DP mem MiB", "total CPU mC", "total mem MiB", "nodes", "replicas"],
            &at,
        ));
    }
    // A missing node count is explained, not left as a bare dash.
    for c in &r.rows {
        for s in [c.at_max.as_ref(), c.at_rate.as_ref()].into_iter().flatten() {
            if let Some(note) = &s.nodes_note {
                out.push_str(&format!("{} at {:.0} rps: {note}\n", c.placement, s.rate_rps));
            }
        }
    }
    out
}

/// Write `capacity.csv` (and `capacity-at-rate.csv` with `--rate`), `results.json` and
/// `report.html` into `out`, whole or not at all.
pub fn write(r: &CapacityReport, out: &Path, force: bool) -> Result<PathBuf, AppError> {
    write_with(r, out, force, &super::results::ReportOptions::default())
}

/// [`write()`], with the report drawn as `o` says.
pub fn write_with(r: &CapacityReport, out: &Path, force: bool, o: &super::results::ReportOptions) -> Result<PathBuf, AppError> {
    let io = |e: std::io::Error| AppError::Output(format!("{}: {e}", out.display()));
    let staged = StagedDir::create(out, &Source::of_path("capacity", &r.inputs.topology.source), force)?;
    let header: Vec<String> = HEADER.iter().map(|s| s.to_string()).collect();
    let bytes = crate::sweep::records::to_csv(&header, &rows(r)).map_err(AppError::Output)?;
    std::fs::write(staged.file("capacity.csv"), bytes).map_err(io)?;
    let at = at_rate_rows(r);
    if !at.is_empty() {
        let header: Vec<String> = AT_RATE_HEADER.iter().map(|s| s.to_string()).collect();
        let bytes = crate::sweep::records::to_csv(&header, &at).map_err(AppError::Output)?;
        std::fs::write(staged.file("capacity-at-rate.csv"), bytes).map_err(io)?;
    }
    let results = section::capacity(r);
    let charts = match &results.body {
        crate::report::results::Body::Capacity(c) => crate::report::result_charts::capacity(&r.inputs.topology.name, c, o.charts),
        _ => Vec::new(),
    };
    crate::report::html::write(staged.path(), &results, &super::keyed(charts)).map_err(AppError::Output)?;
    Ok(staged.commit()?)
}
