//! From a run's raw counters to what users read: per proxy instance CPU and memory, per
//! edge latency, and one summary row per placement. The engine only counts; all maths of
//! summaries lives here.

use hdrhistogram::Histogram;

use crate::model::CostModels;
use crate::placement::{Deployment, Layout, Placement};
use crate::sim::plan::{ContainerKind, Plan, StationKind};
use crate::sim::RunOutput;
use crate::topology::Topology;

const MIB: f64 = 1024.0 * 1024.0;

/// One proxy instance over the measurement window.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxySummary {
    pub name: String,
    pub kind: &'static str,
    pub node: String,
    pub cpu_millicores: f64,
    pub mem_mib: f64,
    /// The most it held at any instant of the run, MiB.
    pub mem_peak_mib: f64,
    pub passes_per_s: f64,
    pub inflight_mean: f64,
    pub connections_mean: f64,
    pub endpoints: u32,
    pub queue_max: u32,
    pub rejected: u64,
    /// Share (0–1) of its workers' capacity its passes used: pass CPU over the window ÷ the
    /// cores its workers (or its CPU limit, if lower) can use. Near 1 its queue only grows.
    pub worker_busy_share: f64,
}

/// A note on a run in which memory ran out (a container OOM-killed at its limit, a pod
/// evicted under node memory pressure), or `None`: the calls those containers held failed.
pub fn memory_note(s: &PlacementSummary) -> Option<String> {
    if s.oom_kills == 0 && s.evictions == 0 {
        return None;
    }
    let count = |n: u64, what: &str| (n > 0).then(|| format!("{n} {what}{}", if n == 1 { "" } else { "s" }));
    let what: Vec<String> = [
        count(s.oom_kills, "OOM kill").map(|x| x + " at a container's memory limit"),
        count(s.evictions, "eviction").map(|x| x + " under node memory pressure"),
    ]
    .into_iter()
    .flatten()
    .collect();
    Some(format!(
        "{}: memory ran out: {} over the run (the fullest node held {:.1}% of its memory at its peak); the calls those \
         containers held failed, so this row's errors and latency include them: lower the load, add replicas or nodes, or raise \
         the memory limits",
        s.placement,
        what.join(" and "),
        s.node_mem_peak_share_max * 100.0
    ))
}

/// Nodes of at most this many vCPUs are small: on most cloud instances two of their vCPUs are
/// the hyperthreads of one physical core (EC2's `ThreadsPerCore` defaults to 2).
pub const SMALL_NODE_VCPU: f64 = 4.0;
/// A small node busier than this share, with application and proxies on it, gets the note.
pub const SHARED_CORE_BUSY_SHARE: f64 = 0.5;

/// A note on a mesh placement whose small nodes run application and proxies busily side by
/// side, or `None`. meshsim treats every vCPU as a core of its own; where two vCPUs are one
/// core's hyperthreads, a proxy on one slows the application on the other, which measured
/// throughput shows and the simulation does not (docs/calibration.md, Bookinfo on small nodes).
pub fn shared_core_note(placement: &str, nodes: &[NodeSummary]) -> Option<String> {
    let busy: Vec<&NodeSummary> = nodes
        .iter()
        .filter(|n| n.vcpu <= SMALL_NODE_VCPU && n.cpu_utilization > SHARED_CORE_BUSY_SHARE && n.app_millicores > 0.0)
        .filter(|n| n.sidecar_millicores + n.node_proxy_millicores + n.ztunnel_millicores + n.waypoint_millicores > 0.0)
        .collect();
    let first = busy.first()?;
    Some(format!(
        "{placement}: {} node{} of at most {} vCPUs ({} {:.0}% busy) run{} the application and proxies side by side; meshsim \
         simulates each vCPU as a core of its own, and where two are one core's hyperthreads (as on most cloud instances) \
         measured proxies slow the application more: on 2-vCPU nodes LiveWyer measured Istio's sidecars costing Bookinfo 22-24% \
         of its throughput where this model gives 13%, so read this row's throughput cost as a lower bound \
         (docs/calibration.md, Bookinfo on small nodes)",
        busy.len(),
        if busy.len() == 1 { "" } else { "s" },
        SMALL_NODE_VCPU,
        first.name,
        first.cpu_utilization * 100.0,
        if busy.len() == 1 { "s" } else { "" },
    ))
}

/// A proxy's workers busier than this share are saturated: their queue grows for the whole run.
pub const SATURATED_WORKER_SHARE: f64 = 0.95;

