//! Every way a request is answered with an error takes time and CPU from whoever answers, so
//! a closed-loop client cannot spin at one instant; a loop that still answers in zero time is
//! stopped as stalled, named for its cause, long before the event limit.

use std::path::Path;

use approx::assert_relative_eq;

use super::engine::{simulate, STALL_EVENTS_MIN, STALL_EVENTS_PER_ACTOR};
use super::output::{Fault, FaultEffect, RunOutput, SimError, SimOptions};
use super::plan::Plan;
use super::tests::topology;
use crate::kernel::REFUSED_CONNECTION_CPU_NS;
use crate::model::CostModels;
use crate::placement::{Deployment, Placement};
use crate::topology::{ProxyKind, Topology};

/// The measurement window of `topology` runs of `secs` seconds (warm-up 1 s), in ns.
fn window_ns(secs: u64) -> f64 {
    (secs - 1) as f64 * 1e9
}

fn simulate_with(t: &Topology, placement: Placement, models: &CostModels, faults: Vec<Fault>) -> Result<(Plan, RunOutput), SimError> {
    let d = Deployment::new(t, placement, models.scopes());
    let plan = Plan::new(t, &d, models);
    let mut opts = SimOptions::new(5);
    opts.faults = faults;
    let out = simulate(&plan, &opts)?;
    Ok((plan, out))
}

