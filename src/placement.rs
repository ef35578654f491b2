//! Placement: where the proxies of a data plane are, and which of them each call passes.
//! Pure: a topology and a placement in, proxy instances and paths out; no time involved.
//!
//! A run places every namespace alike ([`Layout::Uniform`]: the namespaces' own `placement`
//! keys are overridden, so a comparison's columns really differ) or as the topology writes
//! it ([`Layout::AsWritten`]: a mixed mesh). A call from pod `a` to pod `b` takes the source
//! side of `a`'s namespace placement and the destination side of `b`'s:
//!
//! | placement | source side            | destination side                          |
//! |-----------|------------------------|-------------------------------------------|
//! | none      | —                      | —                                         |
//! | sidecar   | a's sidecar (L7)       | b's sidecar (L7)                          |
//! | per-node  | node proxy of a (L4/L7)| node proxy of b (L4/L7, `mesh.per_node_l7`)|
//! | ambient   | ztunnel of a's node (L4)| waypoint of b, if any (L7), then ztunnel of b's node (L4) |

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::config_scope::{DefaultScopes, Endpoints};
pub use crate::topology::Placement;
use crate::topology::{ConnectionReuse, NodeId, PerNodeL7, PodId, ProxyKind, Topology, WaypointScope};

/// The placement of every namespace in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layout {
    /// Every namespace on one placement, whatever the namespaces name.
    Uniform(Placement),
    /// Each namespace on the placement it names (a mixed mesh); namespaces that inherit have
    /// no run placement to inherit here, and are not meshed.
    AsWritten,
}

impl Layout {
    /// The four uniform placements, in the usual column order.
    pub const UNIFORM: [Layout; 4] = [
        Layout::Uniform(Placement::None),
        Layout::Uniform(Placement::Sidecar),
        Layout::Uniform(Placement::PerNode),
        Layout::Uniform(Placement::Ambient),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Uniform(p) => p.as_str(),
            Layout::AsWritten => "as-written",
        }
    }

    /// The placement of each namespace of `t` under this layout.
    pub fn namespace_placements(self, t: &Topology) -> Vec<Placement> {
        t.namespaces
            .iter()
            .map(|n| match self {
                Layout::Uniform(p) => p,
                Layout::AsWritten => n.placement.unwrap_or(Placement::None),
            })
            .collect()
    }

    /// The layouts a comparison shows by default: the topology as written when it is a mixed
    /// mesh, then every uniform placement.
    pub fn defaults_for(t: &Topology) -> Vec<Layout> {
        let mut v = if is_mixed(t) { vec![Layout::AsWritten] } else { Vec::new() };
        v.extend(Layout::UNIFORM);
        v
    }
}

/// Whether some namespace of `t` names its own placement.
pub fn is_mixed(t: &Topology) -> bool {
    t.namespaces.iter().any(|n| n.placement.is_some())
}

impl From<Placement> for Layout {
    fn from(p: Placement) -> Layout {
        Layout::Uniform(p)
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "as-written" => Ok(Layout::AsWritten),
            other => other.parse::<Placement>().map(Layout::Uniform).map_err(|e| format!("{e}, or as-written")),
        }
    }
}

/// The protocol layer at which a proxy handles a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    L4,
    L7,
}

pub type ProxyId = usize;

/// One running proxy: a sidecar, a node proxy, a ztunnel or a waypoint replica.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyInstance {
    pub name: String,
    pub kind: ProxyKind,
    pub node: NodeId,
    /// The pod a sidecar lives in.
    pub pod: Option<PodId>,
    /// Endpoints of configuration the proxy holds (drives its memory): what its mesh sends a
    /// proxy of its kind, narrowed by the topology's scoping (`crate::config_scope`).
    pub endpoints: u32,
    /// Workload identities (service accounts) whose traffic or keys it holds.
    pub identities: Vec<usize>,
    /// Pods whose traffic it carries (for blast radius).
    pub serves_pods: Vec<PodId>,
}

/// Where one step of a call goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Proxy { proxy: ProxyId, layer: Layer },
    Pod(PodId),
}

/// One step of a call: the one-way network delay to reach it, then the stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub delay_ns: u64,
    pub stop: Stop,
}

/// The ordered steps of a call; the last is always the callee pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    pub steps: Vec<Step>,
}

impl Path {
    /// Network delay the response travels back (the same links in reverse).
    pub fn return_delay_ns(&self) -> u64 {
        self.steps.iter().map(|s| s.delay_ns).sum()
    }

