//! The `capacity` section of the results: each placement's largest rate and sizing.

use super::CapacityReport;
use crate::app::results::{base, input_set};
use crate::report::results::*;
use crate::units::format_duration_ns;

fn sizing(s: &super::Sizing) -> Sizing {
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
