//! CSV files of a run: `summary.csv` (a row per placement), `instances.csv` (a row per proxy
//! instance), `edges.csv` (a row per edge), and `summary.md`. Headers carry units; numbers go
//! through [`number`] (fixed decimals, never NaN or infinity).

use std::path::Path;

use crate::metrics::{ContainerSummary, EdgeSummary, NodeSummary, PlacementSummary, ProxySummary};
use crate::placement::Layout;
use crate::report::number;
use crate::report::table::num;

fn f(field: &str, x: f64) -> Result<String, String> {
    number::fixed(field, x, 4).map_err(|e| e.to_string())
}

fn opt(field: &str, x: Option<f64>) -> Result<String, String> {
    number::fixed_or_empty(field, x, 4).map_err(|e| e.to_string())
}

fn writer(path: &Path) -> Result<csv::Writer<std::fs::File>, String> {
    csv::Writer::from_path(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn done(mut w: csv::Writer<std::fs::File>, path: &Path) -> Result<(), String> {
    w.flush().map_err(|e| format!("{}: {e}", path.display()))
}

/// Column of the placement each namespace used; present when a row runs a mixed mesh as written.
pub const NAMESPACES_COLUMN: &str = "namespace_placements";

pub const SUMMARY_HEADER: [&str; 34] = [
    "placement",
    "proxies",
    "passes_per_request",
    "l7_passes_per_request",
    "dp_cpu_millicores",
    "dp_mem_mib",
    "app_cpu_millicores",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_mean_ms",
    "added_p50_ms",
    "added_p90_ms",
    "added_p99_ms",
    "requests_sent",
    "requests_succeeded",
    "requests_failed",
    "error_rate",
    "offered_rps",
    "achieved_rps",
    "events",
    "seed",
    "dp_cpu_millicores_per_1000rps",
    "dp_mem_mib_per_proxy",
    "latency_added_p99_share",
    "node_cpu_utilization_max",
    "throttled_ms_per_s",
    "node_mem_peak_share_max",
    "oom_kills",
    "evictions",
    "cp_cpu_millicores",
    "cp_mem_mib",
    "mesh_cpu_millicores",
    "mesh_mem_mib",
];

/// The header of `summary.csv` and of a sweep's metric columns; with `namespaces`, the
/// [`NAMESPACES_COLUMN`] follows.
pub fn summary_header(namespaces: bool) -> Vec<&'static str> {
    let mut h = SUMMARY_HEADER.to_vec();
    if namespaces {
        h.push(NAMESPACES_COLUMN);
    }
    h
}

/// Whether rows need the [`NAMESPACES_COLUMN`]: one of them runs a topology as written.
pub fn needs_namespaces(rows: &[PlacementSummary]) -> bool {
    rows.iter().any(|r| r.placement == Layout::AsWritten)
}

/// The cells of one summary row, in [`summary_header`] order. Latencies of a row where no
/// request succeeded are empty; a value that is not finite is refused, naming its column.
pub fn summary_cells(r: &PlacementSummary, namespaces: bool) -> Result<Vec<String>, String> {
    let per_k = crate::report::results::cpu_per_1000rps(r);
    let per_proxy = if r.proxies > 0 { r.dp_mem_mib / r.proxies as f64 } else { 0.0 };
    let share = match (r.added_p99_ms, r.latency_p99_ms) {
        (Some(a), Some(p99)) if p99 > 0.0 => Some(a / p99),
        _ => None,
    };
    let mut cells = vec![
        r.placement.as_str().to_string(),
        r.proxies.to_string(),
        f("passes_per_request", r.passes_per_request)?,
        f("l7_passes_per_request", r.l7_passes_per_request)?,
        f("dp_cpu_millicores", r.dp_cpu_millicores)?,
        f("dp_mem_mib", r.dp_mem_mib)?,
        f("app_cpu_millicores", r.app_cpu_millicores)?,
        opt("latency_p50_ms", r.latency_p50_ms)?,
        opt("latency_p90_ms", r.latency_p90_ms)?,
        opt("latency_p99_ms", r.latency_p99_ms)?,
        opt("latency_mean_ms", r.latency_mean_ms)?,
        opt("added_p50_ms", r.added_p50_ms)?,
        opt("added_p90_ms", r.added_p90_ms)?,
        opt("added_p99_ms", r.added_p99_ms)?,
        r.requests_sent.to_string(),
        r.requests_succeeded.to_string(),
        r.requests_failed.to_string(),
        number::fixed("error_rate", r.error_rate, 6).map_err(|e| e.to_string())?,
        f("offered_rps", r.offered_rps)?,
        f("achieved_rps", r.achieved_rps)?,
        r.events.to_string(),
        r.seed.to_string(),
        opt("dp_cpu_millicores_per_1000rps", per_k)?,
        f("dp_mem_mib_per_proxy", per_proxy)?,
        opt("latency_added_p99_share", share)?,
        number::fixed("node_cpu_utilization_max", r.node_cpu_utilization_max, 6).map_err(|e| e.to_string())?,
        f("throttled_ms_per_s", r.throttled_ms_per_s)?,
        number::fixed("node_mem_peak_share_max", r.node_mem_peak_share_max, 6).map_err(|e| e.to_string())?,
        r.oom_kills.to_string(),
        r.evictions.to_string(),
        opt("cp_cpu_millicores", r.cp_cpu_millicores)?,
        opt("cp_mem_mib", r.cp_mem_mib)?,
        f("mesh_cpu_millicores", r.dp_cpu_millicores + r.cp_cpu_millicores.unwrap_or(0.0))?,
        f("mesh_mem_mib", r.dp_mem_mib + r.cp_mem_mib.unwrap_or(0.0))?,
    ];
    if namespaces {
        cells.push(r.namespace_placements.clone());
    }
    Ok(cells)
}

/// Name a refused row: the file, the row and the field.
fn in_row(path: &Path, row: &str) -> impl Fn(String) -> String {
    let (path, row) = (path.display().to_string(), row.to_string());
    move |e| format!("{path}: row `{row}`: {e}")
}

pub fn write_summary(path: &Path, rows: &[PlacementSummary]) -> Result<(), String> {
    let namespaces = needs_namespaces(rows);
    let mut w = writer(path)?;
    w.write_record(summary_header(namespaces)).map_err(|e| e.to_string())?;
    for r in rows {
        w.write_record(summary_cells(r, namespaces).map_err(in_row(path, r.placement.as_str()))?).map_err(|e| e.to_string())?;
    }
    done(w, path)
}

/// `nodes.csv`: a row per placement and node: how busy its cores were and who used them.
pub fn write_nodes(path: &Path, rows: &[(String, Vec<NodeSummary>)]) -> Result<(), String> {
    let mut w = writer(path)?;
    w.write_record([
        "placement",
        "node",
        "vcpu",
        "cpu_utilization",
        "app_millicores",
        "sidecar_millicores",
        "node_proxy_millicores",
        "ztunnel_millicores",
        "waypoint_millicores",
        "proxy_idle_millicores",
        "control_plane_millicores",
        "other_millicores",
        "ready_tasks_mean",
        "throttled_ms_per_s",
        "memory_mib",
        "mem_used_mib",
        "mem_peak_mib",
        "oom_kills",
        "evictions",
    ])
    .map_err(|e| e.to_string())?;
    for (placement, nodes) in rows {
        for n in nodes {
            let at = in_row(path, &n.name);
            w.write_record([
                placement.clone(),
                n.name.clone(),
                f("vcpu", n.vcpu).map_err(&at)?,
                number::fixed("cpu_utilization", n.cpu_utilization, 6).map_err(|e| at(e.to_string()))?,
                f("app_millicores", n.app_millicores).map_err(&at)?,
                f("sidecar_millicores", n.sidecar_millicores).map_err(&at)?,
                f("node_proxy_millicores", n.node_proxy_millicores).map_err(&at)?,
                f("ztunnel_millicores", n.ztunnel_millicores).map_err(&at)?,
                f("waypoint_millicores", n.waypoint_millicores).map_err(&at)?,
                f("proxy_idle_millicores", n.proxy_idle_millicores).map_err(&at)?,
                f("control_plane_millicores", n.control_plane_millicores).map_err(&at)?,
                f("other_millicores", n.other_millicores).map_err(&at)?,
                f("ready_tasks_mean", n.ready_tasks_mean).map_err(&at)?,
                f("throttled_ms_per_s", n.throttled_ms_per_s).map_err(&at)?,
                f("memory_mib", n.memory_mib).map_err(&at)?,
                f("mem_used_mib", n.mem_used_mib).map_err(&at)?,
                f("mem_peak_mib", n.mem_peak_mib).map_err(&at)?,
                n.oom_kills.to_string(),
                n.evictions.to_string(),
            ])
            .map_err(|e| e.to_string())?;
        }
    }
    done(w, path)
}

/// `containers.csv`: a row per placement and CPU container (application pod or proxy): its
/// CPU, its tasks' wait for a core, and the time its CPU limit throttled it.
pub fn write_containers(path: &Path, rows: &[(String, Vec<ContainerSummary>)]) -> Result<(), String> {
    let mut w = writer(path)?;
    w.write_record([
        "placement",
        "container",
        "kind",
        "node",
        "cpu_millicores",
        "ready_tasks_mean",
        "throttled_ms",
        "throttled_periods",
        "mem_mib",
        "mem_peak_mib",
        "oom_kills",
        "evictions",
    ])
    .map_err(|e| e.to_string())?;
    for (placement, containers) in rows {
        for c in containers {
            let at = in_row(path, &c.name);
            w.write_record([
                placement.clone(),
                c.name.clone(),
                c.kind.to_string(),
                c.node.clone(),
                f("cpu_millicores", c.cpu_millicores).map_err(&at)?,
                f("ready_tasks_mean", c.ready_tasks_mean).map_err(&at)?,
                f("throttled_ms", c.throttled_ms).map_err(&at)?,
                c.throttled_periods.to_string(),
                f("mem_mib", c.mem_mib).map_err(&at)?,
                f("mem_peak_mib", c.mem_peak_mib).map_err(&at)?,
                c.oom_kills.to_string(),
                c.evictions.to_string(),
            ])
            .map_err(|e| e.to_string())?;
        }
    }
    done(w, path)
}

pub fn write_instances(path: &Path, rows: &[(String, Vec<ProxySummary>)]) -> Result<(), String> {
    let mut w = writer(path)?;
    w.write_record([
        "placement",
        "proxy",
        "kind",
        "node",
        "cpu_millicores",
        "mem_mib",
        "passes_per_s",
        "inflight_mean",
        "connections_mean",
        "endpoints",
        "queue_max",
        "rejected",
        "mem_peak_mib",
    ])
    .map_err(|e| e.to_string())?;
    for (placement, proxies) in rows {
        for p in proxies {
            let at = in_row(path, &p.name);
            w.write_record([
                placement.clone(),
                p.name.clone(),
                p.kind.to_string(),
                p.node.clone(),
                f("cpu_millicores", p.cpu_millicores).map_err(&at)?,
                f("mem_mib", p.mem_mib).map_err(&at)?,
                f("passes_per_s", p.passes_per_s).map_err(&at)?,
                f("inflight_mean", p.inflight_mean).map_err(&at)?,
                f("connections_mean", p.connections_mean).map_err(&at)?,
                p.endpoints.to_string(),
                p.queue_max.to_string(),
                p.rejected.to_string(),
                f("mem_peak_mib", p.mem_peak_mib).map_err(&at)?,
            ])
            .map_err(|e| e.to_string())?;
        }
    }
    done(w, path)
}

pub fn write_edges(path: &Path, rows: &[(String, Vec<EdgeSummary>)]) -> Result<(), String> {
    let mut w = writer(path)?;
    w.write_record([
        "placement",
        "edge",
        "calls",
        "failed",
        "retried",
        "latency_p50_ms",
        "latency_p90_ms",
        "latency_p99_ms",
        "latency_mean_ms",
    ])
    .map_err(|e| e.to_string())?;
    for (placement, edges) in rows {
        for e in edges {
            let at = in_row(path, &e.name);
            w.write_record([
                placement.clone(),
                e.name.clone(),
                e.calls.to_string(),
                e.failed.to_string(),
                e.retried.to_string(),
                opt("latency_p50_ms", e.latency_p50_ms).map_err(&at)?,
                opt("latency_p90_ms", e.latency_p90_ms).map_err(&at)?,
                opt("latency_p99_ms", e.latency_p99_ms).map_err(&at)?,
                opt("latency_mean_ms", e.latency_mean_ms).map_err(&at)?,
            ])
            .map_err(|e| e.to_string())?;
        }
    }
    done(w, path)
}

/// The comparison as a markdown document, for design reviews: what was simulated, then a
/// row per placement, then which placement each namespace used where a row runs the topology
/// as written. Deterministic (no wall-clock figures); `—` where nothing was measured.
pub fn summary_markdown(title: &str, context: &str, rows: &[PlacementSummary]) -> Result<String, String> {
    let mut out = format!("# {title}\n\n{context}\n\n");
    out.push_str("| placement | proxies | L7 passes/req | passes/req | data-plane CPU (mC) | data-plane memory (MiB) | control-plane CPU (mC) | control-plane memory (MiB) | p50 (ms) | p90 (ms) | p99 (ms) | added p50 (ms) | added p90 (ms) | added p99 (ms) | errors (%) | throughput (rps) | busiest node CPU (%) |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let at = |field: &str, x: Option<f64>, d: usize| {
            number::markdown(field, x, d).map_err(|e| format!("summary.md: row `{}`: {e}", r.placement))
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.placement,
            r.proxies,
            at("L7 passes/req", Some(r.l7_passes_per_request), 2)?,
            at("passes/req", Some(r.passes_per_request), 2)?,
            at("data-plane CPU", Some(r.dp_cpu_millicores), 1)?,
            at("data-plane memory", Some(r.dp_mem_mib), 1)?,
            at("control-plane CPU", r.cp_cpu_millicores, 1)?,
            at("control-plane memory", r.cp_mem_mib, 1)?,
            at("p50", r.latency_p50_ms, 3)?,
            at("p90", r.latency_p90_ms, 3)?,
            at("p99", r.latency_p99_ms, 3)?,
            at("added p50", r.added_p50_ms, 3)?,
            at("added p90", r.added_p90_ms, 3)?,
            at("added p99", r.added_p99_ms, 3)?,
            at("errors", Some(r.error_rate * 100.0), 3)?,
            at("throughput", Some(r.achieved_rps), 1)?,
            at("busiest node CPU", Some(r.node_cpu_utilization_max * 100.0), 1)?,
        ));
    }
    if let Some(note) = namespace_note(rows) {
        out.push_str(&format!("\n{note}\n"));
    }
    if let Some(note) = failure_note(rows) {
        out.push_str(&format!("\n{note}\n"));
    }
    for note in super::control_plane_figures::notes(rows) {
        out.push_str(&format!("\n{note}\n"));
    }
    for note in super::churn_out::notes(rows) {
        out.push_str(&format!("\n{note}\n"));
    }
    Ok(out)
}

