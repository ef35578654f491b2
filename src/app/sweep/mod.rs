//! `meshsim sweep` and `meshsim merge`: expand a sweep file into cases, check every case
//! before running any, then run the cases (a shard of them) in parallel and keep each
//! finished case on disk as it goes: rows are appended in case order to `sweep.csv` in a
//! partial folder beside the output, with a small state file, so memory does not grow with
//! the number of cases and an interrupted sweep resumes where it stopped (`--resume`), giving
//! the bytes of an uninterrupted run. At the end the charts are drawn from the CSV and the
//! output is put in place (or one shard's CSV and its record). `merge` checks shard files and
//! joins them.

mod charts;
pub mod section;

pub use charts::{charts_from_csv, preview, Preview, MAX_SERIES};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{run_placement, AppError, Inputs};
use crate::input_error::{InputError, InputErrors};
use crate::metrics::{add_baseline, PlacementSummary};
use crate::model::CostModels;
use crate::placement::{is_mixed, Layout, Placement};
use crate::report::digest::sha256_hex;
use crate::report::outdir::{self, write_atomic, Source, StagedDir};
use crate::report::plot::{placement_style, write_chart, Chart, ChartOptions, Mark, Scale, Series};
use crate::report::{table::num, temp};
use crate::sweep::apply::Base;
use crate::sweep::records::{self, ShardRecord};
use crate::sweep::spec::{self, SweepSpec};
use crate::sweep::{case_at, cases, Case, Shard};
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
    /// Finish the cases an interrupted run left undone.
    pub resume: bool,
    /// Write over another input's output, and start over instead of resuming.
    pub force: bool,
    /// Stop after running this many cases, as an interrupt would (for tests of `--resume`).
    pub stop_after_cases: Option<usize>,
    /// How the charts and `report.html` of a whole sweep are drawn.
    pub report: super::results::ReportOptions,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            shard: Shard::WHOLE,
            seed: None,
            threads: None,
            progress: false,
            resume: false,
            force: false,
            stop_after_cases: None,
            report: Default::default(),
        }
    }
}

/// What a sweep (or a shard of it) did.
#[derive(Debug)]
pub struct SweepOutcome {
    /// The sweep file, with the placements each case ran.
    pub spec: SweepSpec,
    pub shard: Shard,
    /// Cases in the whole grid, and in this shard.
    pub total_cases: usize,
    pub shard_cases: usize,
    /// Cases found finished by an earlier run, and cases run now.
    pub cases_resumed: usize,
    pub cases_run: usize,
    /// Every case of the shard is done and the output is in place.
    pub complete: bool,
    pub threads: usize,
    pub wall_s: f64,
    /// The output folder (whole sweep), the shard's CSV, or the partial folder if not complete.
    pub written: PathBuf,
    /// The finished CSV (in the output, or in the partial folder).
    pub csv: PathBuf,
}

/// What the check of every case found.
struct Grid {
    any_mixed: bool,
    model_files: BTreeSet<PathBuf>,
}

fn read_base(spec: &SweepSpec) -> Result<String, AppError> {
    Ok(crate::input_file::read_text(&spec.topology, "topology")?)
}

