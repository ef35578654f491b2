//! Engine throughput: simulated events per wall-clock second on Faces at 1200 rps (sidecar
//! and ambient) and on a synthetic 1,000-service graph. Run with `cargo bench --bench engine`;
//! criterion reports the rate as "elem/s" (one element = one event).

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

criterion_group!(benches, engine);
criterion_main!(benches);
