//! The engine's compiled input: stations (pods and proxies), the CPU containers and nodes
//! they run on, and every path a call can take, flattened into vectors indexed by integers so
//! the event loop does no lookups by name and no allocation per call. Built from a topology,
//! a deployment and the cost models.

use super::cpu::{shares_of_request, CpuContainerSpec, CpuNodeSpec};
use crate::model::CostModels;
use crate::placement::{Deployment, Stop};
use crate::topology::{CallMode, ClosedLoop, ConnectionReuse, PodId, ProxyKind, ServiceTime, Topology};

/// What a station is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StationKind {
    Pod(PodId),
    Proxy(usize),
}

/// A queueing station: `servers` workers (a proxy's threads, a pod's concurrency) in front of
/// a FIFO queue. An admitted pass or request runs its CPU work in the station's container on
/// its node's shared cores.
#[derive(Clone, Debug)]
pub struct StationSpec {
    pub kind: StationKind,
    /// The pod's or proxy's name, for errors that name a component.
    pub name: String,
    pub servers: u32,
    /// Its CPU container (index into [`Plan::containers`]).
    pub container: u32,
    /// CPU ns of the node per ns of reference work (1/speed).
    pub cpu_mult: f64,
    /// CPU work of an application request at speed 1.0; `None` for proxies (their work is
    /// on the step).
    pub service_time: Option<ServiceTime>,
    /// Off-CPU time of an application request, after its CPU work.
    pub wait: Option<ServiceTime>,
    /// A proxy's wake-up: (idle ns after which a pass pays it, its reference CPU ns).
    pub wake_up: Option<(u64, u64)>,
    /// Reference CPU ns a proxy's worker spends after each pass, off the request's path.
    pub after_response_ns: u64,
    /// A proxy's added latency as fitted percentiles: each pass draws its delay from them
    /// (instead of its step's `fixed_ns`).
    pub pass_latency: Option<crate::model::LatencyPercentiles>,
}

/// What a station holds in memory, and where: a pod its memory request (the application's
/// own memory is not simulated), a proxy its model's base, configuration and pooled
/// connections, plus what each call it holds costs.
#[derive(Clone, Debug, Default)]
pub struct StationMemory {
    pub node: u32,
    /// Bytes held whatever the traffic.
    pub static_bytes: f64,
    /// Bytes per call it holds (admitted, or passed and awaiting its response).
    pub per_call_bytes: f64,
    /// Bytes more per held call whose edge opens a connection per request.
    pub per_new_connection_bytes: f64,
    /// Its container's memory limit: past it the container is OOM-killed.
    pub limit_bytes: Option<f64>,
    /// What its pod requests (the pod's eviction rank is its use above this).
    pub request_bytes: f64,
    /// A sidecar's application pod (evicted with it: they are one pod).
    pub pod_station: Option<u32>,
}

/// What runs in a CPU container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    /// An application pod's container.
    App(PodId),
    /// A proxy instance (a sidecar container, a ztunnel, a node proxy, a waypoint replica).
    Proxy(usize, ProxyKind),
}

/// A CPU container: what the node's scheduler sees.
#[derive(Clone, Debug)]
pub struct ContainerPlan {
    pub kind: ContainerKind,
    pub cpu: CpuContainerSpec,
}

/// A node's CPU as the engine sees it.
#[derive(Clone, Debug)]
pub struct NodeCpuPlan {
    pub name: String,
    pub cpu: CpuNodeSpec,
    /// The node's vCPUs, before proxies' idle CPU is taken out of them.
    pub vcpu: f64,
    /// Idle CPU of the proxies on the node, in cores (a steady background the cores carry).
    pub idle_cores: f64,
}

/// One step of a flattened path.
#[derive(Clone, Copy, Debug)]
pub struct PlanStep {
    pub delay_ns: u64,
    pub station: u32,
    /// Reference CPU ns of a proxy pass (0 for the callee pod, whose time is sampled).
    pub work_ns: u64,
    /// Delay added after the pass that holds no worker.
    pub fixed_ns: u64,
}

/// One edge: a load (end-user requests) or a call between services.
#[derive(Clone, Debug)]
pub struct EdgePlan {
    pub name: String,
    pub src_pods: Vec<Option<PodId>>,
    pub dst_pods: Vec<PodId>,
    pub waypoints: u32,
    pub path_offset: u32,
    pub count: u32,
    pub probability: f64,
    pub mode: CallMode,
    pub per_request_connection: bool,
    pub timeout_ns: Option<u64>,
    pub retries: u32,
    /// Retries in flight at once per retrying proxy and destination service (Envoy's
    /// circuit-breaker `max_retries`); `u32::MAX`: unlimited.
    pub retry_budget: u32,
}

