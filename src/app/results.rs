//! Each command's [`Results`]: what it found, shaped for `results.json` and `report.html`,
//! with the identity of what it read and the warnings its figures call for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::blast::BlastReport;
use super::capacity::{self as cap, CapacityReport};
use super::compare::Comparison;
use super::sweep::SweepOutcome;
use super::validate::{self as val, Check as GsdCheck};
use super::Inputs;
use crate::model::CostModels;
use crate::report::results::*;
use crate::units::format_duration_ns;
use crate::validate::istio::{IstioBenchRow, PublishedCheck};
use crate::validate::shape::ShapeCheck;

/// How a command's report is drawn and judged (from the command line).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReportOptions {
    pub charts: crate::report::plot::ChartOptions,
    /// A p99 target to draw and to warn about (`--slo-p99`), where the command has none of its own.
    pub slo_p99_ns: Option<u64>,
    /// `run --export-traffic`: the run as manifests, metrics and traces under `traffic/`.
    pub export_traffic: bool,
}

/// Share of failed requests above which a placement is flagged as saturated.
const SATURATION_ERROR_SHARE: f64 = 0.001;
/// Largest relative error of an added-latency row of Istio's benchmark counted as a match
/// (as the `validate` tables count them).
const ISTIO_LATENCY_TARGET: f64 = 0.25;
/// Busy share of a node's vCPUs from which a placement is flagged as near saturation.
const SATURATION_NODE_CPU_SHARE: f64 = 0.9;
/// Share of measured requests still unfinished at the end above which the same holds.
const SATURATION_UNFINISHED_SHARE: f64 = 0.01;

fn base(command: &str, title: String, question: String, inputs: Vec<InputSet>, body: Body) -> Results {
    Results {
        schema_version: SCHEMA_VERSION,
        meshsim_version: env!("CARGO_PKG_VERSION").to_string(),
        command: command.to_string(),
        title,
        question,
        warnings: input_warnings(&inputs),
        inputs,
        body,
    }
}

/// Identity and counts of a topology with its models and the run's settings.
pub fn input_set(label: &str, inputs: &Inputs, seed: u64, seed_picked: bool) -> InputSet {
    let t = &inputs.topology;
    let clusters: BTreeSet<&str> = t.nodes.iter().map(|n| n.cluster.as_str()).collect();
    InputSet {
        label: label.to_string(),
        topology: TopologyInfo {
            name: t.name.clone(),
            description: t.description.clone(),
            file: FileIdentity::of_bytes(&t.source, inputs.topology_text.as_bytes()),
            services: t.services.len(),
            pods: t.pods.len(),
            nodes: t.nodes.len(),
            clusters: clusters.len(),
            namespaces: t.namespaces.len(),
            vcpu_total: r4(t.nodes.iter().map(|n| n.vcpu).sum()),
            loads: t.loads.len(),
        },
        models: model_infos(&inputs.models),
        profile: t.mesh.profile.as_ref().map(|p| p.name.clone()),
        model_sources: model_sources(&inputs.models).into_iter().map(|(s, _)| s).collect(),
        seed,
        seed_picked,
        duration_s: r4(t.simulation.duration_ns as f64 / 1e9),
        warmup_s: r4(t.simulation.warmup_ns as f64 / 1e9),
        total_rate_rps: r4(t.total_rate_rps()),
    }
}

fn model_infos(models: &CostModels) -> Vec<ModelInfo> {
    models
        .by_kind
        .iter()
        .map(|(k, m)| ModelInfo {
            kind: k.as_str().to_string(),
            name: m.name.clone(),
            file: FileIdentity::of_file(&m.source),
            provenance: m.provenance.clone(),
        })
        .collect()
}

/// Where a model's numbers come from: its `[provenance] profile`, else the hardware it
/// names, else "an unstated source".
fn source_of(provenance: &BTreeMap<String, String>) -> String {
    match (provenance.get("profile"), provenance.get("hardware")) {
        (Some(p), _) => format!("profile {p}"),
        (None, Some(hw)) => format!("hardware {hw}"),
        (None, None) => "an unstated source".into(),
    }
}