    pub fn passes(&self) -> impl Iterator<Item = (ProxyId, Layer)> + '_ {
        self.steps.iter().filter_map(|s| match s.stop {
            Stop::Proxy { proxy, layer } => Some((proxy, layer)),
            Stop::Pod(_) => None,
        })
    }
}

/// The caller's side of a call: a path is a source side and a destination side, so paths
/// can be held per replica rather than per pair of replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceSide {
    /// The node the call leaves from (None: from outside the cluster).
    pub node: Option<NodeId>,
    /// The proxy on that node that takes the call first, reached at no network cost.
    pub hop: Option<Stop>,
}

impl SourceSide {
    /// One-way delay of the first step of a destination side that starts on node `to`
    /// (`to_pod`: with the callee pod itself), given the latency between two nodes.
    pub fn crossing_ns(&self, to: NodeId, to_pod: bool, latency_ns: impl Fn(NodeId, NodeId) -> u64) -> u64 {
        crossing_ns(self.node, self.hop.is_some(), to, to_pod, latency_ns)
    }
}

/// One-way delay from a source side leaving node `from` (None: from outside, at no cost;
/// `via_proxy`: through a proxy there) into a destination side starting on node `to`
/// (`to_pod`: with the callee pod itself).
#[inline]
pub fn crossing_ns(from: Option<NodeId>, via_proxy: bool, to: NodeId, to_pod: bool, latency_ns: impl Fn(NodeId, NodeId) -> u64) -> u64 {
    match from {
        // A pod on the caller's proxy's node is reached locally, as after any proxy on it.
        Some(h) if !(to_pod && via_proxy && h == to) => latency_ns(h, to),
        _ => 0,
    }
}

/// The callee's side of a call: its steps, the callee pod last; the first step's delay is
/// left at 0, as it depends on the source side ([`SourceSide::crossing_ns`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationSide {
    /// The node of its first step.
    pub node: NodeId,
    /// Whether its first step is the callee pod (no proxy on the destination side).
    pub to_pod: bool,
    pub steps: Vec<Step>,
}

/// A cluster's nodes per zone, each zone's ordered by (load, index).
type NodesByZone<'a> = BTreeMap<&'a str, BTreeSet<(usize, usize)>>;

/// A placement applied to a topology.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub layout: Layout,
    /// What the mesh sends each kind of proxy (from the cost models), which the endpoints follow.
    pub scopes: DefaultScopes,
    /// Effective placement of each namespace.
    pub namespace_placement: Vec<Placement>,
    pub proxies: Vec<ProxyInstance>,
    sidecar_of_pod: Vec<Option<ProxyId>>,
    node_proxy_of_node: Vec<Option<ProxyId>>,
    ztunnel_of_node: Vec<Option<ProxyId>>,
    /// Waypoint replicas in front of each service (empty: none).
    waypoints_of_service: Vec<Vec<ProxyId>>,
}

/// Expected passes per end-user request, by kind of proxy and layer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassCounts {
    pub total: f64,
    pub l7: f64,
    pub l4: f64,
    pub new_connection: f64,
    /// (kind, passes) for each proxy kind present.
    pub by_kind: Vec<(ProxyKind, f64)>,
    /// (kind, passes on edges that open a new connection per request) for each kind present.
    pub by_kind_new_connection: Vec<(ProxyKind, f64)>,
}

impl PassCounts {
    /// Passes per end-user request through proxies of one kind: (all, new-connection ones).
    pub fn of_kind(&self, kind: ProxyKind) -> (f64, f64) {
        let find = |v: &[(ProxyKind, f64)]| v.iter().find(|(k, _)| *k == kind).map(|x| x.1).unwrap_or(0.0);
        (find(&self.by_kind), find(&self.by_kind_new_connection))
    }
}

impl Deployment {
    /// Place the proxies of `placement` on `topology`, every namespace alike, each holding
    /// the configuration its mesh sends (`scopes`, from the cost models) as the topology scopes it.
    pub fn new(topology: &Topology, placement: Placement, scopes: DefaultScopes) -> Deployment {
        Deployment::for_layout(topology, Layout::Uniform(placement), scopes)
    }

