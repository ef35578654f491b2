//! What one component takes down or exposes, read off the placement alone (no simulation):
//! for every proxy instance and every node, the pods cut off when it fails, the edges and
//! share of end-user requests that pass through it, and, if it is compromised, the workload
//! identities it holds and the share of requests whose plaintext it sees. Pure.
//!
//! A pod is *cut off* by a component when every way to reach it (from outside or from any
//! pod, through any waypoint replica) passes that component. The *traffic share* of a
//! component is the probability that an end-user request, with its whole tree of calls, passes
//! it at least once (uniform load balancing, call probabilities and counts from the
//! topology). Every proxy in this model terminates mTLS for what it carries, so the plaintext
//! share of a proxy equals its traffic share; a node sees everything its pods and proxies see.
//!
//! Zones (a cluster's zone) and clusters are components too when a topology has more than
//! one: their failure is the failure of every node in them.

use std::collections::BTreeSet;

use crate::placement::{Deployment, Path, ProxyId, Stop};
use crate::topology::{NodeId, PodId, ServiceId, Topology};

/// One component that can fail or be compromised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    Proxy(ProxyId),
    Node(NodeId),
    /// A zone, by its index in [`zones`].
    Zone(usize),
    /// A cluster, by its index in [`clusters`].
    Cluster(usize),
}

/// The zones of a topology, as (cluster, zone) in order of first appearance among the nodes.
pub fn zones(t: &Topology) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for n in &t.nodes {
        if seen.insert((n.cluster.as_str(), n.zone.as_str())) {
            out.push((n.cluster.clone(), n.zone.clone()));
        }
    }
    out
}

/// The clusters of a topology, in order of first appearance among the nodes.
pub fn clusters(t: &Topology) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in &t.nodes {
        if !out.contains(&n.cluster) {
            out.push(n.cluster.clone());
        }
    }
    out
}

impl Component {
    /// Whether node `n` is (part of) the component; a proxy is not a node.
    pub fn holds_node(self, t: &Topology, zones: &[(String, String)], clusters: &[String], n: NodeId) -> bool {
        let node = &t.nodes[n];
        match self {
            Component::Proxy(_) => false,
            Component::Node(m) => m == n,
            Component::Zone(z) => zones.get(z).is_some_and(|(c, z)| *c == node.cluster && *z == node.zone),
            Component::Cluster(c) => clusters.get(c).is_some_and(|c| *c == node.cluster),
        }
    }
}

/// What a single component's failure or compromise reaches.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentImpact {
    pub component: Component,
    pub name: String,
    /// `sidecar`, `node-proxy`, `ztunnel`, `waypoint`, `node`, `zone` or `cluster`.
    pub kind: &'static str,
    pub node: String,
    /// Pods cut off when it fails.
    pub pods_cut: Vec<PodId>,
    /// Services with at least one pod cut off.
    pub services_cut: Vec<ServiceId>,
    /// Edges (loads and calls, by plan name) with at least one path through it.
    pub edges: Vec<String>,
    /// Share of end-user requests that pass it at least once.
    pub traffic_share: f64,
    /// Workload identities (service accounts) exposed when it is compromised.
    pub identities: Vec<ServiceId>,
    /// Share of end-user requests whose plaintext it can read.
    pub plaintext_share: f64,
    /// True when everything it carries belongs to load generators (the users' side): such
    /// components are reported but never picked as the worst of their kind.
    pub users_side_only: bool,
}

/// Min, mean and max of a figure over the components of one kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub mean: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(xs: impl IntoIterator<Item = f64>) -> Spread {
        let (mut min, mut max, mut sum, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
        for x in xs {
            min = min.min(x);
            max = max.max(x);
            sum += x;
            n += 1;
        }
        if n == 0 {
            Spread { min: 0.0, mean: 0.0, max: 0.0 }
        } else {
            Spread { min, mean: sum / n as f64, max }
        }
    }
}

/// The spread of one kind of component within a placement.
#[derive(Clone, Debug, PartialEq)]
pub struct KindSpread {
    pub kind: &'static str,
    pub count: usize,
    pub pods_cut: Spread,
    pub traffic_share: Spread,
    pub identities: Spread,
    pub plaintext_share: Spread,
}

/// Static blast radius of every component of a deployment.
#[derive(Clone, Debug, PartialEq)]
pub struct StaticAnalysis {
    pub components: Vec<ComponentImpact>,
}

/// Kinds in report order.
pub const KINDS: [&str; 7] = ["sidecar", "node-proxy", "ztunnel", "waypoint", "node", "zone", "cluster"];

