//! Pod scheduling: each service's replicas, in file order, go to the eligible node with room
//! that has the fewest of the service's pods, then the fewest pods, then the lowest index.
//!
//! The choice is the same as scanning every node for every replica, but found in
//! O((pods + skipped nodes) · log nodes): nodes with room sit in an ordered set by (pods,
//! index); a service's first pod on a node always beats a second one, so each replica takes
//! the first node in that order the service has not used yet and that fits, and a node
//! passed over because it does not fit can never fit later for the same service (nodes only
//! fill up). Services with affinity scan only the nodes their lists name, found by index.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;

use super::input::ServiceInput;
use super::{Node, NodeId, Pod, Service};
use crate::input_error::ErrorSink;

/// Node lookups by name, name prefix, zone and cluster.
struct Index<'a> {
    by_name: HashMap<&'a str, NodeId>,
    names: BTreeMap<&'a str, NodeId>,
    by_zone: HashMap<&'a str, Vec<NodeId>>,
    by_cluster: HashMap<&'a str, Vec<NodeId>>,
}

impl<'a> Index<'a> {
    fn new(nodes: &'a [Node]) -> Self {
        let mut ix = Index { by_name: HashMap::new(), names: BTreeMap::new(), by_zone: HashMap::new(), by_cluster: HashMap::new() };
        for (i, n) in nodes.iter().enumerate() {
            ix.by_name.entry(&n.name).or_insert(i);
            ix.names.entry(&n.name).or_insert(i);
            ix.by_zone.entry(&n.zone).or_default().push(i);
            ix.by_cluster.entry(&n.cluster).or_default().push(i);
        }
        ix
    }

    /// Nodes a `nodes` entry names: an exact name, or a prefix written `prefix-*`.
    fn named(&self, entry: &str) -> Vec<NodeId> {
        match entry.strip_suffix("-*") {
            // Names sharing a prefix are adjacent in name order.
            Some(prefix) => self
                .names
                .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
                .take_while(|(name, _)| name.starts_with(prefix))
                .map(|(_, &i)| i)
                .collect(),
            None => self.by_name.get(entry).map(|&i| vec![i]).unwrap_or_default(),
        }
    }
}

