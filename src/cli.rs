//! Command-line interface: clap definitions and the dispatch to `app` commands. Prints
//! tables to stdout and notes to stderr; file output is the commands' business.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::{self, AppError, Overrides};
use crate::placement::Placement;

#[derive(Debug, Parser)]
#[command(
    name = "meshsim",
    version,
    about = "Discrete-event simulator of service-mesh data planes: sidecar, per-node and ambient, side by side"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate every placement of a topology and print them side by side.
    Compare {
        /// Topology file (TOML).
        file: PathBuf,
        #[command(flatten)]
        common: RunArgs,
        /// Placements to compare (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "none,sidecar,per-node,ambient")]
        placements: Vec<Placement>,
    },
    /// Simulate one placement of a topology.
    Run {
        /// Topology file (TOML).
        file: PathBuf,
        #[command(flatten)]
        common: RunArgs,
        /// Placement for namespaces that do not fix their own.
        #[arg(long, default_value = "sidecar")]
        placement: Placement,
    },
    /// Fit cost models to raw measurements (a gsd-v1 folder, or Istio's benchmark CSV).
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
        /// Output folder (default: outputs/calibration-<data set>).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Compare simulated data-plane CPU and memory with measurements, level by level.
    Validate {
        /// gsd-v1 data sets to check (default: <shared>/data/gsd-v1/linkerd and .../ambient,
        /// where <shared> is $MESHSIM_SHARED or ../shared).
        #[arg(long)]
        gsd: Vec<PathBuf>,
        /// Topology reproducing the measured system.
        #[arg(long, default_value = "topologies/faces.toml")]
        topology: PathBuf,
        /// Simulated time per load level.
        #[arg(long, default_value = "20s")]
        duration: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output folder.
        #[arg(long, default_value = "outputs/validate")]
        out: PathBuf,
    },
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
    /// Output folder (default: outputs/<topology name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl RunArgs {
    fn overrides(&self) -> Overrides {
        Overrides { rate: self.rps.clone(), duration: self.duration.clone(), warmup: self.warmup.clone(), seed: self.seed }
    }
}

/// Run the parsed command.
pub fn run(cli: Cli) -> Result<(), AppError> {
    match cli.command {
        Command::Compare { file, common, placements } => compare(&file, &common, &placements, None),
        Command::Run { file, common, placement } => compare(&file, &common, &[placement], Some(placement)),
        Command::Calibrate { source, degree, topology, placement, out, seed } => {
            let r = app::calibrate::calibrate(&app::calibrate::CalibrateArgs { source, degree, topology, placement, out, seed })?;
            print!("{}", r.table);
            println!("wrote {}/", r.out.display());
            Ok(())
        }
        Command::Validate { gsd, topology, duration, seed, out } => validate(gsd, &topology, &duration, seed, &out),
    }
}

fn compare(file: &std::path::Path, common: &RunArgs, placements: &[Placement], single: Option<Placement>) -> Result<(), AppError> {
    let c = app::compare::compare(file, placements, &common.overrides())?;
    let t = &c.inputs.topology;
    if c.seed_was_picked {
        eprintln!("seed: {} (picked; pass --seed {} to repeat)", c.seed, c.seed);
    }
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
    let eps: Vec<f64> = c.runs.iter().map(|r| r.events_per_s()).collect();
    print!("{}", crate::report::csv_out::summary_table(&c.rows, &eps));
    let out = common.out.clone().unwrap_or_else(|| app::default_out(t, single.map(|p| p.as_str())));
    let command = if single.is_some() { "run" } else { "compare" };
    let written = app::compare::write(&c, &out, command)?;
    println!("wrote {}/ (summary.csv, instances.csv, edges.csv, run.json)", written.display());
    Ok(())
}

fn validate(gsd: Vec<PathBuf>, topology: &std::path::Path, duration: &str, seed: u64, out: &std::path::Path) -> Result<(), AppError> {
    let sets = if gsd.is_empty() {
        let base = app::validate::shared_dir().join("data/gsd-v1");
        vec![base.join("linkerd"), base.join("ambient")]
    } else {
        gsd
    };
    let mut checks = Vec::new();
    for set in &sets {
        checks.extend(app::validate::validate_gsd(set, topology, duration, seed)?);
    }
    print!("{}", app::validate::table(&checks));
    let missed = checks.iter().filter(|c| !c.within_target()).count();
    println!("{} of {} checks within target", checks.len() - missed, checks.len());
    let io = |e: std::io::Error| AppError::Output(format!("{}: {e}", out.display()));
    let staged = crate::report::outdir::StagedDir::create(out).map_err(io)?;
    app::validate::write_csv(&staged.file("validate-gsd.csv"), &checks)?;
    let written = staged.commit().map_err(io)?;
    println!("wrote {}/validate-gsd.csv", written.display());
    Ok(())
}
