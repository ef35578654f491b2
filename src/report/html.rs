//! `report.html`: one self-contained page per run, read from [`Results`] and the run's charts
//! (inline SVG): the question, warnings, the side-by-side tables, the charts, and the inputs
//! with their provenance. No scripts, fonts or other files are loaded (a Content Security
//! Policy forbids it), and the print styles lay it out for A4. Every text that comes from
//! an input file is escaped.

use std::fmt::Write as _;

use super::plot::{css_color, placement_style, svg_string, tick_label, Chart};
use super::results::*;

/// File names of the report in an output folder.
pub const REPORT_FILE: &str = "report.html";
pub const RESULTS_FILE: &str = "results.json";

/// Text made safe for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #111; background: #fff;
  max-width: 1180px; margin: 24px auto; padding: 0 16px; line-height: 1.45; }
h1 { font-size: 1.55em; margin: 0 0 .2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #bbb; padding-bottom: .15em; margin: 1.5em 0 .5em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; }
p.question { font-size: 1.1em; margin: .4em 0 .8em; }
p.meta, p.note { color: #444; font-size: .9em; }
table { border-collapse: collapse; margin: .4em 0 1em; font-size: .88em; }
th, td { border: 1px solid #c8c8c8; padding: 3px 7px; vertical-align: top; }
th { background: #f2f2f2; text-align: left; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.pos { color: #a40000; } td.neg { color: #006400; }
.warnings { border: 2px solid #c25e00; padding: .2em 1em; margin: .8em 0; }
.warnings h2 { border: none; margin: .4em 0; color: #8a3b00; }
.ok { border: 1px solid #9c9; padding: .4em 1em; margin: .8em 0; }
.swatch { display: inline-block; width: .8em; height: .8em; margin-right: .35em; vertical-align: -1px;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 10px 18px; }
figure { margin: .5em 0 1em; break-inside: avoid; page-break-inside: avoid; }
figure svg { width: 100%; height: auto; display: block; border: 1px solid #e4e4e4; }
figcaption { font-size: .85em; color: #444; }
.hash, code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .82em; word-break: break-all; }
footer { margin-top: 2em; border-top: 1px solid #ccc; padding-top: .4em; font-size: .82em; color: #555; }
@media print {
  @page { size: A4; margin: 12mm 11mm; }
  body { max-width: none; margin: 0; padding: 0; font-size: 9pt; }
  table { font-size: 7.4pt; page-break-inside: auto; }
  tr, figure, .warnings, .ok { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  th { background: none; }
  .charts { display: block; }
  figure svg { max-width: 175mm; max-height: 112mm; margin: 0 auto; border: none; }
}
"#;

fn num(x: Option<f64>, decimals: usize) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "—".into(),
    }
}

fn pct(x: Option<f64>, decimals: usize) -> String {
    num(x.map(|v| v * 100.0), decimals)
}

/// A table: header cells (escaped here) and rows of already-rendered cells (`<td>…</td>`).
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    out.push_str("<table><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            out.push_str(c);
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// A table of rows without a header (name, value).
fn kv_table(out: &mut String, rows: &[Vec<String>]) {
    out.push_str("<table><tbody>\n");
    for r in rows {
        let _ = writeln!(out, "<tr>{}</tr>", r.concat());
    }
    out.push_str("</tbody></table>\n");
}

fn td(text: &str) -> String {
    format!("<td>{}</td>", esc(text))
}

fn tdn(text: String) -> String {
    format!("<td class=\"n\">{}</td>", esc(&text))
}

/// A number cell coloured by sign (a rise in cost or latency is red).
fn td_delta(x: Option<f64>, decimals: usize) -> String {
    let class = match x {
        Some(v) if v > 0.0 => "n pos",
        Some(v) if v < 0.0 => "n neg",
        _ => "n",
    };
    let text = match x {
        Some(v) if v > 0.0 => format!("+{v:.decimals$}"),
        _ => num(x, decimals),
    };
    format!("<td class=\"{class}\">{}</td>", esc(&text))
}

fn td_placement(name: &str, position: usize) -> String {
    format!("<td><span class=\"swatch\" style=\"background:{}\"></span>{}</td>", css_color(placement_style(name, position)), esc(name))
}

fn figure(out: &mut String, chart: &Chart) -> Result<(), String> {
    let svg = svg_string(chart)?;
    let _ = writeln!(out, "<figure>{svg}<figcaption>{}</figcaption></figure>", esc(&chart.title));
    Ok(())
}

fn figures(out: &mut String, charts: &[&Chart]) -> Result<(), String> {
    if charts.is_empty() {
        return Ok(());
    }
    out.push_str("<div class=\"charts\">\n");
    for c in charts {
        figure(out, c)?;
    }
    out.push_str("</div>\n");
    Ok(())
}

/// The page of a run. `charts` are keyed by file stem (blast places its scenario charts by it).
pub fn render(r: &Results, charts: &[(String, Chart)]) -> Result<String, String> {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"meshsim {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&r.meshsim_version),
        esc(&r.title)
    );
    let _ =
        write!(out, "<header>\n<h1>{}</h1>\n<p class=\"question\"><strong>Question:</strong> {}</p>\n", esc(&r.title), esc(&r.question));
    // validate simulates each measured level with its own rate and duration: no one run to state.
    for s in r.inputs.iter().filter(|_| r.command != "validate") {
        let _ = writeln!(
            out,
            "<p class=\"meta\">{}{}: {} services, {} pods on {} nodes ({} vCPU), {} rps for {} s after a {} s warm-up, seed {}; meshsim {}.</p>",
            if r.inputs.len() > 1 { format!("Variant {}: ", esc(&s.label.to_uppercase())) } else { String::new() },
            esc(&s.topology.name),
            s.topology.services,
            s.topology.pods,
            s.topology.nodes,
            tick_label(s.topology.vcpu_total),
            tick_label(s.total_rate_rps),
            tick_label(s.duration_s - s.warmup_s),
            tick_label(s.warmup_s),
            s.seed,
            esc(&r.meshsim_version)
        );
    }
    out.push_str("</header>\n");
    warnings(&mut out, &r.warnings);
    let all: Vec<&Chart> = charts.iter().map(|(_, c)| c).collect();
    match &r.body {
        Body::Compare(c) => {
            out.push_str("<h2>Side by side</h2>\n");
            placements_table(&mut out, &c.placements);
            out.push_str(
                "<p class=\"note\">Latency is end to end, of successful requests; <em>added</em> is over <code>none</code> in the same run \
                 (the same seed for every placement); CPU and memory are the data plane's steady state over the measurement window.</p>\n",
            );
            node_table(&mut out, &c.nodes);
            out.push_str("<h2>Charts</h2>\n");
            figures(&mut out, &all)?;
        }
        Body::Variants(v) => {
            variants(&mut out, v);
            out.push_str("<h2>Charts</h2>\n");
            figures(&mut out, &all)?;
        }
        Body::Blast(b) => blast(&mut out, b, charts)?,
        Body::Sweep(s) => {
            sweep(&mut out, s);
            out.push_str("<h2>Charts</h2>\n");
            figures(&mut out, &all)?;
        }
        Body::Capacity(c) => {
            capacity(&mut out, c);
            out.push_str("<h2>Charts</h2>\n");
            figures(&mut out, &all)?;
        }
        Body::Validate(v) => {
            if !all.is_empty() {
                out.push_str("<h2>Charts</h2>\n");
                figures(&mut out, &all)?;
            }
            validate(&mut out, v);
        }
    }
    inputs(&mut out, &r.inputs);
    let _ = write!(
        out,
        "<footer>Written by meshsim {} (<code>{}</code>). Every figure on this page is in <code>results.json</code> beside it \
         (schema version {}); the same inputs and seed give the same bytes.</footer>\n</body>\n</html>\n",
        esc(&r.meshsim_version),
        esc(&r.command),
        r.schema_version
    );
    Ok(out)
}

fn warnings(out: &mut String, ws: &[Warning]) {
    if ws.is_empty() {
        out.push_str("<div class=\"ok\">No warnings: the models share their hardware, and no placement saturated or missed a latency target that was given.</div>\n");
        return;
    }
    out.push_str("<section class=\"warnings\">\n<h2>Warnings</h2>\n<ul>\n");
    for w in ws {
        let kind = serde_json::to_value(w.kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let _ = writeln!(out, "<li><strong>{}</strong>: {}</li>", esc(&kind), esc(&w.message));
    }
    out.push_str("</ul>\n</section>\n");
}

const PLACEMENT_HEADER: [&str; 17] = [
    "placement",
    "proxies",
    "L7 passes/req",
    "passes/req",
    "data-plane CPU (mC)",
    "data-plane memory (MiB)",
    "control-plane CPU (mC)",
    "control-plane memory (MiB)",
    "mesh CPU (mC)",
    "mesh memory (MiB)",
    "p50 (ms)",
    "p90 (ms)",
    "p99 (ms)",
    "added p50 (ms)",
    "added p90 (ms)",
    "added p99 (ms)",
    "errors (%)",
];

fn placement_cells(i: usize, p: &PlacementFigures) -> Vec<String> {
    vec![
        td_placement(&p.placement, i),
        tdn(p.proxies.to_string()),
        tdn(num(Some(p.l7_passes_per_request), 2)),
        tdn(num(Some(p.passes_per_request), 2)),
        tdn(num(Some(p.dp_cpu_millicores), 1)),
        tdn(num(Some(p.dp_mem_mib), 1)),
        tdn(num(p.cp_cpu_millicores, 1)),
        tdn(num(p.cp_mem_mib, 1)),
        tdn(num(Some(p.mesh_cpu_millicores), 1)),
        tdn(num(Some(p.mesh_mem_mib), 1)),
        tdn(num(p.latency_p50_ms, 3)),
        tdn(num(p.latency_p90_ms, 3)),
        tdn(num(p.latency_p99_ms, 3)),
        tdn(num(p.added_p50_ms, 3)),
        tdn(num(p.added_p90_ms, 3)),
        tdn(num(p.added_p99_ms, 3)),
        tdn(pct(Some(p.error_share), 3)),
    ]
}

fn placements_table(out: &mut String, rows: &[PlacementFigures]) {
    let body: Vec<Vec<String>> = rows.iter().enumerate().map(|(i, p)| placement_cells(i, p)).collect();
    table(out, &PLACEMENT_HEADER, &body);
}

/// Node CPU under each placement: how busy each node is, and who uses it.
fn node_table(out: &mut String, sets: &[PlacementNodes]) {
    if sets.iter().all(|s| s.nodes.is_empty()) {
        return;
    }
    out.push_str("<h2>Node CPU and memory</h2>\n");
    let mut rows = Vec::new();
    for (i, s) in sets.iter().enumerate() {
        for n in &s.nodes {
            let proxies =
                n.sidecar_millicores + n.node_proxy_millicores + n.ztunnel_millicores + n.waypoint_millicores + n.proxy_idle_millicores;
            rows.push(vec![
                td_placement(&s.placement, i),
                td(&n.node),
                tdn(tick_label(n.vcpu)),
                tdn(pct(Some(n.cpu_utilization_share), 1)),
                tdn(num(Some(n.app_millicores), 0)),
                tdn(num(Some(proxies), 0)),
                tdn(num(Some(n.ready_tasks_mean), 2)),
                tdn(num(Some(n.throttled_ms_per_s), 1)),
                tdn(num(Some(n.memory_mib), 0)),
                tdn(num(Some(n.mem_used_mib), 0)),
                tdn(num(Some(n.mem_peak_mib), 0)),
                tdn(format!("{} / {}", n.oom_kills, n.evictions)),
            ]);
        }
    }
    table(
        out,
        &[
            "placement",
            "node",
            "vCPU",
            "busy (%)",
            "apps (mC)",
            "proxies incl. idle (mC)",
            "tasks waiting",
            "throttled (ms/s)",
            "memory (MiB)",
            "mem used (MiB)",
            "mem peak (MiB)",
            "OOM kills / evictions",
        ],
        &rows,
    );
}

fn variants(out: &mut String, v: &VariantsSection) {
    let _ = write!(out, "<h2>Variant A</h2>\n<p class=\"meta\">{}</p>\n", esc(&v.a_label));
    placements_table(out, &v.placements.iter().map(|p| p.a.clone()).collect::<Vec<_>>());
    let _ = write!(out, "<h2>Variant B</h2>\n<p class=\"meta\">{}</p>\n", esc(&v.b_label));
    placements_table(out, &v.placements.iter().map(|p| p.b.clone()).collect::<Vec<_>>());
    out.push_str("<h2>Differences, B against A</h2>\n");
    let mut rows = Vec::new();
    for (i, p) in v.placements.iter().enumerate() {
        for d in &p.differences {
            let share = d.metric == "error_share";
            let (k, dec) = if share { (100.0, 3) } else { (1.0, if d.metric.starts_with("dp_") { 1 } else { 3 }) };
            let name = if share { "errors (%)".to_string() } else { d.metric.clone() };
            rows.push(vec![
                td_placement(&p.placement, i),
                format!("<td><code>{}</code></td>", esc(&name)),
                tdn(num(d.a.map(|x| x * k), dec)),
                tdn(num(d.b.map(|x| x * k), dec)),
                td_delta(d.b_minus_a.map(|x| x * k), dec),
                tdn(num(d.b_over_a, 3)),
            ]);
        }
    }
    table(out, &["placement", "figure", "A", "B", "B − A", "B ÷ A"], &rows);
}

fn blast(out: &mut String, b: &BlastSection, charts: &[(String, Chart)]) -> Result<(), String> {
    let _ = writeln!(
        out,
        "<p class=\"meta\">Each disturbance starts at {} s and lasts {} s{}; SLO: p99 under {} ms; CPU limit of squeezes {} m; noisy tenant {} Mbit/s.</p>",
        tick_label(b.fail_at_s),
        tick_label(b.outage_s),
        b.node_reschedule_s.map(|s| format!(" (a failed node's pods come back after {} s)", tick_label(s))).unwrap_or_default(),
        tick_label(b.slo_p99_ms),
        tick_label(b.cpu_limit_millicores),
        tick_label(b.noisy_tenant_mbps),
    );
    // Scenario names in order of first appearance.
    let mut names: Vec<&str> = Vec::new();
    for p in &b.placements {
        for s in &p.scenarios {
            if !names.contains(&s.scenario.as_str()) {
                names.push(&s.scenario);
            }
        }
    }
    out.push_str("<h2>Side by side: failed % / SLO-miss % during the disturbance (seconds to recover)</h2>\n");
    let mut header = vec!["scenario"];
    header.extend(b.placements.iter().map(|p| p.placement.as_str()));
    let rows: Vec<Vec<String>> = names
        .iter()
        .map(|name| {
            let mut row = vec![td(name)];
            for p in &b.placements {
                row.push(match p.scenarios.iter().find(|s| s.scenario == *name) {
                    Some(s) => tdn(format!(
                        "{} / {} ({})",
                        pct(Some(s.failed_share_outage), 2),
                        pct(Some(s.slo_missed_share_outage), 2),
                        s.time_to_recover_s.map(|x| format!("{} s", tick_label(x))).unwrap_or_else(|| "not in run".into())
                    )),
                    None => tdn("—".into()),
                });
            }
            row
        })
        .collect();
    table(out, &header, &rows);
    out.push_str("<h2>Static blast radius per kind of component (min / mean / max)</h2>\n");
    let mmm = |m: MinMeanMax, k: f64| tdn(format!("{:.1} / {:.1} / {:.1}", m.min * k, m.mean * k, m.max * k));
    let mut rows = Vec::new();
    for (i, p) in b.placements.iter().enumerate() {
        for c in &p.components {
            rows.push(vec![
                td_placement(&p.placement, i),
                td(&c.kind),
                tdn(c.count.to_string()),
                mmm(c.pods_cut, 1.0),
                mmm(c.traffic_share, 100.0),
                mmm(c.identities_exposed, 1.0),
                mmm(c.plaintext_share, 100.0),
            ]);
        }
    }
    table(out, &["placement", "kind", "count", "pods cut", "traffic %", "identities exposed", "plaintext %"], &rows);
    out.push_str("<h2>Scenarios</h2>\n");
    for name in &names {
        let _ = writeln!(out, "<h3>{}</h3>", esc(name));
        let mut rows = Vec::new();
        let mut note = String::new();
        for (i, p) in b.placements.iter().enumerate() {
            let Some(s) = p.scenarios.iter().find(|s| s.scenario == *name) else { continue };
            if note.is_empty() {
                note = s.note.clone();
            }
            rows.push(vec![
                td_placement(&p.placement, i),
                td(&s.target),
                tdn(pct(Some(s.failed_share_outage), 2)),
                tdn(pct(Some(s.slowed_share_outage), 2)),
                tdn(num(s.latency_p99_outage_ms, 2)),
                tdn(num(s.latency_p99_all_outage_ms, 2)),
                tdn(num(s.time_to_fail_ms, 2)),
                tdn(num(s.time_to_route_around_s, 1)),
                tdn(s.time_to_recover_s.map(tick_label).unwrap_or_else(|| "not in run".into())),
                tdn(s.pods_cut.map(|x| x.to_string()).unwrap_or_else(|| "—".into())),
                tdn(pct(s.traffic_share, 1)),
                tdn(s.identities_exposed.map(|x| x.to_string()).unwrap_or_else(|| "—".into())),
                td(&s.note),
            ]);
        }
        table(
            out,
            &[
                "placement",
                "target",
                "failed %",
                "slowed %",
                "p99 ok (ms)",
                "p99 all (ms)",
                "time to fail (ms)",
                "route around (s)",
                "recover (s)",
                "pods cut",
                "traffic %",
                "identities",
                "note",
            ],
            &rows,
        );
        let slug = super::blast_out::slug(name);
        let mine: Vec<&Chart> = charts
            .iter()
            .filter(|(k, _)| *k == format!("scenario-{slug}") || *k == format!("scenario-{slug}-p99"))
            .map(|(_, c)| c)
            .collect();
        figures(out, &mine)?;
    }
    out.push_str("<h2>Each placement under every disturbance</h2>\n");
    let per_placement: Vec<&Chart> = charts.iter().filter(|(k, _)| k.starts_with("timeline-")).map(|(_, c)| c).collect();
    figures(out, &per_placement)
}

fn sweep(out: &mut String, s: &SweepSection) {
    if !s.description.is_empty() {
        let _ = writeln!(out, "<p class=\"meta\">{}</p>", esc(&s.description));
    }
    out.push_str("<h2>Every case, side by side</h2>\n");
    let mut header: Vec<&str> = vec!["case"];
    header.extend(s.axes.iter().map(String::as_str));
    header.extend(["placement", "data-plane CPU (mC)", "data-plane memory (MiB)", "p50 (ms)", "p99 (ms)", "added p99 (ms)", "errors (%)"]);
    let mut rows = Vec::new();
    for c in &s.cases {
        for (i, p) in c.placements.iter().enumerate() {
            let mut row = vec![td(&match &c.name {
                Some(n) => format!("{} {n}", c.index),
                None => c.index.to_string(),
            })];
            row.extend(s.axes.iter().map(|a| tdn(c.values.get(a).map(value_text).unwrap_or_default())));
            row.extend([
                td_placement(&p.placement, i),
                tdn(num(Some(p.dp_cpu_millicores), 1)),
                tdn(num(Some(p.dp_mem_mib), 1)),
                tdn(num(p.latency_p50_ms, 3)),
                tdn(num(p.latency_p99_ms, 3)),
                tdn(num(p.added_p99_ms, 3)),
                tdn(pct(Some(p.error_share), 3)),
            ]);
            rows.push(row);
        }
    }
    table(out, &header, &rows);
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn capacity(out: &mut String, c: &CapacitySection) {
    let _ = writeln!(
        out,
        "<p class=\"meta\">A rate passes when p99 ≤ {} ms and at most {}% of requests fail; nodes of type <code>{}</code> ({} vCPU, {} MiB) keep {}% free.</p>",
        tick_label(c.slo_p99_ms),
        tick_label(c.max_error_share * 100.0),
        esc(&c.node_type.name),
        tick_label(c.node_type.vcpu),
        tick_label(c.node_type.memory_mib),
        tick_label(c.headroom_share * 100.0)
    );
    out.push_str("<h2>Highest rate within the SLO, and what it needs</h2>\n");
    let sizing_cells = |s: Option<&Sizing>| -> Vec<String> {
        vec![
            tdn(num(s.and_then(|s| s.figures.latency_p99_ms), 2)),
            tdn(num(s.map(|s| s.figures.dp_cpu_millicores), 0)),
            tdn(num(s.map(|s| s.figures.dp_mem_mib), 1)),
            tdn(num(s.map(|s| s.total_cpu_millicores), 0)),
            tdn(num(s.map(|s| s.total_mem_mib), 0)),
            tdn(s
                .and_then(|s| {
                    s.nodes_needed.map(|n| if s.nodes_bound == Some("cpu-use") { format!("{n} (by use)") } else { n.to_string() })
                })
                .unwrap_or_else(|| "—".into())),
        ]
    };
    let rows: Vec<Vec<String>> = c
        .placements
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let max = match p.rate_failing_rps {
                None => format!("≥ {:.0}", p.rate_max_rps),
                Some(_) if p.at_max.is_none() => "none".into(),
                Some(_) => format!("{:.0}", p.rate_max_rps),
            };
            let mut row = vec![td_placement(&p.placement, i), tdn(max)];
            row.extend(sizing_cells(p.at_max.as_ref()));
            row.push(tdn(p.probes.len().to_string()));
            row
        })
        .collect();
    table(
        out,
        &[
            "placement",
            "max rps",
            "p99 (ms)",
            "DP CPU (mC)",
            "DP memory (MiB)",
            "total CPU (mC)",
            "total memory (MiB)",
            "nodes",
            "rates probed",
        ],
        &rows,
    );
    if let Some(rate) = c.rate_rps {
        let _ = writeln!(out, "<h2>Sized for {} rps</h2>", tick_label(rate));
        let rows: Vec<Vec<String>> = c
            .placements
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let s = p.at_rate.as_ref()?;
                let mut row = vec![td_placement(&p.placement, i), td(if s.meets_slo { "yes" } else { "no" })];
                row.extend(sizing_cells(Some(s)));
                Some(row)
            })
            .collect();
        table(
            out,
            &["placement", "meets SLO", "p99 (ms)", "DP CPU (mC)", "DP memory (MiB)", "total CPU (mC)", "total memory (MiB)", "nodes"],
            &rows,
        );
    }
}

fn validate(out: &mut String, v: &ValidateSection) {
    let groups = [
        ("gsd", "Faces measurements (gsd-v1), models fitted on every level"),
        ("gsd-holdout", "Out of sample: each level predicted by models fitted on the other levels"),
        ("gsd-latency", "Faces end-to-end latency against the load generator's percentiles (no model is fitted to it)"),
        ("istio-published", "Istio's published figures at 1000 rps"),
        ("istio-benchmark", "Istio's benchmark rows"),
        ("livewyer-bookinfo", "Bookinfo throughput on 2-vCPU nodes as a share of no mesh, against LiveWyer's measurements"),
    ];
    for (group, title) in groups {
        let checks: Vec<&Check> = v.checks.iter().filter(|c| c.group == group).collect();
        if checks.is_empty() {
            continue;
        }
        let targeted = checks.iter().filter(|c| c.within_target.is_some()).count();
        let within = checks.iter().filter(|c| c.within_target == Some(true)).count();
        let _ = writeln!(out, "<h2>{}</h2>", esc(title));
        if targeted > 0 {
            let _ = writeln!(out, "<p class=\"meta\">{within} of {targeted} checks within target.</p>");
        }
        let rows: Vec<Vec<String>> = checks
            .iter()
            .map(|c| {
                vec![
                    td(&c.subject),
                    td(&format!("{} ({})", c.metric, c.unit)),
                    tdn(num(Some(c.rate_rps), 0)),
                    tdn(num(Some(c.measured), 3)),
                    tdn(num(Some(c.simulated), 3)),
                    td_delta(c.error_share.map(|e| e * 100.0), 1),
                    tdn(c.target_share.map(|t| format!("±{}%", tick_label(t * 100.0))).unwrap_or_else(|| "—".into())),
                    td(match c.within_target {
                        Some(true) => "ok",
                        Some(false) => "MISS",
                        None => "—",
                    }),
                ]
            })
            .collect();
        table(out, &["what", "figure", "rps", "measured", "simulated", "error (%)", "target", "result"], &rows);
    }
}

fn inputs(out: &mut String, sets: &[InputSet]) {
    out.push_str("<h2>Inputs</h2>\n");
    for s in sets {
        let t = &s.topology;
        if sets.len() > 1 {
            let _ = writeln!(out, "<h3>Variant {}</h3>", esc(&s.label.to_uppercase()));
        }
        let hash = |f: &FileIdentity| f.sha256.clone().unwrap_or_else(|| "not readable".into());
        let rows = vec![
            vec![td("topology"), td(&format!("{} — {}", t.name, t.description))],
            vec![
                td("file"),
                format!("<td><code>{}</code><br><span class=\"hash\">sha256 {}</span></td>", esc(&t.file.path), esc(&hash(&t.file))),
            ],
            vec![
                td("size"),
                td(&format!(
                    "{} services, {} pods on {} nodes in {} cluster(s), {} vCPU in all, {} namespace(s), {} load(s)",
                    t.services,
                    t.pods,
                    t.nodes,
                    t.clusters,
                    tick_label(t.vcpu_total),
                    t.namespaces,
                    t.loads
                )),
            ],
            vec![
                td("run"),
                td(&format!(
                    "{} rps for {} s, the first {} s excluded as warm-up; seed {}{}",
                    tick_label(s.total_rate_rps),
                    tick_label(s.duration_s),
                    tick_label(s.warmup_s),
                    s.seed,
                    if s.seed_picked { " (picked for this run)" } else { "" }
                )),
            ],
        ];
        let mut rows = rows;
        if let (Some(name), Some(answers)) = (&s.profile, &s.profile_answers) {
            rows.push(vec![td("cost-model profile"), td(&format!("{name}: answers {answers}"))]);
        }
        kv_table(out, &rows);
        let rows: Vec<Vec<String>> = s
            .models
            .iter()
            .map(|m| {
                let get = |k: &str| m.provenance.get(k).cloned().unwrap_or_else(|| "—".into());
                vec![
                    td(&m.kind),
                    td(&m.name),
                    td(&get("source")),
                    td(&get("version")),
                    td(&get("hardware")),
                    format!("<td><code>{}</code><br><span class=\"hash\">sha256 {}</span></td>", esc(&m.file.path), esc(&hash(&m.file))),
                ]
            })
            .collect();
        out.push_str("<p class=\"meta\">Cost models and where their numbers come from (each file's <code>[provenance]</code>):</p>\n");
        table(out, &["kind", "model", "source", "version", "hardware", "file"], &rows);
    }
}

/// Write `results.json` and `report.html` into `dir`.
pub fn write(dir: &std::path::Path, r: &Results, charts: &[(String, Chart)]) -> Result<(), String> {
    let json = dir.join(RESULTS_FILE);
    std::fs::write(&json, to_json(r)).map_err(|e| format!("{}: {e}", json.display()))?;
    let html = dir.join(REPORT_FILE);
    std::fs::write(&html, render(r, charts)?).map_err(|e| format!("{}: {e}", html.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(esc(r#"<script>alert("x")</script> & 'y'"#), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;");
    }
}
