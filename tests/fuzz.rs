//! Seeded mutation fuzzing of every bundled input file through the library's entry points:
//! topologies (parse, validate, load models), cost models (through a topology that uses
//! them) and sweep files (every case checked). Mutations delete, duplicate and swap lines,
//! put extreme and non-finite numbers, wrong types, huge strings, bad units and bad UTF-8 in,
//! and truncate. Every outcome must be an acceptance or an input error, never a panic and
//! never a file written on an input error, with every message in the user's terms; a
//! quarter of the accepted topologies run a short simulation whose summaries must hold no
//! NaN or infinity.
//!
//! `MESHSIM_FUZZ_CASES` sets the number of inputs (default 3000, under a minute in a release
//! build); `MESHSIM_FUZZ_SEED` the seed (default 1). The figures (outcomes by kind, slowest
//! case) are printed; wall time is measured, not asserted.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use meshsim::app::sweep::{check, SweepOptions};
use meshsim::app::{load_inputs, run_placement, AppError, Overrides};
use meshsim::placement::Placement;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A bundled file to mutate, with relative paths made absolute so the mutant can live in a
/// scratch folder.
#[derive(Clone)]
enum Seed {
    Topology(String),
    /// A model's text and the `[mesh]` key a topology names it with.
    Model(String, &'static str),
    Sweep(String),
}

fn files(dir: &str) -> Vec<PathBuf> {
    // Model files sit one folder down, in their profile's folder.
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .flat_map(|p| if p.is_dir() { std::fs::read_dir(p).unwrap().map(|e| e.unwrap().path()).collect() } else { vec![p] })
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && !p.ends_with("profile.toml"))
        .collect();
    v.sort();
    v
}

fn absolute_paths(text: &str) -> String {
    let r = root();
    text.replace("\"../models/", &format!("\"{}/models/", r.display()))
        .replace("\"../topologies/", &format!("\"{}/topologies/", r.display()))
        .replace("\"../tests/", &format!("\"{}/tests/", r.display()))
}

fn seeds() -> Vec<Seed> {
    let mut s = Vec::new();
    for p in files("topologies") {
        s.push(Seed::Topology(absolute_paths(&std::fs::read_to_string(p).unwrap())));
    }
    for p in files("models").into_iter().chain(files("tests/fixtures/models")) {
        let text = std::fs::read_to_string(&p).unwrap();
        let key = ["sidecar", "node-proxy", "ztunnel", "waypoint"]
            .iter()
            .zip(["sidecar_model", "node_proxy_model", "ztunnel_model", "waypoint_model"])
            .find(|(k, _)| text.contains(&format!("kind = \"{k}\"")))
            .map(|(_, f)| f)
            .unwrap_or("sidecar_model");
        s.push(Seed::Model(text, key));
    }
    for p in files("examples") {
        s.push(Seed::Sweep(absolute_paths(&std::fs::read_to_string(p).unwrap())));
    }
    s
}

const NUMBERS: [&str; 16] = [
    "0",
    "-1",
    "1e308",
    "-1e308",
    "1e-300",
    "nan",
    "inf",
    "-inf",
    "9223372036854775807",
    "-9223372036854775808",
    "4294967295",
    "1.5",
    "0.0",
    "1e18",
    "100000000",
    "3",
];
const QUANTITIES: [&str; 14] = [
    "\"1e18ns\"",
    "\"1e308rps\"",
    "\"1ns\"",
    "\"0s\"",
    "\"-5ms\"",
    "\"32G\"",
    "\"1e400s\"",
    "\"nan\"",
    "\"9e18ns\"",
    "\"1e-15\"",
    "\"1\"",
    "\"\"",
    "\"1e9s\"",
    "\"100000Gi\"",
];
const WRONG_TYPES: [&str; 8] = ["true", "[1, 2]", "{ a = 1 }", "\"text\"", "1979-05-27T07:32:00Z", "[]", "{}", "2s"];

