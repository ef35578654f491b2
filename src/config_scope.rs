//! Configuration scope: which endpoints each proxy holds, so what its configuration costs in
//! memory (`memory.per_endpoint` × endpoints) and what a push to it carries.
//!
//! Two things decide it. What the mesh sends a proxy of a kind by default is a property of
//! the mesh, so of its cost model (`[config] scope`, [`DefaultScope`]): Istio's xDS sends a
//! sidecar every endpoint of the mesh and a ztunnel every workload, Linkerd's proxy resolves
//! only the destinations it calls, a waypoint holds the services it serves. The topology then
//! narrows it ([`Scoping`]: a `Sidecar` resource's egress hosts for sidecars, discovery
//! selectors for every proxy); the held set is always the intersection, so scoping never
//! raises what a proxy holds.
//!
//! Counting is linear: a sidecar's count is per service (its pods hold the same), in time
//! linear in the service's callees; a node-level proxy's is linear in its node's pods' callees.

pub use crate::topology::Scoping;
use crate::topology::{PodId, ProxyKind, ServiceId, SidecarScope, Topology};

/// What a mesh sends a proxy of one kind when nothing narrows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultScope {
    /// Every endpoint of the mesh (all pods of every service the control plane watches).
    Mesh,
    /// The endpoints of the services it sends calls to: a sidecar's its pod's callees, a node
    /// proxy's or ztunnel's its node's pods' callees, a waypoint's the pods it serves.
    Called,
}

impl DefaultScope {
    pub const NAMES: [&'static str; 2] = ["mesh", "called"];

    pub fn as_str(self) -> &'static str {
        match self {
            DefaultScope::Mesh => "mesh",
            DefaultScope::Called => "called",
        }
    }

    pub fn parse(s: &str) -> Option<DefaultScope> {
        match s {
            "mesh" => Some(DefaultScope::Mesh),
            "called" => Some(DefaultScope::Called),
            _ => None,
        }
    }

    /// The scope of a model that names none: Istio's, the mesh the per-endpoint figures of
    /// Envoy come from (a sidecar, node proxy and ztunnel hold the mesh, a waypoint what it serves).
    pub fn of_kind(kind: ProxyKind) -> DefaultScope {
        match kind {
            ProxyKind::Waypoint => DefaultScope::Called,
            ProxyKind::Sidecar | ProxyKind::NodeProxy | ProxyKind::Ztunnel => DefaultScope::Mesh,
        }
    }
}

/// The default scope of each proxy kind, from the cost models of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultScopes([DefaultScope; 4]);

impl Default for DefaultScopes {
    fn default() -> Self {
        DefaultScopes(ProxyKind::ALL.map(DefaultScope::of_kind))
    }
}

impl DefaultScopes {
    fn index(kind: ProxyKind) -> usize {
        ProxyKind::ALL.iter().position(|&k| k == kind).unwrap_or(0)
    }

    pub fn get(&self, kind: ProxyKind) -> DefaultScope {
        self.0[Self::index(kind)]
    }

    pub fn set(&mut self, kind: ProxyKind, scope: DefaultScope) {
        self.0[Self::index(kind)] = scope;
    }
}

/// Endpoint counts of one topology under its scoping and the models' defaults.
pub struct Endpoints<'t> {
    t: &'t Topology,
    defaults: DefaultScopes,
    /// Whether the control plane watches each namespace.
    watched: Vec<bool>,
    /// Pods of each namespace.
    pods_of_namespace: Vec<u64>,
    /// Pods of every watched namespace.
    watched_pods: u64,
    /// Services each service sends calls to (its calls, and the loads it generates), sorted.
    callees: Vec<Vec<ServiceId>>,
    /// Egress hosts of scoped sidecars: whole namespaces, single services, and the pods of
    /// single services by namespace (so a namespace held whole is not counted twice).
    egress_namespace: Vec<bool>,
    egress_service: Vec<bool>,
    egress_pods_in_namespace: Vec<u64>,
    /// Pods of every watched egress host, each counted once.
    egress_pods: u64,
}