/// The sources of a set of models, each with the models (`name (kind)`) it gave.
pub fn model_sources(models: &CostModels) -> Vec<(String, Vec<String>)> {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, m) in &models.by_kind {
        by.entry(source_of(&m.provenance)).or_default().push(format!("{} ({})", m.name, k.as_str()));
    }
    by.into_iter().collect()
}

/// One line saying where a run's cost models come from, for terminals and `summary.md`.
pub fn models_line(inputs: &Inputs) -> String {
    let profile = match &inputs.topology.mesh.profile {
        Some(p) => format!("profile `{}` ({}; {})", p.name, p.software, p.hardware),
        None => "no profile".into(),
    };
    let sources: Vec<String> = model_sources(&inputs.models).iter().map(|(s, ms)| format!("{s}: {}", ms.join(", "))).collect();
    format!("Cost models: {profile}. Sources: {}.", if sources.is_empty() { "none".into() } else { sources.join("; ") })
}

/// The warning of models from more than one source, naming each source and its models.
pub fn mixed_sources_message(sources: &[(String, Vec<String>)]) -> Option<String> {
    (sources.len() > 1).then(|| {
        let list: Vec<String> = sources.iter().map(|(s, ms)| format!("{} from {s}", ms.join(", "))).collect();
        format!(
            "the cost models come from more than one source (different hardware or measurements), so their figures do not compare directly: {}",
            list.join("; ")
        )
    })
}

/// Warnings about what was read: models from more than one source or from unnamed
/// sources, and picked seeds.
fn input_warnings(sets: &[InputSet]) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for s in sets {
        for m in &s.models {
            if !seen.insert((m.name.clone(), m.file.sha256.clone())) {
                continue;
            }
            sources.entry(source_of(&m.provenance)).or_default().push(format!("{} ({})", m.name, m.kind));
            if !m.provenance.contains_key("source") {
                out.push(Warning {
                    kind: WarningKind::UnknownModelSource,
                    placement: None,
                    message: format!(
                        "cost model {} ({}) names no [provenance] source: where its numbers come from is unknown",
                        m.name, m.file.path
                    ),
                });
            }
        }
    }
    let sources: Vec<(String, Vec<String>)> = sources.into_iter().collect();
    if let Some(message) = mixed_sources_message(&sources) {
        out.push(Warning { kind: WarningKind::MixedModelSources, placement: None, message });
    }
    for s in sets {
        if s.seed_picked {
            out.push(Warning {
                kind: WarningKind::SeedPicked,
                placement: None,
                message: format!("no seed was given for {}; seed {} was picked: pass --seed {} to repeat the run", s.label, s.seed, s.seed),
            });
        }
    }
    out
}

/// Saturation and SLO warnings of placement rows (`prefix` names the variant or case).
fn placement_warnings(rows: &[PlacementFigures], slo_p99_ms: Option<f64>, prefix: &str) -> Vec<Warning> {
    let mut out = Vec::new();
    for r in rows {
        let placement = Some(r.placement.clone());
        if r.error_share > SATURATION_ERROR_SHARE {
            out.push(Warning {
                kind: WarningKind::Saturation,
                placement: placement.clone(),
                message: format!(
                    "{prefix}{}: {:.2}% of requests failed (queues overflowing, a timeout, or a component at its limit)",
                    r.placement,
                    r.error_share * 100.0
                ),
            });
        }
        let unfinished = r.requests_sent.saturating_sub(r.requests_succeeded + r.requests_failed);
        if r.requests_sent > 0 && unfinished as f64 / r.requests_sent as f64 > SATURATION_UNFINISHED_SHARE {
            out.push(Warning {
                kind: WarningKind::Saturation,
                placement: placement.clone(),
                message: format!(
                    "{prefix}{}: {:.1}% of the requests sent had not finished when the run ended: work arrives faster than it is done",
                    r.placement,
                    unfinished as f64 / r.requests_sent as f64 * 100.0
                ),
            });
        }
        if r.node_cpu_utilization_max_share >= SATURATION_NODE_CPU_SHARE {
            out.push(Warning {
                kind: WarningKind::Saturation,
                placement: placement.clone(),
                message: format!(
                    "{prefix}{}: the busiest node's CPU is {:.0}% busy: near saturation, queueing for cores dominates latency",
                    r.placement,
                    r.node_cpu_utilization_max_share * 100.0
                ),
            });
        }
        if r.requests_succeeded == 0 && r.requests_sent > 0 {
            out.push(Warning {
                kind: WarningKind::Saturation,
                placement: placement.clone(),
                message: format!("{prefix}{}: no request succeeded, so it has no latency", r.placement),
            });
        }
        if let (Some(slo), Some(p99)) = (slo_p99_ms, r.latency_p99_ms) {
            if p99 > slo {
                out.push(Warning {
                    kind: WarningKind::SloMiss,
                    placement,
                    message: format!(
                        "{prefix}{}: p99 {p99:.2} ms is over the SLO of {} ms",
                        r.placement,
                        crate::report::plot::tick_label(slo)
                    ),
                });
            }
        }
    }
    out
}

