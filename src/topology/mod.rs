//! The validated topology: clusters, zones and nodes; the network between them; namespaces
//! with their placement; services, their pods and the call graph; the load. Ids are indices
//! into the vectors here; units are in every name. Built only by [`load`], which reports
//! every problem in the file at once.

pub mod blast;
pub mod churn;
pub mod control_plane;
mod input;
mod placement;
pub mod profile;
mod quantity;
mod schedule;
mod scope;
mod validate;

use std::path::{Path, PathBuf};

use petgraph::graph::DiGraph;

use crate::input_error::InputErrors;

pub use blast::BlastConfig;
pub use churn::{Churn, ChurnEvent, ChurnKind, PodLife};
pub use control_plane::ControlPlaneConfig;
pub use input::ACCEPTED_KEYS;
pub use placement::Placement;

pub use validate::{check_rate, check_total_rate, parse};

pub type NodeId = usize;
pub type NamespaceId = usize;
pub type ServiceId = usize;
pub type CallId = usize;
pub type PodId = usize;

/// A validated topology. Invariant: every id points into its vector; the call graph is acyclic;
/// every service has at least one pod, each on a node that has room for it.
#[derive(Clone, Debug)]
pub struct Topology {
    pub name: String,
    pub description: String,
    /// The file it was read from.
    pub source: PathBuf,
    pub simulation: SimulationConfig,
    pub mesh: MeshConfig,
    pub network: Network,
    pub nodes: Vec<Node>,
    pub namespaces: Vec<Namespace>,
    pub services: Vec<Service>,
    pub calls: Vec<Call>,
    pub loads: Vec<Load>,
    pub pods: Vec<Pod>,
    /// Services as nodes, calls as edges (weights are the ids).
    pub call_graph: DiGraph<ServiceId, CallId>,
    /// Settings of `meshsim blast` (`[blast]`; defaults when absent).
    pub blast: BlastConfig,
    /// Replicas, nodes and requests of the mesh's control plane (`[control_plane]`; the
    /// mesh's defaults when absent).
    pub control_plane: ControlPlaneConfig,
    /// Changes over time (`[[churn]]`): the pods they add are in `pods` already, with what
    /// every changed pod does when.
    pub churn: Churn,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimulationConfig {
    pub duration_ns: u64,
    pub warmup_ns: u64,
    pub seed: Option<u64>,
    /// A run that would process more events than this stops with an error instead of hanging.
    pub max_events: u64,
    /// A run whose pending (scheduled, not yet processed) events pass this stops with an
    /// error instead of exhausting memory (`simulation.max_pending`, default 10,000,000).
    pub max_pending: u64,
    /// Requests waiting for a worker at one station beyond this are rejected (HTTP 503).
    pub queue_limit: u32,
}

/// Which proxy a cost model file describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProxyKind {
    Sidecar,
    NodeProxy,
    Ztunnel,
    Waypoint,
}

impl ProxyKind {
    pub const ALL: [ProxyKind; 4] = [ProxyKind::Sidecar, ProxyKind::NodeProxy, ProxyKind::Ztunnel, ProxyKind::Waypoint];

    pub fn as_str(self) -> &'static str {
        match self {
            ProxyKind::Sidecar => "sidecar",
            ProxyKind::NodeProxy => "node-proxy",
            ProxyKind::Ztunnel => "ztunnel",
            ProxyKind::Waypoint => "waypoint",
        }
    }
}

/// Where a per-node proxy does its L7 work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerNodeL7 {
    Source,
    Destination,
    Both,
    None,
}

/// What a sidecar's `Sidecar` resource lets it hold (`mesh.sidecar_scope`). It narrows what
/// the mesh sends a sidecar (its cost model's `config.scope`), never widens it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SidecarScope {
    /// No `Sidecar` resource: whatever the mesh sends.
    #[default]
    Mesh,
    /// Egress hosts `./*` and each callee: the services of its namespace and those it calls.
    Namespace,
    /// Egress hosts naming each callee: the services it calls, as a well-written `Sidecar` does.
    Called,
}

