//! Pod scheduling, as Kubernetes' topology spread does it: each service's replicas, in file
//! order, go to a zone (a cluster's zone) holding fewer than `min + max_skew` of the
//! service's pods, where `min` is the fewest any zone with room holds (`max_skew` is 1 unless
//! the service sets it), and within the zones so allowed to the eligible node with room that
//! has the fewest of the service's pods, then the fewest pods, then the lowest index. Zones
//! where no eligible node has room do not count for `min` (so a full zone never blocks the
//! others, as `whenUnsatisfiable: ScheduleAnyway` would have it). Node affinity (`nodes`,
//! `zones`, `clusters`) limits the eligible nodes first.
//!
//! The choice is the same as scanning every node for every replica, but found in
//! O((pods · zones + skipped nodes) · log nodes): in each zone, nodes with room sit in an
//! ordered set by (pods, index); a service's first pod on a node always beats a second one,
//! so each zone's best node is the first in that order the service has not used yet and that
//! fits, and a node passed over because it does not fit can never fit later for the same
//! service (nodes only fill up). A zone's best node changes only when the service places a
//! pod in that zone, so it is kept between replicas. Services with affinity scan only the
//! nodes their lists name, found by index.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;

use super::input::ServiceInput;
use super::{Node, NodeId, Pod, Service};
use crate::input_error::ErrorSink;
use crate::limits;
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

/// The best node of one zone for a service's next replica, as (its pods of the service, its
/// pods, index): the first unused node in (pods, index) order that fits, else the least used
/// node of the service's own that still fits.
type Candidate = (u32, u32, NodeId);

/// Place every service's pods; a replica that fits nowhere is an error at `replicas`.
pub(super) fn schedule(sink: &mut ErrorSink, nodes: &[Node], inputs: &[ServiceInput], services: &mut [Service]) -> Vec<Pod> {
    let index = Index::new(nodes);
    // Zones are a cluster's zone, numbered in order of first appearance.
    let mut zone_ids: HashMap<(&str, &str), usize> = HashMap::new();
    let zone_of: Vec<usize> = nodes
        .iter()
        .map(|n| {
            let next = zone_ids.len();
            *zone_ids.entry((n.cluster.as_str(), n.zone.as_str())).or_insert(next)
        })
        .collect();
    let zone_count = zone_ids.len();
    let mut pods = Vec::new();
    let mut used_millicores = vec![0.0f64; nodes.len()];
    let mut used_bytes = vec![0u64; nodes.len()];
    let mut pod_count = vec![0u32; nodes.len()];
    // Per zone, the nodes with a free pod slot, by (pods, index).
    let mut by_load: Vec<BTreeSet<(u32, NodeId)>> = vec![BTreeSet::new(); zone_count];
    for n in (0..nodes.len()).filter(|&n| nodes[n].max_pods > 0) {
        by_load[zone_of[n]].insert((0, n));
    }
    for (sid, s) in inputs.iter().enumerate() {
        let max_skew = match &s.max_skew {
            None => 1,
            Some(v) if (1..=limits::MAX_REPLICAS).contains(v.get_ref()) => *v.get_ref() as u32,
            Some(v) => {
                sink.at(
                    v.span(),
                    format!("{}: {} is out of range: it must be between 1 and {}", v.path(), v.get_ref(), limits::MAX_REPLICAS),
                );
                1
            }
        };
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
        // The nodes of a service with affinity, with room, per zone in (pods, index) order.
        let local: Option<Vec<BTreeSet<(u32, NodeId)>>> = if affinity {
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
            services[sid].eligible_nodes = eligible.iter().copied().collect();
            let mut per_zone = vec![BTreeSet::new(); zone_count];
            for n in eligible.into_iter().filter(|&n| pod_count[n] < nodes[n].max_pods) {
                per_zone[zone_of[n]].insert((pod_count[n], n));
            }
            Some(per_zone)
        } else {
            None
        };
        let svc = &mut services[sid];
        svc.max_skew = max_skew;
        let (cpu, mem) = (svc.cpu_request_millicores, svc.memory_request_bytes);
        let fits = |n: NodeId, used_millicores: &[f64], used_bytes: &[u64], pod_count: &[u32]| {
            used_millicores[n] + cpu <= nodes[n].vcpu * 1000.0 + 1e-9
                && used_bytes[n].saturating_add(mem) <= nodes[n].memory_bytes
                && pod_count[n] < nodes[n].max_pods
        };
        let zones_of_service: Vec<usize> = match &local {
            Some(per_zone) => (0..zone_count).filter(|&z| !per_zone[z].is_empty()).collect(),
            None => (0..zone_count).filter(|&z| !by_load[z].is_empty()).collect(),
        };
        let mut per_node: HashMap<NodeId, u32> = HashMap::new();
        // Per zone: the service's pods there, its nodes there by (its pods there, pods,
        // index), how far the scan of unused nodes got, and the best node (`None` inside:
        // the zone is full for the service) or `None` when it must be found again.
        let mut in_zone = vec![0u32; zone_count];
        let mut used: Vec<BTreeSet<Candidate>> = vec![BTreeSet::new(); zone_count];
        let mut cursor: Vec<Option<(u32, NodeId)>> = vec![None; zone_count];
        let mut best: Vec<Option<Option<Candidate>>> = vec![None; zone_count];
        for r in 0..svc.replicas {
            for &z in &zones_of_service {
                if best[z].is_some() {
                    continue;
                }
                let order = match &local {
                    Some(per_zone) => &per_zone[z],
                    None => &by_load[z],
                };
                let after = match cursor[z] {
                    None => order.range(..),
                    Some(c) => order.range((Bound::Excluded(c), Bound::Unbounded)),
                };
                let mut found = None;
                for &(pc, n) in after {
                    cursor[z] = Some((pc, n));
                    if !per_node.contains_key(&n) && fits(n, &used_millicores, &used_bytes, &pod_count) {
                        found = Some((0, pc, n));
                        break;
                    }
                }
                if found.is_none() {
                    // Every node of the zone the service has not used is full for it: the
                    // least used of its own.
                    while let Some(&(k, pc, n)) = used[z].first() {
                        if fits(n, &used_millicores, &used_bytes, &pod_count) {
                            found = Some((k, pc, n));
                            break;
                        }
                        used[z].remove(&(k, pc, n));
                    }
                }
                best[z] = Some(found);
            }
            let open = || zones_of_service.iter().filter(|&&z| matches!(best[z], Some(Some(_))));
            let chosen = open().map(|&z| in_zone[z]).min().and_then(|fewest| {
                open().filter(|&&z| in_zone[z] < fewest + max_skew).filter_map(|&z| best[z].flatten()).min().map(|(_, _, n)| n)
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
            let z = zone_of[n];
            best[z] = None;
            in_zone[z] += 1;
            let k = per_node.entry(n).or_insert(0);
            used[z].remove(&(*k, pod_count[n], n));
            *k += 1;
            by_load[z].remove(&(pod_count[n], n));
            pod_count[n] += 1;
            if pod_count[n] < nodes[n].max_pods {
                by_load[z].insert((pod_count[n], n));
            }
            used[z].insert((*k, pod_count[n], n));
            used_millicores[n] += cpu;
            used_bytes[n] = used_bytes[n].saturating_add(mem);
            svc.pods.push(pods.len());
            pods.push(Pod { name: format!("{}-{}", svc.name, r + 1), service: sid, node: n });
        }
    }
    pods
}