/// A note on a run whose proxies' workers are saturated, or `None`: such a row's latency and
/// memory measure a backlog that grew through the run, not a steady state.
pub fn saturated_proxies_note(placement: &str, proxies: &[ProxySummary]) -> Option<String> {
    let hot: Vec<&ProxySummary> = proxies.iter().filter(|p| p.worker_busy_share >= SATURATED_WORKER_SHARE).collect();
    let busiest = hot.iter().max_by(|a, b| a.worker_busy_share.total_cmp(&b.worker_busy_share))?;
    Some(format!(
        "{placement}: {} of its proxies keep their workers {:.0}% busy or more (busiest: {} at {:.0}%): their queues grow through the run, so this row's latency and memory describe a backlog, not a steady state; add replicas or workers, or lower the load",
        hot.len(),
        SATURATED_WORKER_SHARE * 100.0,
        busiest.name,
        busiest.worker_busy_share * 100.0
    ))
}

/// One edge (a load or a call) over the measurement window. Latencies are `None` when no
/// call on the edge succeeded (nothing was measured).
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeSummary {
    /// `caller->callee`, with `#2`, `#3`, … on further calls of one caller to the same callee.
    pub name: String,
    pub calls: u64,
    pub failed: u64,
    pub retried: u64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p90_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_mean_ms: Option<f64>,
}

/// One placement's row of the comparison. Latencies are `None` when no request succeeded.
#[derive(Clone, Debug, PartialEq)]
pub struct PlacementSummary {
    pub placement: Layout,
    /// The placement each namespace used, as `namespace=placement` joined by `;`.
    pub namespace_placements: String,
    pub proxies: usize,
    pub passes_per_request: f64,
    pub l7_passes_per_request: f64,
    pub dp_cpu_millicores: f64,
    pub dp_mem_mib: f64,
    /// The control plane's CPU (what its replicas received over the window) and memory
    /// (its model's steady figure); `None` where no control plane is modelled.
    pub cp_cpu_millicores: Option<f64>,
    pub cp_mem_mib: Option<f64>,
    /// The control plane's components with their steady figures (empty: none modelled), and
    /// the proxy kinds it runs whose control plane the profile does not model.
    pub control_plane: Vec<crate::control_plane::ComponentFigures>,
    pub cp_unmodelled: Vec<crate::topology::ProxyKind>,
    /// What the run's `[[churn]]` cost and did (`None`: no churn).
    pub churn: Option<crate::churn::ChurnSummary>,
    pub app_cpu_millicores: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p90_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_mean_ms: Option<f64>,
    /// Latency added over the `none` placement of the same comparison, if it ran.
    pub added_p50_ms: Option<f64>,
    pub added_p90_ms: Option<f64>,
    pub added_p99_ms: Option<f64>,
    pub requests_sent: u64,
    pub requests_succeeded: u64,
    pub requests_failed: u64,
    pub error_rate: f64,
    pub offered_rps: f64,
    pub achieved_rps: f64,
    /// The busiest node's CPU utilisation (0 to 1) and the time containers were throttled by
    /// CPU limits, summed, in ms per second of the window.
    pub node_cpu_utilization_max: f64,
    pub throttled_ms_per_s: f64,
    /// The fullest node's memory at its peak, as a share (0 to 1) of its memory.
    pub node_mem_peak_share_max: f64,
    /// Containers OOM-killed at their memory limit, and pods the kubelet evicted under node
    /// memory pressure, over the run.
    pub oom_kills: u64,
    pub evictions: u64,
    pub events: u64,
    pub seed: u64,
}

/// One node's CPU over the measurement window: who used its cores, how long work waited
/// for them.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSummary {
    pub name: String,
    pub vcpu: f64,
    /// Busy share of its vCPUs (work of every container plus proxies' idle CPU), 0 to 1.
    pub cpu_utilization: f64,
    pub app_millicores: f64,
    pub sidecar_millicores: f64,
    pub node_proxy_millicores: f64,
    pub ztunnel_millicores: f64,
    pub waypoint_millicores: f64,
    /// Idle CPU of the proxies on the node (their model's `cpu.idle`).
    pub proxy_idle_millicores: f64,
    /// The control plane's replicas on the node (istiod, Linkerd's controllers).
    pub control_plane_millicores: f64,
    /// Background hogs (noisy neighbours).
    pub other_millicores: f64,
    /// Mean number of tasks waiting for a core or throttled (ready time per second).
    pub ready_tasks_mean: f64,
    /// Time containers on the node spent throttled by their CPU limits, ms per second.
    pub throttled_ms_per_s: f64,
    /// Its memory; what its pods and proxies held on average over the window (pods at their
    /// requests, proxies as in `ProxySummary::mem_mib`), and the most at any instant of the run.
    pub memory_mib: f64,
    pub mem_used_mib: f64,
    pub mem_peak_mib: f64,
    /// OOM kills and evictions of its containers, over the run.
    pub oom_kills: u64,
    pub evictions: u64,
}

