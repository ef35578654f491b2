//! Node CPU as a topology file states it: `cpu` and `wait` per service, `cpu_limit`, a node's
//! `cpu_period`, and closed-loop load (`arrival = "closed"`, `connections`, `think_time`).
//! Each case has an answer known without the simulator.

use std::path::Path;
use std::process::{Command, Output};

use approx::assert_relative_eq;
use meshsim::placement::Placement;

use crate::common::*;

fn meshsim(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim")).args(args).current_dir(cwd).output().expect("the binary runs")
}

/// `queueing_topology` on one node of `vcpu` cores (its `[[node]]` replaced), with a CFS
/// period of `period`.
fn one_node(duration: &str, vcpu: u32, period: &str, services: &str, load: &str) -> String {
    queueing_topology(duration, services, load)
        .replace("vcpu = 64\nmemory = \"256Gi\"", &format!("vcpu = {vcpu}\nmemory = \"256Gi\"\ncpu_period = \"{period}\""))
}

#[test]
fn a_closed_loop_from_the_file_obeys_littles_law() {
    // 4 connections, no think time, one single-slot server with exponential 1 ms of CPU on a
    // 1-core node: the server is never idle, so X = μ = 1000 rps and R = N / X = 4 ms
    // (machine repairman M/M/1//N with zero think time).
    let dir = scratch("closed-file");
    let text = one_node(
        "60s",
        1,
        "100ms",
        "[[service]]\nname = \"s\"\nnamespace = \"app\"\nreplicas = 1\nconcurrency = 1\ncpu = { dist = \"exponential\", mean = \"1ms\" }\n",
        "[[load]]\nto = \"s\"\narrival = \"closed\"\nconnections = 4\n",
    );
    let r = run(&write(&dir, "closed", &text), Placement::None);
    let s = &r.summary.summary;
    assert_relative_eq!(s.achieved_rps, 1000.0, max_relative = 0.03);
    assert_relative_eq!(s.latency_mean_ms.unwrap(), 4.0, max_relative = 0.05);
    // Little's law on what was measured: N = X · R.
    assert_relative_eq!(s.achieved_rps * s.latency_mean_ms.unwrap() / 1000.0, 4.0, max_relative = 0.05);
    // Closed loop: what was offered is what the connections sent.
    assert_relative_eq!(s.offered_rps, s.requests_sent as f64 / 58.0, max_relative = 1e-9);
}

#[test]
fn a_rate_on_a_closed_loop_caps_each_connection() {
    // 2 connections capped at 100 rps in all (50 each) against a 1 ms server: the cap, not
    // the server, sets the throughput.
    let dir = scratch("closed-cap");
    let text = one_node(
        "30s",
        1,
        "100ms",
        "[[service]]\nname = \"s\"\nnamespace = \"app\"\nreplicas = 1\ncpu = { dist = \"constant\", mean = \"1ms\" }\n",
        "[[load]]\nto = \"s\"\narrival = \"closed\"\nconnections = 2\nrate = \"100rps\"\n",
    );
    let r = run(&write(&dir, "cap", &text), Placement::None);
    assert_relative_eq!(r.summary.summary.achieved_rps, 100.0, max_relative = 0.02);
}

#[test]
fn waiting_holds_a_slot_but_no_core() {
    // 1 ms of CPU then 9 ms of waiting, at 500 rps on one core: half a core busy, and every
    // request takes at least its 10 ms. Were the wait CPU work the core would saturate.
    let dir = scratch("wait");
    let text = one_node(
        "30s",
        1,
        "100ms",
        "[[service]]\nname = \"s\"\nnamespace = \"app\"\nreplicas = 1\ncpu = { dist = \"constant\", mean = \"1ms\" }\nwait = { dist = \"constant\", mean = \"9ms\" }\n",
        "[[load]]\nto = \"s\"\nrate = \"500rps\"\narrival = \"constant\"\n",
    );
    let r = run(&write(&dir, "wait", &text), Placement::None);
    let s = &r.summary.summary;
    assert_relative_eq!(s.app_cpu_millicores, 500.0, max_relative = 0.02);
    assert!(s.latency_p50_ms.unwrap() >= 10.0, "{:?}", s.latency_p50_ms);
    assert!(s.latency_p99_ms.unwrap() < 12.0, "{:?}", s.latency_p99_ms);
    assert_eq!(s.requests_failed, 0);
}

