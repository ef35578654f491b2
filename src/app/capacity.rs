//! `meshsim capacity`: for each placement, the highest total request rate that meets a p99
//! SLO (bisection over simulated runs), the data-plane and total CPU and memory to request
//! there, and the nodes of the topology's node type that hold it; with `--rate`, the same
//! figures at a given rate. Writes `capacity.csv` (and `capacity-at-rate.csv`).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{load_inputs, resolve_seed, run_placement, AppError, Inputs, Overrides};
use crate::capacity::{max_rate, nodes_needed, Demand, MaxRate, NodeType, Search};
use crate::metrics::PlacementSummary;
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
    pub nodes: Option<u32>,
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
            let at_rate = match o.rate_rps {
                Some(r) => Some(size(&inputs, p, r, seed, o, &node)?),
                None => None,
            };
            Ok(PlacementCapacity { placement: p, search: result, at_max: best, at_rate, probed })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    progress.finish_and_clear();
    Ok(CapacityReport { inputs, seed, seed_was_picked: picked, node, options: o.clone(), rows })
}

/// Simulate one placement at one rate and size it.
fn size(inputs: &Inputs, placement: Placement, rate_rps: f64, seed: u64, o: &CapacityOptions, node: &NodeType) -> Result<Sizing, AppError> {
    let mut at = inputs.clone();
    at.topology.set_total_rate(rate_rps);
    let run = run_placement(&at, placement, seed, Vec::new(), None)?;
    let s = run.summary.summary;
    let t = &at.topology;
    let mib = 1024.0 * 1024.0;
    let app_cpu: f64 = t.services.iter().map(|s| s.cpu_request_millicores * s.replicas as f64).sum();
    let app_mem: f64 = t.services.iter().map(|s| s.memory_request_bytes as f64 * s.replicas as f64 / mib).sum();
    let waypoints = run.deployment.proxies.iter().filter(|p| p.kind == ProxyKind::Waypoint).count() as u32;
    let per_node = run.deployment.proxies.iter().any(|p| matches!(p.kind, ProxyKind::Ztunnel | ProxyKind::NodeProxy)) as u32;
    // App pods ask for their requests or use more, whichever is larger.
    let total_cpu = app_cpu.max(s.app_cpu_millicores) + s.dp_cpu_millicores;
    let total_mem = app_mem + s.dp_mem_mib;
    let nodes = nodes_needed(
        node,
        Demand { cpu_millicores: total_cpu, memory_mib: total_mem, pods: t.pods.len() as u32 + waypoints, pods_per_node: per_node },
        o.headroom,
    );
    let meets_slo = s.latency_p99_ms.is_some_and(|p99| p99 * 1e6 <= o.slo_p99_ns as f64)
        && s.error_rate <= o.max_error_rate
        && s.requests_succeeded > 0;
    Ok(Sizing {
        rate_rps,
        summary: s,
        meets_slo,
        app_cpu_request_millicores: app_cpu,
        app_mem_request_mib: app_mem,
        total_cpu_millicores: total_cpu,
        total_mem_mib: total_mem,
        nodes,
    })
}

const HEADER: [&str; 16] = [
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
    "headroom",
    "probes",
];

const AT_RATE_HEADER: [&str; 13] = [
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
    "headroom",
];

fn f(x: f64) -> String {
    crate::report::number::cell(x, 4)
}

fn slo_ms(r: &CapacityReport) -> f64 {
    r.options.slo_p99_ns as f64 / 1e6
}

fn nodes_cell(n: Option<u32>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
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
                f(r.options.headroom),
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
                m.and_then(|s| s.nodes).map(|n| n.to_string()).unwrap_or("-".into()),
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
                s.nodes.map(|n| n.to_string()).unwrap_or("-".into()),
            ])
        })
        .collect();
    if !at.is_empty() {
        out.push('\n');
        out.push_str(&render(
            &["placement", "rps", "p99 ms", "meets SLO", "DP CPU mC", "DP mem MiB", "total CPU mC", "total mem MiB", "nodes"],
            &at,
        ));
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
    let results = super::results::capacity(r);
    let charts = match &results.body {
        crate::report::results::Body::Capacity(c) => crate::report::result_charts::capacity(&r.inputs.topology.name, c, o.charts),
        _ => Vec::new(),
    };
    crate::report::html::write(staged.path(), &results, &super::compare::keyed(charts)).map_err(AppError::Output)?;
    Ok(staged.commit()?)
}
