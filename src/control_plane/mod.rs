//! The mesh's control plane as workloads: istiod for Istio's proxies; Linkerd's destination,
//! identity and proxy-injector for its sidecars. Which components a deployment runs follows
//! from the proxy kinds it deploys and the profile's `[control_plane]` table; each component
//! has a cost model file ([`model`]). Its replicas are pods placed on nodes ([`place`]), and
//! their steady CPU runs there as periodic work that contends for the node's cores like any
//! pod's.
//!
//! ```text
//! memory = replicas x (base + per_service x services + per_endpoint x pods)
//!          + per_proxy x proxies + per_proxy_service x (services in each proxy's configuration, summed)
//! cpu    = replicas x base + per_proxy x proxies + per_certificate x certificates signed per second
//! certificates signed per second = certificates held / (ttl x renew_at)
//! ```
//!
//! A proxy's configuration is [`ProxyInstance::endpoints`]; in services it is
//! `endpoints x services / pods` (exact when it holds the whole mesh). Certificates held: one
//! per sidecar and per waypoint replica; a ztunnel or node proxy one per workload identity on its
//! node (ztunnel "will request certificates for all identities on the node", istio/ztunnel
//! ARCHITECTURE.md). A steady cluster pushes no configuration and sees no watch events, so those
//! terms are zero here.

pub mod model;
pub mod place;

use std::path::PathBuf;

use crate::input_error::{InputError, InputErrors};
use crate::model::CostModels;
use crate::placement::{Deployment, ProxyInstance};
use crate::sim::PeriodicWork;
use crate::topology::{profile::Profile, NodeId, ProxyKind, Topology};
pub use model::ComponentModel;

/// Interval of a replica's periodic work: its steady CPU arrives as one job every 100 ms,
/// the kernel's CFS period, so a job is small against what the node's other work waits for.
pub const PERIODIC_INTERVAL_NS: u64 = 100_000_000;

/// The control-plane component models of a profile, by the proxy kind they serve.
#[derive(Clone, Debug, Default)]
pub struct ControlPlaneModels {
    pub components: Vec<ComponentModel>,
    /// For each proxy kind with a control plane, the indices of its components.
    pub by_kind: Vec<(ProxyKind, Vec<usize>)>,
}

impl ControlPlaneModels {
    /// Load the component models a profile names (none without a profile); every problem in
    /// every file is reported together.
    pub fn load(profile: Option<&Profile>) -> Result<ControlPlaneModels, InputErrors> {
        let mut m = ControlPlaneModels::default();
        let Some(p) = profile else { return Ok(m) };
        let mut paths: Vec<PathBuf> = Vec::new();
        let mut errors: Vec<InputError> = Vec::new();
        for (kind, files) in &p.control_plane {
            let mut ids = Vec::new();
            for f in files {
                let id = match paths.iter().position(|x| x == f) {
                    Some(i) => i,
                    None => {
                        paths.push(f.clone());
                        paths.len() - 1
                    }
                };
                ids.push(id);
            }
            m.by_kind.push((*kind, ids));
        }
        for path in &paths {
            match model::load(path) {
                Ok(c) => m.components.push(c),
                Err(e) => errors.extend(e.0),
            }
        }
        if errors.is_empty() {
            Ok(m)
        } else {
            Err(InputErrors(errors))
        }
    }

    pub fn components_of(&self, kind: ProxyKind) -> &[usize] {
        self.by_kind.iter().find(|(k, _)| *k == kind).map(|(_, v)| v.as_slice()).unwrap_or(&[])
    }
}

/// The steady figures of one control-plane component in one deployment.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentFigures {
    pub name: String,
    pub model: PathBuf,
    pub replicas: u32,
    /// The node of each replica, and its name.
    pub nodes: Vec<NodeId>,
    pub node_names: Vec<String>,
    pub cpu_request_millicores: f64,
    pub memory_request_bytes: u64,
    /// Proxies it serves (connected to it, or whose certificates it signs).
    pub proxies: usize,
    pub services: usize,
    pub endpoints: usize,
    /// Services in the served proxies' configurations, summed over the proxies.
    pub config_services: f64,
    /// Workload certificates the served proxies hold, and their signings per second (0 for
    /// a component that signs none).
    pub certificates: f64,
    pub signings_per_s: f64,
    /// Steady CPU and memory of all replicas together.
    pub cpu_millicores: f64,
    pub mem_bytes: f64,
    /// The terms its model leaves out (not published or not measured), by name.
    pub left_out: Vec<&'static str>,
    /// The range of connected proxies per replica its per-proxy memory terms were fitted at,
    /// when this deployment's are outside it (its memory is then an extrapolation).
    pub extrapolated_from: Option<(u64, u64)>,
    pub source: String,
}

impl ComponentFigures {
    pub fn cpu_millicores_per_replica(&self) -> f64 {
        self.cpu_millicores / f64::from(self.replicas.max(1))
    }
    pub fn mem_bytes_per_replica(&self) -> f64 {
        self.mem_bytes / f64::from(self.replicas.max(1))
    }
}

/// The control plane of one deployment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ControlPlane {
    pub components: Vec<ComponentFigures>,
    /// Proxy kinds the deployment runs whose control plane the profile does not model.
    pub unmodelled_kinds: Vec<ProxyKind>,
    /// Replicas that do not fit their requests on any allowed node (placed on the least
    /// allocated one all the same), as `component-replica on node`.
    pub unfitted: Vec<String>,
}

