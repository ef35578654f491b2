//! `control-plane outage`: the mesh's control plane down from `fail_at` for `outage`. Pure:
//! topology, deployment and control plane in; the scenario and the topology it runs out.
//!
//! The outage runs as a `control-plane-outage` churn entry ([`crate::churn`]): existing proxies
//! keep serving with the configuration they hold; a pod the topology's `[[churn]]` creates in
//! the window gets no configuration or certificate, so it is not Ready until the control plane
//! is back; when it is back every proxy reconnects and is pushed its whole configuration (the
//! recovery time). Certificates: a workload certificate is renewed `renew_at` into its
//! lifetime `ttl`, so in a steady cluster the certificates' issue times are spread evenly over
//! the last `ttl x renew_at` ([`issue_age`]); one whose renewal falls in the window cannot be renewed, and if it
//! also expires in the window its workloads refuse connections (mTLS needs it) from its expiry
//! until the control plane is back.

use std::collections::BTreeMap;

use super::scenario::{Scenario, ScenarioKind};
use crate::control_plane::{ControlPlane, ControlPlaneModels};
use crate::placement::Deployment;
use crate::sim::{Fault, FaultEffect};
use crate::topology::churn::{ChurnEvent, ChurnKind};
use crate::topology::{BlastConfig, ProxyKind, Topology};

/// The scenario's name in every output.
pub const NAME: &str = "control-plane outage";

/// Certificates of one component in the outage window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CertificateExpiry {
    /// Workload certificates the component's proxies hold.
    pub held: u64,
    /// Of those, the ones that expire before the control plane is back.
    pub expired: u64,
    /// The faults of their workloads: refused from expiry until the control plane is back.
    pub faults: Vec<Fault>,
}

/// Which stations lose mTLS when each certificate a proxy holds expires: a sidecar's pod and
/// itself; a waypoint itself; a ztunnel's or node proxy's, per identity, that identity's pods
/// on its node.
fn certificate_holders(t: &Topology, d: &Deployment, kinds: &[ProxyKind]) -> Vec<Vec<u32>> {
    let offset = t.pods.len();
    // Pods by (node, service), once: a node-level proxy holds one certificate per identity.
    let mut on_node: BTreeMap<(usize, usize), Vec<u32>> = BTreeMap::new();
    for (i, pod) in t.pods.iter().enumerate() {
        on_node.entry((pod.node, pod.service)).or_default().push(i as u32);
    }
    let mut holders = Vec::new();
    for (x, p) in d.proxies.iter().enumerate().filter(|(_, p)| kinds.contains(&p.kind)) {
        let station = (offset + x) as u32;
        match p.kind {
            ProxyKind::Sidecar => holders.push(p.pod.map(|pod| vec![pod as u32, station]).unwrap_or_else(|| vec![station])),
            ProxyKind::Waypoint => holders.push(vec![station]),
            ProxyKind::Ztunnel | ProxyKind::NodeProxy => {
                holders.extend(p.identities.iter().map(|&id| on_node.get(&(p.node, id)).cloned().unwrap_or_default()));
            }
        }
    }
    holders
}

/// How long before the outage the `i`-th holder's certificate was issued, as a share of the
/// renewal interval: `(0.5 + i / phi) mod 1`, spread evenly over [0, 1) for any count (a
/// Weyl sequence), in no relation to the holders' order.
pub fn issue_age(i: usize) -> f64 {
    const INV_PHI: f64 = 0.618_033_988_749_894_8;
    (0.5 + i as f64 * INV_PHI).fract()
}

/// The certificates each signing component's proxies hold, which of them expire within
/// `[start, end)`, and the faults that follow.
pub fn certificate_expiry(
    t: &Topology,
    d: &Deployment,
    models: &ControlPlaneModels,
    start: u64,
    end: u64,
) -> Vec<(String, CertificateExpiry)> {
    let mut out = Vec::new();
    for (id, m) in models.components.iter().enumerate() {
        let Some(c) = m.certificates else { continue };
        let kinds: Vec<ProxyKind> = ProxyKind::ALL.into_iter().filter(|&k| models.components_of(k).contains(&id)).collect();
        let holders = certificate_holders(t, d, &kinds);
        if holders.is_empty() {
            continue;
        }
        let renew_every = c.ttl_ns as f64 * c.renew_at;
        let mut e = CertificateExpiry { held: holders.len() as u64, ..Default::default() };
        for (i, stations) in holders.into_iter().enumerate() {
            // Issued evenly over the last renewal interval before the outage, in an order
            // unrelated to the holders' (a golden-ratio sequence): holders come service by
            // service, and a plain `i / k` would put all of one service's renewals together.
            let issued = start as f64 - renew_every * issue_age(i);
            let expires = issued + c.ttl_ns as f64;
            if expires < end as f64 {
                e.expired += 1;
                if !stations.is_empty() {
                    let from = (expires.max(start as f64)).ceil() as u64;
                    e.faults.push(Fault { stations, start_ns: from, end_ns: Some(end), effect: FaultEffect::Down });
                }
            }
        }
        out.push((m.name.clone(), e));
    }
    out
}

