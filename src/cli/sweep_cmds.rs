//! Terminal side of `sweep`, `merge`, `capacity` and `synth`: turn flags into options, call
//! the `app` command, print its table to stdout and notes to stderr.

use std::path::{Path, PathBuf};

use crate::app::capacity::{self as cap, CapacityOptions};
use crate::app::results::ReportOptions;
use crate::app::sweep::{self as sw, SweepOptions};
use crate::app::{duration_arg, rate_arg, AppError, Overrides};
use crate::limits::{MAX_HEADROOM, MAX_NODES_PER_ENTRY, MAX_PODS, MAX_SERVICES};
use crate::placement::Placement;
use crate::report::table::render;
use crate::sweep::synth::Shape;
use crate::sweep::Shard;
use crate::units;

/// Most worker threads a sweep starts (each holds a running case).
const MAX_THREADS: usize = 1024;

/// Rows beyond this are not printed (the CSV has them all).
const MAX_PRINTED_ROWS: usize = 80;

/// Flags of `meshsim sweep`.
pub struct SweepArgs {
    pub shard: Option<Shard>,
    pub seed: Option<u64>,
    pub threads: Option<usize>,
    pub out: Option<PathBuf>,
    pub resume: bool,
    pub force: bool,
}

pub fn sweep(file: &Path, a: SweepArgs, report: &ReportOptions) -> Result<(), AppError> {
    if a.threads.is_some_and(|n| n == 0 || n > MAX_THREADS) {
        return Err(AppError::arg("--threads", format!("must be between 1 and {MAX_THREADS}")));
    }
    let o = SweepOptions {
        shard: a.shard.unwrap_or(Shard::WHOLE),
        seed: a.seed,
        threads: a.threads,
        progress: true,
        resume: a.resume,
        force: a.force,
        stop_after_cases: None,
        report: *report,
    };
    let name = crate::sweep::spec::load(file)?.name;
    let out = a.out.unwrap_or_else(|| Path::new("outputs").join(name));
    let s = sw::run(file, &o, &out)?;
    let shard_note = if s.shard.count > 1 { format!(" (shard {}/{})", s.shard.index, s.shard.count) } else { String::new() };
    let resumed = if s.cases_resumed > 0 { format!(", {} finished before", s.cases_resumed) } else { String::new() };
    println!(
        "{}: {} of {} cases{shard_note}{resumed} x {} placements = {} runs, seed {}",
        s.spec.name,
        s.shard_cases,
        s.total_cases,
        s.spec.placements.len(),
        s.shard_cases * s.spec.placements.len(),
        s.spec.seed
    );
    eprintln!("ran {} cases in {:.2} s on {} threads", s.cases_run, s.wall_s, s.threads);
    if !s.complete {
        println!("stopped after {} cases: the finished ones are in {}; --resume runs the rest", s.cases_run, s.written.display());
        return Ok(());
    }
    let p = sw::preview(&s.spec, &s.csv, MAX_PRINTED_ROWS)?;
    let h: Vec<&str> = p.header.iter().map(String::as_str).collect();
    print!("{}", render(&h, &p.rows));
    if p.total > p.rows.len() {
        println!("… {} more rows in the CSV", p.total - p.rows.len());
    }
    if s.shard.count > 1 {
        println!("wrote {} (and its record {})", s.written.display(), crate::sweep::records::record_path(&s.written).display());
    } else {
        println!("wrote {}/ (report.html, results.json, sweep.csv, cpu-vs-rate, mem-vs-rate, p99-vs-rate .png/.svg)", s.written.display());
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
    pub autoscale: Option<f64>,
    pub max_error_rate: f64,
    pub headroom: f64,
    pub max_rps: Option<String>,
    pub duration: Option<String>,
    pub warmup: Option<String>,
    pub seed: Option<u64>,
    pub placements: Vec<Placement>,
    pub out: Option<PathBuf>,
    pub force: bool,
}

pub fn capacity(file: &Path, a: CapacityArgs, report: &ReportOptions) -> Result<(), AppError> {
    let out = super::check_out(file, a.out.as_ref(), Some("capacity"), "capacity", a.force)?;
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
    if let Some(target) = a.autoscale {
        if !(target > 0.0 && target <= 1.0) {
            return Err(AppError::arg("--autoscale", format!("{target} must be a CPU utilisation share in (0, 1], e.g. 0.7")));
        }
        if a.rate.is_none() {
            return Err(AppError::arg("--autoscale", "needs --rate: the rate to scale replicas for, e.g. --rate 400 --autoscale 0.7"));
        }
    }
    let o = CapacityOptions {
        slo_p99_ns,
        max_error_rate: a.max_error_rate,
        headroom: a.headroom,
        max_rps: a.max_rps.as_deref().map(|r| rate_arg("--max-rps", r)).transpose()?,
        rate_rps: a.rate.as_deref().map(|r| rate_arg("--rate", r)).transpose()?,
        autoscale_target: a.autoscale,
        placements: a.placements,
        progress: true,
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
    let written = cap::write_with(&r, &out, a.force, report)?;
    println!(
        "wrote {}/ (report.html, results.json, capacity.csv{})",
        written.display(),
        if o.rate_rps.is_some() { ", capacity-at-rate.csv" } else { "" }
    );
    Ok(())
}

pub fn synth(shape: &Shape, out: &Path, models: &str, seed: u64) -> Result<(), AppError> {
    let services = shape.services;
    if services == 0 || services > MAX_SERVICES {
        return Err(AppError::arg("--services", format!("must be between 1 and {MAX_SERVICES}")));
    }
    if shape.replicas == 0 || shape.replicas.saturating_mul(services) > MAX_PODS {
        return Err(AppError::arg("--replicas", format!("must be at least 1, with services x replicas at most {MAX_PODS}")));
    }
    if shape.nodes.is_some_and(|n| n == 0 || n as i64 > MAX_NODES_PER_ENTRY) {
        return Err(AppError::arg("--nodes", format!("must be between 1 and {MAX_NODES_PER_ENTRY}")));
    }
    if !(shape.rate_rps.is_finite() && shape.rate_rps > 0.0) {
        return Err(AppError::arg("--rate", "must be a positive number of requests per second".to_string()));
    }
    crate::report::outdir::may_replace_file(out, "a synthetic topology meshsim wrote", |head| {
        head.starts_with(crate::sweep::synth::FIRST_LINE.as_bytes())
    })
    .map_err(|e| AppError::arg("--out", e.to_string()))?;
    let text = crate::sweep::synth::shaped_text(shape, seed, models);
    crate::report::outdir::write_atomic(out, text.as_bytes()).map_err(|e| AppError::Output(format!("{}: {e}", out.display())))?;
    println!("wrote {} ({services} services)", out.display());
    Ok(())
}
