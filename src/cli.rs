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
    /// Fail, squeeze and compromise one component at a time, for every placement.
    Blast {
        /// Topology file (TOML).
        file: PathBuf,
        #[command(flatten)]
        common: RunArgs,
        #[command(flatten)]
        blast: BlastArgs,
        /// Placements to compare (comma-separated).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "none,sidecar,per-node,ambient"
        )]
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
        Command::Blast {
            file,
            common,
            blast,
            placements,
        } => blast_command(&file, &common, &blast, &placements),
    }
}

fn blast_command(
    file: &std::path::Path,
    common: &RunArgs,
    flags: &BlastArgs,
    placements: &[Placement],
) -> Result<(), AppError> {
    let r = app::blast::blast(file, placements, &common.overrides(), &flags.flags())?;
    let t = &r.inputs.topology;
    if r.seed_was_picked {
        eprintln!(
            "seed: {} (picked; pass --seed {} to repeat)",
            r.seed, r.seed
        );
    }
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
    println!("\nstatic blast radius of one component:");
    print!("{}", crate::report::blast_out::spread_table(&r.results));
    println!("\ndynamic runs (shares of requests started during the disturbance):");
    print!("{}", crate::report::blast_out::blast_table(&r.results));
    let out = common
        .out
        .clone()
        .unwrap_or_else(|| app::default_out(t, Some("blast")));
    let written = app::blast::write(&r, &out)?;
    println!(
        "wrote {}/ (blast.csv, blast-static.csv, blast-spread.csv, blast.md, timeline.csv, charts, run.json)",
        written.display()
    );
    Ok(())
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
