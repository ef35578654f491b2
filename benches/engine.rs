//! Engine throughput: simulated events per wall-clock second on Faces at 1200 rps (sidecar
//! and ambient), on a synthetic 1,000-service graph, and on a 10-station M/M/1 tandem at
//! ρ 0.8 (placement none, no network delay). Run with `cargo bench --bench engine`;
//! criterion reports the rate as "elem/s" (one element = one event); the tandem group's
//! elements are station visits (10 per customer), so its elem/s is station-visits/s.
//!
//! The tandem group's baselines simulate the same network with nothing but a binary heap of
//! (time, sequence, event) and ten FIFO queues: `bare-binary-heap-loop` records nothing (the
//! physical reference), `bare-loop-recording` also does per visit the work the engine's
//! outputs need at the least (one HdrHistogram record of the visit's sojourn and one CPU-busy
//! sum). The ratios of the engine's rate to theirs are what its generality costs.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use meshsim::app::{load_inputs, Inputs, Overrides};
use meshsim::model::CostModels;
use meshsim::placement::{Deployment, Placement};
use meshsim::sim::{simulate, Plan, SimOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn faces() -> Inputs {
    load_inputs(
        &root().join("topologies/faces.toml"),
        &Overrides { rate: Some("1200rps".into()), duration: Some("10s".into()), warmup: Some("1s".into()), seed: Some(1) },
    )
    .expect("faces loads")
}

fn synthetic(services: usize) -> Inputs {
    let path = root().join("topologies/synthetic.toml");
    let text = meshsim::sweep::synth::topology_text(services, 1, "../models");
    let mut topology = meshsim::topology::parse(Path::new(&path), &text).expect("synthetic topology parses");
    topology.set_total_rate(2000.0);
    topology.simulation.duration_ns = 10_000_000_000;
    topology.simulation.warmup_ns = 1_000_000_000;
    let models = CostModels::load(&topology.mesh.models).expect("models load");
    Inputs { topology, models, control_plane: Default::default(), topology_text: text }
}

/// Ten M/M/1 stations in a chain (each serves 10 µs on average and then calls the next),
/// 80,000 customers/s: ρ 0.8 at every station.
fn tandem() -> Inputs {
    let mut text = String::from(
        "version = 1\nname = \"tandem\"\n[simulation]\nduration = \"2s\"\nwarmup = \"200ms\"\nseed = 1\n[mesh]\n\
         [network]\nsame_node = \"0us\"\nsame_zone = \"0us\"\ncross_zone = \"0us\"\ncross_cluster = \"0us\"\n\
         [[node]]\nname = \"n\"\nvcpu = 64\nmemory = \"256Gi\"\n[[namespace]]\nname = \"app\"\n",
    );
    for i in 0..10 {
        text.push_str(&format!(
            "[[service]]\nname = \"s{i}\"\nnamespace = \"app\"\nreplicas = 1\nconcurrency = 1\n\
             service_time = {{ dist = \"exponential\", mean = \"10us\" }}\n"
        ));
        if i < 9 {
            text.push_str(&format!("[[service.call]]\nto = \"s{}\"\nmode = \"sequential\"\n", i + 1));
        }
    }
    text.push_str("[[load]]\nto = \"s0\"\nrate = \"80000rps\"\n");
    let topology = meshsim::topology::parse(&root().join("topologies/tandem.toml"), &text).expect("tandem parses");
    Inputs { topology, models: CostModels::default(), control_plane: Default::default(), topology_text: text }
}

fn bench_tandem(c: &mut Criterion) {
    let inputs = tandem();
    let d = Deployment::new(&inputs.topology, Placement::None, inputs.models.scopes());
    let plan = Plan::new(&inputs.topology, &d, &inputs.models);
    let opts = SimOptions::new(1);
    let out = simulate(&plan, &opts).expect("runs");
    let visits = out.sent * 10;
    println!(
        "tandem: {} customers, {} events ({:.1} per customer), {visits} station visits",
        out.sent,
        out.events,
        out.events as f64 / out.sent as f64
    );
    let bare_visits = bare::tandem::<false>(10, 80_000.0, 10_000.0, 2_000_000_000, 1);
    println!("bare loop: {bare_visits} station visits");
    let mut g = c.benchmark_group("tandem-10-mm1-rho0.8-visits");
    g.sample_size(10);
    g.throughput(Throughput::Elements(visits));
    g.bench_function("none", |b| b.iter(|| simulate(&plan, &opts).expect("runs")));
    g.throughput(Throughput::Elements(bare_visits));
    g.bench_function("bare-binary-heap-loop", |b| b.iter(|| bare::tandem::<false>(10, 80_000.0, 10_000.0, 2_000_000_000, 1)));
    g.bench_function("bare-loop-recording", |b| b.iter(|| bare::tandem::<true>(10, 80_000.0, 10_000.0, 2_000_000_000, 1)));
    g.finish();
    let mut g = c.benchmark_group("tandem-10-mm1-rho0.8-events");
    g.sample_size(10);
    g.throughput(Throughput::Elements(out.events));
    g.bench_function("none", |b| b.iter(|| simulate(&plan, &opts).expect("runs")));
    g.finish();
}

fn bench_plan(c: &mut Criterion, name: &str, inputs: &Inputs, placement: Placement) {
    let d = Deployment::new(&inputs.topology, placement, inputs.models.scopes());
    let plan = Plan::new(&inputs.topology, &d, &inputs.models);
    let opts = SimOptions::new(1);
    let events = simulate(&plan, &opts).expect("runs").events;
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    g.throughput(Throughput::Elements(events));
    g.bench_function(placement.as_str(), |b| b.iter(|| simulate(&plan, &opts).expect("runs")));
    g.finish();
}

fn engine(c: &mut Criterion) {
    let faces = faces();
    for p in [Placement::None, Placement::Sidecar, Placement::Ambient] {
        bench_plan(c, "faces-1200rps-10s", &faces, p);
    }
    let synth = synthetic(1000);
    for p in [Placement::Sidecar, Placement::Ambient] {
        bench_plan(c, "synthetic-1000-services-2000rps-10s", &synth, p);
    }
}

/// The least a simulator of the tandem must do: one binary heap of (time, sequence, event)
/// entries, a FIFO queue per station, exponential draws from the engine's RNG.
mod bare {
    use std::cmp::Reverse;
    use std::collections::{BinaryHeap, VecDeque};

    use hdrhistogram::Histogram;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Exp};

    const ARRIVAL: u32 = u32::MAX;

    /// Simulate `stations` M/M/1 stations in series: Poisson arrivals at `rate_per_s` until
    /// `duration_ns`, exponential service of mean `mean_ns`, no delay between stations, run
    /// until empty. Returns the station visits completed. With `RECORD`, each visit's sojourn
    /// at its station goes into one HdrHistogram and its service time into its station's busy
    /// sum, as the engine's latency and CPU outputs need at the least.
    pub fn tandem<const RECORD: bool>(stations: usize, rate_per_s: f64, mean_ns: f64, duration_ns: u64, seed: u64) -> u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let gap = Exp::new(rate_per_s / 1e9).expect("positive rate");
        let service = Exp::new(1.0 / mean_ns).expect("positive mean");
        // Entries: (time ns, sequence, station or ARRIVAL); a departure frees its station.
        let mut heap: BinaryHeap<Reverse<(u64, u64, u32)>> = BinaryHeap::with_capacity(64);
        // Each station's queue holds its customers' arrival times there; `since` the arrival
        // of the one in service.
        let mut queues: Vec<VecDeque<u64>> = vec![VecDeque::new(); stations];
        let mut busy = vec![false; stations];
        let mut since = vec![0u64; stations];
        let mut busy_ns = vec![0u64; stations];
        let mut sojourn = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).expect("bounds");
        let mut seq = 0u64;
        let mut visits = 0u64;
        let mut push = |heap: &mut BinaryHeap<Reverse<(u64, u64, u32)>>, at: u64, what: u32| {
            seq += 1;
            heap.push(Reverse((at, seq, what)));
        };
        let serve = |rng: &mut ChaCha8Rng, busy_ns: &mut [u64], s: usize| {
            let d = service.sample(rng) as u64;
            if RECORD {
                busy_ns[s] += d;
            }
            d
        };
        push(&mut heap, gap.sample(&mut rng) as u64, ARRIVAL);
        while let Some(Reverse((now, _, what))) = heap.pop() {
            let next = if what == ARRIVAL {
                let at = now + gap.sample(&mut rng) as u64;
                if at < duration_ns {
                    push(&mut heap, at, ARRIVAL);
                }
                0
            } else {
                let s = what as usize;
                visits += 1;
                if RECORD {
                    sojourn.saturating_record((now - since[s]).max(1));
                }
                if let Some(arrived) = queues[s].pop_front() {
                    if RECORD {
                        since[s] = arrived;
                    }
                    let d = serve(&mut rng, &mut busy_ns, s);
                    push(&mut heap, now + d, what);
                } else {
                    busy[s] = false;
                }
                s + 1
            };
            if next < stations {
                if busy[next] {
                    queues[next].push_back(now);
                } else {
                    busy[next] = true;
                    if RECORD {
                        since[next] = now;
                    }
                    let d = serve(&mut rng, &mut busy_ns, next);
                    push(&mut heap, now + d, next as u32);
                }
            }
        }
        std::hint::black_box((&sojourn, &busy_ns));
        visits
    }
}

criterion_group!(benches, engine, bench_tandem);
criterion_main!(benches);
