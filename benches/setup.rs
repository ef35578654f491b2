//! Set-up cost against topology size: one `meshsim run F --placement P --rps 1000 --duration
//! 5s` (load the file and its cost models, place the proxies, compile the plan, simulate, write
//! the outputs) of a synthetic topology of 10,000 services and of 100,000 services, for each
//! placement, interleaved in the same benchmark run, and the ratio of their times per
//! placement. Linear set-up keeps the ratio under 10 (ten times the services; the simulated
//! load is the same). Run with `cargo bench --bench setup`; the number of interleaved rounds is
//! `SETUP_BENCH_ROUNDS` (default 3). Each round's ratio pairs two runs made a few seconds
//! apart, so the median of the rounds' ratios is the figure that least moves with the load of
//! a shared machine; the medians of the times are printed too.
//!
//! Each run is its own process, as a user runs it. `SETUP_BENCH_IN_PROCESS=1` makes them in
//! this process instead (without writing outputs), one after another: each then starts on the
//! heap the previous 100,000-service run left, which a user's run never does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use meshsim::app::{load_inputs, run_placement, Overrides};
use meshsim::placement::Placement;

/// Services of the small and the large topology.
const SIZES: [usize; 2] = [10_000, 100_000];

/// Write `meshsim synth --services n`'s topology into `dir`, naming the bundled cost models.
fn synth(dir: &Path, services: usize) -> PathBuf {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let text = meshsim::sweep::synth::topology_text(services, 1, models.to_str().expect("a UTF-8 path"));
    let path = dir.join(format!("synth-{services}.toml"));
    std::fs::write(&path, text).expect("the temporary folder is writable");
    path
}

/// Seconds of one run of the topology at `path`, as `meshsim run F --placement P --rps 1000
/// --duration 5s` does it, in its own process, its outputs written into `out`.
fn run_process(path: &Path, placement: Placement, out: &Path) -> f64 {
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(["run", path.to_str().expect("a UTF-8 path"), "--placement", &placement.to_string()])
        .args(["--rps", "1000", "--duration", "5s", "--warmup", "1s", "--seed", "1", "--force", "--out"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("meshsim starts");
    assert!(status.success(), "meshsim run {} --placement {placement} failed", path.display());
    started.elapsed().as_secs_f64()
}

/// The same run in this process, without writing the output files; and its events.
fn run_in_process(path: &Path, placement: Placement) -> (f64, u64) {
    let started = Instant::now();
    let overrides = Overrides { rate: Some("1000rps".into()), duration: Some("5s".into()), warmup: Some("1s".into()), seed: Some(1) };
    let inputs = load_inputs(path, &overrides).expect("the synthetic topology loads");
    let run = run_placement(&inputs, placement, 1, Vec::new(), None).expect("it runs");
    (started.elapsed().as_secs_f64(), run.output.events)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("SETUP_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let dir = std::env::temp_dir().join(format!("meshsim-setup-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let paths: Vec<PathBuf> = SIZES.iter().map(|&n| synth(&dir, n)).collect();
    let in_process = std::env::var_os("SETUP_BENCH_IN_PROCESS").is_some_and(|v| v == "1");
    let mode = if in_process { "in this process" } else { "one process each" };
    let placements = [Placement::None, Placement::Sidecar, Placement::PerNode, Placement::Ambient];
    // seconds[placement][size]: one time per round.
    let mut seconds = vec![vec![Vec::new(); SIZES.len()]; placements.len()];
    for round in 1..=rounds {
        for (p, &placement) in placements.iter().enumerate() {
            for (k, path) in paths.iter().enumerate() {
                let s = if in_process {
                    let (s, events) = run_in_process(path, placement);
                    println!("round {round}: {placement}, {} services: {s:.2} s ({events} events)", SIZES[k]);
                    s
                } else {
                    let s = run_process(path, placement, &dir.join(format!("out-{placement}-{}", SIZES[k])));
                    println!("round {round}: {placement}, {} services: {s:.2} s", SIZES[k]);
                    s
                };
                seconds[p][k].push(s);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (placement, times) in placements.iter().zip(seconds) {
        let ratios: Vec<f64> = times[1].iter().zip(&times[0]).map(|(large, small)| large / small).collect();
        let ratio = median(ratios.clone());
        let medians: Vec<f64> = times.into_iter().map(median).collect();
        println!(
            "setup {placement}: {} services {:.2} s, {} services {:.2} s (medians of {rounds} interleaved rounds, {mode}); per-round ratios {}: median {ratio:.1}x the time for {}x the services",
            SIZES[0],
            medians[0],
            SIZES[1],
            medians[1],
            ratios.iter().map(|r| format!("{r:.1}")).collect::<Vec<_>>().join(", "),
            SIZES[1] / SIZES[0]
        );
    }
}