fn describe(inputs: &Inputs) -> String {
    let t = &inputs.topology;
    format!(
        "`{}` ({} services, {} pods on {} nodes) at {:.0} rps",
        t.name,
        t.services.len(),
        t.pods.len(),
        t.nodes.len(),
        t.total_rate_rps()
    )
}

fn slo_ms(ns: Option<u64>) -> Option<f64> {
    ns.map(|n| r4(n as f64 / 1e6))
}

/// `compare` (several placements) and `run` (one).
pub fn compare(c: &Comparison, command: &str, slo_p99_ns: Option<u64>) -> Results {
    let t = &c.inputs.topology;
    let placements: Vec<PlacementFigures> = c.rows.iter().map(PlacementFigures::of).collect();
    let (title, question) = if command == "run" {
        let p = placements.first().map(|p| p.placement.clone()).unwrap_or_default();
        (
            format!("{}: one placement ({p})", t.name),
            format!("What does the {p} data plane cost in CPU and memory, and what latency do requests see, for {}?", describe(&c.inputs)),
        )
    } else {
        (
            format!("{}: data-plane placements compared", t.name),
            format!(
                "What does each data-plane placement cost in CPU and memory, and how much latency does it add, for {}?",
                describe(&c.inputs)
            ),
        )
    };
    let mut r = base(
        command,
        title,
        question,
        vec![input_set(&t.name, &c.inputs, c.seed, c.seed_was_picked)],
        Body::Compare(CompareSection {
            slo_p99_ms: slo_ms(slo_p99_ns),
            placements: placements.clone(),
            nodes: c
                .runs
                .iter()
                .map(|r| PlacementNodes {
                    placement: r.summary.summary.placement.to_string(),
                    nodes: r.summary.nodes.iter().map(NodeFigures::of).collect(),
                })
                .collect(),
        }),
    );
    r.warnings.extend(placement_warnings(&placements, slo_ms(slo_p99_ns), ""));
    for (run, note) in c.runs.iter().filter_map(|run| {
        crate::metrics::saturated_proxies_note(run.summary.summary.placement.as_str(), &run.summary.proxies).map(|n| (run, n))
    }) {
        r.warnings.push(Warning {
            kind: WarningKind::Saturation,
            placement: Some(run.summary.summary.placement.to_string()),
            message: note,
        });
    }
    for run in &c.runs {
        if let Some(note) = crate::metrics::memory_note(&run.summary.summary) {
            r.warnings.push(Warning {
                kind: WarningKind::MemoryRanOut,
                placement: Some(run.summary.summary.placement.to_string()),
                message: note,
            });
        }
    }
    r
}

/// The figures `compare A B` sets side by side, by field name.
pub const DIFFERENCE_METRICS: [&str; 9] = [
    "dp_cpu_millicores",
    "dp_mem_mib",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "added_p50_ms",
    "added_p90_ms",
    "added_p99_ms",
    "error_share",
];

/// A figure of a placement row by its field name (one of [`DIFFERENCE_METRICS`]).
pub fn metric(f: &PlacementFigures, name: &str) -> Option<f64> {
    match name {
        "dp_cpu_millicores" => Some(f.dp_cpu_millicores),
        "dp_mem_mib" => Some(f.dp_mem_mib),
        "latency_p50_ms" => f.latency_p50_ms,
        "latency_p90_ms" => f.latency_p90_ms,
        "latency_p99_ms" => f.latency_p99_ms,
        "added_p50_ms" => f.added_p50_ms,
        "added_p90_ms" => f.added_p90_ms,
        "added_p99_ms" => f.added_p99_ms,
        "error_share" => Some(f.error_share),
        _ => None,
    }
}

