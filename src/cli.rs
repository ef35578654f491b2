//! Command-line interface: clap definitions and the dispatch to `app` commands. Prints
//! tables to stdout and notes to stderr; file output is the commands' business.

mod sweep_cmds;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::{self, AppError, Overrides};
use crate::placement::{Layout, Placement};
use crate::report::outdir::{self, Source};
use crate::sweep::synth::{LoadShape, Shape};

#[derive(Debug, Parser)]
#[command(
    name = "meshsim",
    version,
    about = "Discrete-event simulator of service-mesh data planes: sidecar, per-node and ambient, side by side",
    after_help = "Start with README.md; every topology key, with its unit, default and limit, is in docs/topology.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Scale of latency axes in charts: log or linear.
    #[arg(long, global = true, default_value = "log", value_name = "log|linear")]
    pub latency_scale: crate::report::plot::Scale,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate every placement of a topology and print them side by side; with two topology
    /// files (or --b-model), two variants side by side with their differences.
    #[command(after_help = "The topology file, key by key: docs/topology.md. The files written: docs/outputs.md.")]
    Compare {
        /// Topology file (TOML); a second one is variant B.
        #[arg(required = true, num_args = 1..=2, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        common: RunArgs,
        /// Placements to compare (comma-separated: none, sidecar, per-node, ambient, as-written).
        /// Default: the four, after `as-written` when namespaces name their own placements.
        #[arg(long, value_delimiter = ',')]
        placements: Vec<Layout>,
        /// A p99 target for the report, e.g. 50ms: a line on latency charts, a warning when missed.
        #[arg(long = "slo-p99")]
        slo_p99: Option<String>,
        /// Replace a cost model in variant B, e.g. sidecar=models/istio-1.24-published/istio-1.24-sidecar.toml (repeatable;
        /// with one topology file, B is that file with these models).
        #[arg(long = "b-model", value_name = "KIND=FILE")]
        b_model: Vec<app::compare::variants::ModelSwap>,
    },
    /// Simulate one placement of a topology.
    #[command(after_help = "The topology file, key by key: docs/topology.md. The files written: docs/outputs.md.")]
    Run {
        /// Placement of every namespace, or `as-written` (each namespace's own). Default:
        /// as-written when namespaces name their own placements, else sidecar.
        #[arg(long)]
        placement: Option<Layout>,
        /// Topology file (TOML).
        file: PathBuf,
        #[command(flatten)]
        common: RunArgs,
        /// A p99 target for the report, e.g. 50ms: a line on latency charts, a warning when missed.
        #[arg(long = "slo-p99")]
        slo_p99: Option<String>,
        /// Also write the run as `meshsim import` reads it: traffic/manifests.yaml,
        /// traffic/metrics.prom (istio_requests_total) and traffic/traces.json (OTLP, a sample).
        #[arg(long)]
        export_traffic: bool,
    },
    /// Fit cost models to raw measurements (a gsd-v1 folder, or Istio's benchmark CSV).
    #[command(after_help = "How models are fitted and checked: docs/calibration.md.")]
    Calibrate {
        /// A folder of `{rps}-{run}-metrics.csv` and load-generator logs, or a benchmark CSV.
        source: PathBuf,
        /// Degree of the fitted polynomials (default 2 for gsd-v1, 1 for the Istio benchmark).
        #[arg(long)]
        degree: Option<usize>,
        /// Topology reproducing the measured system, for passes per request.
        #[arg(long, default_value = "topologies/faces.toml")]
        topology: PathBuf,
        /// Placement of the measured system (default: ambient if the folder's name says so, else sidecar).
        #[arg(long)]
        placement: Option<Placement>,
        /// Output folder (default: `outputs/calibration-<data set>`).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write into a folder that holds another input's output, or beside the files of a folder that is not meshsim's.
        #[arg(long)]
        force: bool,
        /// Fit without measurements that cannot be used (a log missing its rate, a bad row),
        /// listing them in dropped.csv and on the terminal, instead of refusing.
        #[arg(long)]
        allow_incomplete: bool,
    },
    /// Compare simulated CPU, memory, latency and throughput with measurements (Faces GSD, in and out of sample; Istio published figures; Istio benchmark rows; Bookinfo on small nodes).
    #[command(after_help = "How models are fitted and checked: docs/calibration.md and docs/validate-istio.md.")]
    Validate(ValidateArgs),
    /// Run a parameter sweep: every case of a sweep file's grid, in parallel.
    #[command(after_help = "The sweep file and its outputs: docs/sweep.md.")]
    Sweep {
        /// Sweep file (TOML).
        file: PathBuf,
        /// Run only cases whose index % N == I, and write `sweep-shard-I-of-N.csv`.
        #[arg(long, value_name = "I/N")]
        shard: Option<crate::sweep::Shard>,
        /// Sweep seed (default: the file's); case seeds derive from it and the case index.
        #[arg(long)]
        seed: Option<u64>,
        /// Worker threads (default: all cores, or RAYON_NUM_THREADS).
        #[arg(long)]
        threads: Option<usize>,
        /// Output folder (default: outputs/NAME, NAME being the sweep's).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Finish an interrupted sweep: run only the cases missing from `<out>.partial`.
        #[arg(long)]
        resume: bool,
        /// Write into a folder that holds another input's output (or beside the files of a
        /// folder that is not meshsim's), and start over instead of resuming.
        #[arg(long)]
        force: bool,
    },
    /// Join the CSVs of a sharded sweep into the file the unsharded sweep writes.
    #[command(after_help = "Sharded sweeps: docs/sweep.md.")]
    Merge {
        /// Merged CSV to write.
        out: PathBuf,
        /// Shard CSVs (`sweep-shard-I-of-N.csv`).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Highest request rate each placement carries within a p99 SLO, and the CPU, memory and
    /// nodes to reserve for it.
    #[command(after_help = "Capacity planning: docs/sweep.md.")]
    Capacity {
        /// Topology file (TOML).
        file: PathBuf,
        /// End-to-end p99 latency target, e.g. 50ms.
        #[arg(long = "slo-p99")]
        slo_p99: String,
        /// Also size every placement for this total rate, e.g. 2400 or 2400rps.
        #[arg(long)]
        rate: Option<String>,
        /// With --rate: scale each service's replicas as a HorizontalPodAutoscaler would to keep
        /// its pods' CPU at this share of their request (0 < TARGET <= 1, e.g. 0.7), then pack nodes.
        #[arg(long, value_name = "TARGET")]
        autoscale: Option<f64>,
        /// Highest share of failed requests that still meets the SLO.
        #[arg(long, default_value_t = 0.001)]
        max_error_rate: f64,
        /// Share of every node's CPU and memory kept free.
        #[arg(long, default_value_t = 0.2)]
        headroom: f64,
        /// Ceiling of the search, e.g. 100000 (default: 64 times the topology's rate, at most 10000000).
        #[arg(long)]
        max_rps: Option<String>,
        /// Simulated duration of each probe (default 10s; warm-up 2s).
        #[arg(long)]
        duration: Option<String>,
        /// Warm-up of each probe.
        #[arg(long)]
        warmup: Option<String>,
        /// Random seed (default: the topology's).
        #[arg(long)]
        seed: Option<u64>,
        /// Placements to plan for (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "none,sidecar,per-node,ambient")]
        placements: Vec<Placement>,
        /// Output folder (default: outputs/NAME-capacity, NAME being the topology's).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write into a folder that holds another input's output, or beside the files of a folder that is not meshsim's.
        #[arg(long)]
        force: bool,
    },
    /// Write a topology from Kubernetes manifests (files or folders of YAML): every value
    /// commented with where it came from, and a summary of what was inferred, defaulted and
    /// could not be mapped.
    Import {
        /// Manifest files or folders (multi-document YAML, `kubectl get -o yaml` lists, rendered Helm or Kustomize output).
        #[arg(required = true, value_name = "PATH")]
        inputs: Vec<PathBuf>,
        /// Trace files for the call graph (OTLP JSON, Zipkin v2 JSON, Jaeger JSON export; repeatable).
        #[arg(long)]
        traces: Vec<PathBuf>,
        /// Mesh metrics for per-edge rates (Prometheus text or query-API JSON of istio_requests_total or Linkerd's response_total; repeatable).
        #[arg(long)]
        metrics: Vec<PathBuf>,
        /// The time the counters of text metrics counted over, e.g. 5min (for rates).
        #[arg(long)]
        metrics_window: Option<String>,
        /// Topology file to write (never over a file meshsim import did not write).
        #[arg(long, required_unless_present = "check")]
        out: Option<PathBuf>,
        /// Print the summary and write nothing.
        #[arg(long)]
        check: bool,
        /// The topology's name (default: the first input's file name).
        #[arg(long)]
        name: Option<String>,
        /// `mesh.models_dir` as written in the file (default: ./models as seen from the file).
        #[arg(long)]
        models: Option<String>,
        /// The cost-model profile the file names.
        #[arg(long, default_value = "envoy-1.40-loopback")]
        profile: String,
    },
    /// Write a synthetic topology of N services (for measuring cost against size).
    Synth {
        /// Number of services.
        #[arg(long)]
        services: usize,
        /// File to write.
        #[arg(long)]
        out: PathBuf,
        /// Folder of the cost models, as written in the file (relative to it).
        #[arg(long, default_value = "../models")]
        models: String,
        /// Seed of the call graph and of the simulation.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Replicas of every service.
        #[arg(long, default_value_t = 2)]
        replicas: usize,
        /// Nodes (16 vCPU, 64 GiB each); default one per 40 pods, at least 3.
        #[arg(long)]
        nodes: Option<usize>,
        /// Requests per second from all load together.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// A meshed load generator in each namespace calls its namespace's first service,
        /// instead of end users calling the first layer.
        #[arg(long)]
        load_per_namespace: bool,
    },
    /// Fail, squeeze and compromise one component at a time, for every placement.
    #[command(after_help = "Reading blast results: docs/blast.md.")]
    Blast {
        /// Topology file (TOML).
        file: PathBuf,
        #[command(flatten)]
        common: RunArgs,
        #[command(flatten)]
        blast: BlastArgs,
        /// Placements to compare (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "none,sidecar,per-node,ambient")]
        placements: Vec<Placement>,
    },
}