/// Everything the engine needs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub stations: Vec<StationSpec>,
    pub steps: Vec<PlanStep>,
    /// (first step, number of steps, return delay) of each path.
    pub paths: Vec<(u32, u32, u64)>,
    /// Loads first (index = load id), then calls (index = loads + call id).
    pub edges: Vec<EdgePlan>,
    pub load_count: usize,
    pub load_rates_rps: Vec<f64>,
    pub load_poisson: Vec<bool>,
    /// Requests each tick of a load sends at once (its aligned connections, ≥ 1).
    pub load_connections: Vec<u32>,
    /// Closed-loop loads (their rate is a cap, or 0).
    pub load_closed: Vec<Option<ClosedLoop>>,
    /// wrk2-paced loads: threads per load-generator pod (`load_connections` is per pod then).
    pub load_wrk2_threads: Vec<Option<u32>>,
    pub containers: Vec<ContainerPlan>,
    pub nodes: Vec<NodeCpuPlan>,
    /// Outgoing edges of each pod's service, in file order.
    pub pod_calls: Vec<Vec<u32>>,
    /// Index of each pod within its service's pod list.
    pub pod_index: Vec<u32>,
    pub proxy_station_offset: usize,
    pub duration_ns: u64,
    pub warmup_ns: u64,
    pub max_events: u64,
    /// Events waiting in the queue beyond this stop the run (a retry storm, say).
    pub max_pending: u64,
    pub queue_limit: u32,
    pub outlier_detection: Option<crate::topology::OutlierDetection>,
    /// Each station's memory (index as `stations`).
    pub memory: Vec<StationMemory>,
    /// Pooled connections each proxy keeps open (index: proxy id), see [`Plan::count_pooled_connections`].
    pub pooled_connections: Vec<usize>,
    /// Each node's memory, bytes.
    pub node_memory_bytes: Vec<f64>,
}