/// Workload certificates a proxy holds: one for its own identity, or, for a node-level proxy,
/// one per identity of its node's workloads.
pub fn certificates_held(p: &ProxyInstance) -> f64 {
    match p.kind {
        ProxyKind::Sidecar | ProxyKind::Waypoint => 1.0,
        ProxyKind::Ztunnel | ProxyKind::NodeProxy => p.identities.len() as f64,
    }
}

impl ControlPlane {
    /// The control plane `d` runs, with its steady figures and its replicas placed.
    pub fn for_deployment(t: &Topology, d: &Deployment, proxy_models: &CostModels, models: &ControlPlaneModels) -> ControlPlane {
        let mut cp = ControlPlane::default();
        let (services, pods) = (t.services.len(), t.pods.len());
        let services_per_pod = if pods > 0 { services as f64 / pods as f64 } else { 0.0 };
        for kind in ProxyKind::ALL {
            if d.proxies.iter().any(|p| p.kind == kind) && models.components_of(kind).is_empty() {
                cp.unmodelled_kinds.push(kind);
            }
        }
        for (id, m) in models.components.iter().enumerate() {
            let served: Vec<&ProxyInstance> = d.proxies.iter().filter(|p| models.components_of(p.kind).contains(&id)).collect();
            if served.is_empty() {
                continue;
            }
            let replicas = t.control_plane.replicas.unwrap_or(m.replicas);
            let r = f64::from(replicas);
            let n = served.len() as f64;
            let config_services: f64 = served.iter().map(|p| f64::from(p.endpoints) * services_per_pod).sum();
            let certificates: f64 = if m.certificates.is_some() { served.iter().map(|p| certificates_held(p)).sum() } else { 0.0 };
            let signings_per_s = m.certificates.map(|c| c.signings_per_s(certificates)).unwrap_or(0.0);
            let term = |x: Option<u64>| x.unwrap_or(0) as f64;
            let mem_bytes = r
                * (m.mem_base_bytes as f64
                    + term(m.mem_per_service_bytes) * services as f64
                    + term(m.mem_per_endpoint_bytes) * pods as f64)
                + term(m.mem_per_proxy_bytes) * n
                + term(m.mem_per_proxy_service_bytes) * config_services;
            let cpu_millicores = r * m.cpu_base_millicores
                + m.cpu_per_proxy_millicores.unwrap_or(0.0) * n
                + signings_per_s * m.cpu_per_certificate_ns.unwrap_or(0) as f64 / 1e6;
            let mut left_out = Vec::new();
            for (absent, label) in [
                (m.mem_per_proxy_bytes.is_none(), "memory.per_proxy"),
                (m.mem_per_proxy_service_bytes.is_none(), "memory.per_proxy_service"),
                (m.mem_per_service_bytes.is_none(), "memory.per_service"),
                (m.mem_per_endpoint_bytes.is_none(), "memory.per_endpoint"),
                (m.cpu_per_proxy_millicores.is_none(), "cpu.per_proxy"),
            ] {
                if absent {
                    left_out.push(label);
                }
            }
            cp.components.push(ComponentFigures {
                name: m.name.clone(),
                model: m.source.clone(),
                replicas,
                nodes: Vec::new(),
                node_names: Vec::new(),
                cpu_request_millicores: t.control_plane.cpu_request_millicores.unwrap_or(m.cpu_request_millicores),
                memory_request_bytes: t.control_plane.memory_request_bytes.unwrap_or(m.memory_request_bytes),
                proxies: served.len(),
                services,
                endpoints: pods,
                config_services,
                certificates,
                signings_per_s,
                cpu_millicores,
                mem_bytes,
                left_out,
                // Said only where the extrapolated terms are a tenth or more of its memory.
                extrapolated_from: m.fitted_proxies.filter(|&(lo, hi)| {
                    let per_replica = n / r.max(1.0);
                    let per_proxy_terms = term(m.mem_per_proxy_bytes) * n + term(m.mem_per_proxy_service_bytes) * config_services;
                    (per_replica < lo as f64 || per_replica > hi as f64) && per_proxy_terms >= 0.1 * mem_bytes
                }),
                source: m.provenance.get("source").cloned().unwrap_or_default(),
            });
        }
        place::place(t, d, proxy_models, &mut cp);
        cp
    }

    pub fn cpu_millicores(&self) -> f64 {
        self.components.iter().map(|c| c.cpu_millicores).sum()
    }

    pub fn mem_bytes(&self) -> f64 {
        self.components.iter().map(|c| c.mem_bytes).sum()
    }

    /// Each replica's steady CPU as periodic work on its node, in component then replica order.
    pub fn periodic_work(&self, t: &Topology) -> Vec<PeriodicWork> {
        let mut work = Vec::new();
        for c in &self.components {
            for (i, &node) in c.nodes.iter().enumerate() {
                let speed = t.nodes[node].speed;
                let job_ns = c.cpu_millicores_per_replica() / 1000.0 * PERIODIC_INTERVAL_NS as f64 / speed;
                work.push(PeriodicWork {
                    name: format!("control-plane/{}-{}", c.name, i + 1),
                    node: node as u32,
                    request_millicores: c.cpu_request_millicores,
                    job_ns: job_ns.round() as u64,
                    every_ns: PERIODIC_INTERVAL_NS,
                    memory_bytes: c.mem_bytes_per_replica(),
                });
            }
        }
        work
    }
}
