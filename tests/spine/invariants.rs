//! Invariants on random valid topologies of every shape the format allows: placements
//! inherited or named per namespace (a mixed mesh, run "as written"), waypoints of either
//! scope, zones and affinities, node speeds and CFS periods, CPU limits, off-CPU waits,
//! every service-time distribution, parallel and sequential calls with probabilities,
//! counts, per-request connections, timeouts and retries, open (Poisson or constant, over
//! aligned connections, or wrk2's pacing) and closed loops (with think time or a rate cap), meshed load
//! generators, queue limits, outlier detection, every sidecar scope, and faults of every
//! effect on any station. Each case is written as TOML and read by the real parser, then
//! run under every uniform placement and as written, and every run must hold:
//!
//! - requests sent = succeeded + failed + in flight at the end, with nothing left in flight
//!   after the drain, and the same counts by the timeline's buckets and over the window;
//! - no node's CPU (its containers', its proxies' idle CPU and any other) above its cores, and
//!   no container with a CPU limit above that limit (within one CFS period of the window);
//! - no node's memory at its peak above what it has, nor its mean above its peak;
//! - no CPU, memory, occupancy or in-flight figure negative or not finite;
//! - at equal cost models (the uniform test models: every proxy kind costs the same), a
//!   placement with more proxies never holds less standing memory (base and configuration,
//!   what a proxy holds with no traffic). The in-flight and connection memory is not
//!   compared: it is load times latency per proxy on the path, and a placement with fewer
//!   proxies may put more of them on a call's path (ambient's ztunnel, waypoint, ztunnel
//!   against two sidecars) or queue longer at fewer workers, so the model does not make the
//!   total monotone; each proxy's memory is checked to be its standing memory plus traffic
//!   terms that are never negative, and the model's own memory formula;
//! - `compare` (whose placements run in parallel on the rayon pool) gives the same rows and
//!   summaries, for the same seed, on a pool of 1 thread and a pool of 2.
//!
//! Runs are tiny (at most 1.5 s simulated, a few hundred requests per second). The case
//! count is 256 by default; `PROPTEST_CASES` sets it, e.g. the longer run
//! `PROPTEST_CASES=5000 cargo test --release --test spine invariants` (README, "Testing").

use std::fmt::Write;

use meshsim::app::{compare::compare_loaded, run_placement, Inputs};
use meshsim::metrics::RunSummary;
use meshsim::placement::{Deployment, Layout};
use meshsim::sim::{Fault, FaultEffect};
use proptest::prelude::*;

use crate::common::*;

/// Cases of each property: `PROPTEST_CASES` when set, else 256.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256)
}

#[derive(Clone, Debug)]
struct NodeSpec {
    count: u32,
    zone: Option<u8>,
    vcpu: u32,
    speed: f64,
    cpu_period_ms: Option<u32>,
}

#[derive(Clone, Debug)]
struct NamespaceSpec {
    /// `None`: inherit.
    placement: Option<&'static str>,
    /// (scope is "service", replicas).
    waypoint: Option<(bool, u32)>,
}

#[derive(Clone, Debug)]
struct CallSpec {
    /// The callee is the `to`-th service after the caller (modulo those left): a DAG.
    to: usize,
    count: Option<u32>,
    probability: Option<f64>,
    sequential: bool,
    per_request: bool,
    timeout_ms: Option<u32>,
    retries: Option<u32>,
}

#[derive(Clone, Debug)]
struct ServiceSpec {
    namespace: usize,
    replicas: u32,
    /// 0 constant, 1 exponential, 2 lognormal.
    dist: u8,
    mean_us: u32,
    cv: f64,
    /// Give the work as `cpu` (else as the older `service_time`).
    as_cpu: bool,
    wait_us: Option<u32>,
    cpu_limit_m: Option<u32>,
    concurrency: Option<u32>,
    protocol: Option<&'static str>,
    zone: Option<u8>,
    max_skew: Option<u32>,
    calls: Vec<CallSpec>,
}

