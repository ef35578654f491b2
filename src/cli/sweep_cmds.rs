//! Terminal side of `sweep`, `merge`, `capacity` and `synth`: turn flags into options, call
//! the `app` command, print its table to stdout and notes to stderr.

use std::path::{Path, PathBuf};

use crate::app::capacity::{self as cap, CapacityOptions};
use crate::app::sweep::{self as sw, SweepOptions};
use crate::app::{default_out, duration_arg, rate_arg, AppError, Overrides};
use crate::limits::{MAX_HEADROOM, MAX_SERVICES};
use crate::placement::Placement;
use crate::report::table::{num, render};
use crate::sweep::records::axis_column;
use crate::sweep::spec::value_cell;
use crate::sweep::Shard;
use crate::units;

/// Most worker threads a sweep starts (each holds a running case).
const MAX_THREADS: usize = 1024;

/// Rows beyond this are not printed (the CSV has them all).
const MAX_PRINTED_ROWS: usize = 80;

pub fn sweep(file: &Path, shard: Option<Shard>, seed: Option<u64>, threads: Option<usize>, out: Option<PathBuf>) -> Result<(), AppError> {
    if threads.is_some_and(|n| n == 0 || n > MAX_THREADS) {
        return Err(AppError::arg("--threads", format!("must be between 1 and {MAX_THREADS}")));
    }
    let o = SweepOptions { shard: shard.unwrap_or(Shard::WHOLE), seed, threads, progress: true };
    let s = sw::run(file, &o)?;
    let runs: usize = s.results.iter().map(|r| r.rows.len()).sum();
    let shard_note = if s.shard.count > 1 { format!(" (shard {}/{})", s.shard.index, s.shard.count) } else { String::new() };
    println!(
        "{}: {} of {} cases{shard_note} x {} placements = {runs} runs, seed {}",
        s.spec.name,
        s.results.len(),
        s.total_cases,
        s.spec.placements.len(),
        s.spec.seed
    );
    eprintln!("ran in {:.2} s on {} threads", s.wall_s, s.threads);
    let mut header = vec!["case".to_string()];
    if !s.spec.cases.is_empty() {
        header.push("name".into());
    }
    header.extend(s.spec.axes.iter().map(|a| axis_column(&a.path)));
    header.extend(["placement", "DP CPU mC", "DP mem MiB", "p99 ms", "errors %"].map(String::from));
    let mut body = Vec::new();
    for r in &s.results {
        for row in &r.rows {
            let mut cells = vec![r.case.index.to_string()];
            if !s.spec.cases.is_empty() {
                cells.push(r.case.name.clone().unwrap_or_default());
            }
            cells.extend(r.case.axis_values.iter().map(value_cell));
            cells.extend([
                row.placement.to_string(),
                num(Some(row.dp_cpu_millicores), 1),
                num(Some(row.dp_mem_mib), 1),
                num(Some(row.latency_p99_ms), 3),
                num(Some(row.error_rate * 100.0), 3),
            ]);
            body.push(cells);
        }
    }
    let hidden = body.len().saturating_sub(MAX_PRINTED_ROWS);
    body.truncate(MAX_PRINTED_ROWS);
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    print!("{}", render(&h, &body));
    if hidden > 0 {
        println!("… {hidden} more rows in the CSV");
    }
    let out = out.unwrap_or_else(|| Path::new("outputs").join(&s.spec.name));
    let written = sw::write(&s, &out)?;
    if s.shard.count > 1 {
        println!("wrote {}", written.display());
    } else {
        println!("wrote {}/ (sweep.csv, cpu-vs-rate, mem-vs-rate, p99-vs-rate .png/.svg)", written.display());
    }
    Ok(())
}

pub fn merge(out: &Path, inputs: &[PathBuf]) -> Result<(), AppError> {
    let rows = sw::merge(out, inputs)?;
    println!("merged {} files, {rows} rows, into {}", inputs.len(), out.display());
    Ok(())
}

/// Flags of `meshsim capacity`.
pub struct CapacityArgs {
    pub slo_p99: String,
    pub rate: Option<String>,
    pub max_error_rate: f64,
    pub headroom: f64,
    pub max_rps: Option<String>,
    pub duration: Option<String>,
    pub warmup: Option<String>,
    pub seed: Option<u64>,
    pub placements: Vec<Placement>,
    pub out: Option<PathBuf>,
}

pub fn capacity(file: &Path, a: CapacityArgs) -> Result<(), AppError> {
    let slo_p99_ns = duration_arg("--slo-p99", &a.slo_p99)?;
    if slo_p99_ns == 0 {
        return Err(AppError::arg("--slo-p99", "must be more than zero"));
    }
    // The share given is the share used: refused outside its range, never clamped.
    if !(0.0..=MAX_HEADROOM).contains(&a.headroom) {
        return Err(AppError::arg("--headroom", format!("{} must be a share between 0 and {MAX_HEADROOM}, e.g. 0.2", a.headroom)));
    }
    if !(0.0..=1.0).contains(&a.max_error_rate) {
        return Err(AppError::arg("--max-error-rate", format!("{} must be a share in [0, 1]", a.max_error_rate)));
    }
    let o = CapacityOptions {
        slo_p99_ns,
        max_error_rate: a.max_error_rate,
        headroom: a.headroom,
        max_rps: a.max_rps.as_deref().map(|r| rate_arg("--max-rps", r)).transpose()?,
        rate_rps: a.rate.as_deref().map(|r| rate_arg("--rate", r)).transpose()?,
        placements: a.placements,
    };
    let overrides = Overrides { rate: None, duration: a.duration, warmup: a.warmup, seed: a.seed };
    let r = cap::capacity(file, &overrides, &o)?;
    let t = &r.inputs.topology;
    super::note_picked_seed(r.seed, r.seed_was_picked);
    println!(
        "{}: p99 SLO {}, error rate <= {}, probes of {} (warm-up {}), seed {}; node type `{}` ({} vCPU, {:.0} MiB, {:.0}% headroom)",
        t.name,
        units::format_duration_ns(slo_p99_ns),
        o.max_error_rate,
        units::format_duration_ns(t.simulation.duration_ns),
        units::format_duration_ns(t.simulation.warmup_ns),
        r.seed,
        r.node.name,
        r.node.vcpu,
        r.node.memory_mib,
        o.headroom * 100.0
    );
    print!("{}", cap::tables(&r));
    let out = a.out.unwrap_or_else(|| default_out(t, Some("capacity")));
    let written = cap::write(&r, &out)?;
    println!("wrote {}/capacity.csv", written.display());
    Ok(())
}

pub fn synth(services: usize, out: &Path, models: &str, seed: u64) -> Result<(), AppError> {
    if services == 0 || services > MAX_SERVICES {
        return Err(AppError::arg("--services", format!("must be between 1 and {MAX_SERVICES}")));
    }
    let text = crate::sweep::synth::topology_text(services, seed, models);
    crate::report::outdir::write_atomic(out, text.as_bytes()).map_err(|e| AppError::Output(format!("{}: {e}", out.display())))?;
    println!("wrote {} ({services} services)", out.display());
    Ok(())
}