/// Flags of `meshsim blast` (each overrides the topology's `[blast]` table).
#[derive(Debug, Args)]
pub struct BlastArgs {
    /// Latency target: slower requests count as SLO misses (default 50ms).
    #[arg(long)]
    pub slo_p99: Option<String>,
    /// When the failure or squeeze starts, in simulated time (default 10s).
    #[arg(long)]
    pub fail_at: Option<String>,
    /// Restart time of a failed component, and length of a squeeze (default 10s).
    #[arg(long)]
    pub outage: Option<String>,
    /// Delay before a failed node's pods run again (default: the outage).
    #[arg(long)]
    pub node_reschedule: Option<String>,
    /// CPU limit of the CPU-limit and noisy-tenant scenarios, e.g. 500m (default 1000m).
    #[arg(long)]
    pub cpu_limit: Option<String>,
    /// Memory limit of the OOM scenario, e.g. 16Mi (default: the cost model's; none: no OOM runs).
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// Noisy tenant's bulk transfer through shared proxies, e.g. 1Gbps (default 200Mbps).
    #[arg(long)]
    pub noisy_tenant: Option<String>,
    /// Retries on every call and load of the run, each to the next replica.
    #[arg(long)]
    pub retries: Option<u32>,
    /// Per-try timeout on every call and load of the run, e.g. 100ms.
    #[arg(long)]
    pub timeout: Option<String>,
}

