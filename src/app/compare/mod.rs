//! `meshsim compare` and `meshsim run`: simulate placements of one topology side by side and
//! write `summary.csv`, `summary.md`, `instances.csv`, `edges.csv`, `run.json`,
//! `results.json` and `report.html`.

pub mod section;
pub mod variants;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::results::ReportOptions;
use super::{keyed, load_inputs, resolve_seed, run_placement, run_record, AppError, Inputs, Overrides, PlacementRun};
use crate::metrics::{add_baseline, PlacementSummary};
use crate::placement::Layout;
use crate::report::outdir::{Source, StagedDir};
use crate::report::results::Body;
use crate::report::{csv_out, html, result_charts};

/// What a comparison produced. Its runs carry their summaries, deployment and event count;
/// their raw per-edge, per-path and timeline data is dropped once summarised.
pub struct Comparison {
    pub inputs: Inputs,
    pub seed: u64,
    pub seed_was_picked: bool,
    pub runs: Vec<PlacementRun>,
    pub rows: Vec<PlacementSummary>,
}

/// Simulate each placement with the same seed (common random numbers: differences between
/// rows come from the placements, not the draw). No placements: [`Layout::defaults_for`].
pub fn compare(path: &Path, placements: &[Layout], o: &Overrides) -> Result<Comparison, AppError> {
    compare_inputs(load_inputs(path, o)?, placements)
}

/// [`compare`] on loaded inputs.
pub fn compare_inputs(inputs: Inputs, placements: &[Layout]) -> Result<Comparison, AppError> {
    let defaults;
    let placements = if placements.is_empty() {
        defaults = Layout::defaults_for(&inputs.topology);
        &defaults
    } else {
        placements
    };
    let (seed, picked) = resolve_seed(&inputs.topology);
    compare_loaded(inputs, placements, seed, picked)
}

/// [`compare`] on inputs already loaded, with the seed given.
pub fn compare_loaded(inputs: Inputs, placements: &[Layout], seed: u64, picked: bool) -> Result<Comparison, AppError> {
    // A placement without its cost model is an input error found before any run starts.
    for &p in placements {
        super::check_models(&inputs, &crate::placement::Deployment::for_layout(&inputs.topology, p, inputs.models.scopes()))?;
    }
    let run = |&p: &Layout| run_placement(&inputs, p, seed, Vec::new(), None).map(keep_summary);
    // Small topologies run their placements in parallel; large ones one at a time, so only
    // one placement's raw output is held at once (it is dropped once summarised).
    let runs: Vec<PlacementRun> = if inputs.topology.pods.len() < PARALLEL_MAX_PODS {
        placements.par_iter().map(run).collect::<Result<_, _>>()?
    } else {
        placements.iter().map(run).collect::<Result<_, _>>()?
    };
    let mut rows: Vec<PlacementSummary> = runs.iter().map(|r| r.summary.summary.clone()).collect();
    add_baseline(&mut rows);
    Ok(Comparison { inputs, seed, seed_was_picked: picked, runs, rows })
}

/// From this many pods on, `compare` simulates its placements one at a time.
const PARALLEL_MAX_PODS: usize = 20_000;

/// A comparison writes only summaries: drop what a run holds per edge, path, station and
/// timeline bucket once its summary is made (it is most of a large topology's memory).
fn keep_summary(mut r: PlacementRun) -> PlacementRun {
    let o = &mut r.output;
    o.edges = Vec::new();
    o.timeline = Vec::new();
    o.stations = Vec::new();
    o.containers = Vec::new();
    let p = &mut r.plan;
    p.steps = Vec::new();
    p.paths = Vec::new();
    p.sources = Vec::new();
    p.destinations = Vec::new();
    p.edges = Vec::new();
    p.pod_calls = Vec::new();
    r
}

/// Write a comparison's files into `out` (whole or not at all), with the default report options.
pub fn write(c: &Comparison, out: &Path, command: &str, force: bool) -> Result<PathBuf, AppError> {
    write_with(c, out, command, force, &ReportOptions::default())
}

