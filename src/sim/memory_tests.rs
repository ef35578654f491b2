//! Memory as a node resource, with hand-computed cases: a proxy OOM-killed at its limit at
//! the call that would pass it, restarting after the kubelet's back-off; the kubelet's
//! eviction of the pod whose use most exceeds its request when a node's free memory falls
//! under the threshold; a node whose pods and proxies cannot fit before any traffic refused.

use std::path::Path;

use super::engine::simulate;
use super::output::{RunOutput, SimError, SimOptions};
use super::plan::Plan;
use crate::kubernetes::EVICTION_HARD_MEMORY_AVAILABLE_BYTES;
use crate::model::CostModels;
use crate::placement::{Deployment, Placement};
use crate::topology::{ProxyKind, Topology};

const MIB: f64 = 1024.0 * 1024.0;

/// A sidecar model of one worker whose passes cost 100 us: 50 MiB at rest, 1 MiB per call
/// held, and `limit` (a `[memory] limit` line, or nothing).
fn sidecar(limit: &str) -> CostModels {
    let text = format!(
        "version = 1\nname = \"m\"\nkind = \"sidecar\"\nworkers = 1\n[cpu]\nl7_pass = \"100us\"\nl4_pass = \"100us\"\n\
         per_kib = \"0us\"\nnew_connection = \"0us\"\ntls_handshake = \"0us\"\nidle = \"0m\"\n[latency]\nfixed = \"0us\"\n\
         [memory]\nbase = \"50MiB\"\nper_endpoint = \"0KiB\"\nper_connection = \"0KiB\"\nper_inflight = \"1MiB\"\n{limit}\n\
         [provenance]\nsource = \"test\"\n"
    );
    let mut models = CostModels::default();
    models.by_kind.insert(ProxyKind::Sidecar, crate::model::parse(Path::new("m.toml"), &text).unwrap_or_else(|e| panic!("{e}")));
    models
}

/// One node of `memory`, services `a` (each request waits `wait` off-CPU) and `b` (idle), a
/// closed loop of `connections` to `a`.
fn topology(duration: &str, memory: &str, wait: &str, connections: u32) -> Topology {
    let text = format!(
        "version = 1\nname = \"t\"\n[simulation]\nduration = \"{duration}\"\nwarmup = \"1s\"\n[mesh]\n[network]\n\
         same_node = \"0us\"\nsame_zone = \"0us\"\ncross_zone = \"0us\"\ncross_cluster = \"0us\"\n\
         [[node]]\nname = \"n\"\nvcpu = 4\nmemory = \"{memory}\"\n[[namespace]]\nname = \"ns\"\n\
         [[service]]\nname = \"a\"\nnamespace = \"ns\"\nreplicas = 1\nconcurrency = 100000\nmemory_request = \"64Mi\"\n\
         cpu = {{ dist = \"constant\", mean = \"10us\" }}\nwait = {{ dist = \"constant\", mean = \"{wait}\" }}\n\
         [[service]]\nname = \"b\"\nnamespace = \"ns\"\nreplicas = 1\nmemory_request = \"64Mi\"\n\
         [[load]]\nto = \"a\"\narrival = \"closed\"\nconnections = {connections}\n"
    );
    crate::topology::parse(Path::new("t.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

fn run(t: &Topology, models: &CostModels) -> Result<(Plan, Deployment, RunOutput), SimError> {
    let d = Deployment::new(t, Placement::Sidecar, models.scopes());
    let plan = Plan::new(t, &d, models);
    let out = simulate(&plan, &SimOptions::new(1))?;
    Ok((plan, d, out))
}

/// The station of the sidecar of service `name`'s pod.
fn sidecar_of(t: &Topology, d: &Deployment, plan: &Plan, name: &str) -> usize {
    let pod = t.services[t.service_by_name(name).unwrap()].pods[0];
    plan.proxy_station_offset + d.proxies.iter().position(|p| p.pod == Some(pod)).unwrap()
}

#[test]
fn a_proxy_is_oom_killed_at_the_call_that_would_pass_its_limit_and_restarts_after_the_backoff() {
    // 20 connections at t = 0 against a sidecar of 50 MiB + 1 MiB a call with a limit of
    // 60.5 MiB: the 11th call held would take it to 61 MiB, so it dies then, holding at most
    // 60 MiB. It restarts after 10 s and dies at once again, then after 20 s more: kills at
    // 0 s, 10 s and 30 s in a 35 s run.
    let t = topology("35s", "8Gi", "1s", 20);
    let models = sidecar("limit = \"61952KiB\"");
    let (plan, d, out) = run(&t, &models).expect("the run ends");
    let s = sidecar_of(&t, &d, &plan, "a");
    assert_eq!(out.stations[s].oom_kills, 3);
    assert_eq!(out.stations[s].mem_peak_bytes, 60.0 * MIB);
    assert_eq!(out.stations[s].evictions, 0);
    // Requests only succeed while it is up: from 10 s until its second kill, and from 30 s.
    assert!(out.timeline[5].succeeded == 0 && out.timeline[20].succeeded == 0, "down from 0 s to 10 s and 10 s to 30 s");
    assert!(out.failed > 0);
}

#[test]
fn under_node_memory_pressure_the_kubelet_evicts_the_pod_most_over_its_request() {
    // A 1 GiB node holds pods a and b (64 MiB requested each) and their sidecars (50 MiB at
    // rest): 228 MiB. Calls to a wait 100 s, each held by a's sidecar at 1 MiB. The kubelet
    // evicts once free memory is under 100 MiB, so past 924 MiB: at the 697th call held. a's
    // pod is 747 MiB over its request, b's 50: a's pod (application and sidecar) goes.
    let t = topology("5s", "1Gi", "100s", 1000);
    let (plan, d, out) = run(&t, &sidecar("")).expect("the run ends");
    let (a, b) = (sidecar_of(&t, &d, &plan, "a"), sidecar_of(&t, &d, &plan, "b"));
    let a_pod = t.services[t.service_by_name("a").unwrap()].pods[0];
    assert_eq!(out.stations[a].evictions, 1, "replaced after 10 s, past the run's end");
    assert_eq!(out.stations[a_pod].evictions, 1);
    assert_eq!(out.stations[b].evictions, 0);
    assert_eq!(out.node_mem_peak_bytes[0], 925.0 * MIB);
    assert!(out.node_mem_peak_bytes[0] <= 1024.0 * MIB - EVICTION_HARD_MEMORY_AVAILABLE_BYTES + MIB);
    assert_eq!(out.stations[a].mem_peak_bytes, (50.0 + 697.0) * MIB);
}

#[test]
fn a_node_whose_pods_and_proxies_overfill_it_at_rest_is_refused() {
    // 228 MiB at rest on a node of 300 MiB leaves less than the kubelet's 100 MiB free.
    let t = topology("5s", "300Mi", "1ms", 1);
    match run(&t, &sidecar("")) {
        Err(SimError::NodeMemoryOvercommitted(node, held, memory)) => assert_eq!((node.as_str(), held, memory), ("n", 228.0, 300.0)),
        other => panic!("expected the node refused, got {:?}", other.map(|(_, _, o)| o.events)),
    }
}