/// B − A and B ÷ A of every figure in [`DIFFERENCE_METRICS`].
pub fn differences(a: &PlacementFigures, b: &PlacementFigures) -> Vec<Difference> {
    DIFFERENCE_METRICS
        .iter()
        .map(|&m| {
            let (x, y) = (metric(a, m), metric(b, m));
            let precision = if m == "error_share" { r6 } else { r4 };
            Difference {
                metric: m.to_string(),
                a: x,
                b: y,
                b_minus_a: x.zip(y).map(|(x, y)| precision(y - x)),
                b_over_a: x.zip(y).and_then(|(x, y)| (x != 0.0).then(|| r4(y / x))),
            }
        })
        .collect()
}

/// `compare A B`: the same placements of two variants, with their differences.
pub fn variants(a: &Comparison, b: &Comparison, labels: (&str, &str), slo_p99_ns: Option<u64>) -> Results {
    let fa: Vec<PlacementFigures> = a.rows.iter().map(PlacementFigures::of).collect();
    let fb: Vec<PlacementFigures> = b.rows.iter().map(PlacementFigures::of).collect();
    let placements: Vec<VariantPlacement> = fa
        .iter()
        .zip(&fb)
        .map(|(x, y)| VariantPlacement { placement: x.placement.clone(), a: x.clone(), b: y.clone(), differences: differences(x, y) })
        .collect();
    let (ta, tb) = (&a.inputs.topology, &b.inputs.topology);
    let mut r = base(
        "compare",
        format!("{} (A) and {} (B) compared", ta.name, tb.name),
        format!(
            "How do variant A ({}) and variant B ({}) differ, placement by placement, in data-plane CPU, memory, latency and errors, at {:.0} and {:.0} rps?",
            labels.0,
            labels.1,
            ta.total_rate_rps(),
            tb.total_rate_rps()
        ),
        vec![input_set("a", &a.inputs, a.seed, a.seed_was_picked), input_set("b", &b.inputs, b.seed, b.seed_was_picked)],
        Body::Variants(VariantsSection {
            slo_p99_ms: slo_ms(slo_p99_ns),
            a_label: labels.0.to_string(),
            b_label: labels.1.to_string(),
            placements,
        }),
    );
    r.warnings.extend(placement_warnings(&fa, slo_ms(slo_p99_ns), "A, "));
    r.warnings.extend(placement_warnings(&fb, slo_ms(slo_p99_ns), "B, "));
    r
}

fn mmm(s: crate::blast::Spread, k: f64) -> MinMeanMax {
    MinMeanMax { min: r4(s.min * k), mean: r4(s.mean * k), max: r4(s.max * k) }
}

