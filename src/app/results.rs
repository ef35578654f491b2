//! What every command's [`Results`] share: the identity of what it read, the warnings its
//! figures call for, and the frame each command's own section (`section.rs` in the command's
//! folder) is set in for `results.json` and `report.html`. Imports no command.

use std::collections::{BTreeMap, BTreeSet};

use super::Inputs;
use crate::model::CostModels;
use crate::report::results::*;

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
/// Busy share of a node's vCPUs from which a placement is flagged as near saturation.
const SATURATION_NODE_CPU_SHARE: f64 = 0.9;
/// Share of measured requests still unfinished at the end above which the same holds.
const SATURATION_UNFINISHED_SHARE: f64 = 0.01;

pub(super) fn base(command: &str, title: String, question: String, inputs: Vec<InputSet>, body: Body) -> Results {
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
        profile_answers: t.mesh.profile.as_ref().map(|p| p.answers.clone()),
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
    let answers = inputs.topology.mesh.profile.as_ref().map_or(String::new(), |p| format!(" It answers: {}.", p.answers));
    format!("Cost models: {profile}.{answers} Sources: {}.", if sources.is_empty() { "none".into() } else { sources.join("; ") })
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
pub(super) fn input_warnings(sets: &[InputSet]) -> Vec<Warning> {
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
pub(super) fn placement_warnings(rows: &[PlacementFigures], slo_p99_ms: Option<f64>, prefix: &str) -> Vec<Warning> {
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

pub(super) fn describe(inputs: &Inputs) -> String {
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

pub(super) fn slo_ms(ns: Option<u64>) -> Option<f64> {
    ns.map(|n| r4(n as f64 / 1e6))
}