/// Apply every case of the grid (not only the shard's) to the base and load its models, so a
/// bad value stops every shard alike and nothing runs on a bad file. Holds one case at a time.
fn check_grid(spec: &SweepSpec, base: &Base) -> Result<Grid, AppError> {
    let mut errors = CaseErrors::default();
    let mut models: BTreeMap<String, CostModels> = BTreeMap::new();
    let mut grid = Grid { any_mixed: false, model_files: BTreeSet::new() };
    for case in cases(spec) {
        match base.apply(&case.settings) {
            Err(es) => errors.add(es),
            Ok((t, _)) if errors.is_empty() => {
                grid.any_mixed |= is_mixed(&t);
                let key = format!("{:?}", t.mesh.models);
                let m = match models.get(&key) {
                    Some(m) => m,
                    None => {
                        let m = CostModels::load(&t.mesh.models)?;
                        grid.model_files.extend(t.mesh.models.iter().map(|(_, p)| p.clone()));
                        models.entry(key).or_insert(m)
                    }
                };
                m.check_work(&t)?;
            }
            Ok(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Input(errors.into_input_errors(spec)));
    }
    Ok(grid)
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

/// SHA-256 of everything a sweep's results depend on: the sweep file, the base topology, the
/// model files of every case, and the seed.
fn inputs_sha256(spec: &SweepSpec, base_text: &str, models: &BTreeSet<PathBuf>) -> String {
    let mut bytes = format!("meshsim sweep inputs 1\nseed {}\n", spec.seed).into_bytes();
    for (name, text) in [("sweep", spec.text.as_bytes()), ("topology", base_text.as_bytes())] {
        bytes.extend_from_slice(format!("{name} {}\n", text.len()).as_bytes());
        bytes.extend_from_slice(text);
    }
    for m in models {
        let text = std::fs::read(m).unwrap_or_default();
        bytes.extend_from_slice(format!("model {} {}\n", m.display(), text.len()).as_bytes());
        bytes.extend_from_slice(&text);
    }
    sha256_hex(&bytes)
}

/// Progress of a partial sweep, kept beside its CSV.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SweepState {
    meshsim_version: String,
    spec: String,
    inputs_sha256: String,
    seed: u64,
    shard_index: usize,
    shard_count: usize,
    total_cases: usize,
    placements: Vec<String>,
    /// Every case of the shard below this index is in the CSV.
    next_case: usize,
    rows: u64,
    /// Length of the CSV after those rows; bytes past it were written by an interrupted append.
    csv_bytes: u64,
}

impl SweepState {
    fn same_sweep(&self, other: &SweepState) -> bool {
        (&self.inputs_sha256, self.seed, self.shard_index, self.shard_count, self.total_cases, &self.placements)
            == (&other.inputs_sha256, other.seed, other.shard_index, other.shard_count, other.total_cases, &other.placements)
    }
}

const STATE_FILE: &str = "sweep-state.json";
const LOCK_FILE: &str = ".lock";
const CSV_FILE: &str = "sweep.csv";

fn io(path: &Path) -> impl Fn(std::io::Error) -> AppError + '_ {
    move |e| AppError::Output(format!("{}: {e}", path.display()))
}

fn write_state(dir: &Path, s: &SweepState) -> Result<(), AppError> {
    let path = dir.join(STATE_FILE);
    let mut text = serde_json::to_string_pretty(s).unwrap_or_default();
    text.push('\n');
    write_atomic(&path, text.as_bytes()).map_err(io(&path))
}

/// The partial folder of a sweep's output: beside the output folder for a whole sweep, in the
/// shards' folder for a shard.
fn partial_dir(out: &Path, shard: Shard) -> PathBuf {
    if shard.count > 1 {
        return out.join(records::shard_file_name(shard.index, shard.count).replace(".csv", ".partial"));
    }
    let abs = std::fs::canonicalize(out).or_else(|_| std::path::absolute(out)).unwrap_or_else(|_| out.to_path_buf());
    let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "sweep".into());
    abs.with_file_name(format!("{name}.partial"))
}

