//! CSV files of a run: `summary.csv` (a row per placement), `instances.csv` (a row per proxy
//! instance), `edges.csv` (a row per edge). Headers carry units; numbers have fixed decimals
//! so the same run gives the same bytes.

use std::path::Path;

use crate::metrics::{EdgeSummary, PlacementSummary, ProxySummary};
use crate::report::table::num;

fn f(x: f64) -> String {
    format!("{x:.4}")
}

fn writer(path: &Path) -> Result<csv::Writer<std::fs::File>, String> {
    csv::Writer::from_path(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn done(mut w: csv::Writer<std::fs::File>, path: &Path) -> Result<(), String> {
    w.flush().map_err(|e| format!("{}: {e}", path.display()))
}

pub const SUMMARY_HEADER: [&str; 25] = [
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
];

/// The cells of one summary row, in [`SUMMARY_HEADER`] order.
pub fn summary_cells(r: &PlacementSummary) -> Vec<String> {
    let per_k = if r.offered_rps > 0.0 { r.dp_cpu_millicores / r.offered_rps * 1000.0 } else { 0.0 };
    let per_proxy = if r.proxies > 0 { r.dp_mem_mib / r.proxies as f64 } else { 0.0 };
    let share = match r.added_p99_ms {
        Some(a) if r.latency_p99_ms > 0.0 => f(a / r.latency_p99_ms),
        _ => String::new(),
    };
    let opt = |x: Option<f64>| x.map(f).unwrap_or_default();
    vec![
        r.placement.as_str().to_string(),
        r.proxies.to_string(),
        f(r.passes_per_request),
        f(r.l7_passes_per_request),
        f(r.dp_cpu_millicores),
        f(r.dp_mem_mib),
        f(r.app_cpu_millicores),
        f(r.latency_p50_ms),
        f(r.latency_p90_ms),
        f(r.latency_p99_ms),
        f(r.latency_mean_ms),
        opt(r.added_p50_ms),
        opt(r.added_p90_ms),
        opt(r.added_p99_ms),
        r.requests_sent.to_string(),
        r.requests_succeeded.to_string(),
        r.requests_failed.to_string(),
        format!("{:.6}", r.error_rate),
        f(r.offered_rps),
        f(r.achieved_rps),
        r.events.to_string(),
        r.seed.to_string(),
        f(per_k),
        f(per_proxy),
        share,
    ]
}

pub fn write_summary(path: &Path, rows: &[PlacementSummary]) -> Result<(), String> {
    let mut w = writer(path)?;
    w.write_record(SUMMARY_HEADER).map_err(|e| e.to_string())?;
    for r in rows {
        w.write_record(summary_cells(r)).map_err(|e| e.to_string())?;
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
    ])
    .map_err(|e| e.to_string())?;
    for (placement, proxies) in rows {
        for p in proxies {
            w.write_record([
                placement.clone(),
                p.name.clone(),
                p.kind.to_string(),
                p.node.clone(),
                f(p.cpu_millicores),
                f(p.mem_mib),
                f(p.passes_per_s),
                f(p.inflight_mean),
                f(p.connections_mean),
                p.endpoints.to_string(),
                p.queue_max.to_string(),
                p.rejected.to_string(),
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
            w.write_record([
                placement.clone(),
                e.name.clone(),
                e.calls.to_string(),
                e.failed.to_string(),
                e.retried.to_string(),
                f(e.latency_p50_ms),
                f(e.latency_p90_ms),
                f(e.latency_p99_ms),
                f(e.latency_mean_ms),
            ])
            .map_err(|e| e.to_string())?;
        }
    }
    done(w, path)
}

/// The comparison as a markdown document, for design reviews: what was simulated, then a
/// row per placement. Deterministic (no wall-clock figures).
pub fn summary_markdown(title: &str, context: &str, rows: &[PlacementSummary]) -> String {
    let mut out = format!("# {title}\n\n{context}\n\n");
    out.push_str("| placement | proxies | L7 passes/req | passes/req | data-plane CPU (mC) | data-plane memory (MiB) | p50 (ms) | p90 (ms) | p99 (ms) | added p50 (ms) | added p90 (ms) | added p99 (ms) | errors (%) |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.placement,
            r.proxies,
            num(Some(r.l7_passes_per_request), 2),
            num(Some(r.passes_per_request), 2),
            num(Some(r.dp_cpu_millicores), 1),
            num(Some(r.dp_mem_mib), 1),
            num(Some(r.latency_p50_ms), 3),
            num(Some(r.latency_p90_ms), 3),
            num(Some(r.latency_p99_ms), 3),
            num(r.added_p50_ms, 3),
            num(r.added_p90_ms, 3),
            num(r.added_p99_ms, 3),
            num(Some(r.error_rate * 100.0), 3),
        ));
    }
    out
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
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "+p50 ms",
        "+p90 ms",
        "+p99 ms",
        "errors %",
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
                num(Some(r.latency_p50_ms), 3),
                num(Some(r.latency_p90_ms), 3),
                num(Some(r.latency_p99_ms), 3),
                num(r.added_p50_ms, 3),
                num(r.added_p90_ms, 3),
                num(r.added_p99_ms, 3),
                num(Some(r.error_rate * 100.0), 3),
                format!("{:.2}M", eps / 1e6),
            ]
        })
        .collect();
    crate::report::table::render(&header, &body)
}