/// Which placement each namespace used, when a row runs the topology as written; `None` when
/// every row places all namespaces alike (its label says how).
pub fn namespace_note(rows: &[PlacementSummary]) -> Option<String> {
    let mixed = rows.iter().find(|r| r.placement == Layout::AsWritten)?;
    let list = mixed.namespace_placements.replace('=', " on ").replace(';', ", ");
    Some(format!(
        "as-written: each namespace on the placement the topology names ({list}; a namespace that inherits is not meshed). \
         The other rows put every namespace on the row's placement."
    ))
}

/// A warning for rows where no request succeeded: their latencies are not numbers.
pub fn failure_note(rows: &[PlacementSummary]) -> Option<String> {
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.latency_p50_ms.is_none())
        .map(|r| format!("{} ({} of {} requests failed)", r.placement, r.requests_failed, r.requests_sent))
        .collect();
    (!failed.is_empty()).then(|| format!("no request succeeded in: {}; their latencies are shown as —", failed.join(", ")))
}

/// The comparison table for the terminal.
pub fn summary_table(rows: &[PlacementSummary], events_per_s: &[f64]) -> String {
    let header = [
        "placement",
        "proxies",
        "L7 passes/req",
        "passes/req",
        "DP CPU mC",
        "DP mem MiB",
        "CP CPU mC",
        "CP mem MiB",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "+p50 ms",
        "+p90 ms",
        "+p99 ms",
        "errors %",
        "done rps",
        "node CPU max %",
        "events/s",
    ];
    let body: Vec<Vec<String>> = rows
        .iter()
        .zip(events_per_s)
        .map(|(r, eps)| {
            vec![
                r.placement.as_str().to_string(),
                r.proxies.to_string(),
                num(Some(r.l7_passes_per_request), 2),
                num(Some(r.passes_per_request), 2),
                num(Some(r.dp_cpu_millicores), 1),
                num(Some(r.dp_mem_mib), 1),
                num(r.cp_cpu_millicores, 1),
                num(r.cp_mem_mib, 1),
                num(r.latency_p50_ms, 3),
                num(r.latency_p90_ms, 3),
                num(r.latency_p99_ms, 3),
                num(r.added_p50_ms, 3),
                num(r.added_p90_ms, 3),
                num(r.added_p99_ms, 3),
                num(Some(r.error_rate * 100.0), 3),
                num(Some(r.achieved_rps), 1),
                num(Some(r.node_cpu_utilization_max * 100.0), 1),
                format!("{:.2}M", eps / 1e6),
            ]
        })
        .collect();
    crate::report::table::render(&header, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::Placement;

    fn row() -> PlacementSummary {
        PlacementSummary {
            placement: Layout::Uniform(Placement::Sidecar),
            namespace_placements: "app=sidecar".into(),
            proxies: 2,
            passes_per_request: 2.0,
            l7_passes_per_request: 2.0,
            dp_cpu_millicores: 10.0,
            dp_mem_mib: 20.0,
            cp_cpu_millicores: Some(3.0),
            cp_mem_mib: Some(40.0),
            control_plane: Vec::new(),
            cp_unmodelled: Vec::new(),
            churn: None,
            app_cpu_millicores: 5.0,
            latency_p50_ms: Some(1.0),
            latency_p90_ms: Some(2.0),
            latency_p99_ms: Some(3.0),
            latency_mean_ms: Some(1.5),
            added_p50_ms: None,
            added_p90_ms: None,
            added_p99_ms: None,
            requests_sent: 10,
            requests_succeeded: 10,
            requests_failed: 0,
            error_rate: 0.0,
            offered_rps: 100.0,
            achieved_rps: 100.0,
            node_cpu_utilization_max: 0.5,
            throttled_ms_per_s: 0.0,
            node_mem_peak_share_max: 0.0,
            oom_kills: 0,
            evictions: 0,
            events: 1000,
            seed: 1,
        }
    }

    #[test]
    fn a_value_that_is_not_finite_is_refused_naming_its_column() {
        assert!(summary_cells(&row(), false).is_ok());
        let r = PlacementSummary { latency_p99_ms: Some(f64::INFINITY), ..row() };
        let e = summary_cells(&r, false).unwrap_err();
        assert!(e.contains("latency_p99_ms"), "{e}");
        let r = PlacementSummary { dp_cpu_millicores: f64::NAN, ..row() };
        assert!(summary_cells(&r, false).unwrap_err().contains("dp_cpu_millicores"));
        let e = summary_markdown("t", "c", &[PlacementSummary { dp_mem_mib: f64::NAN, ..row() }]).unwrap_err();
        assert!(e.contains("data-plane memory"), "{e}");
    }

    #[test]
    fn no_latency_is_an_empty_cell_not_zero() {
        let r = PlacementSummary { latency_p50_ms: None, latency_p90_ms: None, latency_p99_ms: None, latency_mean_ms: None, ..row() };
        let cells = summary_cells(&r, false).unwrap();
        let at = |name: &str| &cells[SUMMARY_HEADER.iter().position(|h| *h == name).unwrap()];
        assert_eq!(at("latency_p50_ms"), "");
        assert_eq!(at("latency_mean_ms"), "");
        assert_eq!(at("dp_cpu_millicores"), "10.0000");
    }
}
