//! Files of `meshsim blast`: `blast.csv` (a row per placement × scenario), `blast-static.csv`
//! (a row per component), `blast-spread.csv` (min / mean / max per kind), `timeline.csv`,
//! `blast.md` (the tables side by side) and charts; plus the terminal table. Shares are
//! fractions (0–1) in CSV and percentages in the tables; fixed decimals keep bytes stable.

use std::path::Path;

use crate::blast::{PlacementResult, ScenarioKind, ScenarioResult, Settings};
use crate::report::number::cell;
use crate::report::outdir::StagedDir;
use crate::report::plot::{placement_style, write_chart, Band, Chart, ChartOptions, Mark, RefLine, Series};
use crate::report::table::{num, render};
use crate::topology::Topology;
use crate::units::format_duration_ns;

fn f(x: f64) -> String {
    cell(x, 4)
}

fn opt(x: Option<f64>) -> String {
    x.map(f).unwrap_or_default()
}

/// An empty CSV cell (nothing to measure) as the tables print it.
fn dash(x: &str) -> String {
    if x.is_empty() {
        "—".into()
    } else {
        x.to_string()
    }
}

fn csv_file(path: &Path, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Result<(), String> {
    let err = |e: csv::Error| format!("{}: {e}", path.display());
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(r).map_err(err)?;
    }
    w.flush().map_err(|e| format!("{}: {e}", path.display()))
}

/// Static figures of a run's target: pods cut, traffic share, identities, plaintext share.
fn target_cells(p: &PlacementResult, r: &ScenarioResult) -> [Option<f64>; 4] {
    match p.target_impact(r) {
        Some(c) => [Some(c.pods_cut.len() as f64), Some(c.traffic_share), Some(c.identities.len() as f64), Some(c.plaintext_share)],
        None => [None; 4],
    }
}

pub const BLAST_HEADER: [&str; 24] = [
    "placement",
    "scenario",
    "target",
    "failed_share_outage",
    "slo_missed_share_outage",
    "latency_p99_outage_ms",
    "failed_share_run",
    "slo_missed_share_run",
    "time_to_recover_s",
    "pods_cut",
    "traffic_share",
    "identities_exposed",
    "plaintext_share",
    "requests_sent",
    "note",
    "latency_p99_all_outage_ms",
    "slowed_share_outage",
    "time_to_fail_ms",
    "time_to_route_around_s",
    "pods_rescheduled",
    "pods_unscheduled",
    "retries_sent",
    "retries_over_budget",
    "data_plane_cpu_millicores",
];

fn blast_rows(results: &[PlacementResult]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for p in results {
        for r in &p.runs {
            let o = &r.outcome;
            let [pods, share, ids, plain] = target_cells(p, r);
            let int = |x: Option<f64>| x.map(|x| cell(x, 0)).unwrap_or_default();
            rows.push(vec![
                p.placement.to_string(),
                r.scenario.name.clone(),
                r.scenario.target_name.clone(),
                f(o.failed_share_outage),
                f(o.slo_missed_share_outage),
                opt(o.latency_p99_outage_ms),
                f(o.failed_share_run),
                f(o.slo_missed_share_run),
                opt(o.time_to_recover_s),
                int(pods),
                opt(share),
                int(ids),
                opt(plain),
                r.sent.to_string(),
                r.scenario.note.clone(),
                opt(o.latency_p99_all_outage_ms),
                f(o.slowed_share_outage),
                opt(o.time_to_fail_ms),
                opt(o.time_to_route_around_s),
                r.rescheduled.map(|(n, _)| n.to_string()).unwrap_or_default(),
                r.rescheduled.map(|(_, n)| n.to_string()).unwrap_or_default(),
                r.retries.to_string(),
                r.retries_over_budget.to_string(),
                cell(r.data_plane_cpu_millicores, 1),
            ]);
        }
    }
    rows
}

fn static_rows(t: &Topology, results: &[PlacementResult]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for p in results {
        for c in &p.analysis.components {
            let pods: Vec<&str> = c.pods_cut.iter().map(|&x| t.pods[x].name.as_str()).collect();
            let svc: Vec<&str> = c.services_cut.iter().map(|&x| t.services[x].name.as_str()).collect();
            let ids: Vec<&str> = c.identities.iter().map(|&x| t.services[x].name.as_str()).collect();
            rows.push(vec![
                p.placement.to_string(),
                c.name.clone(),
                c.kind.to_string(),
                c.node.clone(),
                c.pods_cut.len().to_string(),
                pods.join(" "),
                svc.join(" "),
                f(c.traffic_share),
                c.identities.len().to_string(),
                ids.join(" "),
                f(c.plaintext_share),
                c.edges.join("; "),
            ]);
        }
    }
    rows
}