/// Kinds that are places (everything on them fails together), not proxies.
pub const PLACE_KINDS: [&str; 3] = ["node", "zone", "cluster"];

impl StaticAnalysis {
    pub fn new(t: &Topology, d: &Deployment) -> StaticAnalysis {
        let mut comps: Vec<Component> = (0..d.proxies.len()).map(Component::Proxy).collect();
        comps.extend((0..t.nodes.len()).map(Component::Node));
        let (zones, clusters) = (zones(t), clusters(t));
        if zones.len() > 1 {
            comps.extend((0..zones.len()).map(Component::Zone));
        }
        if clusters.len() > 1 {
            comps.extend((0..clusters.len()).map(Component::Cluster));
        }
        let users: BTreeSet<ServiceId> = t
            .loads
            .iter()
            .filter_map(|l| l.from)
            .filter(|&s| !t.calls.iter().any(|c| c.to == s) && !t.loads.iter().any(|l| l.to == s))
            .collect();
        let places = Places { zones, clusters };
        let components = comps.into_iter().map(|c| impact(t, d, c, &users, &places)).collect();
        StaticAnalysis { components }
    }

    pub fn of_kind(&self, kind: &str) -> Vec<&ComponentImpact> {
        self.components.iter().filter(|c| c.kind == kind).collect()
    }

    /// Spread per kind, for the kinds present, in [`KINDS`] order.
    pub fn spreads(&self) -> Vec<KindSpread> {
        KINDS
            .iter()
            .filter_map(|&k| {
                let v = self.of_kind(k);
                (!v.is_empty()).then(|| KindSpread {
                    kind: k,
                    count: v.len(),
                    pods_cut: Spread::of(v.iter().map(|c| c.pods_cut.len() as f64)),
                    traffic_share: Spread::of(v.iter().map(|c| c.traffic_share)),
                    identities: Spread::of(v.iter().map(|c| c.identities.len() as f64)),
                    plaintext_share: Spread::of(v.iter().map(|c| c.plaintext_share)),
                })
            })
            .collect()
    }

    /// The components of a kind that may be picked for a dynamic run (not users' side only).
    pub fn candidates(&self, kind: &str) -> Vec<&ComponentImpact> {
        self.of_kind(kind).into_iter().filter(|c| !c.users_side_only).collect()
    }

    /// The worst component of a kind: the largest traffic share, then the most pods cut,
    /// then the first.
    pub fn worst(&self, kind: &str) -> Option<&ComponentImpact> {
        let mut best: Option<&ComponentImpact> = None;
        for c in self.candidates(kind) {
            let better = match best {
                None => true,
                Some(b) => {
                    c.traffic_share > b.traffic_share + 1e-12
                        || ((c.traffic_share - b.traffic_share).abs() <= 1e-12 && c.pods_cut.len() > b.pods_cut.len())
                }
            };
            if better {
                best = Some(c);
            }
        }
        best
    }