#[derive(Clone, Debug)]
struct LoadSpec {
    to: usize,
    /// 0 poisson, 1 constant, 2 closed, 3 wrk2.
    arrival: u8,
    rate: u32,
    connections: Option<u32>,
    think_ms: Option<u32>,
    per_request: bool,
    timeout_ms: Option<u32>,
    retries: Option<u32>,
    /// Sent from the meshed load generator service `gen`.
    from_gen: bool,
}

#[derive(Clone, Debug)]
struct FaultSpec {
    /// Station index, modulo the run's stations (pods, then proxies).
    station: usize,
    start_ms: u64,
    length_ms: Option<u64>,
    /// 0 down, 1 unreachable, 2 CPU limit, 3 drained.
    effect: u8,
    cores: f64,
}

#[derive(Clone, Debug)]
struct Spec {
    seed: u64,
    duration_ms: u64,
    queue_limit: Option<u32>,
    per_node_l7: Option<&'static str>,
    /// `mesh.sidecar_scope`, when written.
    sidecar_scope: Option<&'static str>,
    outlier_detection: bool,
    same_node_us: Option<u32>,
    nodes: Vec<NodeSpec>,
    namespaces: Vec<NamespaceSpec>,
    services: Vec<ServiceSpec>,
    loads: Vec<LoadSpec>,
    faults: Vec<FaultSpec>,
}

fn node() -> impl Strategy<Value = NodeSpec> {
    (
        1u32..=3,
        prop::option::of(0u8..2),
        prop::sample::select(vec![2u32, 4, 8]),
        prop::sample::select(vec![0.5, 1.0, 2.0]),
        prop::option::of(prop::sample::select(vec![10u32, 100])),
    )
        .prop_map(|(count, zone, vcpu, speed, cpu_period_ms)| NodeSpec { count, zone, vcpu, speed, cpu_period_ms })
}

fn namespace() -> impl Strategy<Value = NamespaceSpec> {
    (prop::option::of(prop::sample::select(vec!["none", "sidecar", "per-node", "ambient"])), prop::option::of((any::<bool>(), 1u32..=2)))
        .prop_map(|(placement, waypoint)| NamespaceSpec { placement, waypoint })
}

fn call() -> impl Strategy<Value = CallSpec> {
    (
        0usize..4,
        prop::option::of(1u32..=2),
        prop::option::of(prop::sample::select(vec![0.0, 0.3, 0.7, 1.0])),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![5u32, 50, 300])),
        prop::option::of(0u32..=2),
    )
        .prop_map(|(to, count, probability, sequential, per_request, timeout_ms, retries)| CallSpec {
            to,
            count,
            probability,
            sequential,
            per_request,
            timeout_ms,
            retries,
        })
}

fn service() -> impl Strategy<Value = ServiceSpec> {
    (
        (0usize..3, 1u32..=3, 0u8..3, 50u32..2000, prop::sample::select(vec![0.5, 1.0, 2.0]), any::<bool>()),
        (
            prop::option::of(100u32..3000),
            prop::option::of(prop::sample::select(vec![100u32, 300, 1000])),
            prop::option::of(1u32..=8),
            prop::option::of(prop::sample::select(vec!["http1", "http2", "grpc", "tcp"])),
            prop::option::of(0u8..2),
            prop::option::of(1u32..=2),
        ),
        prop::collection::vec(call(), 0..3),
    )
        .prop_map(
            |((namespace, replicas, dist, mean_us, cv, as_cpu), (wait_us, cpu_limit_m, concurrency, protocol, zone, max_skew), calls)| {
                ServiceSpec {
                    namespace,
                    replicas,
                    dist,
                    mean_us,
                    cv,
                    as_cpu,
                    wait_us,
                    cpu_limit_m,
                    concurrency,
                    protocol,
                    zone,
                    max_skew,
                    calls,
                }
            },
        )
}