/// Place every service's pods; a replica that fits nowhere is an error at `replicas`.
pub(super) fn schedule(sink: &mut ErrorSink, nodes: &[Node], inputs: &[ServiceInput], services: &mut [Service]) -> Vec<Pod> {
    let index = Index::new(nodes);
    let mut pods = Vec::new();
    let mut used_millicores = vec![0.0f64; nodes.len()];
    let mut used_bytes = vec![0u64; nodes.len()];
    let mut pod_count = vec![0u32; nodes.len()];
    // Nodes with a free pod slot, by (pods, index).
    let mut by_load: BTreeSet<(u32, NodeId)> = (0..nodes.len()).filter(|&n| nodes[n].max_pods > 0).map(|n| (0, n)).collect();
    for (sid, s) in inputs.iter().enumerate() {
        let affinity = !(s.nodes.is_empty() && s.zones.is_empty() && s.clusters.is_empty());
        // Each entry of an affinity list must match some node.
        let mut unmatched = false;
        for x in &s.nodes {
            if index.named(x.get_ref()).is_empty() {
                sink.at(x.span(), format!("{}: `{}` matches no node", x.path(), x.get_ref()));
                unmatched = true;
            }
        }
        for (list, map) in [(&s.zones, &index.by_zone), (&s.clusters, &index.by_cluster)] {
            for x in list {
                if !map.contains_key(x.get_ref().as_str()) {
                    sink.at(x.span(), format!("{}: `{}` matches no node", x.path(), x.get_ref()));
                    unmatched = true;
                }
            }
        }
        // The nodes of a service with affinity, with room, in (pods, index) order.
        let local: Option<BTreeSet<(u32, NodeId)>> = if affinity {
            let zones: HashSet<&str> = s.zones.iter().map(|z| z.get_ref().as_str()).collect();
            let clusters: HashSet<&str> = s.clusters.iter().map(|c| c.get_ref().as_str()).collect();
            let candidates: Vec<NodeId> = if !s.nodes.is_empty() {
                s.nodes.iter().flat_map(|x| index.named(x.get_ref())).collect()
            } else if !s.zones.is_empty() {
                s.zones.iter().flat_map(|z| index.by_zone.get(z.get_ref().as_str()).cloned().unwrap_or_default()).collect()
            } else {
                s.clusters.iter().flat_map(|c| index.by_cluster.get(c.get_ref().as_str()).cloned().unwrap_or_default()).collect()
            };
            let eligible: BTreeSet<NodeId> = candidates
                .into_iter()
                .filter(|&n| {
                    (zones.is_empty() || zones.contains(nodes[n].zone.as_str()))
                        && (clusters.is_empty() || clusters.contains(nodes[n].cluster.as_str()))
                })
                .collect();
            if eligible.is_empty() {
                if !unmatched {
                    sink.at(
                        s.span.clone(),
                        format!("{}: no node is in all of this service's `nodes`, `zones` and `clusters` at once", s.path),
                    );
                }
                continue;
            }
            Some(eligible.into_iter().filter(|&n| pod_count[n] < nodes[n].max_pods).map(|n| (pod_count[n], n)).collect())
        } else {
            None
        };
        let svc = &mut services[sid];
        let (cpu, mem) = (svc.cpu_request_millicores, svc.memory_request_bytes);
        let fits = |n: NodeId, used_millicores: &[f64], used_bytes: &[u64], pod_count: &[u32]| {
            used_millicores[n] + cpu <= nodes[n].vcpu * 1000.0 + 1e-9
                && used_bytes[n].saturating_add(mem) <= nodes[n].memory_bytes
                && pod_count[n] < nodes[n].max_pods
        };
        let mut per_node: HashMap<NodeId, u32> = HashMap::new();
        // Nodes holding a pod of this service, by (its pods there, pods, index).
        let mut used: BTreeSet<(u32, u32, NodeId)> = BTreeSet::new();
        let mut cursor: Option<(u32, NodeId)> = None;
        for r in 0..svc.replicas {
            let order = local.as_ref().unwrap_or(&by_load);
            let after = match cursor {
                None => order.range(..),
                Some(c) => order.range((Bound::Excluded(c), Bound::Unbounded)),
            };
            let mut fresh = None;
            for &(pc, n) in after {
                cursor = Some((pc, n));
                if !per_node.contains_key(&n) && fits(n, &used_millicores, &used_bytes, &pod_count) {
                    fresh = Some(n);
                    break;
                }
            }
            let chosen = fresh.or_else(|| {
                // Every node the service has not used is full for it: the least used of its own.
                while let Some(&(k, pc, n)) = used.first() {
                    if fits(n, &used_millicores, &used_bytes, &pod_count) {
                        return Some(n);
                    }
                    used.remove(&(k, pc, n));
                }
                None
            });
            let Some(n) = chosen else {
                let at = s.replicas.as_ref().map(|x| x.span()).unwrap_or(s.span.clone());
                sink.at(
                    at,
                    format!(
                        "{}.replicas: replica {} of `{}` does not fit on any eligible node (requests {}m CPU, {} MiB; nodes full or at max_pods): add nodes or lower the requests",
                        s.path,
                        r + 1,
                        svc.name,
                        svc.cpu_request_millicores,
                        svc.memory_request_bytes / (1024 * 1024)
                    ),
                );
                break;
            };
            let k = per_node.entry(n).or_insert(0);
            used.remove(&(*k, pod_count[n], n));
            *k += 1;
            by_load.remove(&(pod_count[n], n));
            pod_count[n] += 1;
            if pod_count[n] < nodes[n].max_pods {
                by_load.insert((pod_count[n], n));
            }
            used.insert((*k, pod_count[n], n));
            used_millicores[n] += cpu;
            used_bytes[n] = used_bytes[n].saturating_add(mem);
            svc.pods.push(pods.len());
            pods.push(Pod { name: format!("{}-{}", svc.name, r + 1), service: sid, node: n });
        }
    }
    pods
}