fn spread_rows(results: &[PlacementResult]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for p in results {
        for s in p.analysis.spreads() {
            let mut row = vec![p.placement.to_string(), s.kind.to_string(), s.count.to_string()];
            for x in [s.pods_cut, s.traffic_share, s.identities, s.plaintext_share] {
                row.extend([f(x.min), f(x.mean), f(x.max)]);
            }
            rows.push(row);
        }
    }
    rows
}

fn pct(x: f64) -> String {
    cell(x * 100.0, 2)
}

/// The first columns of a run's row in the tables: what failed and what it cost in time.
const RUN_COLUMNS: [&str; 10] =
    ["placement", "scenario", "target", "failed %", "slowed %", "p99 ok ms", "p99 all ms", "fail ms", "route s", "recover s"];

/// The dynamic results for the terminal: a row per placement × scenario.
pub fn blast_table(results: &[PlacementResult]) -> String {
    let mut header = RUN_COLUMNS.to_vec();
    header.extend(["pods cut", "traffic %", "identities", "plaintext %", "resched/unsched", "retries", "over budget", "DP CPU mC"]);
    let mut body = Vec::new();
    for p in results {
        for r in &p.runs {
            let o = &r.outcome;
            let [pods, share, ids, plain] = target_cells(p, r);
            body.push(vec![
                p.placement.to_string(),
                r.scenario.name.clone(),
                r.scenario.target_name.clone(),
                pct(o.failed_share_outage),
                pct(o.slowed_share_outage),
                num(o.latency_p99_outage_ms, 2),
                num(o.latency_p99_all_outage_ms, 2),
                num(o.time_to_fail_ms, 2),
                num(o.time_to_route_around_s, 1),
                match o.time_to_recover_s {
                    Some(s) => format!("{s:.0}"),
                    None => "not in run".into(),
                },
                num(pods, 0),
                num(share.map(|x| x * 100.0), 1),
                num(ids, 0),
                num(plain.map(|x| x * 100.0), 1),
                r.rescheduled.map(|(a, b)| format!("{a}/{b}")).unwrap_or_else(|| "—".into()),
                r.retries.to_string(),
                r.retries_over_budget.to_string(),
                cell(r.data_plane_cpu_millicores, 0),
            ]);
        }
    }
    render(&header, &body)
}

/// The static spread for the terminal: min / mean / max per placement and kind.
pub fn spread_table(results: &[PlacementResult]) -> String {
    let header = ["placement", "kind", "count", "pods cut min/mean/max", "traffic % min/mean/max", "identities min/mean/max"];
    let mmm =
        |s: crate::blast::Spread, k: f64, d: usize| format!("{} / {} / {}", cell(s.min * k, d), cell(s.mean * k, d), cell(s.max * k, d));
    let body: Vec<Vec<String>> = results
        .iter()
        .flat_map(|p| {
            p.analysis.spreads().into_iter().map(move |s| {
                vec![
                    p.placement.to_string(),
                    s.kind.to_string(),
                    s.count.to_string(),
                    mmm(s.pods_cut, 1.0, 1),
                    mmm(s.traffic_share, 100.0, 1),
                    mmm(s.identities, 1.0, 1),
                ]
            })
        })
        .collect();
    render(&header, &body)
}