/// Open the partial folder: resume it, start it afresh, or refuse. Returns the state to go on from.
fn open_partial(dir: &Path, fresh: &SweepState, header: &[String], o: &SweepOptions, spec_path: &Path) -> Result<SweepState, AppError> {
    let refuse = |m: String| AppError::arg("--resume", m);
    let shown = dir.display();
    if dir.exists() {
        let text = std::fs::read_to_string(dir.join(STATE_FILE))
            .map_err(|_| refuse(format!("{shown} exists but holds no sweep state ({STATE_FILE}): it is not meshsim's; move it away")))?;
        let state: SweepState = serde_json::from_str(&text)
            .map_err(|e| refuse(format!("{}: not a sweep state ({e}): move {shown} away", dir.join(STATE_FILE).display())))?;
        if let Some(pid) = std::fs::read_to_string(dir.join(LOCK_FILE)).ok().and_then(|l| temp::lock_holder(&l)) {
            return Err(refuse(format!(
                "{shown} is being written by another meshsim (process {pid}): wait for it to finish, or stop it first"
            )));
        }
        if state.spec != fresh.spec && (o.resume || !o.force) {
            // A sweep file of the same name writes the same folders: its finished cases are
            // not this sweep's to resume, nor to discard without saying whose they are.
            return Err(refuse(format!(
                "{shown} holds the unfinished run of another sweep file of the same name, `{}`: resume it with that file, \
                 choose another --out, or pass --force without --resume to discard its finished cases",
                state.spec
            )));
        }
        let done = format!(
            "{} of its {} cases",
            cases_in_shard(state.next_case.min(state.total_cases), state.shard_index, state.shard_count),
            cases_in_shard(fresh.total_cases, fresh.shard_index, fresh.shard_count)
        );
        if o.resume {
            if !state.same_sweep(fresh) {
                return Err(refuse(format!(
                    "{shown} holds an interrupted run of other inputs: the sweep file, its topology or model files, the seed or the \
                     shard changed since. Pass --force without --resume to start over"
                )));
            }
            let csv = dir.join(CSV_FILE);
            let f = std::fs::OpenOptions::new().write(true).open(&csv).map_err(io(&csv))?;
            if f.metadata().map_err(io(&csv))?.len() < state.csv_bytes {
                return Err(refuse(format!(
                    "{} is shorter than its state says (the machine stopped before the disk caught up): pass --force without --resume to start over",
                    csv.display()
                )));
            }
            // Rows an interrupted append wrote past the last recorded case are written again.
            f.set_len(state.csv_bytes).map_err(io(&csv))?;
            std::fs::write(dir.join(LOCK_FILE), temp::lock_stamp()).map_err(io(dir))?;
            eprintln!("resuming {}: {done} were finished", spec_path.display());
            return Ok(state);
        }
        if !o.force {
            return Err(refuse(format!(
                "{shown} holds {done}, finished by an interrupted run: pass --resume to finish the rest, or --force to start over"
            )));
        }
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    } else if o.resume {
        eprintln!("nothing to resume in {shown}: running every case");
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::write(dir.join(LOCK_FILE), temp::lock_stamp()).map_err(io(dir))?;
    let bytes = records::to_csv(header, &[]).map_err(AppError::Output)?;
    std::fs::write(dir.join(CSV_FILE), &bytes).map_err(io(dir))?;
    let state = SweepState { csv_bytes: bytes.len() as u64, ..fresh.clone() };
    write_state(dir, &state)?;
    Ok(state)
}

/// Cases below `end` that shard `index` of `count` runs (those with case % count == index).
fn cases_in_shard(end: usize, index: usize, count: usize) -> usize {
    end.saturating_sub(index).div_ceil(count.max(1))
}

/// A sweep file read and every case of its grid checked, nothing run.
struct Checked {
    spec: SweepSpec,
    base_text: String,
    base: Base,
    grid: Grid,
}

fn load_checked(path: &Path, o: &SweepOptions) -> Result<Checked, AppError> {
    let mut spec = spec::load(path)?;
    if let Some(s) = o.seed {
        spec.seed = s;
    }
    let base_text = read_base(&spec)?;
    // The base must be valid on its own; its errors name its own lines.
    topology::parse(&spec.topology, &base_text)?;
    let sweep_dir = path.parent().unwrap_or(Path::new("."));
    let base =
        Base::new(&spec.topology, &base_text, sweep_dir).map_err(|e| AppError::Output(format!("{}: {e}", spec.topology.display())))?;
    let grid = check_grid(&spec, &base)?;
    Ok(Checked { spec, base_text, base, grid })
}

/// Check a sweep file and every case of its grid without running anything: the errors
/// `run` would give before its first case.
pub fn check(path: &Path, o: &SweepOptions) -> Result<SweepSpec, AppError> {
    Ok(load_checked(path, o)?.spec)
}

/// Run a sweep file's cases (those of the shard) into `out`; see the module's description.
pub fn run(path: &Path, o: &SweepOptions, out: &Path) -> Result<SweepOutcome, AppError> {
    let Checked { mut spec, base_text, base, grid } = load_checked(path, o)?;
    if spec.placements_by_default && grid.any_mixed {
        spec.placements.insert(0, Layout::AsWritten);
    }
    let total_cases = spec.case_count();
    let shard = o.shard;
    let hash = inputs_sha256(&spec, &base_text, &grid.model_files);
    let mut source = Source::of_path("sweep", path);
    source.sha256 = Some(hash.clone());

    // Check where the output goes before running anything.
    let out_dir = if shard.count > 1 {
        outdir::prepare_shared(out, &source, o.force)?
    } else {
        outdir::check(out, &source, o.force)?;
        out.to_path_buf()
    };
    let fresh = SweepState {
        meshsim_version: env!("CARGO_PKG_VERSION").into(),
        spec: source.identity(),
        inputs_sha256: hash.clone(),
        seed: spec.seed,
        shard_index: shard.index,
        shard_count: shard.count,
        total_cases,
        placements: spec.placements.iter().map(|p| p.to_string()).collect(),
        next_case: 0,
        rows: 0,
        csv_bytes: 0,
    };
    // A base with churn carries its figures in every row (a churn rate is then an axis).
    let churn = base.doc.contains_key("churn");
    let header = records::header(&spec, churn);
    let partial = partial_dir(&out_dir, shard);
    let mut state = open_partial(&partial, &fresh, &header, o, path)?;
    let shard_total = cases_in_shard(total_cases, shard.index, shard.count);
    let resumed = cases_in_shard(state.next_case.min(total_cases), shard.index, shard.count);

    let pool = {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(n) = o.threads {
            b = b.num_threads(n);
        }
        b.build().map_err(|e| AppError::Output(format!("cannot start worker threads: {e}")))?
    };
    let bar = progress_bar(o.progress, (shard_total - resumed) as u64);
    temp::note_on_interrupt(format!(
        "finished cases are kept in {}: `{}` runs the rest",
        partial.display(),
        resume_command(path, o, out, &spec)
    ));
    let started = std::time::Instant::now();
    let csv_path = partial.join(CSV_FILE);
    let mut csv_file = std::fs::OpenOptions::new().append(true).open(&csv_path).map_err(io(&csv_path))?;
    let mut models: BTreeMap<String, CostModels> = BTreeMap::new();
    // Cases run together: enough to keep every thread busy, few enough that an interrupt loses little.
    let window = (pool.current_num_threads() * 4).max(4);
    let mut saved_at = std::time::Instant::now();
    let mut cases_run = 0usize;
    let mut next = state.next_case;
    let result = (|| -> Result<(), AppError> {
        while next < total_cases {
            let budget = o.stop_after_cases.map(|k| k.saturating_sub(cases_run)).unwrap_or(usize::MAX);
            if budget == 0 {
                break;
            }
            // The next few cases of the shard, prepared and run together.
            let mut batch: Vec<(Case, Inputs)> = Vec::new();
            while next < total_cases && batch.len() < window.min(budget) {
                if shard.contains(next) {
                    let case = case_at(&spec, next);
                    let (t, text) = base.apply(&case.settings).map_err(|es| {
                        AppError::Input(InputErrors(es.into_iter().map(|e| spec::error_at(&spec, e.span, e.message)).collect()))
                    })?;
                    let key = format!("{:?}", t.mesh.models);
                    let m = match models.get(&key) {
                        Some(m) => m.clone(),
                        None => {
                            let m = CostModels::load(&t.mesh.models)?;
                            models.insert(key, m.clone());
                            m
                        }
                    };
                    let control_plane = crate::control_plane::ControlPlaneModels::load(t.mesh.profile.as_ref())?;
                    batch.push((case, Inputs { topology: t, models: m, control_plane, topology_text: text }));
                }
                next += 1;
            }
            let rows = pool.install(|| run_batch(&spec.placements, &batch))?;
            let mut bytes = Vec::new();
            {
                let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(&mut bytes);
                for ((case, _), summaries) in batch.iter().zip(&rows) {
                    for row in records::case_rows(&spec, churn, case, summaries).map_err(AppError::Output)? {
                        w.write_record(&row).map_err(|e| AppError::Output(e.to_string()))?;
                    }
                }
                w.flush().map_err(io(&csv_path))?;
            }
            csv_file.write_all(&bytes).map_err(io(&csv_path))?;
            state.next_case = next;
            state.rows += (batch.len() * spec.placements.len()) as u64;
            state.csv_bytes = csv_file.stream_position().map_err(io(&csv_path))?;
            cases_run += batch.len();
            bar.inc(batch.len() as u64);
            // The state moves on at most twice a second (the rows reach the disk first), so
            // many small cases do not wait on the disk.
            if saved_at.elapsed() >= std::time::Duration::from_millis(500) {
                csv_file.sync_data().map_err(io(&csv_path))?;
                write_state(&partial, &state)?;
                saved_at = std::time::Instant::now();
            }
        }
        csv_file.sync_data().map_err(io(&csv_path))?;
        write_state(&partial, &state)
    })();
    bar.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();
    temp::clear_notes();
    if let Err(e) = result {
        let _ = std::fs::remove_file(partial.join(LOCK_FILE));
        eprintln!("the cases finished before this error are kept in {}", partial.display());
        return Err(e);
    }
    drop(csv_file);
    let threads = pool.current_num_threads();
    let mut outcome = SweepOutcome {
        spec,
        shard,
        total_cases,
        shard_cases: shard_total,
        cases_resumed: resumed,
        cases_run,
        complete: false,
        threads,
        wall_s,
        written: partial.clone(),
        csv: csv_path.clone(),
    };
    if next < total_cases {
        let _ = std::fs::remove_file(partial.join(LOCK_FILE));
        return Ok(outcome);
    }
    // A sweep that lost its partial folder to another run (removed, then written afresh)
    // would publish rows that are not its own.
    if std::fs::read_to_string(partial.join(LOCK_FILE)).ok() != Some(temp::lock_stamp()) {
        return Err(AppError::Output(format!(
            "{}: another run took this sweep's partial folder while it ran; nothing was written: run the sweep again",
            partial.display()
        )));
    }
    let written = if shard.count > 1 {
        finish_shard(&outcome.spec, &state, &partial, &out_dir)?
    } else {
        let staged = StagedDir::create(out, &source, o.force)?;
        std::fs::copy(&csv_path, staged.file(CSV_FILE)).map_err(io(&csv_path))?;
        let charts = charts_from_csv(&outcome.spec, &csv_path, o.report.charts)?;
        for (stem, chart) in &charts {
            write_chart(&staged.file(stem), chart).map_err(AppError::Output)?;
        }
        let base = super::load_inputs(&outcome.spec.topology, &super::Overrides::default()).ok();
        let results = section::sweep(&outcome, base.as_ref()).map_err(AppError::Output)?;
        let keyed: Vec<(String, Chart)> = charts.into_iter().map(|(k, c)| (k.to_string(), c)).collect();
        crate::report::html::write(staged.path(), &results, &keyed).map_err(AppError::Output)?;
        staged.commit()?
    };
    outcome.csv = if shard.count > 1 { written.clone() } else { written.join(CSV_FILE) };
    std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
    outcome.complete = true;
    outcome.written = written;
    Ok(outcome)
}

/// The command that resumes this sweep: `--resume` is refused for another seed or shard, and
/// finds nothing to resume in another folder, so those flags are part of it when not the defaults.
fn resume_command(path: &Path, o: &SweepOptions, out: &Path, spec: &SweepSpec) -> String {
    let mut command = format!("meshsim sweep {}", path.display());
    if out != Path::new("outputs").join(&spec.name) {
        command += &format!(" --out {}", out.display());
    }
    if let Some(seed) = o.seed {
        command += &format!(" --seed {seed}");
    }
    if o.shard.count > 1 {
        command += &format!(" --shard {}/{}", o.shard.index, o.shard.count);
    }
    command + " --resume"
}

fn progress_bar(show: bool, len: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(len);
    b.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} cases, eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    b
}