impl Plan {
    /// Compile. Proxies whose kind has no cost model cost nothing; callers check models first.
    pub fn new(t: &Topology, d: &Deployment, models: &CostModels) -> Plan {
        let mut stations = Vec::with_capacity(t.pods.len() + d.proxies.len());
        let mut containers = Vec::with_capacity(t.pods.len() + d.proxies.len());
        for (pid, pod) in t.pods.iter().enumerate() {
            let s = &t.services[pod.service];
            let speed = t.nodes[pod.node].speed;
            stations.push(StationSpec {
                kind: StationKind::Pod(pid),
                name: pod.name.clone(),
                servers: s.concurrency,
                container: containers.len() as u32,
                cpu_mult: 1.0 / speed,
                service_time: Some(s.service_time),
                wait: s.wait,
                wake_up: None,
                after_response_ns: 0,
                pass_latency: None,
            });
            containers.push(ContainerPlan {
                kind: ContainerKind::App(pid),
                cpu: CpuContainerSpec {
                    node: pod.node as u32,
                    shares: shares_of_request(s.cpu_request_millicores),
                    limit_cores: s.cpu_limit_millicores.map(|m| m / 1000.0),
                    max_parallel: s.concurrency,
                },
            });
        }
        let proxy_station_offset = stations.len();
        let mut idle_cores = vec![0.0; t.nodes.len()];
        for (x, p) in d.proxies.iter().enumerate() {
            let speed = t.nodes[p.node].speed;
            let model = models.get(p.kind);
            let servers = model.map(|m| m.workers).unwrap_or(1);
            stations.push(StationSpec {
                kind: StationKind::Proxy(x),
                name: p.name.clone(),
                servers,
                container: containers.len() as u32,
                cpu_mult: 1.0 / speed,
                service_time: None,
                wait: None,
                wake_up: model.filter(|m| m.cpu_wake_up_ns > 0).map(|m| (m.wake_up_after_idle_ns, m.cpu_wake_up_ns)),
                after_response_ns: model.map(|m| m.cpu_after_response_ns).unwrap_or(0),
                pass_latency: model.and_then(|m| m.latency_percentiles),
            });
            containers.push(ContainerPlan {
                kind: ContainerKind::Proxy(x, p.kind),
                cpu: CpuContainerSpec {
                    node: p.node as u32,
                    shares: shares_of_request(model.map(|m| m.cpu_request_millicores).unwrap_or(0.0)),
                    limit_cores: model.and_then(|m| m.cpu_limit_millicores).map(|m| m / 1000.0),
                    max_parallel: servers,
                },
            });
            idle_cores[p.node] += model.map(|m| m.cpu_idle_millicores / 1000.0).unwrap_or(0.0);
        }
        let nodes = t
            .nodes
            .iter()
            .zip(&idle_cores)
            .map(|(n, &idle)| NodeCpuPlan {
                name: n.name.clone(),
                cpu: CpuNodeSpec { cores: (n.vcpu - idle).max(0.0), period_ns: n.cpu_period_ns },
                vcpu: n.vcpu,
                idle_cores: idle,
            })
            .collect();

        let mut steps = Vec::new();
        let mut paths = Vec::new();
        let mut edges = Vec::new();
        let mut add_edge = |name: String,
                            src_pods: Vec<Option<PodId>>,
                            to: usize,
                            count,
                            probability,
                            mode,
                            reuse: ConnectionReuse,
                            timeout_ns,
                            retries| {
            let dst_pods = t.services[to].pods.clone();
            let waypoints = d.waypoints(to).len().max(1) as u32;
            let path_offset = paths.len() as u32;
            let payload = t.services[to].request_bytes + t.services[to].response_bytes;
            let per_request = reuse == ConnectionReuse::PerRequest;
            for &s in &src_pods {
                for &dp in &dst_pods {
                    for w in 0..waypoints {
                        let path = d.path(t, s, dp, w as usize);
                        let first = steps.len() as u32;
                        for st in &path.steps {
                            let (station, work_ns, fixed_ns) = match st.stop {
                                Stop::Pod(p) => (p, 0, 0),
                                Stop::Proxy { proxy, layer } => {
                                    let m = models.get(d.proxies[proxy].kind);
                                    (
                                        proxy_station_offset + proxy,
                                        m.map(|m| m.pass_cpu_ns(layer, payload, per_request)).unwrap_or(0),
                                        m.map(|m| m.latency_fixed_ns).unwrap_or(0),
                                    )
                                }
                            };
                            steps.push(PlanStep { delay_ns: st.delay_ns, station: station as u32, work_ns, fixed_ns });
                        }
                        paths.push((first, path.steps.len() as u32, path.return_delay_ns()));
                    }
                }
            }
            edges.push(EdgePlan {
                name,
                src_pods,
                dst_pods,
                waypoints,
                path_offset,
                count,
                probability,
                mode,
                per_request_connection: per_request,
                timeout_ns,
                retries,
                retry_budget: u32::MAX,
            });
        };
        for l in &t.loads {
            let (name, src) = match l.from {
                Some(s) => {
                    (format!("{} -> {}", t.services[s].name, t.services[l.to].name), t.services[s].pods.iter().map(|&p| Some(p)).collect())
                }
                None => (format!("(outside) -> {}", t.services[l.to].name), vec![None]),
            };
            add_edge(name, src, l.to, 1, 1.0, CallMode::Parallel, l.connection, l.timeout_ns, l.retries);
        }
        for c in &t.calls {
            let src = t.services[c.from].pods.iter().map(|&p| Some(p)).collect();
            add_edge(
                format!("{} -> {}", t.services[c.from].name, t.services[c.to].name),
                src,
                c.to,
                c.count,
                c.probability,
                c.mode,
                c.connection,
                c.timeout_ns,
                c.retries,
            );
        }
        let load_count = t.loads.len();
        let pod_calls = t.pods.iter().map(|p| t.services[p.service].calls.iter().map(|&c| (load_count + c) as u32).collect()).collect();
        let pod_index = t
            .pods
            .iter()
            .enumerate()
            .map(|(pid, p)| t.services[p.service].pods.iter().position(|&x| x == pid).unwrap_or(0) as u32)
            .collect();
        let mut plan = Plan {
            stations,
            steps,
            paths,
            edges,
            load_count,
            load_rates_rps: t.loads.iter().map(|l| l.rate_rps).collect(),
            load_poisson: t.loads.iter().map(|l| l.arrival == crate::topology::Arrival::Poisson).collect(),
            load_connections: t.loads.iter().map(|l| l.connections.max(1)).collect(),
            load_closed: t.loads.iter().map(|l| l.closed).collect(),
            load_wrk2_threads: t
                .loads
                .iter()
                .map(|l| match l.arrival {
                    crate::topology::Arrival::Wrk2 { threads } => Some(threads),
                    _ => None,
                })
                .collect(),
            containers,
            nodes,
            pod_calls,
            pod_index,
            proxy_station_offset,
            duration_ns: t.simulation.duration_ns,
            warmup_ns: t.simulation.warmup_ns,
            max_events: t.simulation.max_events,
            max_pending: t.simulation.max_pending,
            queue_limit: t.simulation.queue_limit,
            outlier_detection: t.mesh.outlier_detection,
            memory: Vec::new(),
            pooled_connections: Vec::new(),
            node_memory_bytes: t.nodes.iter().map(|n| n.memory_bytes as f64).collect(),
        };
        plan.pooled_connections = plan.count_pooled_connections();
        plan.memory = plan.station_memory(t, d, models);
        plan
    }