fn markdown(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n|", header.join(" | "));
    for _ in header {
        s.push_str("---|");
    }
    s.push('\n');
    for r in rows {
        s.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    s
}

/// Scenario names in order of first appearance across placements.
fn scenario_names(results: &[PlacementResult]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for p in results {
        for r in &p.runs {
            if !names.contains(&r.scenario.name) {
                names.push(r.scenario.name.clone());
            }
        }
    }
    names
}

fn blast_md(t: &Topology, s: &Settings, results: &[PlacementResult]) -> String {
    let b = &s.blast;
    let mut md = format!(
        "# Blast radius: {}\n\n{} pods on {} nodes, {:.0} rps for {} (warm-up {}), seed {}. \
         Failures start at {} and last {} (node reschedule {}); SLO: p99 under {}; \
         CPU limit {:.0}m; noisy tenant {:.0} Mbit/s.\n\n",
        t.name,
        t.pods.len(),
        t.nodes.len(),
        t.total_rate_rps(),
        format_duration_ns(t.simulation.duration_ns),
        format_duration_ns(t.simulation.warmup_ns),
        s.seed,
        format_duration_ns(b.fail_at_ns),
        format_duration_ns(b.outage_ns),
        b.node_reschedule_ns.map(format_duration_ns).unwrap_or_else(|| "= outage".into()),
        format_duration_ns(b.slo_p99_ns),
        b.cpu_limit_millicores,
        b.noisy_tenant_bits_per_s / 1e6,
    );
    md.push_str("Retries and connect timeouts as they applied (the mesh's defaults where the topology sets none):\n\n");
    for p in results {
        md.push_str(&format!("- {}: {}\n", p.placement, p.resilience));
    }
    md.push('\n');
    md.push_str("## Failed share during the disturbance, side by side\n\n");
    md.push_str(
        "Each cell: failed % / SLO-miss % of end-user requests started during the disturbance, \
         and seconds to recover.\n\n",
    );
    let mut header: Vec<String> = vec!["scenario".into()];
    header.extend(results.iter().map(|p| p.placement.to_string()));
    let rows: Vec<Vec<String>> = scenario_names(results)
        .into_iter()
        .map(|name| {
            let mut row = vec![name.clone()];
            for p in results {
                row.push(match p.run(&name) {
                    Some(r) => {
                        let o = &r.outcome;
                        format!(
                            "{} / {} ({})",
                            pct(o.failed_share_outage),
                            pct(o.slo_missed_share_outage),
                            o.time_to_recover_s.map(|x| format!("{x:.0} s")).unwrap_or_else(|| "not in run".into())
                        )
                    }
                    None => "-".into(),
                });
            }
            row
        })
        .collect();
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    md.push_str(&markdown(&h, &rows));
    md.push_str("\n## Static blast radius per kind of component (min / mean / max)\n\n");
    let mmm = |s: crate::blast::Spread, k: f64| format!("{} / {} / {}", cell(s.min * k, 1), cell(s.mean * k, 1), cell(s.max * k, 1));
    let spread: Vec<Vec<String>> = results
        .iter()
        .flat_map(|p| {
            p.analysis.spreads().into_iter().map(move |s| {
                vec![
                    p.placement.to_string(),
                    s.kind.to_string(),
                    s.count.to_string(),
                    mmm(s.pods_cut, 1.0),
                    mmm(s.traffic_share, 100.0),
                    mmm(s.identities, 1.0),
                    mmm(s.plaintext_share, 100.0),
                ]
            })
        })
        .collect();
    md.push_str(&markdown(&["placement", "kind", "count", "pods cut", "traffic %", "identities exposed", "plaintext %"], &spread));
    md.push_str("\n## Every run\n\n");
    let long: Vec<Vec<String>> = blast_rows(results)
        .into_iter()
        .map(|r| {
            vec![
                r[0].clone(),
                r[1].clone(),
                r[2].clone(),
                pct(r[3].parse().unwrap_or(0.0)),
                pct(r[16].parse().unwrap_or(0.0)),
                dash(&r[5]),
                dash(&r[15]),
                dash(&r[17]),
                dash(&r[18]),
                if r[8].is_empty() { "not in run".into() } else { r[8].clone() },
                r[9].clone(),
                r[11].clone(),
                r[14].clone(),
            ]
        })
        .collect();
    let mut header = RUN_COLUMNS.to_vec();
    header.extend(["pods cut", "identities", "note"]);
    md.push_str(&markdown(&header, &long));
    md
}

/// A scenario name as a file-name part: `crash node (worst)` → `crash-node-worst`.
pub fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').to_string()
}

/// A timeline as a series; a bucket without a value (no request succeeded in it) is no point.
fn timeline_series(name: String, r: &ScenarioResult, color: usize, value: fn(&crate::blast::TimelineRow) -> Option<f64>) -> Series {
    Series { name, points: r.outcome.timeline.iter().filter_map(|b| Some((b.t_s, value(b)?))).collect(), mark: Mark::Line, color }
}

fn miss_percent(b: &crate::blast::TimelineRow) -> Option<f64> {
    Some(if b.sent > 0 { b.slo_missed as f64 / b.sent as f64 * 100.0 } else { 0.0 })
}

fn p99_ms(b: &crate::blast::TimelineRow) -> Option<f64> {
    b.latency_p99_ms
}

/// The shaded disturbance windows of some runs (each distinct window once, labelled by what
/// happens in it), in seconds.
fn bands<'a>(runs: impl IntoIterator<Item = &'a ScenarioResult>) -> Vec<Band> {
    let mut windows: Vec<((u64, u64), bool, bool)> = Vec::new(); // window, something down, something squeezed
    for r in runs {
        let (a, b) = r.scenario.window_ns;
        if b <= a {
            continue;
        }
        let down =
            matches!(r.scenario.kind, ScenarioKind::Crash | ScenarioKind::Oom | ScenarioKind::Upgrade | ScenarioKind::ControlPlaneOutage);
        match windows.iter_mut().find(|w| w.0 == (a, b)) {
            Some(w) => {
                w.1 |= down;
                w.2 |= !down;
            }
            None => windows.push(((a, b), down, !down)),
        }
    }
    windows
        .into_iter()
        .map(|((a, b), down, squeezed)| Band {
            x0: a as f64 / 1e9,
            x1: b as f64 / 1e9,
            label: match (down, squeezed) {
                (true, false) => "down",
                (false, true) => "squeezed",
                _ => "down or squeezed",
            }
            .into(),
        })
        .collect()
}