/// `blast`.
pub fn blast(b: &BlastReport) -> Results {
    let t = &b.inputs.topology;
    let s = &b.settings.blast;
    let slo = s.slo_p99_ns as f64 / 1e6;
    let mut warnings = Vec::new();
    let placements = b
        .results
        .iter()
        .map(|p| {
            let scenarios = p
                .runs
                .iter()
                .map(|r| {
                    let o = &r.outcome;
                    let impact = p.target_impact(r);
                    if r.scenario.name == "baseline" && o.slo_missed_share_run > 0.01 {
                        warnings.push(Warning {
                            kind: WarningKind::SloMiss,
                            placement: Some(p.placement.to_string()),
                            message: format!(
                                "{}: {:.1}% of requests miss the SLO ({} ms) with nothing failed: every scenario starts from a missed target",
                                p.placement,
                                o.slo_missed_share_run * 100.0,
                                crate::report::plot::tick_label(slo)
                            ),
                        });
                    }
                    if o.time_to_recover_s.is_none() {
                        warnings.push(Warning {
                            kind: WarningKind::Saturation,
                            placement: Some(p.placement.to_string()),
                            message: format!(
                                "{}, {}: requests had not recovered when the run ended (failed {:.1}%, SLO missed {:.1}% during the disturbance)",
                                p.placement,
                                r.scenario.name,
                                o.failed_share_outage * 100.0,
                                o.slo_missed_share_outage * 100.0
                            ),
                        });
                    }
                    ScenarioFigures {
                        scenario: r.scenario.name.clone(),
                        target: r.scenario.target_name.clone(),
                        window_start_s: r4(r.scenario.window_ns.0 as f64 / 1e9),
                        window_end_s: r4(r.scenario.window_ns.1 as f64 / 1e9),
                        failed_share_outage: r6(o.failed_share_outage),
                        slo_missed_share_outage: r6(o.slo_missed_share_outage),
                        latency_p99_outage_ms: o.latency_p99_outage_ms.map(r4),
                        latency_p99_all_outage_ms: o.latency_p99_all_outage_ms.map(r4),
                        slowed_share_outage: r6(o.slowed_share_outage),
                        time_to_fail_ms: o.time_to_fail_ms.map(r4),
                        time_to_route_around_s: o.time_to_route_around_s.map(r4),
                        failed_share_run: r6(o.failed_share_run),
                        slo_missed_share_run: r6(o.slo_missed_share_run),
                        time_to_recover_s: o.time_to_recover_s.map(r4),
                        pods_cut: impact.map(|c| c.pods_cut.len()),
                        traffic_share: impact.map(|c| r6(c.traffic_share)),
                        identities_exposed: impact.map(|c| c.identities.len()),
                        plaintext_share: impact.map(|c| r6(c.plaintext_share)),
                        requests_sent: r.sent,
                        note: r.scenario.note.clone(),
                    }
                })
                .collect();
            let components = p
                .analysis
                .spreads()
                .into_iter()
                .map(|k| ComponentSpread {
                    kind: k.kind.to_string(),
                    count: k.count,
                    pods_cut: mmm(k.pods_cut, 1.0),
                    traffic_share: mmm(k.traffic_share, 1.0),
                    identities_exposed: mmm(k.identities, 1.0),
                    plaintext_share: mmm(k.plaintext_share, 1.0),
                })
                .collect();
            BlastPlacement { placement: p.placement.to_string(), resilience: p.resilience.clone(), components, scenarios }
        })
        .collect();
    let mut r = base(
        "blast",
        format!("{}: blast radius", t.name),
        format!(
            "What fails, slows down or is exposed when one proxy, waypoint or node fails, is squeezed or is compromised, under each placement, for {}?",
            describe(&b.inputs)
        ),
        vec![input_set(&t.name, &b.inputs, b.seed, b.seed_was_picked)],
        Body::Blast(BlastSection {
            slo_p99_ms: r4(slo),
            fail_at_s: r4(s.fail_at_ns as f64 / 1e9),
            outage_s: r4(s.outage_ns as f64 / 1e9),
            node_reschedule_s: s.node_reschedule_ns.map(|n| r4(n as f64 / 1e9)),
            cpu_limit_millicores: r4(s.cpu_limit_millicores),
            memory_limit_mib: s.memory_limit_bytes.map(|b| r4(b as f64 / 1024.0 / 1024.0)),
            noisy_tenant_mbps: r4(s.noisy_tenant_bits_per_s / 1e6),
            connect_timeout_s: s.connect_timeout_ns.map(|n| r4(n as f64 / 1e9)),
            placements,
        }),
    );
    r.warnings.extend(warnings);
    r
}

/// Cases of a sweep listed in `results.json` at most: the page and the file stay readable and
/// bounded in memory; `sweep.csv` holds every case.
pub const MAX_SWEEP_CASES_LISTED: usize = 10_000;