    /// Place the proxies of a layout on `topology` (see [`Deployment::new`]).
    pub fn for_layout(topology: &Topology, layout: Layout, scopes: DefaultScopes) -> Deployment {
        let t = topology;
        let namespace_placement = layout.namespace_placements(t);
        let pod_placement = |p: PodId| namespace_placement[t.services[t.pods[p].service].namespace];
        let uses = |pl: Placement| namespace_placement.contains(&pl);
        let mut proxies = Vec::new();
        let mut sidecar_of_pod = vec![None; t.pods.len()];
        let mut node_proxy_of_node = vec![None; t.nodes.len()];
        let mut ztunnel_of_node = vec![None; t.nodes.len()];
        let mut waypoints_of_service = vec![Vec::new(); t.services.len()];
        let held = Endpoints::new(t, scopes);
        // Pods by node, in pod order: one pass, so per-node work below is linear in pods.
        let mut pods_of_node: Vec<Vec<PodId>> = vec![Vec::new(); t.nodes.len()];
        for (pid, pod) in t.pods.iter().enumerate() {
            pods_of_node[pod.node].push(pid);
        }
        // Services by namespace, for waypoints in front of a namespace.
        let mut services_of_namespace: Vec<Vec<usize>> = vec![Vec::new(); t.namespaces.len().max(1)];
        for (sid, s) in t.services.iter().enumerate() {
            if let Some(v) = services_of_namespace.get_mut(s.namespace) {
                v.push(sid);
            }
        }

        let mut sidecar_endpoints: Vec<Option<u32>> = vec![None; t.services.len()];
        for (pid, pod) in t.pods.iter().enumerate() {
            if pod_placement(pid) == Placement::Sidecar {
                // Every pod of a service holds the same: count once per service.
                let endpoints = *sidecar_endpoints[pod.service].get_or_insert_with(|| held.sidecar(pod.service));
                sidecar_of_pod[pid] = Some(proxies.len());
                proxies.push(ProxyInstance {
                    name: format!("sidecar/{}", pod.name),
                    kind: ProxyKind::Sidecar,
                    node: pod.node,
                    pod: Some(pid),
                    endpoints,
                    identities: vec![pod.service],
                    serves_pods: vec![pid],
                });
            }
        }
        // Node-level proxies run as DaemonSets: on every node once any namespace uses them.
        for (kind, pl, table) in [
            (ProxyKind::NodeProxy, Placement::PerNode, &mut node_proxy_of_node),
            (ProxyKind::Ztunnel, Placement::Ambient, &mut ztunnel_of_node),
        ] {
            if !uses(pl) {
                continue;
            }
            for (nid, node) in t.nodes.iter().enumerate() {
                let local: Vec<PodId> = pods_of_node[nid].iter().copied().filter(|&p| pod_placement(p) == pl).collect();
                let identities: BTreeSet<usize> = local.iter().map(|&p| t.pods[p].service).collect();
                let endpoints = held.node_level(kind, &local);
                table[nid] = Some(proxies.len());
                proxies.push(ProxyInstance {
                    name: format!("{}/{}", kind.as_str(), node.name),
                    kind,
                    node: nid,
                    pod: None,
                    endpoints,
                    identities: identities.into_iter().collect(),
                    serves_pods: local,
                });
            }
        }
        // Waypoints: replicas spread over the zones, then the nodes with the fewest pods.
        let mut node_load: Vec<usize> = pods_of_node.iter().map(Vec::len).collect();
        // Each cluster's zones, each with its nodes by (load, index): the least loaded node of
        // a zone is its first, so a replica is placed in time logarithmic in the nodes.
        let mut zones: BTreeMap<&str, NodesByZone> = BTreeMap::new();
        for (n, node) in t.nodes.iter().enumerate() {
            zones.entry(node.cluster.as_str()).or_default().entry(node.zone.as_str()).or_default().insert((node_load[n], n));
        }
        for (nsid, ns) in t.namespaces.iter().enumerate() {
            let (Placement::Ambient, Some(wp)) = (namespace_placement[nsid], ns.waypoint) else {
                continue;
            };
            // The namespace's services from the index above: a scan of every service for each
            // namespace made ambient's set-up quadratic in services.
            let own = &services_of_namespace[nsid];
            let groups: Vec<(String, Vec<usize>)> = match wp.scope {
                WaypointScope::Namespace => vec![(ns.name.clone(), own.clone())],
                WaypointScope::Service => own.iter().map(|&s| (format!("{}/{}", ns.name, t.services[s].name), vec![s])).collect(),
            };
            for (group, services) in groups {
                let served: Vec<PodId> = services.iter().flat_map(|&s| t.services[s].pods.iter().copied()).collect();
                // A waypoint deployment runs in every cluster where the pods it serves run
                // (as multi-cluster Istio deploys it), so traffic never detours to another region.
                let mut clusters: Vec<&str> = served.iter().map(|&p| t.nodes[t.pods[p].node].cluster.as_str()).collect();
                clusters.sort();
                clusters.dedup();
                let multi = clusters.len() > 1;
                let mut ids = Vec::new();
                for cluster in clusters {
                    let local: Vec<PodId> = served.iter().copied().filter(|&p| t.nodes[t.pods[p].node].cluster == cluster).collect();
                    let endpoints = held.waypoint(&local);
                    // Replicas spread over zones first (topology spread, as pods are), then nodes.
                    let mut in_zone: Vec<(&str, usize)> = Vec::new();
                    for r in 0..wp.replicas {
                        // The node of least (replicas in its zone, load, index) in the cluster.
                        let zone_count = |z: &str| in_zone.iter().find(|(x, _)| *x == z).map_or(0, |&(_, k)| k);
                        let in_cluster = zones.get_mut(cluster);
                        let best = in_cluster
                            .as_ref()
                            .and_then(|zs| zs.iter().filter_map(|(&z, set)| set.first().map(|&(load, n)| (zone_count(z), load, n))).min());
                        let node = match (best, in_cluster) {
                            (Some((_, load, n)), Some(zs)) => {
                                let set = zs.get_mut(t.nodes[n].zone.as_str()).expect("the node's zone is indexed");
                                set.remove(&(load, n));
                                set.insert((load + 1, n));
                                n
                            }
                            _ => 0,
                        };
                        node_load[node] += 1;
                        match in_zone.iter_mut().find(|(z, _)| *z == t.nodes[node].zone.as_str()) {
                            Some(e) => e.1 += 1,
                            None => in_zone.push((t.nodes[node].zone.as_str(), 1)),
                        }
                        ids.push(proxies.len());
                        let name =
                            if multi { format!("waypoint/{group}@{cluster}-{}", r + 1) } else { format!("waypoint/{group}-{}", r + 1) };
                        proxies.push(ProxyInstance {
                            name,
                            kind: ProxyKind::Waypoint,
                            node,
                            pod: None,
                            endpoints,
                            identities: services.clone(),
                            serves_pods: local.clone(),
                        });
                    }
                }
                for &s in &services {
                    waypoints_of_service[s] = ids.clone();
                }
            }
        }
        Deployment {
            layout,
            scopes,
            namespace_placement,
            proxies,
            sidecar_of_pod,
            node_proxy_of_node,
            ztunnel_of_node,
            waypoints_of_service,
        }
    }