fn load() -> impl Strategy<Value = LoadSpec> {
    (
        0usize..5,
        0u8..4,
        20u32..250,
        prop::option::of(1u32..=4),
        prop::option::of(1u32..20),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![5u32, 100, 1000])),
        prop::option::of(0u32..=2),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(to, arrival, rate, connections, think_ms, per_request, timeout_ms, retries, from_gen)| LoadSpec {
            to,
            arrival,
            rate,
            connections,
            think_ms,
            per_request,
            timeout_ms,
            retries,
            from_gen,
        })
}

fn fault() -> impl Strategy<Value = FaultSpec> {
    (0usize..64, 100u64..1200, prop::option::of(50u64..600), 0u8..4, prop::sample::select(vec![0.05, 0.5]))
        .prop_map(|(station, start_ms, length_ms, effect, cores)| FaultSpec { station, start_ms, length_ms, effect, cores })
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            0u64..1_000_000,
            prop::sample::select(vec![600u64, 1000, 1500]),
            prop::option::of(prop::sample::select(vec![1u32, 10, 100])),
            prop::option::of(prop::sample::select(vec!["source", "destination", "both", "none"])),
            prop::option::of(prop::sample::select(vec!["mesh", "namespace", "called"])),
            prop::bool::weighted(0.3),
            prop::option::of(prop::sample::select(vec![1u32, 25])),
        ),
        prop::collection::vec(node(), 1..=3),
        prop::collection::vec(namespace(), 1..=3),
        prop::collection::vec(service(), 1..=5),
        prop::collection::vec(load(), 1..=2),
        prop::collection::vec(fault(), 0..=2),
    )
        .prop_map(
            |(
                (seed, duration_ms, queue_limit, per_node_l7, sidecar_scope, outlier_detection, same_node_us),
                nodes,
                namespaces,
                services,
                loads,
                faults,
            )| Spec {
                seed,
                duration_ms,
                queue_limit,
                per_node_l7,
                sidecar_scope,
                outlier_detection,
                same_node_us,
                nodes,
                namespaces,
                services,
                loads,
                faults,
            },
        )
}

const DISTS: [&str; 3] = ["constant", "exponential", "lognormal"];