impl<'t> Endpoints<'t> {
    pub fn new(t: &'t Topology, defaults: DefaultScopes) -> Endpoints<'t> {
        let scoping = &t.mesh.scoping;
        let n = t.namespaces.len().max(1);
        let mut watched = vec![scoping.discovery_namespaces.is_none(); n];
        for &id in scoping.discovery_namespaces.iter().flatten() {
            watched[id] = true;
        }
        let mut pods_of_namespace = vec![0u64; n];
        for s in &t.services {
            pods_of_namespace[s.namespace] += s.pods.len() as u64;
        }
        let watched_pods = (0..n).filter(|&i| watched[i]).map(|i| pods_of_namespace[i]).sum();
        let mut callees: Vec<Vec<ServiceId>> = t.services.iter().map(|s| s.calls.iter().map(|&c| t.calls[c].to).collect()).collect();
        for l in &t.loads {
            if let Some(from) = l.from {
                callees[from].push(l.to);
            }
        }
        for c in &mut callees {
            c.sort_unstable();
            c.dedup();
        }
        let mut egress_namespace = vec![false; n];
        for &id in &scoping.egress_namespaces {
            egress_namespace[id] = true;
        }
        let mut egress_service = vec![false; t.services.len()];
        let mut egress_pods_in_namespace = vec![0u64; n];
        for &s in &scoping.egress_services {
            egress_service[s] = true;
            egress_pods_in_namespace[t.services[s].namespace] += t.services[s].pods.len() as u64;
        }
        let egress_pods = (0..n).filter(|&i| watched[i] && egress_namespace[i]).map(|i| pods_of_namespace[i]).sum::<u64>()
            + (0..n).filter(|&i| watched[i] && !egress_namespace[i]).map(|i| egress_pods_in_namespace[i]).sum::<u64>();
        Endpoints {
            t,
            defaults,
            watched,
            pods_of_namespace,
            watched_pods,
            callees,
            egress_namespace,
            egress_service,
            egress_pods_in_namespace,
            egress_pods,
        }
    }

    fn pods(&self, s: ServiceId) -> u64 {
        self.t.services[s].pods.len() as u64
    }

    fn watched_service(&self, s: ServiceId) -> bool {
        self.watched[self.t.services[s].namespace]
    }

    /// Endpoints held by the sidecar of a pod of `service`.
    pub fn sidecar(&self, service: ServiceId) -> u32 {
        let callees = || self.callees[service].iter().filter(|&&c| self.watched_service(c)).map(|&c| self.pods(c)).sum::<u64>();
        let n = match (self.defaults.get(ProxyKind::Sidecar), self.t.mesh.scoping.sidecar) {
            // Only what it calls is sent, and every scope keeps its callees.
            (DefaultScope::Called, _) => callees(),
            (DefaultScope::Mesh, SidecarScope::Mesh) => self.watched_pods,
            (DefaultScope::Mesh, scope) => {
                let own = self.t.services[service].namespace;
                let own_whole = scope == SidecarScope::Namespace && !self.egress_namespace[own] && self.watched[own];
                let own_pods = if own_whole { self.pods_of_namespace[own] - self.egress_pods_in_namespace[own] } else { 0 };
                let held_already = |c: ServiceId| {
                    let ns = self.t.services[c].namespace;
                    self.egress_namespace[ns] || self.egress_service[c] || (ns == own && own_whole)
                };
                let rest: u64 =
                    self.callees[service].iter().filter(|&&c| self.watched_service(c) && !held_already(c)).map(|&c| self.pods(c)).sum();
                self.egress_pods + own_pods + rest
            }
        };
        n.min(u64::from(u32::MAX)) as u32
    }

    /// Endpoints held by a node proxy or ztunnel whose node runs `local` (the pods it serves).
    pub fn node_level(&self, kind: ProxyKind, local: &[PodId]) -> u32 {
        let n = match self.defaults.get(kind) {
            DefaultScope::Mesh => self.watched_pods,
            DefaultScope::Called => {
                let mut services: Vec<ServiceId> =
                    local.iter().flat_map(|&p| self.callees[self.t.pods[p].service].iter().copied()).collect();
                services.sort_unstable();
                services.dedup();
                services.iter().filter(|&&c| self.watched_service(c)).map(|&c| self.pods(c)).sum()
            }
        };
        n.min(u64::from(u32::MAX)) as u32
    }

    /// Endpoints held by a waypoint replica in front of `served` (the pods it sends calls to).
    pub fn waypoint(&self, served: &[PodId]) -> u32 {
        let n = match self.defaults.get(ProxyKind::Waypoint) {
            DefaultScope::Mesh => self.watched_pods,
            DefaultScope::Called => served.iter().filter(|&&p| self.watched_service(self.t.pods[p].service)).count() as u64,
        };
        n.min(u64::from(u32::MAX)) as u32
    }

    /// Whether a proxy of `kind` holds the endpoints of service `s`: the same rule its count
    /// follows. `serves` is what the proxy serves: its pod (a sidecar), its node's pods (a
    /// node-level proxy), the pods it fronts (a waypoint). Pushes about `s` reach exactly these.
    pub fn holds(&self, kind: ProxyKind, serves: &[PodId], s: ServiceId) -> bool {
        if !self.watched_service(s) {
            return false;
        }
        let calls = |p: &PodId| self.callees[self.t.pods[*p].service].binary_search(&s).is_ok();
        match kind {
            ProxyKind::Sidecar => {
                let Some(&pod) = serves.first() else { return false };
                let own = self.t.pods[pod].service;
                let called = self.callees[own].binary_search(&s).is_ok();
                match (self.defaults.get(kind), self.t.mesh.scoping.sidecar) {
                    (DefaultScope::Called, _) => called,
                    (DefaultScope::Mesh, SidecarScope::Mesh) => true,
                    (DefaultScope::Mesh, scope) => {
                        let ns = self.t.services[s].namespace;
                        let own_ns = self.t.services[own].namespace;
                        let own_whole = scope == SidecarScope::Namespace && self.watched[own_ns];
                        called || self.egress_namespace[ns] || self.egress_service[s] || (own_whole && ns == own_ns)
                    }
                }
            }
            ProxyKind::NodeProxy | ProxyKind::Ztunnel => match self.defaults.get(kind) {
                DefaultScope::Mesh => true,
                DefaultScope::Called => serves.iter().any(calls),
            },
            ProxyKind::Waypoint => match self.defaults.get(kind) {
                DefaultScope::Mesh => true,
                DefaultScope::Called => serves.iter().any(|&p| self.t.pods[p].service == s),
            },
        }
    }
}
