//! Churn of one deployment, compiled for the engine: from what each pod does when
//! ([`crate::topology::Churn`]) to the endpoint changes Kubernetes makes, who holds each
//! changed service (so who a push reaches), what each push costs the control plane and each
//! proxy, and the faults that keep a pod down while it is not running. Pure: topology,
//! deployment and models in; the engine's [`ChurnRun`] and faults out.
//!
//! A pod created while the control plane is down cannot get its configuration or certificate,
//! so it is not Ready until the control plane is back: its readiness waits for the outage's end.

pub mod summary;

use crate::config_scope::Endpoints;
use crate::control_plane::{ControlPlane, ControlPlaneModels};
use crate::model::CostModels;
use crate::placement::Deployment;
use crate::sim::churn::{ChurnRun, EndpointChange, Holder, Pusher};
use crate::sim::{Fault, FaultEffect};
use crate::topology::churn::FOREVER;
use crate::topology::{ProxyKind, Topology};
pub use summary::ChurnSummary;

/// The engine's churn for a deployment, with what the figures leave out.
#[derive(Clone, Debug, Default)]
pub struct ChurnSetup {
    pub run: ChurnRun,
    pub faults: Vec<Fault>,
    /// Workload certificates the churn's new pods need signed (a sidecar's per pod; a node
    /// proxy's or ztunnel's only for an identity new on its node).
    pub new_certificates: u64,
    /// Terms not modelled for this deployment, said beside the figures.
    pub left_out: Vec<String>,
}

impl ChurnSetup {
    /// Make a run's options carry this churn: its faults beside the run's own, and the
    /// engine's churn.
    pub fn add_to(&self, opts: &mut crate::sim::SimOptions) {
        opts.faults.extend(self.faults.iter().cloned());
        opts.churn = Some(self.run.clone());
    }
}

