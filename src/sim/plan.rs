//! The engine's compiled input: stations (pods and proxies), the CPU containers and nodes
//! they run on, and the two sides of every path a call can take (one per source replica, one
//! per destination replica and waypoint, so a large edge holds no path per pair of replicas),
//! flattened into vectors indexed by integers so the event loop does no lookups by name and no
//! allocation per call. Built from a topology, a deployment and the cost models.

use super::cpu::{shares_of_request, CpuContainerSpec, CpuNodeSpec};
use super::latency::NodeLatency;
use crate::model::CostModels;
use crate::placement::{Deployment, Step, Stop};
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
#[derive(Clone, Copy, Debug, Default)]
pub struct PlanStep {
    pub delay_ns: u64,
    pub station: u32,
    /// Reference CPU ns of a proxy pass (0 for the callee pod, whose time is sampled).
    pub work_ns: u64,
    /// Delay added after the pass that holds no worker.
    pub fixed_ns: u64,
}

/// Steps a path can have: a source side's proxy, then a waypoint, a ztunnel and the pod.
pub const MAX_PATH_STEPS: usize = 4;

/// No node: a call from outside the cluster.
pub const NO_NODE: u32 = u32::MAX;

/// An edge with at most this many paths (source replicas × destination replicas × waypoints)
/// holds them whole, so its calls copy no steps when they start; a larger one's calls join
/// their path's two sides each.
pub const WHOLE_PATHS_PER_EDGE: usize = 64;

/// Whole paths' steps a plan holds at most (32 MiB of steps): past it, an edge's calls join
/// their path's sides, as a large edge's do. At 100,000 services in ambient (2 replicas, 3
/// waypoints per namespace) every edge has few paths and holding them all would take
/// 14 million steps (450 MiB), copied again into every run's engine.
pub const WHOLE_PATH_STEPS_MAX: usize = 1 << 20;

/// An edge's `path_offset` when its paths are joined per call.
pub const NO_PATHS: u32 = u32::MAX;

/// The caller's side of an edge's paths from one source replica.
#[derive(Clone, Copy, Debug)]
pub struct SourcePlan {
    /// The node the call leaves from (`NO_NODE`: from outside the cluster).
    pub node: u32,
    /// Its class in [`Plan::latency`].
    pub class: u32,
    /// The proxy on that node that takes the call first, at no delay.
    pub hop: Option<PlanStep>,
}

/// The callee's side of an edge's paths to one destination replica through one waypoint.
#[derive(Clone, Copy, Debug)]
pub struct DestinationPlan {
    /// Its first `len` steps, the callee pod last; the first one's delay is the crossing's
    /// ([`Plan::crossing_ns`]), 0 here. Held inline: a call copies them whole.
    pub steps: [PlanStep; MAX_PATH_STEPS - 1],
    pub len: u32,
    /// The node of its first step, and its class in [`Plan::latency`].
    pub node: u32,
    pub class: u32,
    /// Whether its first step is the callee pod.
    pub to_pod: bool,
    /// Delays of its steps after the first, summed.
    pub rest_delay_ns: u64,
}

/// One edge: a load (end-user requests) or a call between services.
#[derive(Clone, Debug)]
pub struct EdgePlan {
    pub name: String,
    pub src_pods: Vec<Option<PodId>>,
    pub dst_pods: Vec<PodId>,
    pub waypoints: u32,
    /// Its first source side in [`Plan::sources`] (one per source replica).
    pub source_offset: u32,
    /// Its first destination side in [`Plan::destinations`] (per destination replica, one per waypoint).
    pub destination_offset: u32,
    /// Its first path in [`Plan::paths`], when it holds them whole (else `NO_PATHS`).
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
    /// Steps of the whole paths of edges that hold them.
    pub steps: Vec<PlanStep>,
    /// (first step, number of steps, return delay) of each whole path.
    pub paths: Vec<(u32, u32, u64)>,
    pub sources: Vec<SourcePlan>,
    pub destinations: Vec<DestinationPlan>,
    /// Latency between nodes, for the crossing from a source side into a destination side.
    pub latency: NodeLatency,
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

