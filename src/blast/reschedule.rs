//! What Kubernetes does with the pods of a failed node, zone or cluster: the node is marked
//! NotReady after `not_ready_after` (its pods leave the endpoints), its pods are evicted after
//! `reschedule_after` and replaced on surviving nodes of the same cluster by the topology's
//! spread rule, where the node's CPU and memory (requests, sidecars included) allow, and each
//! replacement serves after `pod_startup`. DaemonSet proxies (ztunnel, node proxy) belong to
//! their node and are never rescheduled; a sidecar comes back with its pod; a waypoint replica
//! is a Deployment's pod and is rescheduled like one. Pure: topology, deployment and settings
//! in; the topology and deployment with the replacements, and the faults to run, out.
//!
//! A replacement is in the simulated topology from the start, out of the endpoints (drained)
//! until it serves, so the engine needs no pods that appear mid-run.

use std::collections::HashMap;

use crate::model::CostModels;
use crate::placement::Deployment;
use crate::sim::{Fault, FaultEffect};
use crate::topology::{BlastConfig, NodeId, Pod, ProxyKind, Topology};
use crate::units::format_duration_ns;

/// The run of one node, zone or cluster failure with Kubernetes' response.
#[derive(Clone, Debug)]
pub struct Rescheduled {
    /// The topology with the replacement pods appended (the same as the input when none).
    pub topology: Topology,
    pub deployment: Deployment,
    pub faults: Vec<Fault>,
    /// Pods (waypoint replicas included) replaced on a surviving node.
    pub rescheduled: u32,
    /// Pods evicted whose replacement fits on no surviving node.
    pub unscheduled: Vec<String>,
    /// What happened, for the report.
    pub note: String,
}

/// A pod that needs a new node: an application pod (with its sidecar, if any) or a waypoint
/// replica (by proxy id in the original deployment).
enum Evicted {
    Pod(usize),
    Waypoint(usize),
}