impl SidecarScope {
    pub fn as_str(self) -> &'static str {
        match self {
            SidecarScope::Mesh => "mesh",
            SidecarScope::Namespace => "namespace",
            SidecarScope::Called => "called",
        }
    }
}

/// How the topology narrows the configuration proxies hold (`[mesh]` `sidecar_scope`,
/// `egress_hosts`, `discovery_namespaces`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scoping {
    pub sidecar: SidecarScope,
    /// Namespaces a scoped sidecar holds whole (egress hosts `ns/*`).
    pub egress_namespaces: Vec<NamespaceId>,
    /// Services a scoped sidecar holds besides (egress hosts `ns/service`).
    pub egress_services: Vec<ServiceId>,
    /// The namespaces the control plane watches (Istio's discovery selectors): every proxy
    /// holds endpoints of these only. `None`: every namespace.
    pub discovery_namespaces: Option<Vec<NamespaceId>>,
}

#[derive(Clone, Debug)]
pub struct MeshConfig {
    /// Cost model file of each proxy kind, resolved against the topology file's folder.
    pub models: Vec<(ProxyKind, PathBuf)>,
    /// The profile `mesh.profile` names, if any (per-kind keys override its models).
    pub profile: Option<profile::Profile>,
    pub per_node_l7: PerNodeL7,
    /// How the topology narrows what proxies hold (by default it does not).
    pub scoping: Scoping,
    /// Outlier detection in callers' load balancing; `None`: replicas are never ejected.
    pub outlier_detection: Option<OutlierDetection>,
}

/// Envoy-style outlier detection: after `consecutive_errors` failed calls in a row to one
/// replica, callers of that edge stop choosing it for `ejection_ns`; at most
/// `max_ejection_percent` of an edge's replicas are out at once, but always at least one may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutlierDetection {
    pub consecutive_errors: u32,
    pub ejection_ns: u64,
    pub max_ejection_percent: u32,
}

impl MeshConfig {
    pub fn model_path(&self, kind: ProxyKind) -> Option<&Path> {
        self.models.iter().find(|(k, _)| *k == kind).map(|(_, p)| p.as_path())
    }
}

/// One-way network latency between pods, by locality, with overrides between named places.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    pub same_node_ns: u64,
    pub same_zone_ns: u64,
    pub cross_zone_ns: u64,
    pub cross_cluster_ns: u64,
    pub overrides: Vec<LatencyOverride>,
}