/// `sweep`, read back from the finished `sweep.csv` (the sweep streams its rows there, so
/// nothing else holds them): the first [`MAX_SWEEP_CASES_LISTED`] cases with every figure.
pub fn sweep(s: &SweepOutcome, base_inputs: Option<&Inputs>) -> Result<Results, String> {
    let spec = &s.spec;
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", s.csv.display());
    let mut reader = csv::Reader::from_path(&s.csv).map_err(|e| at(&e))?;
    let header = reader.headers().map_err(|e| at(&e))?.clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let case_col = col("case_index").ok_or_else(|| at(&"no column `case_index`"))?;
    let mut warnings = Vec::new();
    let mut cases: Vec<SweepCase> = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| at(&e))?;
        let index: usize = row.get(case_col).unwrap_or("").parse().map_err(|_| at(&"a row without its case index"))?;
        if cases.last().map(|c| c.index) != Some(index) {
            if cases.len() == MAX_SWEEP_CASES_LISTED {
                break;
            }
            let case = crate::sweep::case_at(spec, index);
            cases.push(SweepCase {
                index,
                name: case.name.clone(),
                seed: case.seed,
                values: spec.axes.iter().zip(&case.axis_values).map(|(a, v)| (a.path.clone(), v.clone())).collect(),
                placements: Vec::new(),
            });
        }
        let figures = figures_from_row(&header, &row).map_err(|e| at(&e))?;
        if let Some(c) = cases.last_mut() {
            c.placements.push(figures);
        }
    }
    for c in &cases {
        let label = match &c.name {
            Some(n) => format!("case {} ({n}), ", c.index),
            None => format!("case {}, ", c.index),
        };
        warnings.extend(placement_warnings(&c.placements, None, &label));
    }
    let inputs = base_inputs.map(|i| vec![input_set(&i.topology.name, i, spec.seed, false)]).unwrap_or_default();
    let axes: Vec<String> = spec.axes.iter().map(|a| a.path.clone()).collect();
    let total = s.total_cases;
    let mut r = base(
        "sweep",
        format!("{}: sweep of {total} cases", spec.name),
        format!(
            "How do data-plane CPU, memory and latency of each placement change across the {total} cases of sweep `{}` (varying {})?",
            spec.name,
            if axes.is_empty() { "named cases".to_string() } else { axes.join(", ") }
        ),
        inputs,
        Body::Sweep(SweepSection {
            name: spec.name.clone(),
            description: spec.description.clone(),
            sweep_file: FileIdentity::of_bytes(&spec.source, spec.text.as_bytes()),
            seed: spec.seed,
            axes,
            cases_total: total,
            cases,
        }),
    );
    r.warnings.extend(warnings);
    Ok(r)
}

/// One row of a sweep's CSV as the figures of a placement (columns by name, as
/// `csv_out::summary_cells` writes them).
fn figures_from_row(header: &csv::StringRecord, row: &csv::StringRecord) -> Result<PlacementFigures, String> {
    let cell = |name: &str| -> Result<&str, String> {
        header.iter().position(|h| h == name).and_then(|i| row.get(i)).ok_or_else(|| format!("no column `{name}`"))
    };
    let num = |name: &str| -> Result<f64, String> {
        let c = cell(name)?;
        c.parse::<f64>().map_err(|_| format!("`{c}` in column `{name}` is not a number"))
    };
    let int = |name: &str| -> Result<u64, String> {
        let c = cell(name)?;
        c.parse::<u64>().map_err(|_| format!("`{c}` in column `{name}` is not a whole number"))
    };
    // Empty where nothing was measured (no request succeeded).
    let opt = |name: &str| -> Result<Option<f64>, String> {
        let c = cell(name)?;
        if c.is_empty() {
            Ok(None)
        } else {
            c.parse::<f64>().map(|x| Some(r4(x))).map_err(|_| format!("`{c}` in column `{name}` is not a number"))
        }
    };
    Ok(PlacementFigures {
        placement: cell("placement")?.to_string(),
        proxies: int("proxies")? as usize,
        passes_per_request: r4(num("passes_per_request")?),
        l7_passes_per_request: r4(num("l7_passes_per_request")?),
        dp_cpu_millicores: r4(num("dp_cpu_millicores")?),
        dp_mem_mib: r4(num("dp_mem_mib")?),
        app_cpu_millicores: r4(num("app_cpu_millicores")?),
        latency_p50_ms: opt("latency_p50_ms")?,
        latency_p90_ms: opt("latency_p90_ms")?,
        latency_p99_ms: opt("latency_p99_ms")?,
        latency_mean_ms: opt("latency_mean_ms")?,
        added_p50_ms: opt("added_p50_ms")?,
        added_p90_ms: opt("added_p90_ms")?,
        added_p99_ms: opt("added_p99_ms")?,
        requests_sent: int("requests_sent")?,
        requests_succeeded: int("requests_succeeded")?,
        requests_failed: int("requests_failed")?,
        error_share: r6(num("error_rate")?),
        offered_rps: r4(num("offered_rps")?),
        achieved_rps: r4(num("achieved_rps")?),
        dp_cpu_millicores_per_1000rps: opt("dp_cpu_millicores_per_1000rps")?,
        dp_mem_mib_per_proxy: r4(num("dp_mem_mib_per_proxy")?),
        node_cpu_utilization_max_share: r6(num("node_cpu_utilization_max")?),
        throttled_ms_per_s: r4(num("throttled_ms_per_s")?),
        node_mem_peak_max_share: r6(num("node_mem_peak_share_max")?),
        oom_kills: int("oom_kills")?,
        evictions: int("evictions")?,
        events: int("events")?,
        seed: int("seed")?,
    })
}