/// Plan the failure of `failed` nodes (indexed by node) from `fail_at` until the nodes are back
/// after `down_ns`. `memory_bytes[x]` is proxy `x`'s memory at the run's load, its memory
/// request when it is packed (as `capacity` does).
pub fn reschedule(
    t: &Topology,
    d: &Deployment,
    models: &CostModels,
    memory_bytes: &[f64],
    failed: &[bool],
    b: &BlastConfig,
    down_ns: u64,
) -> Rescheduled {
    let fail = b.fail_at_ns;
    let back = fail.saturating_add(down_ns);
    let not_ready = fail.saturating_add(b.not_ready_after_ns.min(b.reschedule_after_ns()));
    let evict = fail.saturating_add(b.reschedule_after_ns());
    let ready = evict.saturating_add(b.pod_startup_ns);
    let end = t.simulation.duration_ns;
    let on_failed = |n: NodeId| failed.get(n).copied().unwrap_or(false);
    let cpu_of = |k: ProxyKind| models.get(k).map(|m| m.cpu_request_millicores).unwrap_or(0.0);
    let sidecar_of: HashMap<usize, usize> =
        d.proxies.iter().enumerate().filter(|(_, x)| x.kind == ProxyKind::Sidecar).filter_map(|(i, x)| x.pod.map(|p| (p, i))).collect();

    // Who is evicted: the failed nodes' pods and waypoint replicas, when eviction comes before
    // the nodes are back and within the run.
    let mut evicted: Vec<Evicted> = Vec::new();
    let evicting = evict < back && evict < end;
    if evicting {
        evicted.extend((0..t.pods.len()).filter(|&p| on_failed(t.pods[p].node)).map(Evicted::Pod));
        evicted.extend(
            (0..d.proxies.len())
                .filter(|&x| d.proxies[x].kind == ProxyKind::Waypoint && on_failed(d.proxies[x].node))
                .map(Evicted::Waypoint),
        );
    }

    // Room on each node: allocatable less what its running pods, sidecars, waypoints and
    // DaemonSets request (pods of failed nodes are gone).
    let mib = |x: usize| memory_bytes.get(x).copied().unwrap_or(0.0);
    let mut cpu_free: Vec<f64> = t.nodes.iter().map(|n| n.vcpu * 1000.0).collect();
    let mut mem_free: Vec<f64> = t.nodes.iter().map(|n| n.memory_bytes as f64).collect();
    let mut slots: Vec<i64> = t.nodes.iter().map(|n| i64::from(n.max_pods)).collect();
    let mut pods_on: Vec<u32> = vec![0; t.nodes.len()];
    for (p, pod) in t.pods.iter().enumerate() {
        let s = &t.services[pod.service];
        let (mut c, mut m) = (s.cpu_request_millicores, s.memory_request_bytes as f64);
        if let Some(&x) = sidecar_of.get(&p) {
            c += cpu_of(ProxyKind::Sidecar);
            m += mib(x);
        }
        cpu_free[pod.node] -= c;
        mem_free[pod.node] -= m;
        slots[pod.node] -= 1;
        pods_on[pod.node] += 1;
    }
    for (x, p) in d.proxies.iter().enumerate().filter(|(_, p)| p.kind != ProxyKind::Sidecar) {
        cpu_free[p.node] -= cpu_of(p.kind);
        mem_free[p.node] -= mib(x);
        slots[p.node] -= 1;
        pods_on[p.node] += 1;
    }

    let mut t1 = t.clone();
    let mut waypoint_moves: Vec<(usize, NodeId)> = Vec::new();
    let mut unscheduled = Vec::new();
    let mut replaced_pods: Vec<usize> = Vec::new();
    let zone_key = |n: NodeId| (t.nodes[n].cluster.as_str(), t.nodes[n].zone.as_str());
    for e in &evicted {
        let (name, old_node, cpu, mem, eligible, max_skew, peers): (String, NodeId, f64, f64, &[NodeId], u32, Vec<NodeId>) = match *e {
            Evicted::Pod(p) => {
                let pod = &t.pods[p];
                let s = &t.services[pod.service];
                let (mut c, mut m) = (s.cpu_request_millicores, s.memory_request_bytes as f64);
                if let Some(&x) = sidecar_of.get(&p) {
                    c += cpu_of(ProxyKind::Sidecar);
                    m += mib(x);
                }
                let peers = t1.services[pod.service].pods.iter().map(|&q| t1.pods[q].node).filter(|&n| !on_failed(n)).collect();
                (pod.name.clone(), pod.node, c, m, &s.eligible_nodes, s.max_skew, peers)
            }
            Evicted::Waypoint(x) => {
                let w = &d.proxies[x];
                let base = w.name.rsplit_once('-').map_or(w.name.as_str(), |(b, _)| b);
                let peers = d
                    .proxies
                    .iter()
                    .filter(|o| o.kind == ProxyKind::Waypoint && o.name.rsplit_once('-').map_or(o.name.as_str(), |(b, _)| b) == base)
                    .map(|o| o.node)
                    .chain(waypoint_moves.iter().filter(|(y, _)| d.proxies[*y].name.starts_with(base)).map(|&(_, n)| n))
                    .filter(|&n| !on_failed(n))
                    .collect();
                (w.name.clone(), w.node, cpu_of(ProxyKind::Waypoint), mib(x), &[][..], 1, peers)
            }
        };
        let fits = |n: NodeId| {
            !on_failed(n)
                && t.nodes[n].cluster == t.nodes[old_node].cluster
                && (eligible.is_empty() || eligible.contains(&n))
                && cpu_free[n] + 1e-9 >= cpu
                && mem_free[n] + 1e-9 >= mem
                && slots[n] > 0
        };
        let candidates: Vec<NodeId> = (0..t.nodes.len()).filter(|&n| fits(n)).collect();
        // Topology spread over the zones with room, then the node with the fewest of its
        // peers, the fewest pods, the lowest index: the rule pods were first placed by.
        let in_zone = |n: NodeId| peers.iter().filter(|&&m| zone_key(m) == zone_key(n)).count() as u32;
        let fewest = candidates.iter().map(|&n| in_zone(n)).min();
        let chosen = fewest.and_then(|f| {
            candidates
                .iter()
                .copied()
                .filter(|&n| in_zone(n) < f + max_skew)
                .min_by_key(|&n| (peers.iter().filter(|&&m| m == n).count(), pods_on[n], n))
        });
        let Some(n) = chosen else {
            unscheduled.push(name);
            continue;
        };
        cpu_free[n] -= cpu;
        mem_free[n] -= mem;
        slots[n] -= 1;
        pods_on[n] += 1;
        match *e {
            Evicted::Pod(p) => {
                let service = t.pods[p].service;
                t1.services[service].pods.push(t1.pods.len());
                t1.pods.push(Pod { name: format!("{name}-new"), service, node: n });
                replaced_pods.push(p);
            }
            Evicted::Waypoint(x) => waypoint_moves.push((x, n)),
        }
    }

    // The deployment of the new topology, with every original proxy where it was (waypoints
    // are placed by pod counts, which the replacements would change) and the replacement
    // waypoint replicas added.
    let mut d1 = Deployment::for_layout(&t1, d.layout, d.scopes);
    let by_name: HashMap<&str, NodeId> = d.proxies.iter().map(|x| (x.name.as_str(), x.node)).collect();
    for x in &mut d1.proxies {
        if let Some(&n) = by_name.get(x.name.as_str()) {
            x.node = n;
        }
    }
    let mut new_waypoints = Vec::new();
    for &(x, n) in &waypoint_moves {
        let name = d.proxies[x].name.clone();
        if let Some(of) = d1.proxies.iter().position(|p| p.name == name) {
            new_waypoints.push((of, d1.add_waypoint_replica(of, n, format!("{name}-new"))));
        }
    }

    let offset = t1.pods.len();
    let replaced_waypoints: Vec<usize> = new_waypoints.iter().map(|&(of, _)| of).collect();
    let gone = |station: usize| {
        if station < offset {
            replaced_pods.contains(&station)
        } else {
            let x = station - offset;
            replaced_waypoints.contains(&x) || d1.proxies[x].pod.is_some_and(|p| replaced_pods.contains(&p))
        }
    };
    // Every station of the failed nodes is unreachable (a dead node answers nothing, so
    // connections to it wait for the connect timeout) until they are back; one whose pod was
    // replaced never comes back (the evicted pod is deleted).
    let down: Vec<u32> = (0..t.pods.len())
        .filter(|&p| on_failed(t.pods[p].node))
        .chain((0..d1.proxies.len()).filter(|&x| on_failed(d1.proxies[x].node)).map(|x| offset + x))
        .map(|s| s as u32)
        .collect();
    let (for_good, for_now): (Vec<u32>, Vec<u32>) = down.iter().partition(|&&s| gone(s as usize));
    let mut faults = vec![Fault { stations: for_now, start_ns: fail, end_ns: Some(back), effect: FaultEffect::Unreachable }];
    if !for_good.is_empty() {
        faults.push(Fault { stations: for_good.clone(), start_ns: fail, end_ns: None, effect: FaultEffect::Unreachable });
    }
    // NotReady: the failed nodes' pods and waypoints leave the endpoints (and a load
    // generator's pod stops being sent from) until their node is back or for good.
    let endpoints = |s: &u32| {
        let s = *s as usize;
        s < offset || d1.proxies[s - offset].kind == ProxyKind::Waypoint
    };
    if not_ready < back && not_ready < end {
        let (good, now): (Vec<u32>, Vec<u32>) = down.iter().copied().filter(endpoints).partition(|&s| gone(s as usize));
        for (stations, until) in [(now, Some(back)), (good, None)] {
            if !stations.is_empty() {
                faults.push(Fault { stations, start_ns: not_ready, end_ns: until, effect: FaultEffect::Drained });
            }
        }
    }
    // Replacements do not run until they serve (down, with their sidecars), and are out of
    // the endpoints until then (drained), so calls choose them only when nothing else is left.
    let waiting: Vec<u32> = (t.pods.len()..offset)
        .chain(new_waypoints.iter().map(|&(_, y)| offset + y))
        .chain((0..d1.proxies.len()).filter(|&x| d1.proxies[x].pod.is_some_and(|p| p >= t.pods.len())).map(|x| offset + x))
        .map(|s| s as u32)
        .collect();
    if !waiting.is_empty() {
        let endpoints: Vec<u32> =
            waiting.iter().copied().filter(|&s| (s as usize) < offset || d1.proxies[s as usize - offset].pod.is_none()).collect();
        faults.push(Fault { stations: waiting, start_ns: 0, end_ns: Some(ready), effect: FaultEffect::Down });
        faults.push(Fault { stations: endpoints, start_ns: 0, end_ns: Some(ready), effect: FaultEffect::Drained });
    }

    let rescheduled = (replaced_pods.len() + new_waypoints.len()) as u32;
    let not_ready_note = if not_ready < back && not_ready < end {
        format!("NotReady at {} (pods out of the endpoints); ", format_duration_ns(not_ready))
    } else {
        String::new()
    };
    let note = if evicting {
        let mut s = format!(
            "{not_ready_note}evicted at {}: {rescheduled} pod{} rescheduled, serving from {}; {} did not fit",
            format_duration_ns(evict),
            if rescheduled == 1 { "" } else { "s" },
            format_duration_ns(ready),
            unscheduled.len()
        );
        if !unscheduled.is_empty() {
            let shown: Vec<&str> = unscheduled.iter().take(5).map(String::as_str).collect();
            s += &format!(" ({}{})", shown.join(" "), if unscheduled.len() > 5 { " …" } else { "" });
        }
        s
    } else {
        let why = if evict >= end {
            format!("the run's end at {}", format_duration_ns(end))
        } else {
            format!("the node is back at {}", format_duration_ns(back))
        };
        format!("{not_ready_note}no pod rescheduled: eviction at {} comes after {why}", format_duration_ns(evict))
    };
    Rescheduled { topology: t1, deployment: d1, faults, rescheduled, unscheduled, note }
}
