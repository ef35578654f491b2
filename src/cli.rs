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
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "none,sidecar,per-node,ambient"
        )]
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
        Overrides {
            rate: self.rps.clone(),
            duration: self.duration.clone(),
            warmup: self.warmup.clone(),
            seed: self.seed,
        }
    }
}

/// Run the parsed command.
pub fn run(cli: Cli) -> Result<(), AppError> {
    match cli.command {
        Command::Compare {
            file,
            common,
            placements,
        } => compare(&file, &common, &placements, None),
        Command::Run {
            file,
            common,
            placement,
        } => compare(&file, &common, &[placement], Some(placement)),
    }
}

fn compare(
    file: &std::path::Path,
    common: &RunArgs,
    placements: &[Placement],
    single: Option<Placement>,
) -> Result<(), AppError> {
    let c = app::compare::compare(file, placements, &common.overrides())?;
    let t = &c.inputs.topology;
    if c.seed_was_picked {
        eprintln!(
            "seed: {} (picked; pass --seed {} to repeat)",
            c.seed, c.seed
        );
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
    let out = common
        .out
        .clone()
        .unwrap_or_else(|| app::default_out(t, single.map(|p| p.as_str())));
    let command = if single.is_some() { "run" } else { "compare" };
    let written = app::compare::write(&c, &out, command)?;
    println!(
        "wrote {}/ (summary.csv, instances.csv, edges.csv, run.json)",
        written.display()
    );
    Ok(())
}