/// One CPU container over the measurement window.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerSummary {
    /// The pod (application container) or proxy instance.
    pub name: String,
    /// `app`, or the proxy kind.
    pub kind: &'static str,
    pub node: String,
    pub cpu_millicores: f64,
    /// Mean number of its tasks waiting for a core or throttled.
    pub ready_tasks_mean: f64,
    /// Time it was throttled by its CPU limit (CFS), in the window.
    pub throttled_ms: f64,
    pub throttled_periods: u64,
    /// Memory held on average over the window and at its peak over the run, MiB (an
    /// application container at its request; a hog holds none).
    pub mem_mib: f64,
    pub mem_peak_mib: f64,
    /// Times it was OOM-killed at its memory limit, and times its pod was evicted.
    pub oom_kills: u32,
    pub evictions: u32,
}

/// Everything reported about one run of one placement.
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub summary: PlacementSummary,
    pub proxies: Vec<ProxySummary>,
    pub edges: Vec<EdgeSummary>,
    pub nodes: Vec<NodeSummary>,
    pub containers: Vec<ContainerSummary>,
}

pub fn ms(ns: f64) -> f64 {
    ns / 1e6
}

fn quantile_ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| ms(h.value_at_quantile(q) as f64))
}

/// Give every edge a distinct name: a caller calling one callee twice has two edges of the
/// same `caller->callee`; the second and later get `#2`, `#3`, … in call order.
fn distinct_names(edges: &mut [EdgeSummary]) {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for e in edges.iter_mut() {
        let n = seen.entry(e.name.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            e.name = format!("{}#{n}", e.name);
        }
    }
}