/// Apply one random mutation to `text` (as bytes: some mutations break UTF-8).
fn mutate(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>) {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let i = rng.gen_range(0..lines.len());
    let value_line = |lines: &Vec<String>, rng: &mut ChaCha8Rng| -> Option<usize> {
        let candidates: Vec<usize> =
            (0..lines.len()).filter(|&k| lines[k].contains(" = ") && !lines[k].trim_start().starts_with('#')).collect();
        candidates.choose(rng).copied()
    };
    let set_value = |lines: &mut Vec<String>, k: usize, v: &str| {
        let (key, _) = lines[k].split_once(" = ").expect("a value line");
        lines[k] = format!("{key} = {v}");
    };
    match rng.gen_range(0..12) {
        0 => {
            lines.remove(i);
        }
        1 => {
            let l = lines[i].clone();
            lines.insert(i, l);
        }
        2 => {
            let j = rng.gen_range(0..lines.len());
            lines.swap(i, j);
        }
        3 | 4 => {
            if let Some(k) = value_line(&lines, rng) {
                set_value(&mut lines, k, NUMBERS.choose(rng).unwrap());
            }
        }
        5 | 6 => {
            if let Some(k) = value_line(&lines, rng) {
                set_value(&mut lines, k, QUANTITIES.choose(rng).unwrap());
            }
        }
        7 => {
            if let Some(k) = value_line(&lines, rng) {
                set_value(&mut lines, k, WRONG_TYPES.choose(rng).unwrap());
            }
        }
        8 => {
            if let Some(k) = value_line(&lines, rng) {
                let n = *[1_000usize, 100_000].choose(rng).unwrap();
                set_value(&mut lines, k, &format!("\"{}\"", "x".repeat(n)));
            }
        }
        9 => {
            // A typo in a key.
            if let Some(k) = value_line(&lines, rng) {
                let (key, v) = lines[k].split_once(" = ").map(|(a, b)| (a.to_string(), b.to_string())).unwrap();
                lines[k] = format!("{key}z = {v}");
            }
        }
        10 => {
            let cut = rng.gen_range(0..=bytes.len());
            bytes.truncate(cut);
            return;
        }
        _ => {
            let at = rng.gen_range(0..=bytes.len());
            let b = *[0xffu8, 0xc3, 0x80, 0x00].choose(rng).unwrap();
            bytes.insert(at, b);
            return;
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    *bytes = out.into_bytes();
}

#[derive(Default)]
struct Figures {
    inputs: usize,
    accepted: usize,
    input_errors: usize,
    other_errors: Vec<String>,
    panics: Vec<String>,
    written: Vec<String>,
    runs: usize,
    runs_stopped: usize,
    non_finite: Vec<String>,
    bad_messages: Vec<String>,
    slowest: (Duration, String),
    total: Duration,
}

/// Entries of the scratch folder (to see that an input error wrote nothing).
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Load (and maybe run) one mutant; `Ok(true)` accepted, `Ok(false)` input error.
fn try_one(seed: &Seed, file: &Path, run: bool, f: &mut Figures) -> Result<bool, String> {
    let loaded = match seed {
        Seed::Topology(_) | Seed::Model(..) => load_inputs(file, &Overrides::default()).map(Some),
        Seed::Sweep(_) => check(file, &SweepOptions::default()).map(|_| None),
    };
    let inputs = match loaded {
        Ok(i) => i,
        Err(AppError::Input(e)) => {
            // Every message says what is wrong, in the user's terms (no Rust type names).
            for x in &e.0 {
                let leak = ["invalid type:", "expected struct", "expected u32", "expected i64", "expected f64", "expected a string"]
                    .iter()
                    .any(|l| x.message.contains(l));
                if x.message.trim().is_empty() || leak {
                    f.bad_messages.push(x.to_string());
                }
            }
            return Ok(false);
        }
        Err(other) => return Err(other.to_string()),
    };
    let Some(mut inputs) = inputs.filter(|_| run) else { return Ok(true) };
    // A short run: at most 1 s simulated and 2 million events.
    let s = &mut inputs.topology.simulation;
    s.duration_ns = s.duration_ns.min(1_000_000_000);
    s.warmup_ns = s.warmup_ns.min(s.duration_ns / 2);
    s.max_events = s.max_events.min(2_000_000);
    let seed = s.seed.unwrap_or(1);
    for p in Placement::ALL {
        f.runs += 1;
        match run_placement(&inputs, p, seed, Vec::new(), None) {
            Ok(r) => {
                let text = format!("{:?}", r.summary);
                if text.contains("NaN") || text.contains(": inf") || text.contains(": -inf") {
                    f.non_finite.push(format!("{} {p}: {}", file.display(), &text[..text.len().min(300)]));
                }
            }
            Err(AppError::Input(_)) => {} // a placement without its model
            Err(AppError::Sim(_)) => f.runs_stopped += 1,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(true)
}

#[test]
fn mutated_inputs_are_accepted_or_refused_never_a_panic() {
    let cases: usize = env_or("MESHSIM_FUZZ_CASES", 3000);
    let seed: u64 = env_or("MESHSIM_FUZZ_SEED", 1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let seeds = seeds();
    assert!(seeds.len() >= 10, "the bundled files are found");
    let dir = std::env::temp_dir().join(format!("meshsim-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let faces = absolute_paths(&std::fs::read_to_string(root().join("topologies/faces.toml")).unwrap());
    let mut f = Figures::default();
    // Panics are caught and counted; keep their default report off the test's output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for case in 0..cases {
        let s = seeds[case % seeds.len()].clone();
        let mut bytes = match &s {
            Seed::Topology(t) | Seed::Model(t, _) | Seed::Sweep(t) => t.clone().into_bytes(),
        };
        for _ in 0..rng.gen_range(1..=3) {
            mutate(&mut rng, &mut bytes);
        }
        let case_dir = dir.join(format!("case-{case}"));
        std::fs::create_dir_all(&case_dir).unwrap();
        let file = case_dir.join("input.toml");
        std::fs::write(&file, &bytes).unwrap();
        if let Seed::Model(_, key) = &s {
            // The mutated model, used by faces for its kind.
            let model = case_dir.join("model.toml");
            std::fs::rename(&file, &model).unwrap();
            // A per-kind key replaces the profile's model of that kind.
            let line = faces.lines().find(|l| l.starts_with("profile = ")).expect("faces names its profile");
            std::fs::write(&file, faces.replace(line, &format!("{line}\n{key} = {:?}", model.display().to_string()))).unwrap();
        }
        let before = listing(&case_dir);
        let run = rng.gen_bool(0.25);
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut local = Figures::default();
            let r = try_one(&s, &file, run, &mut local);
            (r, local)
        }));
        let took = started.elapsed();
        f.inputs += 1;
        f.total += took;
        if took > f.slowest.0 {
            f.slowest = (took, format!("case {case} ({})", file.display()));
        }
        match outcome {
            Ok((Ok(accepted), local)) => {
                f.runs += local.runs;
                f.runs_stopped += local.runs_stopped;
                f.non_finite.extend(local.non_finite);
                f.bad_messages.extend(local.bad_messages);
                if accepted {
                    f.accepted += 1;
                } else {
                    f.input_errors += 1;
                    if listing(&case_dir) != before {
                        f.written.push(format!("case {case}: {:?}", listing(&case_dir)));
                    }
                }
            }
            Ok((Err(e), _)) => f.other_errors.push(format!("case {case} ({}): {e}", file.display())),
            Err(p) => {
                let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                f.panics.push(format!("case {case} ({}): {}", file.display(), msg.unwrap_or_default()));
            }
        }
        // Keep failing cases for a look; the rest go.
        if f.panics.len() + f.other_errors.len() + f.written.len() + f.non_finite.len() + f.bad_messages.len() == 0 {
            let _ = std::fs::remove_dir_all(&case_dir);
        }
    }
    std::panic::set_hook(hook);
    println!(
        "fuzz: {} inputs (seed {seed}): {} accepted, {} input errors, {} other errors, {} panics; {} short runs ({} stopped by a limit); \
         slowest case {:.3} s ({}), mean {:.2} ms",
        f.inputs,
        f.accepted,
        f.input_errors,
        f.other_errors.len(),
        f.panics.len(),
        f.runs,
        f.runs_stopped,
        f.slowest.0.as_secs_f64(),
        f.slowest.1,
        f.total.as_secs_f64() * 1e3 / f.inputs.max(1) as f64
    );
    assert!(f.panics.is_empty(), "panics:\n{}", f.panics.join("\n"));
    assert!(f.other_errors.is_empty(), "errors that are not input errors:\n{}", f.other_errors.join("\n"));
    assert!(f.written.is_empty(), "files written on an input error:\n{}", f.written.join("\n"));
    assert!(f.non_finite.is_empty(), "NaN or infinity in a summary:\n{}", f.non_finite.join("\n"));
    assert!(f.bad_messages.is_empty(), "messages empty or naming Rust types:\n{}", f.bad_messages.join("\n"));
    assert!(f.accepted > 0 && f.input_errors > 0, "the mutations both keep and break inputs");
    let _ = std::fs::remove_dir_all(&dir);
}
