//! The `blast` section of the results: each placement's scenarios, their impact and spread.

use super::BlastReport;
use crate::app::results::{base, describe, input_set};
use crate::report::results::*;

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