/// Summarise a run.
pub fn summarize(t: &Topology, d: &Deployment, models: &CostModels, plan: &Plan, out: &RunOutput) -> RunSummary {
    let window_ns = (t.simulation.duration_ns - t.simulation.warmup_ns) as f64;
    let window_s = window_ns / 1e9;
    let pooled = &plan.pooled_connections;
    let mut proxies = Vec::with_capacity(d.proxies.len());
    let mut app_cpu = 0.0;
    for (s, spec) in plan.stations.iter().enumerate() {
        let st = &out.stations[s];
        match spec.kind {
            StationKind::Pod(_) => app_cpu += st.cpu_ns / window_ns * 1000.0,
            StationKind::Proxy(p) => {
                let inst = &d.proxies[p];
                let model = models.get(inst.kind);
                let inflight_mean = st.inflight_ns / window_ns;
                let connections_mean = pooled[p] as f64 + st.new_conn_ns / window_ns;
                let mut cpu = st.cpu_ns / window_ns * 1000.0 + model.map(|m| m.cpu_idle_millicores).unwrap_or(0.0);
                if let Some(limit) = model.and_then(|m| m.cpu_limit_millicores) {
                    cpu = cpu.min(limit);
                }
                let mem = model.map(|m| m.memory_bytes(inst.endpoints as f64, connections_mean, inflight_mean)).unwrap_or(0.0) / MIB;
                let worker_cores = match model.and_then(|m| m.cpu_limit_millicores) {
                    Some(limit) => (spec.servers as f64).min(limit / 1000.0),
                    None => spec.servers as f64,
                };
                let worker_busy_share = if worker_cores > 0.0 { st.cpu_ns / window_ns / worker_cores } else { 0.0 };
                proxies.push(ProxySummary {
                    name: inst.name.clone(),
                    kind: inst.kind.as_str(),
                    node: t.nodes[inst.node].name.clone(),
                    cpu_millicores: cpu,
                    mem_mib: mem,
                    mem_peak_mib: st.mem_peak_bytes.max(mem * MIB) / MIB,
                    passes_per_s: st.passes as f64 / window_s,
                    inflight_mean,
                    connections_mean,
                    endpoints: inst.endpoints,
                    queue_max: st.queue_max,
                    rejected: st.rejected,
                    worker_busy_share,
                });
            }
        }
    }
    let mut edges: Vec<EdgeSummary> = plan
        .edges
        .iter()
        .zip(&out.edges)
        .map(|(e, s)| {
            let h = s.latency_ns.histogram();
            EdgeSummary {
                name: e.name.clone(),
                calls: s.calls,
                failed: s.failed,
                retried: s.retried,
                latency_p50_ms: quantile_ms(&h, 0.5),
                latency_p90_ms: quantile_ms(&h, 0.9),
                latency_p99_ms: quantile_ms(&h, 0.99),
                latency_mean_ms: (!h.is_empty()).then(|| ms(s.latency_sum_ns / h.len() as f64)),
            }
        })
        .collect();
    distinct_names(&mut edges);
    let (nodes, containers) = node_summaries(t, d, plan, out, window_ns, &proxies);
    let passes = d.pass_counts(t);
    let h = &out.latency_ns;
    let done = out.measured_succeeded + out.measured_failed;
    let summary = PlacementSummary {
        placement: d.layout,
        namespace_placements: d.describe_namespaces(t),
        proxies: d.proxies.len(),
        passes_per_request: passes.total,
        l7_passes_per_request: passes.l7,
        dp_cpu_millicores: proxies.iter().map(|p| p.cpu_millicores).sum::<f64>() + 0.0,
        dp_mem_mib: proxies.iter().map(|p| p.mem_mib).sum::<f64>() + 0.0,
        cp_cpu_millicores: None,
        cp_mem_mib: None,
        control_plane: Vec::new(),
        cp_unmodelled: Vec::new(),
        churn: None,
        app_cpu_millicores: app_cpu,
        latency_p50_ms: quantile_ms(h, 0.5),
        latency_p90_ms: quantile_ms(h, 0.9),
        latency_p99_ms: quantile_ms(h, 0.99),
        latency_mean_ms: (!h.is_empty()).then(|| ms(h.mean())),
        added_p50_ms: None,
        added_p90_ms: None,
        added_p99_ms: None,
        requests_sent: out.measured_sent,
        requests_succeeded: out.measured_succeeded,
        requests_failed: out.measured_failed,
        error_rate: if done > 0 { out.measured_failed as f64 / done as f64 } else { 0.0 },
        // Closed-loop load has no rate of its own: what it offered is what its connections sent.
        offered_rps: if t.loads.iter().any(|l| l.closed.is_some()) { out.measured_sent as f64 / window_s } else { t.total_rate_rps() },
        achieved_rps: out.measured_succeeded as f64 / window_s,
        node_cpu_utilization_max: nodes.iter().map(|n| n.cpu_utilization).fold(0.0, f64::max),
        throttled_ms_per_s: nodes.iter().map(|n| n.throttled_ms_per_s).sum(),
        node_mem_peak_share_max: nodes
            .iter()
            .map(|n| if n.memory_mib > 0.0 { n.mem_peak_mib / n.memory_mib } else { 0.0 })
            .fold(0.0, f64::max),
        oom_kills: nodes.iter().map(|n| n.oom_kills).sum(),
        evictions: nodes.iter().map(|n| n.evictions).sum(),
        events: out.events,
        seed: out.seed,
    };
    RunSummary { summary, proxies, edges, nodes, containers }
}