/// The outage scenario of one placement.
#[derive(Clone, Debug)]
pub struct Outage {
    pub scenario: Scenario,
    /// The topology it runs: the original with the outage added to its churn.
    pub topology: Topology,
    /// Certificates per signing component.
    pub certificates: Vec<(String, CertificateExpiry)>,
}

/// The outage scenario for a deployment with a modelled control plane (none without one).
pub fn control_plane_outage(
    t: &Topology,
    d: &Deployment,
    cp: &ControlPlane,
    models: &ControlPlaneModels,
    b: &BlastConfig,
) -> Option<Outage> {
    if cp.components.is_empty() {
        return None;
    }
    let start = b.fail_at_ns;
    let end = start.saturating_add(b.outage_ns);
    let mut run = t.clone();
    let label = format!("control plane down for {}", crate::units::format_duration_ns(b.outage_ns));
    run.churn.events.push(ChurnEvent { kind: ChurnKind::ControlPlaneOutage, label, at_ns: start, end_ns: end, created: 0, removed: 0 });
    run.churn.control_plane_down.push((start, end));
    run.churn.control_plane_down.sort_unstable();
    let expiry = certificate_expiry(t, d, models, start, end);
    let names: Vec<&str> = cp.components.iter().map(|c| c.name.as_str()).collect();
    let scenario = Scenario {
        name: NAME.into(),
        kind: ScenarioKind::ControlPlaneOutage,
        target: None,
        target_name: names.join(" "),
        faults: expiry.iter().flat_map(|(_, e)| e.faults.iter().cloned()).collect(),
        background: Vec::new(),
        window_ns: (start, end.min(t.simulation.duration_ns).max(start.saturating_add(1))),
        note: String::new(),
    };
    Some(Outage { scenario, topology: run, certificates: expiry })
}

/// The scenario's note: certificates, and the recovery once the run has measured it. A
/// recovery whose push or apply CPU is not measured for this mesh (`left_out`) is a lower
/// bound, and says so.
pub fn note(
    expiry: &[(String, CertificateExpiry)],
    models: &ControlPlaneModels,
    recovery_ms: Option<f64>,
    pods_held: u64,
    left_out: &[String],
) -> String {
    let mut parts = Vec::new();
    match recovery_ms {
        Some(r) if left_out.is_empty() => parts.push(format!("every proxy configured again {r:.1} ms after the control plane's return")),
        Some(r) => parts.push(format!(
            "every proxy configured again at least {r:.1} ms after the control plane's return (not charged: {})",
            left_out.join(", ")
        )),
        None => parts.push("the control plane is still down at the run's end".into()),
    }
    if pods_held > 0 {
        parts.push(format!("{pods_held} pods Ready in the window reach no proxy until its return"));
    }
    for (name, e) in expiry {
        let c = models.components.iter().find(|m| &m.name == name).and_then(|m| m.certificates);
        let lifetime = c.map_or(String::new(), |c| {
            format!(" (ttl {}, renewed at {:.0}%)", crate::units::format_duration_ns(c.ttl_ns), c.renew_at * 100.0)
        });
        parts.push(format!("{name}: {} of {} certificates expire in the window{lifetime}", e.expired, e.held));
    }
    parts.join("; ")
}

/// Pods the topology's churn makes Ready within `[start, end)`: held back until the control
/// plane's return.
pub fn pods_held(t: &Topology, start: u64, end: u64) -> u64 {
    t.churn.pods.iter().filter(|(_, l)| l.ready.iter().any(|&(from, _)| from > 0 && from >= start && from < end)).count() as u64
}