/// Write a comparison's files into `out` (whole or not at all).
pub fn write_with(c: &Comparison, out: &Path, command: &str, force: bool, o: &ReportOptions) -> Result<PathBuf, AppError> {
    let io = |e: std::io::Error| AppError::Output(format!("{}: {e}", out.display()));
    let staged = StagedDir::create(out, &Source::of_path(command, &c.inputs.topology.source), force)?;
    csv_out::write_summary(&staged.file("summary.csv"), &c.rows).map_err(AppError::Output)?;
    let instances: Vec<(String, _)> = c.runs.iter().map(|r| (r.summary.summary.placement.to_string(), r.summary.proxies.clone())).collect();
    csv_out::write_instances(&staged.file("instances.csv"), &instances).map_err(AppError::Output)?;
    let edges: Vec<(String, _)> = c.runs.iter().map(|r| (r.summary.summary.placement.to_string(), r.summary.edges.clone())).collect();
    csv_out::write_edges(&staged.file("edges.csv"), &edges).map_err(AppError::Output)?;
    let nodes: Vec<(String, _)> = c.runs.iter().map(|r| (r.summary.summary.placement.to_string(), r.summary.nodes.clone())).collect();
    csv_out::write_nodes(&staged.file("nodes.csv"), &nodes).map_err(AppError::Output)?;
    let containers: Vec<(String, _)> =
        c.runs.iter().map(|r| (r.summary.summary.placement.to_string(), r.summary.containers.clone())).collect();
    csv_out::write_containers(&staged.file("containers.csv"), &containers).map_err(AppError::Output)?;
    if c.rows.iter().any(|r| r.churn.is_some()) {
        crate::report::churn_out::write_churn(&staged.file("churn.csv"), &c.rows).map_err(AppError::Output)?;
    }
    let t = &c.inputs.topology;
    let context = format!(
        "Simulated by meshsim {}: `{}` ({} services, {} pods on {} nodes), {:.0} rps for {} after a {} warm-up, seed {}. \
         Latency is end to end; *added* is over `none` in the same run; CPU and memory are the data plane's steady state.\n\n{}{}",
        env!("CARGO_PKG_VERSION"),
        t.source.display(),
        t.services.len(),
        t.pods.len(),
        t.nodes.len(),
        t.total_rate_rps(),
        crate::units::format_duration_ns(t.simulation.duration_ns - t.simulation.warmup_ns),
        crate::units::format_duration_ns(t.simulation.warmup_ns),
        c.seed,
        super::results::models_line(&c.inputs),
        super::results::mixed_sources_message(&super::results::model_sources(&c.inputs.models))
            .map(|w| format!("\n\n**Warning:** {w}."))
            .unwrap_or_default()
    );
    let markdown = csv_out::summary_markdown(&summary_title(t, command, &c.rows), &context, &c.rows).map_err(AppError::Output)?;
    let mut markdown = markdown;
    for note in saturation_notes(c) {
        markdown.push_str(&format!("\n**Warning:** {note}\n"));
    }
    std::fs::write(staged.file("summary.md"), markdown).map_err(io)?;
    let results = section::compare(c, command, o.slo_p99_ns);
    let charts = match &results.body {
        Body::Compare(section) => result_charts::compare(&t.name, section, o.charts),
        _ => Vec::new(),
    };
    html::write(staged.path(), &results, &keyed(charts)).map_err(AppError::Output)?;
    let record = run_record(&c.inputs, c.seed, &c.rows.iter().map(|r| r.placement).collect::<Vec<_>>(), command)?;
    std::fs::write(staged.file("run.json"), record).map_err(io)?;
    if o.export_traffic {
        if let Some(r) = c.runs.first() {
            let traffic = crate::report::traffic_out::export(t, &r.summary.edges, c.seed);
            std::fs::create_dir_all(staged.file("traffic")).map_err(io)?;
            std::fs::write(staged.file("traffic/manifests.yaml"), traffic.manifests).map_err(io)?;
            std::fs::write(staged.file("traffic/metrics.prom"), traffic.metrics).map_err(io)?;
            std::fs::write(staged.file("traffic/traces.json"), traffic.traces).map_err(io)?;
        }
    }
    Ok(staged.commit()?)
}

/// Rows whose proxies' workers are saturated, or in which memory ran out, one note each (see
/// [`crate::metrics::saturated_proxies_note`] and [`crate::metrics::memory_note`]).
pub fn saturation_notes(c: &Comparison) -> Vec<String> {
    let saturated =
        c.runs.iter().filter_map(|r| crate::metrics::saturated_proxies_note(r.summary.summary.placement.as_str(), &r.summary.proxies));
    let memory = c.runs.iter().filter_map(|r| crate::metrics::memory_note(&r.summary.summary));
    saturated.chain(memory).chain(shared_core_notes(c)).collect()
}

/// Mesh rows whose small nodes run application and proxies busily side by side, one note each
/// (see [`crate::metrics::shared_core_note`]).
pub fn shared_core_notes(c: &Comparison) -> impl Iterator<Item = String> + '_ {
    c.runs
        .iter()
        .filter(|r| r.summary.summary.placement != crate::placement::Layout::Uniform(crate::placement::Placement::None))
        .filter_map(|r| crate::metrics::shared_core_note(r.summary.summary.placement.as_str(), &r.summary.nodes))
}

/// The heading of `summary.md`: `run` simulates one placement, `compare` several.
fn summary_title(t: &crate::topology::Topology, command: &str, rows: &[PlacementSummary]) -> String {
    match rows {
        [one] if command == "run" => format!("{}: one placement ({})", t.name, one.placement),
        _ => format!("{}: data-plane placements compared", t.name),
    }
}