impl Spec {
    /// The topology file.
    fn toml(&self) -> String {
        let models = root().join("tests/fixtures/models");
        let m = models.display();
        let mut t = String::new();
        let _ = write!(
            t,
            "version = 1\nname = \"random\"\n[simulation]\nduration = \"{}ms\"\nwarmup = \"200ms\"\nseed = {}\n",
            self.duration_ms, self.seed
        );
        if let Some(q) = self.queue_limit {
            let _ = writeln!(t, "queue_limit = {q}");
        }
        let _ = write!(
            t,
            "[mesh]\nsidecar_model = \"{m}/uniform-sidecar.toml\"\nnode_proxy_model = \"{m}/uniform-node-proxy.toml\"\n\
             ztunnel_model = \"{m}/uniform-ztunnel.toml\"\nwaypoint_model = \"{m}/uniform-waypoint.toml\"\n"
        );
        if let Some(l7) = self.per_node_l7 {
            let _ = writeln!(t, "per_node_l7 = \"{l7}\"");
        }
        if let Some(scope) = self.sidecar_scope {
            let _ = writeln!(t, "sidecar_scope = \"{scope}\"");
        }
        if self.outlier_detection {
            t += "outlier_detection = { consecutive_errors = 2, ejection = \"100ms\", max_ejection_percent = 50 }\n";
        }
        if let Some(us) = self.same_node_us {
            let _ = write!(t, "[network]\nsame_node = \"{us}us\"\n");
        }
        let zones: Vec<u8> = self.nodes.iter().filter_map(|n| n.zone).collect();
        for (i, n) in self.nodes.iter().enumerate() {
            let _ =
                write!(t, "[[node]]\nname = \"n{i}\"\ncount = {}\nvcpu = {}\nmemory = \"16Gi\"\nspeed = {:?}\n", n.count, n.vcpu, n.speed);
            if let Some(z) = n.zone {
                let _ = writeln!(t, "zone = \"z{z}\"");
            }
            if let Some(p) = n.cpu_period_ms {
                let _ = writeln!(t, "cpu_period = \"{p}ms\"");
            }
        }
        for (i, ns) in self.namespaces.iter().enumerate() {
            let _ = write!(t, "[[namespace]]\nname = \"ns{i}\"\n");
            match ns.placement {
                Some(p) => {
                    let _ = writeln!(t, "placement = \"{p}\"");
                }
                None if i % 2 == 1 => t += "placement = \"inherit\"\n",
                None => {}
            }
            if let Some((service_scope, replicas)) = ns.waypoint {
                let scope = if service_scope { "service" } else { "namespace" };
                let _ = writeln!(t, "waypoint = {{ scope = \"{scope}\", replicas = {replicas} }}");
            }
        }
        let n = self.services.len();
        let ns_count = self.namespaces.len();
        for (i, s) in self.services.iter().enumerate() {
            let _ = write!(t, "[[service]]\nname = \"s{i}\"\nnamespace = \"ns{}\"\nreplicas = {}\n", s.namespace % ns_count, s.replicas);
            let cv = if s.dist == 2 { format!(", cv = {:?}", s.cv) } else { String::new() };
            let key = if s.as_cpu { "cpu" } else { "service_time" };
            let _ = writeln!(t, "{key} = {{ dist = \"{}\", mean = \"{}us\"{cv} }}", DISTS[s.dist as usize], s.mean_us);
            if let Some(w) = s.wait_us {
                let _ = writeln!(t, "wait = {{ dist = \"exponential\", mean = \"{w}us\" }}");
            }
            if let Some(l) = s.cpu_limit_m {
                let _ = writeln!(t, "cpu_limit = \"{l}m\"");
            }
            if let Some(c) = s.concurrency {
                let _ = writeln!(t, "concurrency = {c}");
            }
            if let Some(p) = s.protocol {
                let _ = writeln!(t, "protocol = \"{p}\"");
            }
            // Only zones some node is in, or the pods could not be scheduled.
            if let Some(z) = s.zone.filter(|z| zones.contains(z)) {
                let _ = writeln!(t, "zones = [\"z{z}\"]");
            }
            if let Some(k) = s.max_skew {
                let _ = writeln!(t, "max_skew = {k}");
            }
            for c in s.calls.iter().filter(|_| i + 1 < n) {
                let to = i + 1 + c.to % (n - i - 1);
                let _ =
                    write!(t, "[[service.call]]\nto = \"s{to}\"\nmode = \"{}\"\n", if c.sequential { "sequential" } else { "parallel" });
                if let Some(k) = c.count {
                    let _ = writeln!(t, "count = {k}");
                }
                if let Some(p) = c.probability {
                    let _ = writeln!(t, "probability = {p:?}");
                }
                if c.per_request {
                    t += "connection = \"per-request\"\n";
                }
                if let Some(ms) = c.timeout_ms {
                    let _ = writeln!(t, "timeout = \"{ms}ms\"");
                }
                if let Some(r) = c.retries {
                    let _ = writeln!(t, "retries = {r}");
                }
            }
        }
        if self.loads.iter().any(|l| l.from_gen) {
            t += "[[service]]\nname = \"gen\"\nnamespace = \"ns0\"\nreplicas = 2\n";
        }
        for l in &self.loads {
            let _ = write!(t, "[[load]]\nto = \"s{}\"\n", l.to % n);
            match l.arrival {
                0 | 1 => {
                    let _ = write!(t, "arrival = \"{}\"\nrate = \"{}rps\"\n", if l.arrival == 0 { "poisson" } else { "constant" }, l.rate);
                }
                // wrk2 needs a connection per thread: two threads only over two connections or more.
                3 => {
                    let threads = if l.connections.unwrap_or(1) >= 2 { 2 } else { 1 };
                    let _ = write!(t, "arrival = \"wrk2\"\nrate = \"{}rps\"\nthreads = {threads}\n", l.rate);
                }
                // A closed loop with neither think time nor a rate cap sends as fast as it is
                // answered: a valid shape, left out to keep runs tiny.
                _ => {
                    t += "arrival = \"closed\"\n";
                    match l.think_ms {
                        Some(ms) => {
                            let _ = writeln!(t, "think_time = {{ dist = \"exponential\", mean = \"{ms}ms\" }}");
                        }
                        None => {
                            let _ = writeln!(t, "rate = \"{}rps\"", l.rate);
                        }
                    }
                }
            }
            if let Some(c) = l.connections {
                let _ = writeln!(t, "connections = {c}");
            }
            if l.per_request {
                t += "connection = \"per-request\"\n";
            }
            if let Some(ms) = l.timeout_ms {
                let _ = writeln!(t, "timeout = \"{ms}ms\"");
            }
            if let Some(r) = l.retries {
                let _ = writeln!(t, "retries = {r}");
            }
            if l.from_gen {
                t += "from = \"gen\"\n";
            }
        }
        t
    }