/// Per node and per container CPU over the window, from the engine's exact CPU counters.
fn node_summaries(
    t: &Topology,
    d: &Deployment,
    plan: &Plan,
    out: &RunOutput,
    window_ns: f64,
    proxies: &[ProxySummary],
) -> (Vec<NodeSummary>, Vec<ContainerSummary>) {
    let per_s = |ns: f64| ns / window_ns;
    let mut nodes: Vec<NodeSummary> = t
        .nodes
        .iter()
        .zip(&plan.nodes)
        .map(|(n, p)| NodeSummary {
            name: n.name.clone(),
            vcpu: n.vcpu,
            cpu_utilization: 0.0,
            app_millicores: 0.0,
            sidecar_millicores: 0.0,
            node_proxy_millicores: 0.0,
            ztunnel_millicores: 0.0,
            waypoint_millicores: 0.0,
            proxy_idle_millicores: p.idle_cores * 1000.0,
            control_plane_millicores: 0.0,
            other_millicores: 0.0,
            ready_tasks_mean: 0.0,
            throttled_ms_per_s: 0.0,
            memory_mib: n.memory_bytes as f64 / MIB,
            mem_used_mib: 0.0,
            mem_peak_mib: 0.0,
            oom_kills: 0,
            evictions: 0,
        })
        .collect();
    for (n, &peak) in nodes.iter_mut().zip(&out.node_mem_peak_bytes) {
        n.mem_peak_mib = peak / MIB;
    }
    let mut containers = Vec::with_capacity(plan.containers.len());
    for (k, stats) in out.containers.iter().enumerate() {
        let (name, kind, node) = match plan.containers.get(k) {
            Some(c) => match c.kind {
                ContainerKind::App(pod) => (t.pods[pod].name.clone(), "app", t.pods[pod].node),
                ContainerKind::Proxy(x, kind) => (d.proxies[x].name.clone(), kind.as_str(), d.proxies[x].node),
            },
            None => {
                let h = k - plan.containers.len();
                match out.hog_nodes.get(h) {
                    Some(&n) => (format!("hog-{h}"), "other", n as usize),
                    None => match out.periodic.get(h - out.hog_nodes.len()) {
                        Some((name, n, _)) => (name.clone(), "control-plane", *n as usize),
                        None => (format!("hog-{h}"), "other", usize::MAX),
                    },
                }
            }
        };
        let mc = per_s(stats.cpu_ns) * 1000.0;
        // Containers and stations share their index; hogs come after both.
        let (mem_mib, mem_peak_mib, oom_kills, evictions) = match plan.containers.get(k).map(|c| c.kind) {
            Some(ContainerKind::App(pod)) => {
                let st = &out.stations[pod];
                let request = plan.memory[pod].static_bytes / MIB;
                (request, st.mem_peak_bytes / MIB, st.oom_kills, st.evictions)
            }
            Some(ContainerKind::Proxy(x, _)) => {
                let st = &out.stations[plan.proxy_station_offset + x];
                (proxies[x].mem_mib, proxies[x].mem_peak_mib, st.oom_kills, st.evictions)
            }
            // A control-plane replica holds its model's memory all run long.
            None => match k.checked_sub(plan.containers.len() + out.hog_nodes.len()).and_then(|i| out.periodic.get(i)) {
                Some(&(_, _, bytes)) => (bytes / MIB, bytes / MIB, 0, 0),
                None => (0.0, 0.0, 0, 0),
            },
        };
        if let Some(n) = nodes.get_mut(node) {
            n.mem_used_mib += mem_mib;
            n.oom_kills += u64::from(oom_kills);
            n.evictions += u64::from(evictions);
            // A node's peak is at least what it held on average (both count a call from
            // slightly different instants: its start, its admission at the proxy).
            n.mem_peak_mib = n.mem_peak_mib.max(n.mem_used_mib);
            *match kind {
                "app" => &mut n.app_millicores,
                "sidecar" => &mut n.sidecar_millicores,
                "node-proxy" => &mut n.node_proxy_millicores,
                "ztunnel" => &mut n.ztunnel_millicores,
                "waypoint" => &mut n.waypoint_millicores,
                "control-plane" => &mut n.control_plane_millicores,
                _ => &mut n.other_millicores,
            } += mc;
            n.ready_tasks_mean += per_s(stats.ready_ns);
            n.throttled_ms_per_s += per_s(stats.throttled_ns) * 1000.0;
        }
        containers.push(ContainerSummary {
            name,
            kind,
            node: t.nodes.get(node).map(|n| n.name.clone()).unwrap_or_default(),
            cpu_millicores: mc,
            ready_tasks_mean: per_s(stats.ready_ns),
            throttled_ms: stats.throttled_ns / 1e6,
            throttled_periods: stats.throttled_periods,
            mem_mib,
            mem_peak_mib,
            oom_kills,
            evictions,
        });
    }
    for n in &mut nodes {
        let used = n.app_millicores
            + n.sidecar_millicores
            + n.node_proxy_millicores
            + n.ztunnel_millicores
            + n.waypoint_millicores
            + n.proxy_idle_millicores
            + n.control_plane_millicores
            + n.other_millicores;
        n.cpu_utilization = if n.vcpu > 0.0 { (used / (n.vcpu * 1000.0)).min(1.0) } else { 0.0 };
    }
    (nodes, containers)
}

/// Fill in the latency each placement adds over `none`, when `none` is among the rows.
pub fn add_baseline(rows: &mut [PlacementSummary]) {
    let Some(base) = rows.iter().find(|r| r.placement == Layout::Uniform(Placement::None)).cloned() else {
        return;
    };
    let added = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
    for r in rows {
        r.added_p50_ms = added(r.latency_p50_ms, base.latency_p50_ms);
        r.added_p90_ms = added(r.latency_p90_ms, base.latency_p90_ms);
        r.added_p99_ms = added(r.latency_p99_ms, base.latency_p99_ms);
    }
}