/// Compile `t.churn` for deployment `d`. `periodic_base` is the container index of the first
/// control-plane replica's periodic work (component then replica order, as
/// [`ControlPlane::periodic_work`] lists them).
pub fn compile(
    t: &Topology,
    d: &Deployment,
    models: &CostModels,
    cp_models: &ControlPlaneModels,
    cp: &ControlPlane,
    periodic_base: u32,
) -> Option<ChurnSetup> {
    if t.churn.is_empty() {
        return None;
    }
    let offset = t.pods.len();
    let stations = offset + d.proxies.len();
    let mut setup = ChurnSetup::default();
    let down = &t.churn.control_plane_down;
    let has_cp = !cp.components.is_empty();
    // Readiness waits for the control plane when it is down.
    let defer = |at: u64| -> u64 {
        if !has_cp {
            return at;
        }
        down.iter().find(|&&(from, until)| at >= from && at < until).map_or(at, |&(_, until)| until)
    };

    // Kubernetes' changes, in time order (ties by pod, adds before removals of the same pod).
    let mut raw: Vec<(u64, u32, bool)> = Vec::new();
    for (p, life) in &t.churn.pods {
        for &(from, until) in &life.ready {
            if from > 0 {
                raw.push((defer(from), *p as u32, true));
            }
            if until != FOREVER {
                raw.push((until, *p as u32, false));
            }
        }
    }
    raw.sort_by_key(|&(at, p, add)| (at, p, !add));
    // Each churned pod's windows of versions in which it is an endpoint; one that never is
    // gets an empty window `(MAX, MAX)`, so it is no version's endpoint.
    let mut membership: Vec<Vec<(u32, u32)>> = vec![Vec::new(); stations];
    let mut open: Vec<Option<u32>> = vec![None; offset];
    for (p, life) in &t.churn.pods {
        if life.ready.first().is_some_and(|w| w.0 == 0) {
            open[*p] = Some(0);
        }
    }
    for (k, &(at, p, add)) in raw.iter().enumerate() {
        let v = k as u32 + 1;
        if add {
            open[p as usize] = Some(v);
        } else if let Some(from) = open[p as usize].take() {
            membership[p as usize].push((from, v));
        }
        setup.run.changes.push(EndpointChange { at_ns: at, service: t.pods[p as usize].service as u32, station: p, add });
    }
    for (p, _) in &t.churn.pods {
        if let Some(from) = open[*p] {
            membership[*p].push((from, u32::MAX));
        }
        if membership[*p].is_empty() {
            membership[*p].push((u32::MAX, u32::MAX));
        }
    }
    setup.run.membership = membership;

    // Pods not running: down (their sidecars with them).
    let sidecar_of = |p: usize| d.proxies.iter().position(|x| x.kind == ProxyKind::Sidecar && x.pod == Some(p));
    for (p, life) in &t.churn.pods {
        let mut stations = vec![*p as u32];
        if let Some(x) = sidecar_of(*p) {
            stations.push((offset + x) as u32);
        }
        let mut at = 0u64;
        for &(from, until) in &life.running {
            let from = if life.added { defer(from) } else { from };
            if from > at {
                setup.faults.push(Fault { stations: stations.clone(), start_ns: at, end_ns: Some(from), effect: FaultEffect::Down });
            }
            at = until;
        }
        if at != FOREVER {
            setup.faults.push(Fault { stations, start_ns: at, end_ns: None, effect: FaultEffect::Down });
        }
    }

    // Control planes that push endpoints, and the proxies they serve.
    let held = Endpoints::new(t, d.scopes);
    let churned: Vec<bool> = {
        let mut v = vec![false; t.services.len()];
        for c in &setup.run.changes {
            v[c.service as usize] = true;
        }
        v
    };
    setup.run.holders = vec![Vec::new(); t.services.len()];
    setup.run.follows_pushes = vec![false; stations];
    setup.run.ztunnel = (0..stations).map(|s| s >= offset && d.proxies[s - offset].kind == ProxyKind::Ztunnel).collect();
    setup.run.service_pods = t.services.iter().map(|s| s.pods.iter().map(|&p| p as u32).collect()).collect();
    let mut periodic = periodic_base;
    for c in &cp.components {
        let first = periodic;
        periodic += c.nodes.len() as u32;
        let Some((id, m)) = cp_models.components.iter().enumerate().find(|(_, m)| m.source == c.model) else { continue };
        let Some(push) = m.push else { continue };
        let p = setup.run.pushers.len() as u32;
        let per_push = push.per_push_ns.map(|x| x as f64);
        let per_endpoint = push.per_endpoint_ns.map(|x| x as f64);
        if per_push.is_none() && per_endpoint.is_none() {
            setup.left_out.push(format!("{}: CPU per push (not measured)", m.name));
        }
        setup.run.pushers.push(Pusher {
            name: m.name.clone(),
            debounce_after_ns: push.debounce_after_ns,
            debounce_max_ns: push.debounce_max_ns,
            containers: (first..periodic).collect(),
            per_push_ns: per_push.unwrap_or(0.0),
            per_endpoint_ns: per_endpoint.unwrap_or(0.0),
        });
        let mut served = Vec::new();
        let mut unmeasured: Vec<&str> = Vec::new();
        for (x, proxy) in d.proxies.iter().enumerate() {
            if !cp_models.components_of(proxy.kind).contains(&id) {
                continue;
            }
            let apply = models.get(proxy.kind).and_then(|m| m.config_apply);
            if apply.is_none() && !unmeasured.contains(&proxy.kind.as_str()) {
                unmeasured.push(proxy.kind.as_str());
            }
            let apply = apply.unwrap_or_default();
            let station = (offset + x) as u32;
            let holder = Holder {
                station,
                pusher: p,
                replica: served.len() as u32 % (c.nodes.len().max(1) as u32),
                apply_ns: apply.base_ns,
                apply_per_endpoint_ns: apply.per_endpoint_ns,
                endpoints: proxy.endpoints,
            };
            setup.run.follows_pushes[station as usize] = true;
            served.push(holder);
            for s in (0..t.services.len()).filter(|&s| churned[s]) {
                if held.holds(proxy.kind, &proxy.serves_pods, s) {
                    setup.run.holders[s].push(holder);
                }
            }
        }
        for k in unmeasured {
            setup.left_out.push(format!("{k}: CPU of applying a push (not measured)"));
        }
        setup.run.served.push(served);
    }
    if has_cp && setup.run.pushers.is_empty() {
        setup.left_out.push("pushes: no control-plane model of this profile pushes endpoints ([push])".to_string());
    }
    setup.run.control_plane_down = if has_cp { down.clone() } else { Vec::new() };
    // A new pod's sidecar connects when the pod comes up and gets its whole configuration.
    for (p, life) in &t.churn.pods {
        let (Some(x), Some(&(from, _))) = (sidecar_of(*p), life.ready.first()) else { continue };
        if !life.added {
            continue;
        }
        let station = (offset + x) as u32;
        if let Some(h) = setup.run.served.iter().flatten().find(|h| h.station == station) {
            setup.run.first_pushes.push((defer(from), *h));
        }
    }

    // Certificates: a new pod's sidecar needs one; a node-level proxy one per identity new on its node.
    let mut on_node: std::collections::BTreeSet<(usize, usize)> = std::collections::BTreeSet::new();
    for (p, pod) in t.pods.iter().enumerate() {
        let added = t.churn.pods.iter().any(|(q, l)| *q == p && l.added);
        if !added {
            on_node.insert((pod.node, pod.service));
        }
    }
    for (p, life) in &t.churn.pods {
        if !life.added {
            continue;
        }
        let pod = &t.pods[*p];
        let node_level = || d.proxies.iter().any(|x| x.node == pod.node && x.kind != ProxyKind::Sidecar && x.serves_pods.contains(p));
        if sidecar_of(*p).is_some() || (node_level() && on_node.insert((pod.node, pod.service))) {
            setup.new_certificates += 1;
        }
    }
    Some(setup)
}