    /// A component of a kind picked by `seed` (the same seed picks the same one).
    pub fn seeded(&self, kind: &str, seed: u64) -> Option<&ComponentImpact> {
        let c = self.candidates(kind);
        if c.is_empty() {
            return None;
        }
        let salt = KINDS.iter().position(|&k| k == kind).unwrap_or(0) as u64;
        Some(c[(splitmix64(seed ^ (salt + 1).wrapping_mul(0x9e37_79b9)) % c.len() as u64) as usize])
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The zones and clusters a component index refers to.
struct Places {
    zones: Vec<(String, String)>,
    clusters: Vec<String>,
}

/// Whether a step of a path is (or runs on) the component.
fn stop_hits(t: &Topology, d: &Deployment, pl: &Places, c: Component, stop: Stop) -> bool {
    match (c, stop) {
        (Component::Proxy(x), Stop::Proxy { proxy, .. }) => proxy == x,
        (Component::Proxy(_), Stop::Pod(_)) => false,
        (_, Stop::Proxy { proxy, .. }) => c.holds_node(t, &pl.zones, &pl.clusters, d.proxies[proxy].node),
        (_, Stop::Pod(p)) => c.holds_node(t, &pl.zones, &pl.clusters, t.pods[p].node),
    }
}

fn path_hits(t: &Topology, d: &Deployment, pl: &Places, c: Component, src: Option<PodId>, p: &Path) -> bool {
    let src_hit = src.is_some_and(|s| c.holds_node(t, &pl.zones, &pl.clusters, t.pods[s].node));
    src_hit || p.steps.iter().any(|s| stop_hits(t, d, pl, c, s.stop))
}

fn impact(t: &Topology, d: &Deployment, c: Component, users: &BTreeSet<ServiceId>, pl: &Places) -> ComponentImpact {
    let waypoints = |s: ServiceId| d.waypoints(s).len().max(1);
    // Pods cut off: every way in passes the component.
    let sources: Vec<Option<PodId>> = std::iter::once(None).chain((0..t.pods.len()).map(Some)).collect();
    let pods_cut: Vec<PodId> = (0..t.pods.len())
        .filter(|&p| {
            let w = waypoints(t.pods[p].service);
            sources
                .iter()
                .filter(|&&s| s != Some(p))
                .all(|&s| (0..w).all(|w| d.path(t, s, p, w).steps.iter().any(|st| stop_hits(t, d, pl, c, st.stop))))
        })
        .collect();
    let services_cut: BTreeSet<ServiceId> = pods_cut.iter().map(|&p| t.pods[p].service).collect();

    // Edges with a path through it.
    let mut edges = Vec::new();
    let edge_hit = |from: Vec<Option<PodId>>, to: ServiceId| {
        from.iter()
            .any(|&s| t.services[to].pods.iter().any(|&p| (0..waypoints(to)).any(|w| path_hits(t, d, pl, c, s, &d.path(t, s, p, w)))))
    };
    for l in &t.loads {
        let from: Vec<Option<PodId>> = match l.from {
            Some(s) => t.services[s].pods.iter().map(|&p| Some(p)).collect(),
            None => vec![None],
        };
        if edge_hit(from, l.to) {
            let src = l.from.map(|s| t.services[s].name.as_str()).unwrap_or("(outside)");
            edges.push(format!("{src} -> {}", t.services[l.to].name));
        }
    }
    for call in &t.calls {
        let from = t.services[call.from].pods.iter().map(|&p| Some(p)).collect();
        if edge_hit(from, call.to) {
            edges.push(format!("{} -> {}", t.services[call.from].name, t.services[call.to].name));
        }
    }

    // Probability that a request's call tree, entered at pod p, avoids the component.
    let mut avoid: Vec<Option<f64>> = vec![None; t.pods.len()];
    let order = petgraph::algo::toposort(&t.call_graph, None).unwrap_or_default();
    for n in order.iter().rev() {
        let s = t.call_graph[*n];
        for &p in &t.services[s].pods {
            let mut a = 1.0;
            for &ci in &t.services[s].calls {
                let call = &t.calls[ci];
                let dst = &t.services[call.to].pods;
                let w = waypoints(call.to);
                let mut through = 0.0;
                for &q in dst {
                    for wi in 0..w {
                        if !path_hits(t, d, pl, c, Some(p), &d.path(t, Some(p), q, wi)) {
                            through += avoid[q].unwrap_or(1.0);
                        }
                    }
                }
                let per_call = through / (dst.len() * w) as f64;
                a *= ((1.0 - call.probability) + call.probability * per_call).powi(call.count as i32);
            }
            let own = if stop_hits(t, d, pl, c, Stop::Pod(p)) { 0.0 } else { 1.0 };
            avoid[p] = Some(a * own);
        }
    }
    let total = t.total_rate_rps();
    let mut avoided = 0.0;
    for l in &t.loads {
        let share = if total > 0.0 { l.rate_rps / total } else { 1.0 / t.loads.len() as f64 };
        let from: Vec<Option<PodId>> = match l.from {
            Some(s) => t.services[s].pods.iter().map(|&p| Some(p)).collect(),
            None => vec![None],
        };
        let dst = &t.services[l.to].pods;
        let w = waypoints(l.to);
        let mut sum = 0.0;
        for &s in &from {
            for &q in dst {
                for wi in 0..w {
                    if !path_hits(t, d, pl, c, s, &d.path(t, s, q, wi)) {
                        sum += avoid[q].unwrap_or(1.0);
                    }
                }
            }
        }
        avoided += share * sum / (from.len() * dst.len() * w) as f64;
    }
    let traffic_share = (1.0 - avoided).clamp(0.0, 1.0);

    let (name, kind, node, identities, serves): (String, &'static str, NodeId, Vec<_>, Vec<_>) = match c {
        Component::Proxy(x) => {
            let p = &d.proxies[x];
            (p.name.clone(), p.kind.as_str(), p.node, p.identities.clone(), p.serves_pods.clone())
        }
        place => {
            let on = |n: NodeId| place.holds_node(t, &pl.zones, &pl.clusters, n);
            let mut ids: BTreeSet<ServiceId> = t.pods.iter().filter(|p| on(p.node)).map(|p| p.service).collect();
            let mut serves: BTreeSet<PodId> = (0..t.pods.len()).filter(|&p| on(t.pods[p].node)).collect();
            for p in d.proxies.iter().filter(|p| on(p.node)) {
                ids.extend(p.identities.iter().copied());
                serves.extend(p.serves_pods.iter().copied());
            }
            let (name, kind, node) = match place {
                Component::Zone(z) => (format!("zone/{}", pl.zones[z].1), "zone", (0..t.nodes.len()).find(|&n| on(n)).unwrap_or(0)),
                Component::Cluster(k) => {
                    (format!("cluster/{}", pl.clusters[k]), "cluster", (0..t.nodes.len()).find(|&n| on(n)).unwrap_or(0))
                }
                _ => {
                    let n = (0..t.nodes.len()).find(|&n| on(n)).unwrap_or(0);
                    (format!("node/{}", t.nodes[n].name), "node", n)
                }
            };
            (name, kind, node, ids.into_iter().collect(), serves.into_iter().collect())
        }
    };
    let users_side_only = !serves.is_empty() && serves.iter().all(|&p| users.contains(&t.pods[p].service));
    ComponentImpact {
        component: c,
        name,
        kind,
        node: match c {
            Component::Zone(z) => pl.zones[z].1.clone(),
            Component::Cluster(k) => pl.clusters[k].clone(),
            _ => t.nodes[node].name.clone(),
        },
        pods_cut,
        services_cut: services_cut.into_iter().collect(),
        edges,
        traffic_share,
        identities,
        plaintext_share: traffic_share,
        users_side_only,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::Placement;

    fn faces() -> Topology {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/faces.toml");
        let text = std::fs::read_to_string(&path).expect("faces.toml");
        crate::topology::parse(&path, &text).expect("valid")
    }

    fn check(placement: Placement, name: &str, pods_cut: usize, identities: usize, share: f64) {
        let t = faces();
        let d = Deployment::new(&t, placement, Default::default());
        let a = StaticAnalysis::new(&t, &d);
        let c = a.components.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("{name} not in {placement}"));
        assert_eq!(c.pods_cut.len(), pods_cut, "{name} pods cut");
        assert_eq!(c.identities.len(), identities, "{name} identities");
        assert!((c.traffic_share - share).abs() < 1e-9, "{name} traffic share {} != {share}", c.traffic_share);
    }

    #[test]
    fn one_sidecar_cuts_its_pod_and_a_third_of_requests() {
        check(Placement::Sidecar, "sidecar/face-1", 1, 1, 1.0 / 3.0);
        // smiley-1 is called by a face pod picked at random: 1/3 of requests.
        check(Placement::Sidecar, "sidecar/smiley-1", 1, 1, 1.0 / 3.0);
        check(Placement::Sidecar, "sidecar/smiley2-1", 1, 1, 0.0);
    }

    #[test]
    fn one_ztunnel_cuts_every_meshed_pod_on_its_node() {
        // 27 pods over 3 nodes; every service has one pod per node: 9 services there.
        check(Placement::Ambient, "ztunnel/gke-1", 9, 9, 1.0 - (2.0f64 / 3.0).powi(4));
        check(Placement::PerNode, "node-proxy/gke-1", 9, 9, 1.0 - (2.0f64 / 3.0).powi(4));
    }

    #[test]
    fn a_waypoint_replica_cuts_nothing_but_carries_its_share() {
        // Three replicas: a face request's three waypoint passes (face, smiley, color) avoid
        // replica 1 with probability (2/3)^3.
        check(Placement::Ambient, "waypoint/faces-1", 0, 8, 1.0 - (2.0f64 / 3.0).powi(3));
    }

    #[test]
    fn load_generator_sidecars_are_never_the_worst() {
        let t = faces();
        let d = Deployment::new(&t, Placement::Sidecar, Default::default());
        let a = StaticAnalysis::new(&t, &d);
        let w = a.worst("sidecar").expect("sidecars exist");
        assert!(!w.name.starts_with("sidecar/wrk2"), "{}", w.name);
        assert_eq!(a.seeded("sidecar", 5), a.seeded("sidecar", 5));
        let spreads = a.spreads();
        let s = spreads.iter().find(|s| s.kind == "sidecar").expect("spread");
        assert_eq!((s.pods_cut.min, s.pods_cut.max), (1.0, 1.0));
        assert_eq!(s.count, 27);
    }
}