/// Run every placement of a batch of cases; the summaries of each case, in placement order.
fn run_batch(placements: &[Layout], batch: &[(Case, Inputs)]) -> Result<Vec<Vec<PlacementSummary>>, AppError> {
    let jobs: Vec<(usize, Layout)> = (0..batch.len()).flat_map(|c| placements.iter().map(move |&p| (c, p))).collect();
    // Longest jobs first (estimated by simulated requests), one job per task: with work
    // stealing this keeps every thread busy to the end of the batch. Results are put back in
    // job order, so the output does not depend on it.
    let cost = |&(c, p): &(usize, Layout)| {
        let t = &batch[c].1.topology;
        let mesh = if p == Layout::Uniform(Placement::None) { 1.0 } else { 2.0 };
        t.total_rate_rps() * t.simulation.duration_ns as f64 * mesh
    };
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by(|&a, &b| cost(&jobs[b]).total_cmp(&cost(&jobs[a])).then(a.cmp(&b)));
    let mut done: Vec<(usize, PlacementSummary)> = order
        .par_iter()
        .with_max_len(1)
        .map(|&j| {
            let (c, p) = jobs[j];
            let (case, inputs) = &batch[c];
            run_placement(inputs, p, case.seed, Vec::new(), None).map(|r| (j, r.summary.summary))
        })
        .collect::<Result<_, _>>()?;
    done.sort_by_key(|(j, _)| *j);
    let summaries: Vec<PlacementSummary> = done.into_iter().map(|(_, s)| s).collect();
    Ok(summaries
        .chunks(placements.len().max(1))
        .map(|rows| {
            let mut rows = rows.to_vec();
            add_baseline(&mut rows);
            rows
        })
        .collect())
}