fn sizing(s: &cap::Sizing) -> Sizing {
    Sizing {
        rate_rps: r4(s.rate_rps),
        meets_slo: s.meets_slo,
        figures: PlacementFigures::of(&s.summary),
        app_cpu_request_millicores: r4(s.app_cpu_request_millicores),
        app_mem_request_mib: r4(s.app_mem_request_mib),
        total_cpu_millicores: r4(s.total_cpu_millicores),
        total_mem_mib: r4(s.total_mem_mib),
        nodes_needed: s.nodes,
        nodes_by_requests: s.nodes_by_requests,
        nodes_bound: s.nodes_bound.map(|b| b.as_str()),
        nodes_note: s.nodes_note.clone(),
        replicas: s.replicas.iter().cloned().collect(),
        autoscale_rounds: s.autoscale_rounds,
    }
}

/// `capacity`.
pub fn capacity(c: &CapacityReport) -> Results {
    let t = &c.inputs.topology;
    let slo = c.options.slo_p99_ns as f64 / 1e6;
    let mut warnings = Vec::new();
    let placements = c
        .rows
        .iter()
        .map(|p| {
            let name = p.placement.to_string();
            if p.at_max.is_none() {
                warnings.push(Warning {
                    kind: WarningKind::SloMiss,
                    placement: Some(name.clone()),
                    message: format!("{name}: no probed rate met the SLO, down to {:.1} rps", p.search.failing_rps.unwrap_or(0.0)),
                });
            }
            if let Some(s) = p.at_rate.as_ref().filter(|s| !s.meets_slo) {
                warnings.push(Warning {
                    kind: WarningKind::SloMiss,
                    placement: Some(name.clone()),
                    message: format!(
                        "{name}: at {:.0} rps it misses the SLO (p99 {})",
                        s.rate_rps,
                        s.summary.latency_p99_ms.map(|x| format!("{x:.2} ms")).unwrap_or_else(|| "— (no request succeeded)".into())
                    ),
                });
            }
            PlacementCapacity {
                placement: name,
                rate_max_rps: r4(p.search.rate_rps),
                rate_failing_rps: p.search.failing_rps.map(r4),
                probes: p
                    .probed
                    .iter()
                    .map(|s| Probe {
                        rate_rps: r4(s.rate_rps),
                        meets_slo: s.meets_slo,
                        latency_p99_ms: s.summary.latency_p99_ms.filter(|_| s.summary.requests_succeeded > 0).map(r4),
                        error_share: r6(s.summary.error_rate),
                    })
                    .collect(),
                at_max: p.at_max.as_ref().map(sizing),
                at_rate: p.at_rate.as_ref().map(sizing),
            }
        })
        .collect();
    let mut r = base(
        "capacity",
        format!("{}: capacity within p99 {}", t.name, format_duration_ns(c.options.slo_p99_ns)),
        format!(
            "What is the highest request rate each placement of `{}` carries with p99 under {} and at most {}% of requests failing, and what CPU, memory and `{}` nodes does it need there?",
            t.name,
            format_duration_ns(c.options.slo_p99_ns),
            crate::report::plot::tick_label(c.options.max_error_rate * 100.0),
            c.node.name
        ),
        vec![input_set(&t.name, &c.inputs, c.seed, c.seed_was_picked)],
        Body::Capacity(CapacitySection {
            slo_p99_ms: r4(slo),
            max_error_share: r6(c.options.max_error_rate),
            headroom_share: r4(c.options.headroom),
            node_type: NodeType { name: c.node.name.clone(), vcpu: r4(c.node.vcpu), memory_mib: r4(c.node.memory_mib), max_pods: c.node.max_pods },
            rate_rps: c.options.rate_rps.map(r4),
            autoscale_target_share: c.options.autoscale_target.map(r4),
            placements,
        }),
    );
    r.warnings.extend(warnings);
    r
}

