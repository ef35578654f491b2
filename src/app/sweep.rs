//! `meshsim sweep` and `meshsim merge`: expand a sweep file into cases, check every case
//! before running any, run a shard of them in parallel (rayon), and write `sweep.csv` and the
//! charts (or one shard's CSV); join shard CSVs into the unsharded file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{run_placement, AppError, Inputs};
use crate::input_error::{InputError, InputErrors};
use crate::metrics::{add_baseline, PlacementSummary};
use crate::model::CostModels;
use crate::placement::Placement;
use crate::report::outdir::{write_atomic, StagedDir};
use crate::report::plot::{write_chart, Chart, Mark, Series};
use crate::sweep::apply::Base;
use crate::sweep::records::{self, CaseResult};
use crate::sweep::spec::{self, value_cell, SweepSpec};
use crate::sweep::{expand, Case, Shard};
use crate::topology;

/// How to run a sweep.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub shard: Shard,
    /// Replaces the file's seed.
    pub seed: Option<u64>,
    /// Worker threads (default: rayon's, which honours `RAYON_NUM_THREADS`).
    pub threads: Option<usize>,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions { shard: Shard::WHOLE, seed: None, threads: None, progress: false }
    }
}

/// What a sweep (or a shard of it) produced.
pub struct SweepOutcome {
    pub spec: SweepSpec,
    pub shard: Shard,
    /// Cases in the whole grid.
    pub total_cases: usize,
    pub results: Vec<CaseResult>,
    pub threads: usize,
    pub wall_s: f64,
}

/// A case ready to run.
pub struct PreparedCase {
    pub case: Case,
    pub inputs: Inputs,
}