/// Put a finished shard in place: its CSV and its record, side by side in the shards' folder.
fn finish_shard(spec: &SweepSpec, state: &SweepState, partial: &Path, out_dir: &Path) -> Result<PathBuf, AppError> {
    let name = records::shard_file_name(state.shard_index, state.shard_count);
    let csv = out_dir.join(&name);
    let from = partial.join(CSV_FILE);
    let (csv_sha256, csv_bytes) = records::file_digest(&from).map_err(io(&from))?;
    let record = ShardRecord {
        meshsim_version: env!("CARGO_PKG_VERSION").into(),
        sweep: spec.name.clone(),
        spec: state.spec.clone(),
        inputs_sha256: state.inputs_sha256.clone(),
        seed: state.seed,
        shard_index: state.shard_index,
        shard_count: state.shard_count,
        total_cases: state.total_cases,
        placements: state.placements.clone(),
        rows: state.rows,
        csv_bytes,
        csv_sha256,
    };
    let mut text = serde_json::to_string_pretty(&record).unwrap_or_default();
    text.push('\n');
    let rec_path = records::record_path(&csv);
    temp::uninterrupted(|| -> Result<(), AppError> {
        write_atomic(&rec_path, text.as_bytes()).map_err(io(&rec_path))?;
        std::fs::rename(&from, &csv).map_err(io(&csv))
    })?;
    Ok(csv)
}