    /// Which placement each namespace uses, as `namespace=placement` joined by `;`.
    pub fn describe_namespaces(&self, t: &Topology) -> String {
        t.namespaces.iter().zip(&self.namespace_placement).map(|(n, p)| format!("{}={p}", n.name)).collect::<Vec<_>>().join(";")
    }

    /// Add a replica of waypoint `of` on `node` (a replacement for a replica lost with its
    /// node), in front of every service `of` serves; returns its id.
    pub fn add_waypoint_replica(&mut self, of: ProxyId, node: NodeId, name: String) -> ProxyId {
        let id = self.proxies.len();
        let mut x = self.proxies[of].clone();
        x.node = node;
        x.name = name;
        self.proxies.push(x);
        for list in &mut self.waypoints_of_service {
            if list.contains(&of) {
                list.push(id);
            }
        }
        id
    }

    /// Waypoint replicas in front of a service (none outside ambient, or without a waypoint).
    pub fn waypoints(&self, service: usize) -> &[ProxyId] {
        &self.waypoints_of_service[service]
    }

    /// The caller's side of a call from `src` (None: from outside the cluster) to a pod of
    /// service `to`: the node it leaves from and the proxy there that takes it first, if any
    /// (reached at no network cost: it is in the pod or intercepts on its node).
    pub fn source_side(&self, t: &Topology, src: Option<PodId>, to: usize) -> SourceSide {
        let Some(s) = src else { return SourceSide { node: None, hop: None } };
        let src_node = t.pods[s].node;
        let l7 = t.services[to].protocol.is_l7();
        let hop = match self.namespace_placement[t.services[t.pods[s].service].namespace] {
            Placement::None => None,
            Placement::Sidecar => {
                Some(Stop::Proxy { proxy: self.sidecar_of_pod[s].expect("sidecar placed"), layer: if l7 { Layer::L7 } else { Layer::L4 } })
            }
            Placement::PerNode => {
                let want = matches!(t.mesh.per_node_l7, PerNodeL7::Source | PerNodeL7::Both);
                let layer = if want && l7 { Layer::L7 } else { Layer::L4 };
                Some(Stop::Proxy { proxy: self.node_proxy_of_node[src_node].expect("node proxy placed"), layer })
            }
            Placement::Ambient => Some(Stop::Proxy { proxy: self.ztunnel_of_node[src_node].expect("ztunnel placed"), layer: Layer::L4 }),
        };
        SourceSide { node: Some(src_node), hop }
    }

