//! Engine throughput: simulated events per wall-clock second on Faces at 1200 rps (sidecar
//! and ambient), on a synthetic 1,000-service graph, and on a 10-station M/M/1 tandem at
//! ρ 0.8 (placement none, no network delay). Run with `cargo bench --bench engine`;
//! criterion reports the rate as "elem/s" (one element = one event); the tandem group's
//! elements are station visits (10 per customer), so its elem/s is station-visits/s.

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
    Inputs { topology, models, topology_text: text }
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
    Inputs { topology, models: CostModels::default(), topology_text: text }
}

fn bench_tandem(c: &mut Criterion) {
    let inputs = tandem();
    let d = Deployment::new(&inputs.topology, Placement::None);
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
    let mut g = c.benchmark_group("tandem-10-mm1-rho0.8-visits");
    g.sample_size(10);
    g.throughput(Throughput::Elements(visits));
    g.bench_function("none", |b| b.iter(|| simulate(&plan, &opts).expect("runs")));
    g.finish();
    let mut g = c.benchmark_group("tandem-10-mm1-rho0.8-events");
    g.sample_size(10);
    g.throughput(Throughput::Elements(out.events));
    g.bench_function("none", |b| b.iter(|| simulate(&plan, &opts).expect("runs")));
    g.finish();
}

fn bench_plan(c: &mut Criterion, name: &str, inputs: &Inputs, placement: Placement) {
    let d = Deployment::new(&inputs.topology, placement);
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

criterion_group!(benches, engine, bench_tandem);
criterion_main!(benches);