    /// The layouts to run: every uniform placement, and the file as written when it is mixed.
    fn layouts(&self, inputs: &Inputs) -> Vec<Layout> {
        let mut l = Layout::UNIFORM.to_vec();
        if meshsim::placement::is_mixed(&inputs.topology) {
            l.push(Layout::AsWritten);
        }
        l
    }

    /// The faults of a run under `layout` (its stations are the pods, then the proxies).
    fn faults(&self, inputs: &Inputs, layout: Layout) -> Vec<Fault> {
        let t = &inputs.topology;
        let stations = t.pods.len() + Deployment::for_layout(t, layout, inputs.models.scopes()).proxies.len();
        self.faults
            .iter()
            .map(|f| Fault {
                stations: vec![(f.station % stations) as u32],
                start_ns: f.start_ms * 1_000_000,
                end_ns: f.length_ms.map(|l| (f.start_ms + l) * 1_000_000),
                effect: match f.effect {
                    0 => FaultEffect::Down,
                    1 => FaultEffect::Unreachable,
                    2 => FaultEffect::CpuLimit { cores: f.cores },
                    _ => FaultEffect::Drained,
                },
            })
            .collect()
    }
}

/// The uniform test models' memory: base and per endpoint, connection and call in flight.
const BASE_MIB: f64 = 50.0;
const PER_ITEM_MIB: f64 = 1.0 / 1024.0;

/// What a proxy holds with no traffic: its base and its configuration.
fn standing_mib(p: &meshsim::metrics::ProxySummary) -> f64 {
    BASE_MIB + PER_ITEM_MIB * p.endpoints as f64
}