fn gsd_check(group: &str, c: &GsdCheck) -> Check {
    Check {
        group: group.to_string(),
        subject: format!("{} {} ({})", c.dataset, c.series, c.placement),
        metric: c.metric.to_string(),
        unit: c.unit.to_string(),
        rate_rps: r4(c.rate_rps),
        measured: r4(c.measured),
        simulated: r4(c.simulated),
        error_share: (c.measured != 0.0).then(|| r6(c.error())),
        target_share: Some(r4(c.target)),
        within_target: Some(c.within_target()),
    }
}

/// `validate`. `topology` is the topology reproducing the measured system.
pub fn validate(
    topology: &Path,
    seed: u64,
    gsd: &[GsdCheck],
    holdout: &[GsdCheck],
    published: &[PublishedCheck],
    bench: &[IstioBenchRow],
    shape: &[ShapeCheck],
) -> Results {
    let mut checks: Vec<Check> = gsd.iter().map(|c| gsd_check("gsd", c)).collect();
    checks.extend(holdout.iter().map(|c| gsd_check("gsd-holdout", c)));
    checks.extend(published.iter().map(|p| Check {
        group: "istio-published".into(),
        subject: p.component.clone(),
        metric: p.metric.clone(),
        unit: p.unit.clone(),
        rate_rps: 1000.0,
        measured: r4(p.published),
        simulated: r4(p.simulated),
        error_share: p.error.map(r6),
        target_share: None,
        within_target: None,
    }));
    for b in bench {
        let subject = format!("{} (line {}, {} connections)", b.telemetry_mode, b.line, b.conns);
        let mut push = |metric: &str, unit: &str, m: Option<f64>, s: f64, e: Option<f64>, target: f64| {
            if let Some(m) = m {
                checks.push(Check {
                    group: "istio-benchmark".into(),
                    subject: subject.clone(),
                    metric: metric.into(),
                    unit: unit.into(),
                    rate_rps: r4(b.rate_rps),
                    measured: r4(m),
                    simulated: r4(s),
                    error_share: e.map(r6),
                    target_share: Some(target),
                    within_target: e.map(|e| e.abs() <= target),
                });
            }
        };
        push("cpu per sidecar", "mC", Some(b.cpu_measured_millicores), b.cpu_simulated_millicores, b.cpu_error, val::CPU_TARGET);
        push("added p50", "ms", b.added_p50_measured_ms, b.added_p50_simulated_ms, b.added_p50_error, ISTIO_LATENCY_TARGET);
        push("added p90", "ms", b.added_p90_measured_ms, b.added_p90_simulated_ms, b.added_p90_error, ISTIO_LATENCY_TARGET);
    }
    // A ratio the simulation could not give is a miss in the table and the CSV; here it has no number.
    checks.extend(shape.iter().filter_map(|c| Some((c, c.simulated?))).map(|(c, simulated)| Check {
        group: "shape".into(),
        subject: format!("{}; measured: {}; simulated: profile {} ({})", c.condition, c.measured_on, c.profile, c.profile_hardware),
        metric: c.ratio.clone(),
        unit: "ratio".into(),
        rate_rps: c.rate_rps,
        measured: r4(c.measured),
        simulated: r4(simulated),
        error_share: c.error().map(r6),
        target_share: Some(c.target),
        within_target: Some(c.within_target()),
    }));
    let inputs = super::load_inputs(topology, &super::Overrides::default()).ok();
    let sets = inputs.iter().map(|i| input_set(&i.topology.name, i, seed, false)).collect();
    let within = checks.iter().filter(|c| c.within_target == Some(true)).count();
    let targeted = checks.iter().filter(|c| c.within_target.is_some()).count();
    let mut r = base(
        "validate",
        "meshsim validated against measurements".to_string(),
        "How close are the simulated data-plane CPU, memory and added latency to what was measured and published?".to_string(),
        sets,
        Body::Validate(ValidateSection { checks }),
    );
    if within < targeted {
        r.warnings.push(Warning {
            kind: WarningKind::TargetMiss,
            placement: None,
            message: format!("{} of {targeted} checks with a target miss it (see the tables)", targeted - within),
        });
    }
    r
}