#[test]
fn a_cpu_limit_throttles_per_period() {
    // 50 ms of CPU per request under a 200m limit with a 100 ms period: 20 ms of CPU per
    // period, so a request needs parts of three periods and takes at least 130 ms (started
    // 10 ms before a period ends: 10 + 20 + 80 + 20) and at most 210 ms plus queueing. One
    // request every 2 s never queues behind another.
    let dir = scratch("limit");
    let text = one_node(
        "60s",
        4,
        "100ms",
        "[[service]]\nname = \"s\"\nnamespace = \"app\"\nreplicas = 1\ncpu = { dist = \"constant\", mean = \"50ms\" }\ncpu_limit = \"200m\"\n",
        "[[load]]\nto = \"s\"\nrate = \"0.5rps\"\narrival = \"poisson\"\n",
    );
    let r = run(&write(&dir, "limit", &text), Placement::None);
    let s = &r.summary.summary;
    assert!(s.latency_p50_ms.unwrap() >= 129.0, "{:?}", s.latency_p50_ms);
    assert!(s.latency_p50_ms.unwrap() <= 215.0, "{:?}", s.latency_p50_ms);
    assert!(s.throttled_ms_per_s > 0.0);
    let c = r.summary.containers.iter().find(|c| c.kind == "app").unwrap();
    // Each request is throttled for 80 or 160 ms of its life.
    assert!(c.throttled_periods >= s.requests_succeeded, "{} periods for {} requests", c.throttled_periods, s.requests_succeeded);
}

#[test]
fn node_cpu_inputs_are_checked() {
    let dir = scratch("node-cpu-inputs");
    let svc = "[[service]]\nname = \"s\"\nnamespace = \"app\"\nreplicas = 1\n";
    for (name, services, load, period, needle) in [
        (
            "both",
            format!("{svc}service_time = {{ dist = \"constant\", mean = \"1ms\" }}\ncpu = {{ dist = \"constant\", mean = \"1ms\" }}\n"),
            "[[load]]\nto = \"s\"\nrate = \"10rps\"\n",
            "100ms",
            "not both",
        ),
        ("no-rate", svc.to_string(), "[[load]]\nto = \"s\"\n", "100ms", "needs a rate"),
        (
            "think-open",
            svc.to_string(),
            "[[load]]\nto = \"s\"\nrate = \"10rps\"\nthink_time = { dist = \"constant\", mean = \"1ms\" }\n",
            "100ms",
            "closed-loop load",
        ),
        ("period", svc.to_string(), "[[load]]\nto = \"s\"\nrate = \"10rps\"\n", "5s", "cpu_period"),
        ("limit", format!("{svc}cpu_limit = \"0m\"\n"), "[[load]]\nto = \"s\"\nrate = \"10rps\"\n", "100ms", "cpu_limit"),
        ("wait-bare", format!("{svc}wait = \"3ms\"\n"), "[[load]]\nto = \"s\"\nrate = \"10rps\"\n", "100ms", "wait: write a table"),
    ] {
        let text = one_node("5s", 1, period, &services, load);
        let p = write(&dir, name, &text);
        let o = meshsim(&["run", p.to_str().unwrap(), "--placement", "none", "--out", "out"], &dir);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(needle), "{name}: {stderr}");
        assert!(!dir.join("out").exists());
    }
}

#[test]
fn rps_cannot_set_a_closed_loop() {
    let dir = scratch("closed-rps");
    let text = one_node(
        "5s",
        1,
        "100ms",
        "[[service]]\nname = \"s\"\nnamespace = \"app\"\nreplicas = 1\n",
        "[[load]]\nto = \"s\"\narrival = \"closed\"\nconnections = 2\n",
    );
    let p = write(&dir, "closed", &text);
    let o = meshsim(&["run", p.to_str().unwrap(), "--placement", "none", "--rps", "100", "--out", "out"], &dir);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("closed-loop"), "{stderr}");
}

#[test]
fn on_small_nodes_the_proxies_take_throughput_from_the_application() {
    // bookinfo-small-nodes: closed-loop load on the one 2-vCPU node that holds all of
    // Bookinfo. Without a mesh productpage's one thread (`concurrency = 1`) is the bottleneck,
    // busy all the time, while the node keeps spare cores, as LiveWyer measured (0.96 of a
    // core, 1.38 of 2 vCPUs). A sidecar's passes run on the same cores and take turns with
    // that thread, so the sidecar meshes complete fewer requests than `none`; every run obeys
    // Little's law, N = X · R, with N the 32 connections.
    let path = root().join("topologies/bookinfo-small-nodes.toml");
    let mut i = inputs(&path);
    i.topology.simulation.duration_ns = 30_000_000_000;
    let throughput = |i: &meshsim::inputs::Inputs, p: Placement| {
        let r = meshsim::app::run_placement(i, p, 2024, Vec::new(), None).unwrap();
        let s = &r.summary.summary;
        assert_relative_eq!(s.achieved_rps * s.latency_mean_ms.unwrap() / 1000.0, 32.0, max_relative = 0.05);
        r
    };
    let none = throughput(&i, Placement::None);
    let productpage = none.summary.containers.iter().find(|c| c.name.starts_with("productpage")).expect("productpage's pod");
    assert!(productpage.cpu_millicores > 950.0, "productpage's thread is not the bottleneck: {:.0} mC", productpage.cpu_millicores);
    let app_node = none.summary.nodes.iter().find(|n| n.name == "c5-large-2").expect("the application's node");
    assert!(
        (0.55..0.85).contains(&app_node.cpu_utilization),
        "the application's node should have spare cores: {:.2} busy",
        app_node.cpu_utilization
    );
    let none = none.summary.summary.achieved_rps;
    // 1 / 6.1 ms of productpage's CPU per request: 164 rps at most.
    assert!((150.0..166.0).contains(&none), "{none:.1} rps without a mesh");
    let sidecar = throughput(&i, Placement::Sidecar).summary.summary.achieved_rps;
    assert!(sidecar < none * 0.95, "Istio sidecars: {sidecar:.1} rps against {none:.1} without a mesh");
    let mut linkerd = meshsim::validate::shape::inputs_with_profile(&path, "gsd-2025-gke").unwrap();
    linkerd.topology.simulation.duration_ns = 30_000_000_000;
    let x = throughput(&linkerd, Placement::Sidecar).summary.summary.achieved_rps;
    assert!(x < none * 0.98 && x > sidecar, "Linkerd sidecars: {x:.1} rps against {none:.1} without a mesh, {sidecar:.1} with Istio's");
    for p in [Placement::PerNode, Placement::Ambient] {
        let x = throughput(&i, p).summary.summary.achieved_rps;
        assert!(x < none * 1.01, "{p}: {x:.1} rps against {none:.1} without a mesh");
    }
}