fn check_run(layout: Layout, inputs: &Inputs, faults: &[Fault], r: &meshsim::app::PlacementRun) -> Result<(), TestCaseError> {
    let o = &r.output;
    let s = &r.summary;
    // Conservation. The engine derives `in_flight` as sent − succeeded − failed, so that sum
    // alone proves nothing: each request is also counted in the timeline bucket of its start,
    // by counters of their own, and the drain after the duration (at least 60 s) outlasts any
    // backlog these tiny runs build, so every request sent must have been answered.
    let done = o.succeeded + o.failed;
    prop_assert!(done <= o.sent, "{}: {} requests answered of {} sent", layout.as_str(), done, o.sent);
    prop_assert_eq!(o.sent, done + o.in_flight);
    prop_assert_eq!(o.in_flight, 0, "{}: requests never answered", layout.as_str());
    let timeline_sent: u64 = o.timeline.iter().map(|b| b.sent).sum();
    let timeline_done: u64 = o.timeline.iter().map(|b| b.succeeded + b.failed).sum();
    prop_assert_eq!(timeline_sent, o.sent, "{}: sent, by the timeline and in all", layout.as_str());
    prop_assert_eq!(timeline_done, done, "{}: answered, by the timeline and in all", layout.as_str());
    for b in &o.timeline {
        prop_assert!(b.succeeded + b.failed <= b.sent, "{}: a bucket answered more than it sent", layout.as_str());
    }
    prop_assert!(o.measured_succeeded + o.measured_failed <= o.measured_sent);
    prop_assert!(o.measured_sent <= o.sent && o.measured_succeeded <= o.succeeded && o.measured_failed <= o.failed);
    for e in &o.edges {
        prop_assert!(e.failed <= e.calls && e.latency_ns.len() + e.failed <= e.calls, "{}: an edge's counts", layout.as_str());
    }
    // Node CPU within the node's cores; a container within its CPU limit.
    let window_ns = (inputs.topology.simulation.duration_ns - inputs.topology.simulation.warmup_ns) as f64;
    for n in &s.nodes {
        let parts = [
            n.app_millicores,
            n.sidecar_millicores,
            n.node_proxy_millicores,
            n.ztunnel_millicores,
            n.waypoint_millicores,
            n.proxy_idle_millicores,
            n.control_plane_millicores,
            n.other_millicores,
        ];
        for x in parts {
            prop_assert!(x.is_finite() && x >= 0.0, "{}: node {}: a CPU figure is {x}", layout.as_str(), n.name);
        }
        let used: f64 = parts.iter().sum();
        let limited = inputs.topology.services.iter().any(|s| s.cpu_limit_millicores.is_some())
            || faults.iter().any(|f| matches!(f.effect, FaultEffect::CpuLimit { .. }));
        prop_assert!(
            limited || used <= n.vcpu * 1000.0 * (1.0 + 1e-9),
            "{}: node {} uses {used} mC of its {} vCPUs",
            layout.as_str(),
            n.name,
            n.vcpu
        );
        // Memory: what it held on average never more than its peak, its peak never more than it has.
        prop_assert!(
            n.mem_used_mib >= 0.0 && n.mem_used_mib <= n.mem_peak_mib + 1e-9,
            "{}: node {}: memory {} MiB over its peak {} MiB",
            layout.as_str(),
            n.name,
            n.mem_used_mib,
            n.mem_peak_mib
        );
        prop_assert!(
            n.mem_peak_mib <= n.memory_mib,
            "{}: node {} held {} MiB of its {} MiB",
            layout.as_str(),
            n.name,
            n.mem_peak_mib,
            n.memory_mib
        );
    }
    let squeezed: Vec<u32> =
        faults.iter().filter(|f| matches!(f.effect, FaultEffect::CpuLimit { .. })).flat_map(|f| f.stations.clone()).collect();
    for (k, c) in r.plan.containers.iter().enumerate() {
        let used = o.containers[k].cpu_ns / window_ns * 1000.0;
        prop_assert!(used.is_finite() && used >= 0.0, "{}: container {k} CPU {used}", layout.as_str());
        if let meshsim::sim::plan::ContainerKind::App(pod) = c.kind {
            let svc = &inputs.topology.services[inputs.topology.pods[pod].service];
            if let (Some(limit), false) = (svc.cpu_limit_millicores, squeezed.contains(&(pod as u32))) {
                let node = &inputs.topology.nodes[inputs.topology.pods[pod].node];
                let slack = node.cpu_period_ns as f64 / window_ns;
                prop_assert!(
                    used <= limit * (1.0 + slack) + 1e-6,
                    "{}: pod {} uses {used} mC over its limit of {limit} mC",
                    layout.as_str(),
                    inputs.topology.pods[pod].name
                );
            }
        }
    }
    // Nothing negative or not finite.
    for st in &o.stations {
        for x in [st.cpu_ns, st.occupancy_ns, st.inflight_ns, st.new_conn_ns] {
            prop_assert!(x.is_finite() && x >= 0.0, "{}: a station figure is {x}", layout.as_str());
        }
    }
    prop_assert!(s.summary.app_cpu_millicores.is_finite() && s.summary.app_cpu_millicores >= 0.0);
    prop_assert!(s.summary.dp_cpu_millicores.is_finite() && s.summary.dp_cpu_millicores >= 0.0);
    for p in &s.proxies {
        prop_assert!(
            p.cpu_millicores.is_finite() && p.cpu_millicores >= 0.0,
            "{}: proxy {} CPU {}",
            layout.as_str(),
            p.name,
            p.cpu_millicores
        );
        prop_assert!(p.inflight_mean >= 0.0 && p.connections_mean >= 0.0, "{}: proxy {} traffic figures", layout.as_str(), p.name);
        // Its memory is its standing memory plus what its connections and calls in flight hold.
        let expected = standing_mib(p) + PER_ITEM_MIB * (p.connections_mean + p.inflight_mean);
        prop_assert!(
            p.mem_mib.is_finite() && p.mem_mib >= standing_mib(p) - 1e-9,
            "{}: proxy {} memory {}",
            layout.as_str(),
            p.name,
            p.mem_mib
        );
        prop_assert!(
            (p.mem_mib - expected).abs() <= 1e-9 * expected,
            "{}: proxy {} memory {} MiB, model says {expected}",
            layout.as_str(),
            p.name,
            p.mem_mib
        );
    }
    prop_assert!(s.summary.dp_mem_mib.is_finite() && s.summary.dp_mem_mib >= 0.0);
    prop_assert_eq!(s.summary.proxies, s.proxies.len());
    Ok(())
}