    /// Each station's memory: pods at their request; proxies at their model's base, the
    /// endpoints of their configuration and their pooled connections, plus per call held.
    fn station_memory(&self, t: &Topology, d: &Deployment, models: &CostModels) -> Vec<StationMemory> {
        let pooled = &self.pooled_connections;
        let mut memory: Vec<StationMemory> = t
            .pods
            .iter()
            .map(|pod| {
                let request = t.services[pod.service].memory_request_bytes as f64;
                StationMemory { node: pod.node as u32, static_bytes: request, request_bytes: request, ..Default::default() }
            })
            .collect();
        for (x, p) in d.proxies.iter().enumerate() {
            let m = models.get(p.kind);
            let (base, per_call, per_connection) = m.map_or((0.0, 0.0, 0.0), |m| {
                (
                    m.memory_bytes(f64::from(p.endpoints), pooled[x] as f64, 0.0),
                    m.mem_per_inflight_bytes as f64,
                    m.mem_per_connection_bytes as f64,
                )
            });
            let pod_station = p.pod.filter(|_| p.kind == ProxyKind::Sidecar).map(|pod| pod as u32);
            memory.push(StationMemory {
                node: p.node as u32,
                static_bytes: base,
                per_call_bytes: per_call,
                per_new_connection_bytes: per_connection,
                limit_bytes: m.and_then(|m| m.mem_limit_bytes).map(|b| b as f64),
                // A proxy's model asks no memory of its node: a sidecar's pod requests the
                // application's; a ztunnel, node proxy or waypoint pod nothing.
                request_bytes: 0.0,
                pod_station,
            });
        }
        memory
    }

    /// Pooled connections each proxy keeps open: one to each distinct peer it forwards to or
    /// receives from on edges that reuse connections.
    pub fn count_pooled_connections(&self) -> Vec<usize> {
        let offset = self.proxy_station_offset;
        let proxies = self.stations.len() - offset;
        let mut peers: Vec<std::collections::BTreeSet<u32>> = vec![std::collections::BTreeSet::new(); proxies];
        for e in &self.edges {
            if e.per_request_connection {
                continue;
            }
            let paths = e.src_pods.len() * e.dst_pods.len() * e.waypoints as usize;
            for (k, path) in self.paths[e.path_offset as usize..e.path_offset as usize + paths].iter().enumerate() {
                let src = e.src_pods[k / (e.dst_pods.len() * e.waypoints as usize)];
                let (first, len, _) = *path;
                let stations: Vec<u32> =
                    src.map(|p| p as u32).into_iter().chain((first..first + len).map(|i| self.steps[i as usize].station)).collect();
                for w in stations.windows(2) {
                    for (a, b) in [(w[0], w[1]), (w[1], w[0])] {
                        if a as usize >= offset && a != b {
                            peers[a as usize - offset].insert(b);
                        }
                    }
                }
            }
        }
        peers.iter().map(|p| p.len()).collect()
    }

    /// Index of the path for edge `e`, source replica `i`, destination replica `j`, waypoint `w`.
    #[inline]
    pub fn path_index(&self, e: usize, i: usize, j: usize, w: usize) -> usize {
        let edge = &self.edges[e];
        edge.path_offset as usize + (i * edge.dst_pods.len() + j) * edge.waypoints as usize + w
    }
}

impl Plan {
    /// Nodes whose proxies' idle CPU alone takes all their cores: nothing could run there.
    pub fn overcommitted_nodes(&self) -> impl Iterator<Item = (usize, &NodeCpuPlan)> {
        self.nodes.iter().enumerate().filter(|(_, n)| n.cpu.cores <= 0.0)
    }
}
