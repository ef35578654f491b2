//! The `compare` and `run` sections of the results, and the `compare A B` section with the
//! differences of its two variants.

use super::Comparison;
use crate::app::results::{base, describe, input_set, placement_warnings, slo_ms};
use crate::report::results::*;

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
    for note in super::shared_core_notes(c) {
        r.warnings.push(Warning { kind: WarningKind::SharedCores, placement: None, message: note });
    }
    for run in &c.runs {
        if let Some(note) = crate::metrics::memory_note(&run.summary.summary) {
            r.warnings.push(Warning {
                kind: WarningKind::MemoryRanOut,
                placement: Some(run.summary.summary.placement.to_string()),
                message: note,
            });
        }
        if let Some(note) = crate::report::control_plane_figures::extrapolation_warning(&run.summary.summary) {
            r.warnings.push(Warning {
                kind: WarningKind::ControlPlaneExtrapolated,
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