/// Compare's rows and summaries on a rayon pool of `threads` threads.
fn compare_on(threads: usize, inputs: &Inputs, layouts: &[Layout], seed: u64) -> String {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let c = pool.install(|| compare_loaded(inputs.clone(), layouts, seed, false)).unwrap_or_else(|e| panic!("{e}"));
    let summaries: Vec<&RunSummary> = c.runs.iter().map(|r| &r.summary).collect();
    format!("{:?}\n{:?}", c.rows, summaries)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 200, .. ProptestConfig::default() })]

    /// See the module's doc comment for what every run must hold.
    #[test]
    fn invariants_hold_on_random_valid_topologies(spec in spec()) {
        let dir = scratch("invariants");
        let text = spec.toml();
        let path = write(&dir, "random", &text);
        let inputs = meshsim::app::load_inputs(&path, &Default::default()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let layouts = spec.layouts(&inputs);
        let mut standing = Vec::new();
        for &layout in &layouts {
            let faults = spec.faults(&inputs, layout);
            let r = run_placement(&inputs, layout, spec.seed, faults.clone(), None).unwrap_or_else(|e| panic!("{}: {e}\n{text}", layout.as_str()));
            check_run(layout, &inputs, &faults, &r)?;
            standing.push((layout, r.summary.proxies.len(), r.summary.proxies.iter().map(standing_mib).sum::<f64>()));
        }
        // More proxies at equal cost models: never less standing memory.
        for a in &standing {
            for b in &standing {
                if a.1 > b.1 {
                    prop_assert!(a.2 >= b.2, "{}: {} proxies hold {} MiB, {}: {} proxies {} MiB", a.0.as_str(), a.1, a.2, b.0.as_str(), b.1, b.2);
                }
            }
        }
        // The same figures on one thread and on two.
        prop_assert_eq!(compare_on(1, &inputs, &layouts, spec.seed), compare_on(2, &inputs, &layouts, spec.seed));
    }
}