impl BlastArgs {
    fn flags(&self) -> app::blast::BlastFlags {
        app::blast::BlastFlags {
            slo_p99: self.slo_p99.clone(),
            fail_at: self.fail_at.clone(),
            outage: self.outage.clone(),
            node_reschedule: self.node_reschedule.clone(),
            cpu_limit: self.cpu_limit.clone(),
            memory_limit: self.memory_limit.clone(),
            noisy_tenant: self.noisy_tenant.clone(),
            retries: self.retries,
            timeout: self.timeout.clone(),
            progress: true,
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Total end-user request rate, e.g. 1200 or 1200rps (split over the loads in proportion).
    #[arg(long)]
    pub rps: Option<String>,
    /// Simulated duration, e.g. 30s.
    #[arg(long)]
    pub duration: Option<String>,
    /// Warm-up excluded from the measurements, e.g. 5s.
    #[arg(long)]
    pub warmup: Option<String>,
    /// Random seed (default: the topology's, else one is picked and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output folder (default: `outputs/<topology name>`; `run` adds `-<placement>`, `blast` adds `-blast`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write into a folder that holds another input's output (e.g. a topology of the same name),
    /// or beside the files of a folder that is not meshsim's; nothing meshsim did not write is
    /// removed or overwritten.
    #[arg(long)]
    pub force: bool,
}

impl RunArgs {
    fn overrides(&self) -> Overrides {
        Overrides { rate: self.rps.clone(), duration: self.duration.clone(), warmup: self.warmup.clone(), seed: self.seed }
    }
}

/// Run the parsed command.
pub fn run(cli: Cli) -> Result<(), AppError> {
    let report = app::results::ReportOptions {
        charts: crate::report::plot::ChartOptions { latency_scale: cli.latency_scale },
        slo_p99_ns: None,
        export_traffic: false,
    };
    match cli.command {
        Command::Compare { files, common, placements, slo_p99, b_model } => {
            let report = app::results::ReportOptions { slo_p99_ns: slo_flag(&slo_p99)?, ..report };
            if files.len() > 1 || !b_model.is_empty() {
                return variants(&files, &b_model, &common, &placements, &report);
            }
            compare(&files[0], &common, RunMode::Compare(placements), &report)
        }
        Command::Run { file, common, placement, slo_p99, export_traffic } => {
            let report = app::results::ReportOptions { slo_p99_ns: slo_flag(&slo_p99)?, export_traffic, ..report };
            compare(&file, &common, RunMode::Run(placement), &report)
        }
        Command::Calibrate { source, degree, topology, placement, out, seed, force, allow_incomplete } => {
            let r = app::calibrate::calibrate(&app::calibrate::CalibrateArgs {
                source,
                degree,
                topology,
                placement,
                out,
                seed,
                force,
                allow_incomplete,
            })?;
            print!("{}", r.table);
            println!("wrote {}/", r.out.display());
            Ok(())
        }
        Command::Validate(a) => validate(a),
        Command::Sweep { file, shard, seed, threads, out, resume, force } => {
            sweep_cmds::sweep(&file, sweep_cmds::SweepArgs { shard, seed, threads, out, resume, force }, &report)
        }
        Command::Merge { out, inputs } => sweep_cmds::merge(&out, &inputs),
        Command::Capacity {
            file,
            slo_p99,
            rate,
            autoscale,
            max_error_rate,
            headroom,
            max_rps,
            duration,
            warmup,
            seed,
            placements,
            out,
            force,
        } => sweep_cmds::capacity(
            &file,
            sweep_cmds::CapacityArgs {
                slo_p99,
                rate,
                autoscale,
                max_error_rate,
                headroom,
                max_rps,
                duration,
                warmup,
                seed,
                placements,
                out,
                force,
            },
            &report,
        ),
        Command::Import { inputs, traces, metrics, metrics_window, out, check, name, models, profile } => {
            import_command(app::import::ImportArgs { inputs, traces, metrics, metrics_window, out, check, name, models, profile })
        }
        Command::Synth { services, out, models, seed, replicas, nodes, rate, load_per_namespace } => {
            let loads = if load_per_namespace { LoadShape::PerNamespace } else { LoadShape::FirstLayer };
            sweep_cmds::synth(&Shape { services, replicas, nodes, rate_rps: rate, loads }, &out, &models, seed)
        }
        Command::Blast { file, common, blast, placements } => blast_command(&file, &common, &blast, &placements, &report),
    }
}

fn import_command(a: app::import::ImportArgs) -> Result<(), AppError> {
    let imported = app::import::import(&a)?;
    let f = &imported.found;
    let pods: u32 = f.services.iter().map(|s| s.replicas.value).sum();
    println!("{}: {} services, {pods} pods, {} loads", f.name, f.services.len(), f.loads.len());
    print!("{}", f.summary.render());
    match (&a.out, a.check) {
        (Some(out), false) => println!("wrote {}", out.display()),
        _ => println!("checked: nothing written (--check)"),
    }
    Ok(())
}

/// A `--slo-p99` value in ns.
fn slo_flag(v: &Option<String>) -> Result<Option<u64>, AppError> {
    match v {
        None => Ok(None),
        Some(s) => match crate::units::parse_duration_ns(s).map_err(|e| AppError::arg("--slo-p99", e))? {
            0 => Err(AppError::arg("--slo-p99", "must be more than zero")),
            ns => Ok(Some(ns)),
        },
    }
}

/// Check the output folder before any simulation, so a refused folder costs no waiting.
pub(crate) fn check_out(
    file: &std::path::Path,
    out: Option<&PathBuf>,
    suffix: Option<&str>,
    command: &str,
    force: bool,
) -> Result<PathBuf, AppError> {
    let out = match out {
        Some(o) => o.clone(),
        None => app::default_out(&app::load_inputs(file, &Overrides::default())?.topology, suffix),
    };
    outdir::check(&out, &Source::of_path(command, file), force)?;
    Ok(out)
}

fn blast_command(
    file: &std::path::Path,
    common: &RunArgs,
    flags: &BlastArgs,
    placements: &[Placement],
    report: &app::results::ReportOptions,
) -> Result<(), AppError> {
    let out = check_out(file, common.out.as_ref(), Some("blast"), "blast", common.force)?;
    let r = app::blast::blast(file, placements, &common.overrides(), &flags.flags())?;
    let t = &r.inputs.topology;
    note_picked_seed(r.seed, r.seed_was_picked);
    let b = &r.settings.blast;
    println!(
        "{}: {} pods on {} nodes, {:.0} rps for {}, seed {}; failures at {} for {}, SLO p99 {}",
        t.name,
        t.pods.len(),
        t.nodes.len(),
        t.total_rate_rps(),
        crate::units::format_duration_ns(t.simulation.duration_ns),
        r.seed,
        crate::units::format_duration_ns(b.fail_at_ns),
        crate::units::format_duration_ns(b.outage_ns),
        crate::units::format_duration_ns(b.slo_p99_ns),
    );
    for p in &r.results {
        println!("{}: {}", p.placement, p.resilience);
    }
    println!("\nstatic blast radius of one component:");
    print!("{}", crate::report::blast_out::spread_table(&r.results));
    println!("\ndynamic runs (shares of requests started during the disturbance):");
    print!("{}", crate::report::blast_out::blast_table(&r.results));
    let written = app::blast::write_with(&r, &out, common.force, report)?;
    println!(
        "wrote {}/ (report.html, results.json, blast.csv, blast-static.csv, blast-spread.csv, blast.md, timeline.csv, charts, run.json)",
        written.display()
    );
    Ok(())
}

/// `compare` (placements side by side) or `run` (one placement).
enum RunMode {
    Compare(Vec<Layout>),
    Run(Option<Layout>),
}

fn compare(file: &std::path::Path, common: &RunArgs, mode: RunMode, report: &app::results::ReportOptions) -> Result<(), AppError> {
    let inputs = app::load_inputs(file, &common.overrides())?;
    let (layouts, suffix, command) = match mode {
        RunMode::Compare(p) => (p, None, "compare"),
        RunMode::Run(p) => {
            let as_written = crate::placement::is_mixed(&inputs.topology);
            let l = p.unwrap_or(if as_written { Layout::AsWritten } else { Layout::Uniform(Placement::Sidecar) });
            (vec![l], Some(l.as_str()), "run")
        }
    };
    let out = common.out.clone().unwrap_or_else(|| app::default_out(&inputs.topology, suffix));
    outdir::check(&out, &Source::of_path(command, file), common.force)?;
    let c = app::compare::compare_inputs(inputs, &layouts)?;
    let t = &c.inputs.topology;
    note_picked_seed(c.seed, c.seed_was_picked);
    println!(
        "{}: {} services, {} pods on {} nodes, {:.0} rps for {} (warm-up {}), seed {}",
        t.name,
        t.services.len(),
        t.pods.len(),
        t.nodes.len(),
        t.total_rate_rps(),
        crate::units::format_duration_ns(t.simulation.duration_ns),
        crate::units::format_duration_ns(t.simulation.warmup_ns),
        c.seed
    );
    println!("{}", app::results::models_line(&c.inputs));
    if let Some(w) = app::results::mixed_sources_message(&app::results::model_sources(&c.inputs.models)) {
        eprintln!("warning: {w}");
    }
    let eps: Vec<f64> = c.runs.iter().map(|r| r.events_per_s()).collect();
    print!("{}", crate::report::csv_out::summary_table(&c.rows, &eps));
    for note in [crate::report::csv_out::namespace_note(&c.rows), crate::report::csv_out::failure_note(&c.rows)].into_iter().flatten() {
        println!("{note}");
    }
    for note in crate::report::control_plane_figures::notes(&c.rows) {
        println!("{note}");
    }
    for note in crate::report::churn_out::notes(&c.rows) {
        println!("{note}");
    }
    for note in app::compare::saturation_notes(&c) {
        eprintln!("warning: {note}");
    }
    let written = app::compare::write_with(&c, &out, command, common.force, report)?;
    let churn_file = if c.rows.iter().any(|r| r.churn.is_some()) { ", churn.csv" } else { "" };
    println!(
        "wrote {}/ (report.html, results.json, summary.csv, summary.md, instances.csv, edges.csv, nodes.csv, containers.csv{churn_file}, run.json)",
        written.display()
    );
    Ok(())
}

fn variants(
    files: &[PathBuf],
    swaps: &[app::compare::variants::ModelSwap],
    common: &RunArgs,
    placements: &[Layout],
    report: &app::results::ReportOptions,
) -> Result<(), AppError> {
    let b = files.get(1).map(PathBuf::as_path);
    let v = app::compare::variants::variants(&files[0], b, swaps, placements, &common.overrides(), common.out.as_deref(), common.force)?;
    note_picked_seed(v.a.seed, v.a.seed_was_picked);
    for (name, label, c) in [("A", &v.labels.0, &v.a), ("B", &v.labels.1, &v.b)] {
        let t = &c.inputs.topology;
        println!(
            "{name}: {label}: {} services, {} pods on {} nodes, {:.0} rps for {} (warm-up {}), seed {}",
            t.services.len(),
            t.pods.len(),
            t.nodes.len(),
            t.total_rate_rps(),
            crate::units::format_duration_ns(t.simulation.duration_ns),
            crate::units::format_duration_ns(t.simulation.warmup_ns),
            c.seed
        );
        let eps: Vec<f64> = c.runs.iter().map(|r| r.events_per_s()).collect();
        print!("{}", crate::report::csv_out::summary_table(&c.rows, &eps));
    }
    println!("differences, B against A:");
    print!("{}", app::compare::variants::differences_table(&v));
    let written = app::compare::variants::write(&v, &v.out, common.force, report)?;
    println!("wrote {}/ (report.html, results.json, variants.csv, differences.csv, summary.md, run-a.json, run-b.json)", written.display());
    Ok(())
}

/// `meshsim validate`'s flags.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// gsd-v1 data sets to check (default: `<shared>/data/gsd-v1/linkerd` and `.../ambient`,
    /// where `<shared>` is `$MESHSIM_SHARED` or `../shared`).
    #[arg(long)]
    pub gsd: Vec<PathBuf>,
    /// Topology reproducing the measured system.
    #[arg(long, default_value = "topologies/faces.toml")]
    pub topology: PathBuf,
    /// Simulated time per load level.
    #[arg(long, default_value = "20s")]
    pub duration: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output folder.
    #[arg(long, default_value = "outputs/validate")]
    pub out: PathBuf,
    /// Topology reproducing Istio's benchmark (fortio client -> server).
    #[arg(long, default_value = "topologies/istio-perf.toml")]
    pub istio_topology: PathBuf,
    /// Istio benchmark results (default: `<shared>/data/istio-benchmark/benchmark.csv`).
    #[arg(long)]
    pub istio_benchmark: Option<PathBuf>,
    /// Folder of the sidecar models fitted per telemetry mode.
    #[arg(long, default_value = "models/istio-bench-2020")]
    pub models: PathBuf,
    /// Topology reproducing LiveWyer's Bookinfo benchmark (closed loop, 2-vCPU nodes).
    #[arg(long, default_value = "topologies/bookinfo-small-nodes.toml")]
    pub bookinfo_topology: PathBuf,
    /// LiveWyer's measured Bookinfo throughput per mesh and connection count.
    #[arg(long, default_value = "calibration/livewyer-bookinfo.csv")]
    pub bookinfo_measured: PathBuf,
    /// Write into a folder that holds another output, or beside the files of a folder that is not meshsim's.
    #[arg(long)]
    pub force: bool,
}

fn validate(a: ValidateArgs) -> Result<(), AppError> {
    let source = Source::of_command("validate");
    outdir::check(&a.out, &source, a.force)?;
    let shared = app::validate::shared_dir();
    let sets = if a.gsd.is_empty() {
        let base = shared.join("data/gsd-v1");
        vec![base.join("linkerd"), base.join("ambient")]
    } else {
        a.gsd
    };
    let as_app = AppError::from;
    // Read before the long checks, so that bad measurements are refused at once.
    let bookinfo_rows = app::validate::bookinfo::read_measured(&a.bookinfo_measured)?;
    let mut checks = Vec::new();
    let mut latency = Vec::new();
    for set in &sets {
        let (c, l) = app::validate::validate_gsd_with_latency(set, &a.topology, &a.duration, a.seed)?;
        checks.extend(c);
        latency.extend(l);
    }
    print_checks("gsd-v1 data sets measured vs simulated, per load level, models fitted on all levels:", &checks, "checks within target\n");
    print_checks(
        "End-to-end latency of the same runs against the load generator's p50 and p99 (mean over a level's logs); no model is fitted to it:",
        &latency,
        "latency checks within target (see docs/calibration.md, Faces latency against load)\n",
    );

    let mut holdout = Vec::new();
    for set in &sets {
        holdout.extend(app::validate::cross_validate_gsd(set, &a.topology, &a.duration, a.seed)?);
    }
    print_checks(
        "The same, out of sample: each level simulated with models fitted on the other levels only:",
        &holdout,
        "checks within target\n",
    );

    let published = crate::validate::istio::validate_istio_published(&a.istio_topology, a.seed).map_err(as_app)?;
    println!("Istio 1.24 published figures at 1000 rps vs istio-perf simulated:");
    print!("{}", crate::validate::istio::format_published_table(&published));

    let bench_csv = a.istio_benchmark.unwrap_or_else(|| shared.join("data/istio-benchmark/benchmark.csv"));
    let bench = crate::validate::istio::validate_istio_benchmark(&bench_csv, &a.istio_topology, &a.models, a.seed).map_err(as_app)?;
    println!("\nIstio benchmark rows (per-sidecar CPU, added latency) measured vs simulated:");
    print!("{}", crate::validate::istio::format_bench_table(&bench));

    let shape = crate::validate::shape::validate_shape(&a.istio_topology, Some(&bench_csv), a.seed).map_err(as_app)?;
    println!("\nShape on other hardware: ratios measured by Istio vs simulated from the profiles measured here:");
    print!("{}", crate::validate::shape::format_shape_table(&shape));

    let bookinfo = app::validate::bookinfo::validate_bookinfo(&bookinfo_rows, &a.bookinfo_measured, &a.bookinfo_topology, a.seed)?;
    print_checks(
        "\nBookinfo throughput on 2-vCPU nodes, closed loop, as a share of no mesh, against LiveWyer's measurements:",
        &bookinfo,
        &format!("within {} points (see docs/calibration.md, Bookinfo on small nodes)", app::validate::bookinfo::SHARE_TARGET_POINTS),
    );

    let staged = outdir::StagedDir::create(&a.out, &source, a.force)?;
    app::validate::write_csv(&staged.file("validate-gsd.csv"), &checks)?;
    app::validate::write_csv(&staged.file("validate-gsd-holdout.csv"), &holdout)?;
    app::validate::write_csv(&staged.file("validate-gsd-latency.csv"), &latency)?;
    crate::validate::istio::write_published_csv(&staged.file("validate-istio-published.csv"), &published).map_err(as_app)?;
    crate::validate::istio::write_bench_csv(&staged.file("validate-istio-benchmark.csv"), &bench).map_err(as_app)?;
    crate::validate::shape::write_shape_csv(&staged.file("validate-shape.csv"), &shape).map_err(as_app)?;
    app::validate::write_csv(&staged.file("validate-bookinfo.csv"), &bookinfo)?;
    let results = app::validate::section::validate(
        &a.topology,
        a.seed,
        app::validate::section::GsdChecks { fitted: &checks, holdout: &holdout, latency: &latency, bookinfo: &bookinfo },
        &published,
        &bench,
        &shape,
    );
    let charts = match &results.body {
        crate::report::results::Body::Validate(v) => crate::report::result_charts::validate(v),
        _ => Vec::new(),
    };
    crate::report::html::write(staged.path(), &results, &app::keyed(charts)).map_err(AppError::Output)?;
    let written = staged.commit()?;
    println!(
        "wrote {}/ (report.html, results.json, validate-gsd.csv, validate-gsd-holdout.csv, validate-gsd-latency.csv, validate-istio-published.csv, validate-istio-benchmark.csv, validate-shape.csv, validate-bookinfo.csv)",
        written.display()
    );
    Ok(())
}

/// A group of checks on the terminal: its heading, its table, and how many of them are within
/// target (`{n} of {all} {what}`).
fn print_checks(heading: &str, checks: &[app::validate::Check], what: &str) {
    println!("{heading}");
    print!("{}", app::validate::table(checks));
    let within = checks.iter().filter(|c| c.within_target()).count();
    println!("{within} of {} {what}", checks.len());
}

/// Tell the user a seed that was picked for them, so the run can be repeated.
pub(crate) fn note_picked_seed(seed: u64, picked: bool) {
    if picked {
        eprintln!("seed: {seed} (picked; pass --seed {seed} to repeat)");
    }
}
