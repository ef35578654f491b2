//! The `validate` section of the results: every check against measured and published figures.

use std::path::Path;

use super::Check as GsdCheck;
use crate::app::results::{base, input_set};
use crate::report::results::*;
use crate::validate::istio::{IstioBenchRow, PublishedCheck};
use crate::validate::shape::ShapeCheck;

/// Largest relative error of an added-latency row of Istio's benchmark counted as a match
/// (as the `validate` tables count them).
const ISTIO_LATENCY_TARGET: f64 = 0.25;

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

/// The checks against the gsd-v1 measurements: fitted on every level, held out, latency.
pub struct GsdChecks<'a> {
    pub fitted: &'a [GsdCheck],
    pub holdout: &'a [GsdCheck],
    pub latency: &'a [GsdCheck],
    /// Bookinfo's throughput share per mesh against LiveWyer's measurements.
    pub bookinfo: &'a [GsdCheck],
}

/// `validate`. `topology` is the topology reproducing the measured system.
pub fn validate(
    topology: &Path,
    seed: u64,
    gsd_checks: GsdChecks<'_>,
    published: &[PublishedCheck],
    bench: &[IstioBenchRow],
    shape: &[ShapeCheck],
) -> Results {
    let GsdChecks { fitted: gsd, holdout, latency, bookinfo } = gsd_checks;
    let mut checks: Vec<Check> = gsd.iter().map(|c| gsd_check("gsd", c)).collect();
    checks.extend(holdout.iter().map(|c| gsd_check("gsd-holdout", c)));
    checks.extend(latency.iter().map(|c| gsd_check("gsd-latency", c)));
    checks.extend(bookinfo.iter().map(|c| gsd_check("livewyer-bookinfo", c)));
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
        push("cpu per sidecar", "mC", Some(b.cpu_measured_millicores), b.cpu_simulated_millicores, b.cpu_error, super::CPU_TARGET);
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