    /// The callee's side of a call to pod `dst` through waypoint replica `waypoint` (taken
    /// modulo the count): its steps to the pod, the first one's delay left at 0 (it depends
    /// on where the call comes from: [`SourceSide::crossing_ns`]).
    pub fn destination_side(&self, t: &Topology, dst: PodId, waypoint: usize) -> DestinationSide {
        let mut steps = Vec::with_capacity(3);
        let dst_node = t.pods[dst].node;
        let l7_ok = t.services[t.pods[dst].service].protocol.is_l7();
        let layer = |want_l7: bool| {
            if want_l7 && l7_ok {
                Layer::L7
            } else {
                Layer::L4
            }
        };
        // `here` is the node we are at; the first step's delay is the crossing's.
        let mut here: Option<NodeId> = None;
        let mut first: Option<NodeId> = None;
        let mut go = |steps: &mut Vec<Step>, node: NodeId, local: bool, stop: Stop| {
            // A hop to a proxy in the same pod or on the same node that intercepts it is folded
            // into that proxy's fixed latency; other hops pay the network.
            let delay_ns = match here {
                Some(h) if !(local && h == node) => t.network.latency_ns(&t.nodes, h, node),
                _ => 0,
            };
            here = Some(node);
            first.get_or_insert(node);
            steps.push(Step { delay_ns, stop });
        };
        match self.namespace_placement[t.services[t.pods[dst].service].namespace] {
            Placement::None => {}
            Placement::Sidecar => {
                // The inbound sidecar is reached over the network; the app behind it is local.
                go(
                    &mut steps,
                    dst_node,
                    false,
                    Stop::Proxy { proxy: self.sidecar_of_pod[dst].expect("sidecar placed"), layer: layer(true) },
                )
            }
            Placement::PerNode => {
                let l7 = matches!(t.mesh.per_node_l7, PerNodeL7::Destination | PerNodeL7::Both);
                go(
                    &mut steps,
                    dst_node,
                    false,
                    Stop::Proxy { proxy: self.node_proxy_of_node[dst_node].expect("node proxy placed"), layer: layer(l7) },
                )
            }
            Placement::Ambient => {
                let cluster = &t.nodes[dst_node].cluster;
                let mut wps = self.waypoints(t.pods[dst].service).iter().filter(|&&w| t.nodes[self.proxies[w].node].cluster == *cluster);
                let count = wps.clone().count();
                if let Some(&w) = wps.nth(waypoint % count.max(1)) {
                    go(&mut steps, self.proxies[w].node, false, Stop::Proxy { proxy: w, layer: layer(true) });
                }
                go(
                    &mut steps,
                    dst_node,
                    false,
                    Stop::Proxy { proxy: self.ztunnel_of_node[dst_node].expect("ztunnel placed"), layer: Layer::L4 },
                );
            }
        }
        let to_pod = steps.is_empty();
        // After a proxy on its node the pod is local; reached first, it is local to a caller's
        // proxy on that node (the crossing decides).
        go(&mut steps, dst_node, true, Stop::Pod(dst));
        DestinationSide { node: first.unwrap_or(dst_node), to_pod, steps }
    }

    /// The steps of a call from `src` (None: from outside the cluster, arriving at the
    /// callee's node) to pod `dst`, through waypoint replica `waypoint` (taken modulo the count):
    /// the source side's proxy, then the destination side.
    pub fn path(&self, t: &Topology, src: Option<PodId>, dst: PodId, waypoint: usize) -> Path {
        let s = self.source_side(t, src, t.pods[dst].service);
        let mut d = self.destination_side(t, dst, waypoint);
        d.steps[0].delay_ns = s.crossing_ns(d.node, d.to_pod, |a, b| t.network.latency_ns(&t.nodes, a, b));
        Path { steps: s.hop.map(|stop| Step { delay_ns: 0, stop }).into_iter().chain(d.steps).collect() }
    }