/// `meshsim merge OUT IN…`: check the shards and join them into `out`, written whole or not at
/// all. `out` may replace only a sweep CSV (one meshsim wrote), never another file.
pub fn merge(out: &Path, inputs: &[PathBuf]) -> Result<u64, AppError> {
    let refuse = |m: String| AppError::arg("merge", m);
    outdir::may_replace_file(out, "a sweep CSV", |head| head.starts_with(b"case_index,case_seed,")).map_err(|e| refuse(e.to_string()))?;
    let out_abs = std::fs::canonicalize(out).ok();
    if let Some(p) = inputs.iter().find(|p| out_abs.is_some() && std::fs::canonicalize(p).ok() == out_abs) {
        return Err(refuse(format!("{} is both an input and the output: write the merged file elsewhere", p.display())));
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    temp::remove_stale(parent);
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "merged".into());
    let tmp = temp::unique(parent, &name, "tmp");
    temp::register(&tmp);
    let result = (|| {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io(&tmp))?);
        let rows = records::merge(inputs, &mut file).map_err(|e| {
            AppError::Input(InputErrors(vec![InputError {
                path: e.path,
                line: e.line as usize,
                col: usize::from(e.line > 0),
                message: e.message,
            }]))
        })?;
        file.flush().map_err(io(&tmp))?;
        temp::uninterrupted(|| std::fs::rename(&tmp, out)).map_err(io(out))?;
        Ok(rows)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    temp::forget(&tmp);
    result
}