/// The charts of a blast report, with the file stem of each: per placement, SLO misses under
/// every scenario; per scenario, SLO misses and p99 of every placement, the disturbance shaded.
pub fn charts(t: &Topology, s: &Settings, results: &[PlacementResult], o: ChartOptions) -> Vec<(String, Chart)> {
    let miss_y = "SLO misses incl. failures, % of requests started".to_string();
    let x_label = "request start time (s)".to_string();
    let slo_ms = s.blast.slo_p99_ns as f64 / 1e6;
    let mut out = Vec::new();
    for p in results {
        let chart = Chart {
            title: format!("{}: {} under each disturbance", t.name, p.placement),
            x_label: x_label.clone(),
            y_label: miss_y.clone(),
            series: p.runs.iter().enumerate().map(|(i, r)| timeline_series(r.scenario.name.clone(), r, i, miss_percent)).collect(),
            bands: bands(&p.runs),
            ..Chart::default()
        };
        out.push((format!("timeline-{}", p.placement), chart));
    }
    for name in scenario_names(results) {
        let runs: Vec<(&PlacementResult, &ScenarioResult)> = results.iter().filter_map(|p| p.run(&name).map(|r| (p, r))).collect();
        if name == "baseline" || runs.len() < 2 {
            continue;
        }
        let series = |value| {
            runs.iter()
                .enumerate()
                .map(|(i, (p, r))| timeline_series(p.placement.to_string(), r, placement_style(p.placement.as_str(), i), value))
                .collect::<Vec<_>>()
        };
        let shaded = bands(runs.iter().map(|(_, r)| *r));
        out.push((
            format!("scenario-{}", slug(&name)),
            Chart {
                title: format!("{}: {name}, SLO misses", t.name),
                x_label: x_label.clone(),
                y_label: miss_y.clone(),
                series: series(miss_percent),
                bands: shaded.clone(),
                ..Chart::default()
            },
        ));
        out.push((
            format!("scenario-{}-p99", slug(&name)),
            Chart {
                title: format!("{}: {name}, latency p99", t.name),
                x_label: x_label.clone(),
                y_label: "latency p99 of requests started (ms)".into(),
                series: series(p99_ms),
                bands: shaded,
                y_scale: o.latency_scale,
                ref_lines: vec![RefLine { y: slo_ms, label: format!("SLO p99 {}", format_duration_ns(s.blast.slo_p99_ns)) }],
                ..Chart::default()
            },
        ));
    }
    out
}

/// Every file of a blast report, into `staged`.
pub fn write_all(staged: &StagedDir, t: &Topology, s: &Settings, results: &[PlacementResult], o: ChartOptions) -> Result<(), String> {
    csv_file(&staged.file("blast.csv"), &BLAST_HEADER, blast_rows(results))?;
    csv_file(
        &staged.file("blast-static.csv"),
        &[
            "placement",
            "component",
            "kind",
            "node",
            "pods_cut",
            "pods",
            "services_cut",
            "traffic_share",
            "identities_exposed",
            "identities",
            "plaintext_share",
            "edges",
        ],
        static_rows(t, results),
    )?;
    csv_file(
        &staged.file("blast-spread.csv"),
        &[
            "placement",
            "kind",
            "count",
            "pods_cut_min",
            "pods_cut_mean",
            "pods_cut_max",
            "traffic_share_min",
            "traffic_share_mean",
            "traffic_share_max",
            "identities_min",
            "identities_mean",
            "identities_max",
            "plaintext_share_min",
            "plaintext_share_mean",
            "plaintext_share_max",
        ],
        spread_rows(results),
    )?;
    let timeline = results.iter().flat_map(|p| {
        p.runs.iter().flat_map(move |r| {
            r.outcome.timeline.iter().map(move |b| {
                vec![
                    p.placement.to_string(),
                    r.scenario.name.clone(),
                    cell(b.t_s, 3),
                    b.sent.to_string(),
                    b.succeeded.to_string(),
                    b.failed.to_string(),
                    b.slo_missed.to_string(),
                    opt(b.latency_p99_ms),
                ]
            })
        })
    });
    csv_file(
        &staged.file("timeline.csv"),
        &["placement", "scenario", "t_s", "sent", "succeeded", "failed", "slo_missed", "latency_p99_ms"],
        timeline,
    )?;
    std::fs::write(staged.file("blast.md"), blast_md(t, s, results)).map_err(|e| format!("{}: {e}", staged.file("blast.md").display()))?;

    for (stem, chart) in charts(t, s, results, o) {
        write_chart(&staged.file(&stem), &chart)?;
    }
    Ok(())
}