/// A place a latency override names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    Cluster(String),
    Zone(String),
    Node(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct LatencyOverride {
    pub a: Place,
    pub b: Place,
    pub latency_ns: u64,
}

impl Network {
    /// One-way latency between pods on nodes `a` and `b`. The most specific override wins
    /// (node over zone over cluster); otherwise the locality class gives it.
    pub fn latency_ns(&self, nodes: &[Node], a: NodeId, b: NodeId) -> u64 {
        let (na, nb) = (&nodes[a], &nodes[b]);
        let matches = |p: &Place, n: &Node| match p {
            Place::Cluster(c) => *c == n.cluster,
            Place::Zone(z) => *z == n.zone,
            Place::Node(x) => *x == n.name,
        };
        let rank = |p: &Place| match p {
            Place::Node(_) => 3,
            Place::Zone(_) => 2,
            Place::Cluster(_) => 1,
        };
        let mut best: Option<(u32, u64)> = None;
        for o in &self.overrides {
            if (matches(&o.a, na) && matches(&o.b, nb)) || (matches(&o.a, nb) && matches(&o.b, na)) {
                let r = rank(&o.a) + rank(&o.b);
                if best.is_none_or(|(br, _)| r > br) {
                    best = Some((r, o.latency_ns));
                }
            }
        }
        if let Some((_, ns)) = best {
            return ns;
        }
        if a == b {
            self.same_node_ns
        } else if na.cluster != nb.cluster {
            self.cross_cluster_ns
        } else if na.zone != nb.zone {
            self.cross_zone_ns
        } else {
            self.same_zone_ns
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub cluster: String,
    pub zone: String,
    pub vcpu: f64,
    pub memory_bytes: u64,
    /// CPU speed relative to the machine the cost models were fitted on (1.0 = the same).
    pub speed: f64,
    pub max_pods: u32,
    /// CFS bandwidth period of CPU limits on this node (the kubelet's `cpuCFSQuotaPeriod`).
    pub cpu_period_ns: u64,
}

/// Default CFS period: the kernel's and the kubelet's 100 ms.
pub const DEFAULT_CPU_PERIOD_NS: u64 = 100_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaypointScope {
    Namespace,
    Service,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaypointSpec {
    pub scope: WaypointScope,
    pub replicas: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Namespace {
    pub name: String,
    /// `None`: the run's placement decides (so `compare` varies it); `Some`: fixed (mixed meshes).
    pub placement: Option<Placement>,
    /// The waypoint serving this namespace when it runs in ambient mode; none means L4 only.
    pub waypoint: Option<WaypointSpec>,
}

/// Service time of one request in an application pod, at node speed 1.0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ServiceTime {
    Constant { mean_ns: u64 },
    Exponential { mean_ns: u64 },
    LogNormal { mean_ns: u64, cv: f64 },
}

impl ServiceTime {
    pub fn mean_ns(&self) -> u64 {
        match *self {
            ServiceTime::Constant { mean_ns } | ServiceTime::Exponential { mean_ns } | ServiceTime::LogNormal { mean_ns, .. } => mean_ns,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
    Grpc,
    Tcp,
}

impl Protocol {
    /// Whether an L7 proxy can parse it; plain TCP only ever gets L4 treatment.
    pub fn is_l7(self) -> bool {
        !matches!(self, Protocol::Tcp)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub name: String,
    pub namespace: NamespaceId,
    pub replicas: u32,
    /// CPU work of one request at node speed 1.0, run on the node's shared cores.
    pub service_time: ServiceTime,
    /// Off-CPU time of one request (I/O, sleep), after its CPU work; it holds a concurrency
    /// slot but no core.
    pub wait: Option<ServiceTime>,
    /// CPU limit of the application container (CFS quota); `None`: unlimited.
    pub cpu_limit_millicores: Option<f64>,
    /// Requests a pod works on at once; more wait in its queue.
    pub concurrency: u32,
    pub protocol: Protocol,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub cpu_request_millicores: f64,
    pub memory_request_bytes: u64,
    /// Outgoing calls, in the order the file gives them.
    pub calls: Vec<CallId>,
    pub pods: Vec<PodId>,
    /// The nodes its `nodes`, `zones` and `clusters` allow (node affinity); empty: every node.
    pub eligible_nodes: Vec<NodeId>,
    /// How far one zone may run ahead of another in its pods (topology spread `maxSkew`).
    pub max_skew: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallMode {
    /// Issued together with the neighbouring parallel calls; all are awaited.
    Parallel,
    /// Issued after everything before it completes.
    Sequential,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionReuse {
    Pooled,
    PerRequest,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub from: ServiceId,
    pub to: ServiceId,
    pub count: u32,
    pub probability: f64,
    pub mode: CallMode,
    pub connection: ConnectionReuse,
    pub timeout_ns: Option<u64>,
    pub retries: u32,
    /// Whether the file sets `retries` (else the mesh's default may apply).
    pub retries_written: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    Poisson,
    Constant,
    /// wrk2's pacing (giltene/wrk2 src/wrk.c): each load-generator pod runs `threads` event
    /// loops of `connections / threads` connections; a thread opens its connections 5 ms
    /// apart and each connection sends on a fixed schedule from its own start, so all
    /// threads' connection `i` send together once per period of a pod's connections over
    /// its rate.
    Wrk2 {
        threads: u32,
    },
}

/// Closed-loop load: `connections` each send a request, wait for its answer (or failure),
/// optionally think, and send the next, as wrk, oha or fortio `-c` do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClosedLoop {
    pub connections: u32,
    /// Pause between an answer and the next request on the same connection.
    pub think: Option<ServiceTime>,
    /// Per-connection rate cap (fortio `-qps` with `-c`): at least this long between two sends
    /// of one connection.
    pub min_gap_ns: Option<u64>,
}

/// Load at an entry service: open loop (a rate) or closed loop (connections).
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    pub to: ServiceId,
    pub rate_rps: f64,
    /// A service whose pods send the requests (a meshed load generator); `None`: from outside.
    pub from: Option<ServiceId>,
    /// How ticks of the load are spaced: constant gaps, or exponential ones (Poisson).
    pub arrival: Arrival,
    /// Connections the load is sent over (≥ 1). The load generator opens them together and
    /// keeps them in phase, as fortio does: each tick sends one request on every connection
    /// at the same instant, and ticks come at `rate_rps / connections` (constant or Poisson
    /// as `arrival` says). At a fixed rate, more connections mean larger bursts, so queueing
    /// in the proxies grows with the connection count. 1 (the default) is one request per tick.
    pub connections: u32,
    pub connection: ConnectionReuse,
    pub timeout_ns: Option<u64>,
    pub retries: u32,
    /// Whether the file sets `retries` (else the mesh's default may apply).
    pub retries_written: bool,
    /// Closed-loop load instead of the rate (then `rate_rps` is the cap over all connections,
    /// 0 when uncapped).
    pub closed: Option<ClosedLoop>,
}

/// Connection stagger within a wrk2 thread: `aeCreateTimeEvent(loop, i * 5, ...)` in
/// giltene/wrk2 src/wrk.c, "Stagger connects 5 msec apart within thread".
pub const WRK2_STAGGER_NS: u64 = 5_000_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Pod {
    pub name: String,
    pub service: ServiceId,
    pub node: NodeId,
}

impl Topology {
    pub fn service_by_name(&self, name: &str) -> Option<ServiceId> {
        self.services.iter().position(|s| s.name == name)
    }

    /// Set the rate of every load, keeping their proportions: `total_rps` is their sum.
    pub fn set_total_rate(&mut self, total_rps: f64) {
        let sum: f64 = self.loads.iter().map(|l| l.rate_rps).sum();
        let n = self.loads.len().max(1) as f64;
        for l in &mut self.loads {
            l.rate_rps = if sum > 0.0 { l.rate_rps / sum * total_rps } else { total_rps / n };
        }
    }

    /// [`Topology::set_total_rate`] for a rate from the command line or a sweep: the total
    /// and every load's share of it must be within the ranges a file's rates have.
    pub fn set_total_rate_checked(&mut self, total_rps: f64) -> Result<(), String> {
        if !(total_rps > 0.0 && total_rps.is_finite()) {
            return Err(format!("{} must be more than zero", crate::limits::fmt_number(total_rps)));
        }
        check_total_rate(total_rps)?;
        if let Some(l) = self.loads.iter().find(|l| l.closed.is_some()) {
            return Err(format!(
                "the load to `{}` is closed-loop: its rate comes out of the simulation; change its `connections` instead",
                self.services[l.to].name
            ));
        }
        self.set_total_rate(total_rps);
        for l in &self.loads {
            check_rate(l.rate_rps).map_err(|e| format!("the load to `{}` would get {e}", self.services[l.to].name))?;
        }
        Ok(())
    }

    pub fn total_rate_rps(&self) -> f64 {
        self.loads.iter().map(|l| l.rate_rps).sum()
    }
}

/// Read and validate a topology file.
pub fn load(path: &Path) -> Result<Topology, InputErrors> {
    let text = crate::input_file::read_text(path, "topology")?;
    parse(path, &text)
}