/// A sidecar model whose passes cost `l7_pass` of CPU and nothing else, with one worker.
fn sidecar_model(l7_pass: &str) -> CostModels {
    let text = format!(
        "version = 1\nname = \"m\"\nkind = \"sidecar\"\nworkers = 1\n[cpu]\nl7_pass = \"{l7_pass}\"\nl4_pass = \"{l7_pass}\"\n\
         per_kib = \"0us\"\nnew_connection = \"0us\"\ntls_handshake = \"0us\"\nidle = \"0m\"\n[latency]\nfixed = \"0us\"\n\
         [memory]\nbase = \"50MiB\"\nper_endpoint = \"1KiB\"\nper_connection = \"1KiB\"\nper_inflight = \"1KiB\"\n\
         [provenance]\nsource = \"test\"\n"
    );
    let m = crate::model::parse(Path::new("m.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let mut models = CostModels::default();
    models.by_kind.insert(ProxyKind::Sidecar, m);
    models
}

#[test]
fn a_pod_at_its_queue_limit_spends_its_kernels_refusal_under_a_closed_loop() {
    // One slot, a queue of one, four connections with no think time on one core: two
    // connections are always being refused. Each refusal is a reset by the pod's kernel
    // (REFUSED_CONNECTION_CPU_NS of CPU on its core), so the clock moves, the core never idles,
    // and every ns of it is a request's 1 ms or a refusal.
    let mut t =
        topology("10s", 1.0, "concurrency = 1\ncpu = { dist = \"constant\", mean = \"1ms\" }", "arrival = \"closed\"\nconnections = 4");
    t.simulation.queue_limit = 1;
    let (_, out) = simulate_with(&t, Placement::None, &CostModels::default(), Vec::new()).expect("the run ends");
    let st = &out.stations[0];
    assert!(st.rejected > 10_000, "{} refusals", st.rejected);
    assert!(out.measured_succeeded > 1_000, "{} served", out.measured_succeeded);
    assert_relative_eq!(out.containers[0].cpu_ns, window_ns(10), max_relative = 1e-3);
    let accounted = st.passes as f64 * 1e6 + st.rejected as f64 * REFUSED_CONNECTION_CPU_NS as f64;
    assert_relative_eq!(out.containers[0].cpu_ns, accounted, max_relative = 0.01);
    // Each refusal fails one end-user request (no retries).
    assert!(out.measured_failed.abs_diff(st.rejected) <= 4, "{} failed, {} refused", out.measured_failed, st.rejected);
    assert_eq!(out.sent, out.succeeded + out.failed + out.in_flight);
}

#[test]
fn a_proxy_at_its_queue_limit_refuses_with_its_kernels_reset() {
    // The inbound sidecar has one worker and a queue of one; its passes cost 100 us. Past
    // its queue the connection is refused by its node's kernel, as at a pod. Its container's
    // CPU is passes at the pass's CPU plus refusals at the reset's, and the clock moves.
    let mut t =
        topology("5s", 4.0, "concurrency = 64\ncpu = { dist = \"constant\", mean = \"10us\" }", "arrival = \"closed\"\nconnections = 8");
    t.simulation.queue_limit = 1;
    let models = sidecar_model("100us");
    let (plan, out) = simulate_with(&t, Placement::Sidecar, &models, Vec::new()).expect("the run ends");
    let proxy = plan.proxy_station_offset;
    let st = &out.stations[proxy];
    let mut steps =
        plan.destinations.iter().flat_map(|d| &d.steps[..d.len as usize]).chain(plan.sources.iter().filter_map(|s| s.hop.as_ref()));
    let work = steps.find(|s| s.station as usize == proxy).expect("the sidecar is on the path").work_ns as f64;
    assert!(work >= 100_000.0);
    assert!(st.rejected > 1_000, "{} refusals", st.rejected);
    let container = plan.stations[proxy].container as usize;
    let accounted = st.passes as f64 * work + st.rejected as f64 * REFUSED_CONNECTION_CPU_NS as f64;
    assert_relative_eq!(out.containers[container].cpu_ns, accounted, max_relative = 0.01);
}

#[test]
fn a_crashed_pod_under_a_closed_loop_is_refused_by_its_kernel() {
    // The only pod is down from 2 s to 4 s: its connections are reset by its node's kernel,
    // each reset costing REFUSED_CONNECTION_CPU_NS, and the clients try again at once. The run
    // ends; after the restart requests succeed again.
    let t = topology("6s", 1.0, "concurrency = 1\ncpu = { dist = \"constant\", mean = \"1ms\" }", "arrival = \"closed\"\nconnections = 2");
    let crash = Fault { stations: vec![0], start_ns: 2_000_000_000, end_ns: Some(4_000_000_000), effect: FaultEffect::Down };
    let (_, out) = simulate_with(&t, Placement::None, &CostModels::default(), vec![crash]).expect("the run ends");
    assert!(out.timeline[3].failed > 10_000 && out.timeline[3].succeeded == 0, "{:?}", (out.timeline[3].sent, out.timeline[3].failed));
    assert!(out.timeline[5].succeeded > 500 && out.timeline[5].failed == 0);
    // Two connections each refused in turn on one core: one refusal per kernel reset's CPU.
    let resets_per_s = out.timeline[3].failed as f64;
    assert_relative_eq!(resets_per_s, 1e9 / REFUSED_CONNECTION_CPU_NS as f64, max_relative = 0.02);
}

#[test]
fn a_closed_loop_behind_a_crashed_load_generator_waits_for_it() {
    // The load generator is a pod of the cluster; down from 2 s to 4 s, it sends nothing
    // (instead of failing its requests at once, over and over), then carries on.
    let text = "version = 1\nname = \"t\"\n[simulation]\nduration = \"6s\"\nwarmup = \"1s\"\n[mesh]\n[network]\n\
                same_node = \"0us\"\nsame_zone = \"0us\"\ncross_zone = \"0us\"\ncross_cluster = \"0us\"\n\
                [[node]]\nname = \"n\"\nvcpu = 2\nmemory = \"8Gi\"\n[[namespace]]\nname = \"ns\"\n\
                [[service]]\nname = \"client\"\nnamespace = \"ns\"\nreplicas = 1\n\
                [[service]]\nname = \"srv\"\nnamespace = \"ns\"\nreplicas = 1\ncpu = { dist = \"constant\", mean = \"1ms\" }\n\
                [[load]]\nfrom = \"client\"\nto = \"srv\"\narrival = \"closed\"\nconnections = 3\n";
    let t = crate::topology::parse(Path::new("t.toml"), text).unwrap_or_else(|e| panic!("{e}"));
    let client = t.services.iter().position(|s| s.name == "client").unwrap();
    let pod = t.services[client].pods[0] as u32;
    let crash = Fault { stations: vec![pod], start_ns: 2_000_000_000, end_ns: Some(4_000_000_000), effect: FaultEffect::Down };
    let (_, out) = simulate_with(&t, Placement::None, &CostModels::default(), vec![crash]).expect("the run ends");
    assert!(out.timeline[1].succeeded > 1_000);
    assert_eq!((out.timeline[2].sent, out.timeline[3].sent), (0, 0), "a dead client sends nothing");
    assert!(out.timeline[4].succeeded > 1_000, "the client sends again once it is back");
    assert_eq!(out.failed, 0);
}

#[test]
fn a_closed_loop_answered_in_zero_time_stops_as_stalled_not_at_the_event_limit() {
    // A service that does no work at no distance answers a closed loop at the instant it
    // asked: the clock never moves. The run stops after the stall bound, with what it did so
    // far, well before its event limit.
    let t = topology("10s", 1.0, "concurrency = 1", "arrival = \"closed\"\nconnections = 2");
    let bound = STALL_EVENTS_MIN + STALL_EVENTS_PER_ACTOR * 3;
    match simulate_with(&t, Placement::None, &CostModels::default(), Vec::new()) {
        Err(e @ SimError::Stalled { .. }) => {
            let SimError::Stalled { t_ns, events, sent, ref cause, .. } = e else { unreachable!() };
            assert_eq!((t_ns, events), (0, bound));
            assert!(sent > 100_000, "{sent} sent");
            assert!(cause.contains("zero time"), "{cause}");
            assert!(e.to_string().starts_with("simulated time stopped at t=0 ns"), "{e}");
        }
        other => panic!("expected a stall, got {:?}", other.map(|(_, o)| o.events)),
    }
}