#[test]
fn a_proxy_whose_workers_cannot_keep_up_is_flagged() {
    // Online Boutique under the GKE-fitted profile at 1000 rps: a waypoint replica needs more
    // than its 2 workers can give, so its queue only grows and the ambient row's latency is a
    // backlog. Faces at its measured 1200 rps has no such proxy.
    let dir = scratch("saturated-proxy");
    let ob = std::fs::read_to_string(root().join("topologies/online-boutique.toml"))
        .unwrap()
        .replace("models_dir = \"../models/\"", &format!("models_dir = \"{}/models/\"", root().display()));
    let ob = regex_free_profile(&ob, "gsd-2025-gke");
    let mut i = inputs(&write(&dir, "ob", &ob));
    i.topology.simulation.duration_ns = 10_000_000_000;
    let c = meshsim::app::compare::compare_inputs(i, &[Placement::None.into(), Placement::Ambient.into()]).unwrap();
    let notes = meshsim::app::compare::saturation_notes(&c);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("ambient:") && notes[0].contains("backlog"), "{notes:?}");

    let mut f = inputs(&root().join("topologies/faces.toml"));
    f.topology.simulation.duration_ns = 10_000_000_000;
    let c = meshsim::app::compare::compare_inputs(f, &[]).unwrap();
    assert!(meshsim::app::compare::saturation_notes(&c).is_empty());
}

/// `text` with its `profile = "…"` line naming `profile`.
fn regex_free_profile(text: &str, profile: &str) -> String {
    text.lines()
        .map(|l| if l.starts_with("profile = ") { format!("profile = \"{profile}\"") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn slow_loads_send_at_their_rate_within_the_duration() {
    // 1000 loads of 0.1 rps each for 5 s (1 s warm-up): 400 requests expected in the window
    // (σ 20). A first arrival past the end must not be sent in the drain: that once sent one
    // request per load, 1000 here.
    let dir = scratch("slow-loads");
    let loads: String = (0..1000).map(|_| "[[load]]\nto = \"s\"\nrate = \"0.1rps\"\n").collect();
    let text = queueing_topology("5s", "[[service]]\nname = \"s\"\nnamespace = \"app\"\nreplicas = 1\n", &loads)
        .replace("warmup = \"2s\"", "warmup = \"1s\"");
    let r = run(&write(&dir, "slow", &text), Placement::None);
    let sent = r.summary.summary.requests_sent;
    assert!((320..=480).contains(&sent), "{sent} requests sent, 400 expected");
}

#[test]
fn busy_small_nodes_with_proxies_beside_the_application_are_flagged() {
    // bookinfo-small-nodes: the 2-vCPU application node is over half busy under every mesh, so
    // each mesh row gets the note and `none` (no proxies) does not; Faces on 8-vCPU nodes none.
    let mut i = inputs(&root().join("topologies/bookinfo-small-nodes.toml"));
    i.topology.simulation.duration_ns = 30_000_000_000; // 20 s after its 10 s warm-up
    let c = meshsim::app::compare::compare_inputs(i, &[]).unwrap();
    let notes: Vec<String> = meshsim::app::compare::shared_core_notes(&c).collect();
    assert_eq!(notes.len(), 3, "{notes:?}");
    for (note, p) in notes.iter().zip(["sidecar", "per-node", "ambient"]) {
        assert!(note.starts_with(&format!("{p}: 1 node of at most 4 vCPUs (c5-large-2 ")), "{note}");
    }
    let mut f = inputs(&root().join("topologies/faces.toml"));
    f.topology.simulation.duration_ns = 10_000_000_000;
    let c = meshsim::app::compare::compare_inputs(f, &[]).unwrap();
    assert_eq!(meshsim::app::compare::shared_core_notes(&c).count(), 0);
}