/// Load a sweep file and check every case of the grid (not only the shard's), so a bad value
/// stops every shard alike and nothing runs on a bad file.
pub fn prepare(path: &Path, o: &SweepOptions) -> Result<(SweepSpec, Vec<PreparedCase>), AppError> {
    let mut spec = spec::load(path)?;
    if let Some(s) = o.seed {
        spec.seed = s;
    }
    let base_text = crate::input_file::read_text(&spec.topology, "topology")?;
    // The base must be valid on its own; its errors name its own lines.
    topology::parse(&spec.topology, &base_text)?;
    let sweep_dir = path.parent().unwrap_or(Path::new("."));
    let base =
        Base::new(&spec.topology, &base_text, sweep_dir).map_err(|e| AppError::Output(format!("{}: {e}", spec.topology.display())))?;
    let mut errors = CaseErrors::default();
    let mut prepared = Vec::new();
    let mut models: BTreeMap<String, CostModels> = BTreeMap::new();
    for case in expand(&spec) {
        match base.apply(&case.settings) {
            Err(es) => errors.add(es),
            Ok((t, text)) if errors.is_empty() && o.shard.contains(case.index) => {
                let key = format!("{:?}", t.mesh.models);
                let m = match models.get(&key) {
                    Some(m) => m.clone(),
                    None => {
                        let m = CostModels::load(&t.mesh.models)?;
                        models.insert(key, m.clone());
                        m
                    }
                };
                m.check_work(&t)?;
                prepared.push(PreparedCase { case, inputs: Inputs { topology: t, models: m, topology_text: text } });
            }
            Ok(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Input(errors.into_input_errors(&spec)));
    }
    Ok((spec, prepared))
}

/// Problems of a sweep's cases, each kept once: the same problem in many cases (a path
/// that does not exist, a value every case shares) is one message naming the first case
/// and how many cases have it.
#[derive(Default)]
struct CaseErrors {
    /// (span, message, first case's settings, cases), in the order first seen.
    list: Vec<(std::ops::Range<usize>, String, Option<String>, usize)>,
    index: std::collections::HashMap<String, usize>,
}

impl CaseErrors {
    fn add(&mut self, es: Vec<crate::sweep::apply::ApplyError>) {
        for e in es {
            let key = match e.settings {
                Some(_) => e.message.clone(),
                None => format!("{:?} {}", e.span, e.message),
            };
            match self.index.get(&key) {
                Some(&i) => self.list[i].3 += 1,
                None => {
                    self.index.insert(key, self.list.len());
                    self.list.push((e.span, e.message, e.settings, 1));
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn into_input_errors(self, spec: &SweepSpec) -> InputErrors {
        InputErrors(
            self.list
                .into_iter()
                .map(|(span, message, settings, n)| {
                    let message = match (settings, n) {
                        (Some(s), 1) => format!("with {s}: {message}"),
                        (Some(s), n) => format!("in {n} cases, the first with {s}: {message}"),
                        (None, _) => message,
                    };
                    spec::error_at(spec, span, message)
                })
                .collect(),
        )
    }
}

/// Run a sweep file's cases (those of the shard) and summarise each placement of each.
pub fn run(path: &Path, o: &SweepOptions) -> Result<SweepOutcome, AppError> {
    let (spec, prepared) = prepare(path, o)?;
    let total_cases = spec.case_count();
    let pool = {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(n) = o.threads {
            b = b.num_threads(n);
        }
        b.build().map_err(|e| AppError::Output(format!("cannot start worker threads: {e}")))?
    };
    let jobs: Vec<(usize, Placement)> = (0..prepared.len()).flat_map(|c| spec.placements.iter().map(move |&p| (c, p))).collect();
    let bar = if o.progress {
        let b = indicatif::ProgressBar::new(jobs.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} runs, eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = std::time::Instant::now();
    // Longest jobs first (estimated by simulated requests), one job per task: with work
    // stealing this keeps both threads busy to the end instead of leaving the largest cases
    // for last. Results are put back in job order, so the output does not depend on it.
    let cost = |&(c, p): &(usize, Placement)| {
        let t = &prepared[c].inputs.topology;
        let mesh = if p == Placement::None { 1.0 } else { 2.0 };
        t.total_rate_rps() * t.simulation.duration_ns as f64 * mesh
    };
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by(|&a, &b| cost(&jobs[b]).total_cmp(&cost(&jobs[a])).then(a.cmp(&b)));
    let mut done: Vec<(usize, PlacementSummary)> = pool.install(|| {
        order
            .par_iter()
            .with_max_len(1)
            .map(|&j| {
                let (c, p) = jobs[j];
                let pc = &prepared[c];
                let r = run_placement(&pc.inputs, p, pc.case.seed, Vec::new(), None).map(|r| (j, r.summary.summary));
                bar.inc(1);
                r
            })
            .collect::<Result<_, _>>()
    })?;
    done.sort_by_key(|(j, _)| *j);
    let summaries: Vec<PlacementSummary> = done.into_iter().map(|(_, s)| s).collect();
    let wall_s = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let per_case = spec.placements.len();
    let results = prepared
        .into_iter()
        .zip(summaries.chunks(per_case))
        .map(|(pc, rows)| {
            let mut rows = rows.to_vec();
            add_baseline(&mut rows);
            CaseResult { case: pc.case, rows }
        })
        .collect();
    Ok(SweepOutcome { spec, shard: o.shard, total_cases, results, threads: pool.current_num_threads(), wall_s })
}

/// The CSV bytes of an outcome (the same for a shard and the whole, bar the rows).
pub fn csv_bytes(s: &SweepOutcome) -> Result<Vec<u8>, AppError> {
    records::to_csv(&records::header(&s.spec), &records::rows(&s.spec, &s.results)).map_err(AppError::Output)
}

/// Write an outcome: the whole sweep as a folder (`sweep.csv` and charts, all or nothing),
/// a shard as one file `sweep-shard-I-of-N.csv` in `out` (written atomically; other shards'
/// files beside it are left alone). Returns the path written.
pub fn write(s: &SweepOutcome, out: &Path) -> Result<PathBuf, AppError> {
    let bytes = csv_bytes(s)?;
    let io = |p: &Path, e: std::io::Error| AppError::Output(format!("{}: {e}", p.display()));
    if s.shard.count > 1 {
        let file = out.join(records::shard_file_name(s.shard.index, s.shard.count));
        write_atomic(&file, &bytes).map_err(|e| io(&file, e))?;
        return Ok(file);
    }
    let staged = StagedDir::create(out).map_err(|e| io(out, e))?;
    std::fs::write(staged.file("sweep.csv"), &bytes).map_err(|e| io(out, e))?;
    for (stem, chart) in charts(s) {
        write_chart(&staged.file(stem), &chart).map_err(AppError::Output)?;
    }
    staged.commit().map_err(|e| io(out, e))
}

/// Data-plane CPU, data-plane memory and p99 against the offered rate: a line per placement
/// (and per value of every other axis).
pub fn charts(s: &SweepOutcome) -> Vec<(&'static str, Chart)> {
    type Metric = fn(&PlacementSummary) -> f64;
    let metrics: [(&str, &str, &str, Metric); 3] = [
        ("cpu-vs-rate", "Data-plane CPU", "data-plane CPU (millicores)", |r| r.dp_cpu_millicores),
        ("mem-vs-rate", "Data-plane memory", "data-plane memory (MiB)", |r| r.dp_mem_mib),
        ("p99-vs-rate", "End-to-end latency p99", "latency p99 (ms)", |r| r.latency_p99_ms),
    ];
    // A series per placement and combination of the other inputs, in first-seen order.
    let mut keys: Vec<(String, Placement)> = Vec::new();
    for r in &s.results {
        let others = other_inputs(&s.spec, r);
        for row in &r.rows {
            let k = (others.clone(), row.placement);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    metrics
        .iter()
        .map(|&(stem, title, y_label, metric)| {
            let series = keys
                .iter()
                .enumerate()
                .map(|(i, (others, placement))| {
                    let mut points: Vec<(f64, f64)> = Vec::new();
                    for r in &s.results {
                        if other_inputs(&s.spec, r) != *others {
                            continue;
                        }
                        for row in r.rows.iter().filter(|x| x.placement == *placement) {
                            points.push((row.offered_rps, metric(row)));
                        }
                    }
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    Series {
                        name: if others.is_empty() { placement.to_string() } else { format!("{placement}, {others}") },
                        points,
                        mark: Mark::LineAndPoints,
                        color: i,
                    }
                })
                .collect();
            (
                stem,
                Chart {
                    title: format!("{title} vs request rate ({})", s.spec.name),
                    x_label: "request rate (rps)".into(),
                    y_label: y_label.into(),
                    series,
                },
            )
        })
        .collect()
}

/// The label of a case's inputs other than the rate: its name and every varied axis.
fn other_inputs(spec: &SweepSpec, r: &CaseResult) -> String {
    let mut o: Vec<String> = r.case.name.iter().cloned().collect();
    for (a, v) in spec.axes.iter().zip(&r.case.axis_values) {
        if a.path != "rate" && a.values.len() > 1 {
            o.push(format!("{}={}", a.path, value_cell(v)));
        }
    }
    o.join(", ")
}

/// `meshsim merge OUT IN…`: join shard CSVs into `out`, written atomically.
pub fn merge(out: &Path, inputs: &[PathBuf]) -> Result<usize, AppError> {
    let mut files = Vec::new();
    for p in inputs {
        let bytes = std::fs::read(p).map_err(|e| {
            AppError::Input(InputErrors(vec![InputError {
                path: p.clone(),
                line: 0,
                col: 0,
                message: format!("cannot read shard CSV: {e}"),
            }]))
        })?;
        files.push((p.clone(), bytes));
    }
    let merged = records::merge(&files).map_err(|m| AppError::arg("merge", m))?;
    let rows = merged.iter().filter(|&&b| b == b'\n').count().saturating_sub(1);
    write_atomic(out, &merged).map_err(|e| AppError::Output(format!("{}: {e}", out.display())))?;
    Ok(rows)
}