        let latency = NodeLatency::new(t);
        let mut sources = Vec::new();
        let mut destinations = Vec::new();
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
            let payload = t.services[to].request_bytes + t.services[to].response_bytes;
            let per_request = reuse == ConnectionReuse::PerRequest;
            let plan_step = |st: &Step| {
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
                PlanStep { delay_ns: st.delay_ns, station: station as u32, work_ns, fixed_ns }
            };
            let source_offset = sources.len() as u32;
            for &s in &src_pods {
                let side = d.source_side(t, s, to);
                let hop = side.hop.map(|stop| plan_step(&Step { delay_ns: 0, stop }));
                let node = side.node.map_or(NO_NODE, |n| n as u32);
                sources.push(SourcePlan { node, class: side.node.map_or(0, |n| latency.class(n)), hop });
            }
            let destination_offset = destinations.len() as u32;
            for &dp in &dst_pods {
                for w in 0..waypoints {
                    let side = d.destination_side(t, dp, w as usize);
                    assert!(side.steps.len() < MAX_PATH_STEPS, "a destination side of at most {} steps", MAX_PATH_STEPS - 1);
                    let mut steps = [PlanStep::default(); MAX_PATH_STEPS - 1];
                    for (to, st) in steps.iter_mut().zip(&side.steps) {
                        *to = plan_step(st);
                    }
                    destinations.push(DestinationPlan {
                        steps,
                        len: side.steps.len() as u32,
                        node: side.node as u32,
                        class: latency.class(side.node),
                        to_pod: side.to_pod,
                        rest_delay_ns: side.steps[1..].iter().map(|s| s.delay_ns).sum(),
                    });
                }
            }
            edges.push(EdgePlan {
                name,
                src_pods,
                dst_pods,
                waypoints,
                source_offset,
                destination_offset,
                path_offset: NO_PATHS,
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
            steps: Vec::new(),
            paths: Vec::new(),
            sources,
            destinations,
            latency,
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
        plan.hold_whole_paths();
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
        let mut peers: Vec<Vec<u32>> = vec![Vec::new(); self.stations.len() - offset];
        let mut link = |a: u32, b: u32| {
            for (a, b) in [(a, b), (b, a)] {
                if a as usize >= offset && a != b {
                    peers[a as usize - offset].push(b);
                }
            }
        };
        for e in &self.edges {
            if e.per_request_connection {
                continue;
            }
            // The links within each side, then from each distinct last station of a source
            // side (its proxy, else its pod) to each distinct first station of a destination side.
            let mut lasts = std::collections::BTreeSet::new();
            for (s, pod) in self.sources[e.source_offset as usize..].iter().zip(&e.src_pods) {
                let pod = pod.map(|p| p as u32);
                let hop = s.hop.map(|h| h.station);
                if let (Some(p), Some(h)) = (pod, hop) {
                    link(p, h);
                }
                lasts.extend(hop.or(pod));
            }
            let mut firsts = std::collections::BTreeSet::new();
            let sides = e.dst_pods.len() * e.waypoints as usize;
            for d in &self.destinations[e.destination_offset as usize..][..sides] {
                let steps = &d.steps[..d.len as usize];
                for w in steps.windows(2) {
                    link(w[0].station, w[1].station);
                }
                firsts.insert(steps[0].station);
            }
            for &a in &lasts {
                for &b in &firsts {
                    link(a, b);
                }
            }
        }
        peers
            .iter_mut()
            .map(|p| {
                p.sort_unstable();
                p.dedup();
                p.len()
            })
            .collect()
    }

    /// Join the sides of the paths of edges that have few, once.
    fn hold_whole_paths(&mut self) {
        for e in 0..self.edges.len() {
            let edge = &self.edges[e];
            let (n_src, n_dst, n_w) = (edge.src_pods.len(), edge.dst_pods.len(), edge.waypoints as usize);
            let n = n_src * n_dst * n_w;
            if n > WHOLE_PATHS_PER_EDGE || self.steps.len() + n * MAX_PATH_STEPS > WHOLE_PATH_STEPS_MAX {
                continue;
            }
            self.edges[e].path_offset = self.paths.len() as u32;
            for i in 0..n_src {
                for j in 0..n_dst {
                    for w in 0..n_w {
                        let mut out = [PlanStep::default(); MAX_PATH_STEPS];
                        let (len, back_ns) = self.write_path(e, i, j, w, &mut out);
                        self.paths.push((self.steps.len() as u32, len, back_ns));
                        self.steps.extend_from_slice(&out[..len as usize]);
                    }
                }
            }
        }
    }

    /// The source and destination sides of the path of edge `e` from source replica `i` to
    /// destination replica `j` through waypoint `w`.
    #[inline]
    pub fn sides(&self, e: usize, i: usize, j: usize, w: usize) -> (&SourcePlan, &DestinationPlan) {
        let edge = &self.edges[e];
        (
            &self.sources[edge.source_offset as usize + i],
            &self.destinations[edge.destination_offset as usize + j * edge.waypoints as usize + w],
        )
    }

    /// One-way delay of the first step of destination side `d` after source side `s`.
    #[inline]
    pub fn crossing_ns(&self, s: &SourcePlan, d: &DestinationPlan) -> u64 {
        let from = (s.node != NO_NODE).then_some(s.node as usize);
        let latency = |a: usize, b: usize| self.latency.between(s.class, d.class, a == b);
        crate::placement::crossing_ns(from, s.hop.is_some(), d.node as usize, d.to_pod, latency)
    }

    /// Write the steps of the path of edge `e` (`i`, `j`, `w` as for [`Plan::sides`]) into
    /// `out`; returns how many, and the delay of the response back over them.
    #[inline]
    pub fn write_path(&self, e: usize, i: usize, j: usize, w: usize, out: &mut [PlanStep; MAX_PATH_STEPS]) -> (u32, u64) {
        let (s, d) = self.sides(e, i, j, w);
        let crossing = self.crossing_ns(s, d);
        // Every step slot is copied, used or not: fixed ranges, no bounds to check.
        let k = match s.hop {
            Some(h) => {
                out[0] = h;
                out[1..].copy_from_slice(&d.steps);
                1
            }
            None => {
                out[..MAX_PATH_STEPS - 1].copy_from_slice(&d.steps);
                0
            }
        };
        out[k].delay_ns = crossing;
        (k as u32 + d.len, crossing + d.rest_delay_ns)
    }

    /// The stations of that path, in order.
    pub fn path_stations(&self, e: usize, i: usize, j: usize, w: usize) -> impl Iterator<Item = u32> + '_ {
        let (s, d) = self.sides(e, i, j, w);
        s.hop.map(|h| h.station).into_iter().chain(d.steps[..d.len as usize].iter().map(|st| st.station))
    }
}

impl Plan {
    /// Nodes whose proxies' idle CPU alone takes all their cores: nothing could run there.
    pub fn overcommitted_nodes(&self) -> impl Iterator<Item = (usize, &NodeCpuPlan)> {
        self.nodes.iter().enumerate().filter(|(_, n)| n.cpu.cores <= 0.0)
    }
}