    /// Mean number of calls per end-user request over each call edge and each load, from the
    /// call graph: visits(s) = Σ loads into s + Σ calls into s of visits(caller) × count × probability.
    pub fn calls_per_request(t: &Topology) -> (Vec<f64>, Vec<f64>) {
        let total: f64 = t.total_rate_rps();
        let mut visits = vec![0.0; t.services.len()];
        let load_share: Vec<f64> =
            t.loads.iter().map(|l| if total > 0.0 { l.rate_rps / total } else { 1.0 / t.loads.len() as f64 }).collect();
        for (l, share) in t.loads.iter().zip(&load_share) {
            visits[l.to] += share;
        }
        let order = petgraph::algo::toposort(&t.call_graph, None).unwrap_or_default();
        let mut per_call = vec![0.0; t.calls.len()];
        for n in order {
            let s = t.call_graph[n];
            for &c in &t.services[s].calls {
                let call = &t.calls[c];
                let k = visits[s] * call.count as f64 * call.probability;
                per_call[c] = k;
                visits[call.to] += k;
            }
        }
        (per_call, load_share)
    }

    /// Expected passes per end-user request, averaging over replicas (uniform load balancing).
    pub fn pass_counts(&self, t: &Topology) -> PassCounts {
        let (per_call, per_load) = Self::calls_per_request(t);
        let mut counts = PassCounts::default();
        let mut by_kind: Vec<(ProxyKind, f64)> = ProxyKind::ALL.iter().map(|&k| (k, 0.0)).collect();
        let mut by_kind_new: Vec<(ProxyKind, f64)> = by_kind.clone();
        let mut add = |from_pods: &[Option<PodId>], to: usize, weight: f64, per_request: bool| {
            if weight == 0.0 {
                return;
            }
            let dst_pods = &t.services[to].pods;
            let nw = self.waypoints(to).len().max(1);
            let n = (from_pods.len() * dst_pods.len() * nw) as f64;
            let x = weight / n;
            // Passes over every (source, destination, waypoint) path, by layer and kind: a
            // source side's pass is on every path from it, a destination side's on every path to it.
            let mut layers = [0u64; 2];
            let mut kinds = [0u64; ProxyKind::ALL.len()];
            let mut tally = |proxy: ProxyId, layer: Layer, paths: usize| {
                layers[(layer == Layer::L7) as usize] += paths as u64;
                let k = ProxyKind::ALL.iter().position(|&k| k == self.proxies[proxy].kind).expect("every kind is listed");
                kinds[k] += paths as u64;
            };
            for &s in from_pods {
                if let Some(Stop::Proxy { proxy, layer }) = self.source_side(t, s, to).hop {
                    tally(proxy, layer, dst_pods.len() * nw);
                }
            }
            for &d in dst_pods {
                for w in 0..nw {
                    for st in self.destination_side(t, d, w).steps {
                        if let Stop::Proxy { proxy, layer } = st.stop {
                            tally(proxy, layer, from_pods.len());
                        }
                    }
                }
            }
            // One addition per pass, as a pass-by-pass sum makes, so the figures are the same
            // to the last bit.
            let add_times = |sum: &mut f64, times: u64| (0..times).for_each(|_| *sum += x);
            add_times(&mut counts.total, layers[0] + layers[1]);
            add_times(&mut counts.l4, layers[0]);
            add_times(&mut counts.l7, layers[1]);
            for (k, &times) in kinds.iter().enumerate() {
                if per_request {
                    add_times(&mut by_kind_new[k].1, times);
                }
                add_times(&mut by_kind[k].1, times);
            }
            if per_request {
                add_times(&mut counts.new_connection, layers[0] + layers[1]);
            }
        };
        for (l, load) in t.loads.iter().enumerate() {
            let from: Vec<Option<PodId>> = match load.from {
                Some(s) => t.services[s].pods.iter().map(|&p| Some(p)).collect(),
                None => vec![None],
            };
            add(&from, load.to, per_load[l], load.connection == ConnectionReuse::PerRequest);
        }
        for (c, call) in t.calls.iter().enumerate() {
            let from: Vec<Option<PodId>> = t.services[call.from].pods.iter().map(|&p| Some(p)).collect();
            add(&from, call.to, per_call[c], call.connection == ConnectionReuse::PerRequest);
        }
        counts.by_kind = by_kind.into_iter().filter(|(_, x)| *x > 0.0).collect();
        counts.by_kind_new_connection = by_kind_new.into_iter().filter(|(_, x)| *x > 0.0).collect();
        counts
    }
}
