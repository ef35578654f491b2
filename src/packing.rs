//! How many nodes of one type hold a set of pods, as the Kubernetes scheduler would fill
//! them: every node first runs the DaemonSets (per-node proxies such as ztunnel or a node
//! proxy), then pods are placed by first-fit decreasing on their CPU and memory requests and
//! the node's pod slots, keeping a share of each node free (headroom). Pure arithmetic.

/// What one pod asks of its node.
#[derive(Clone, Debug, PartialEq)]
pub struct PodRequest {
    /// What the pod is (a service name, a waypoint), for messages.
    pub name: String,
    pub cpu_millicores: f64,
    pub memory_mib: f64,
}

/// What one node of the type offers.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeShape {
    pub vcpu: f64,
    pub memory_mib: f64,
    pub max_pods: u32,
}

/// The nodes pods were packed onto.
#[derive(Clone, Debug, PartialEq)]
pub struct Packing {
    /// Per node: CPU and memory requested on it (DaemonSets included) and its pod count.
    pub nodes: Vec<PackedNode>,
    /// For each pod of the input, the node it went to.
    pub assignment: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PackedNode {
    pub cpu_millicores: f64,
    pub memory_mib: f64,
    pub pods: u32,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PackError {
    #[error(
        "pod `{name}` asks {cpu:.0}m CPU and {mem:.0} MiB, more than a node offers after DaemonSets and {headroom:.0}% headroom \
         ({free_cpu:.0}m, {free_mem:.0} MiB): use a larger node type or lower the requests"
    )]
    PodTooLarge { name: String, cpu: f64, mem: f64, free_cpu: f64, free_mem: f64, headroom: f64 },
    #[error("the DaemonSets alone take every pod slot or more than a node offers after headroom: use a larger node type")]
    NoRoom,
    #[error("packing needs more than {0} nodes")]
    TooManyNodes(u32),
}

/// Most nodes a packing opens before it gives up.
pub const MAX_NODES: u32 = 100_000;

/// Pack `pods` onto nodes of `shape`, each also running every pod of `daemonsets`, keeping
/// `headroom` (a share in [0, 1)) of each node's CPU and memory unrequested. First-fit
/// decreasing by each pod's larger share of the free CPU or memory; ties keep input order.
pub fn pack(shape: &NodeShape, pods: &[PodRequest], daemonsets: &[PodRequest], headroom: f64) -> Result<Packing, PackError> {
    let usable = 1.0 - headroom;
    let ds_cpu: f64 = daemonsets.iter().map(|p| p.cpu_millicores).sum();
    let ds_mem: f64 = daemonsets.iter().map(|p| p.memory_mib).sum();
    let free_cpu = shape.vcpu * 1000.0 * usable - ds_cpu;
    let free_mem = shape.memory_mib * usable - ds_mem;
    let slots = shape.max_pods.saturating_sub(daemonsets.len() as u32);
    if free_cpu < 0.0 || free_mem < 0.0 || (slots == 0 && !pods.is_empty()) {
        return Err(PackError::NoRoom);
    }
    let size = |p: &PodRequest| {
        let c = if free_cpu > 0.0 { p.cpu_millicores / free_cpu } else { 0.0 };
        let m = if free_mem > 0.0 { p.memory_mib / free_mem } else { 0.0 };
        c.max(m)
    };
    let mut order: Vec<usize> = (0..pods.len()).collect();
    order.sort_by(|&a, &b| size(&pods[b]).total_cmp(&size(&pods[a])).then(a.cmp(&b)));
    // Room left per node; nodes before `first_open` can take no further pod of any size
    // still to come (the pods come in decreasing size), so the scan starts there.
    let mut room: Vec<(f64, f64, u32)> = Vec::new();
    let mut assignment = vec![0u32; pods.len()];
    let eps = 1e-9;
    let mut first_open = 0usize;
    for i in order {
        let p = &pods[i];
        if p.cpu_millicores > free_cpu + eps || p.memory_mib > free_mem + eps {
            return Err(PackError::PodTooLarge {
                name: p.name.clone(),
                cpu: p.cpu_millicores,
                mem: p.memory_mib,
                free_cpu,
                free_mem,
                headroom: headroom * 100.0,
            });
        }
        let fits = |r: &(f64, f64, u32)| r.0 + eps >= p.cpu_millicores && r.1 + eps >= p.memory_mib && r.2 > 0;
        while first_open < room.len() && room[first_open].2 == 0 {
            first_open += 1;
        }
        let k = match room[first_open..].iter().position(fits) {
            Some(k) => first_open + k,
            None => {
                if room.len() as u32 >= MAX_NODES {
                    return Err(PackError::TooManyNodes(MAX_NODES));
                }
                room.push((free_cpu, free_mem, slots));
                room.len() - 1
            }
        };
        room[k].0 -= p.cpu_millicores;
        room[k].1 -= p.memory_mib;
        room[k].2 -= 1;
        assignment[i] = k as u32;
    }
    if room.is_empty() {
        room.push((free_cpu, free_mem, slots));
    }
    let nodes = room
        .iter()
        .map(|r| PackedNode {
            cpu_millicores: free_cpu - r.0 + ds_cpu,
            memory_mib: free_mem - r.1 + ds_mem,
            pods: slots - r.2 + daemonsets.len() as u32,
        })
        .collect();
    Ok(Packing { nodes, assignment })
}

/// Replicas a HorizontalPodAutoscaler settles on for a CPU utilisation target: the current
/// count scaled by measured over target utilisation, rounded up (the HPA's
/// `ceil(replicas × current / target)`), left alone within its 10% tolerance, at least 1.
pub fn hpa_replicas(replicas: u32, utilization: f64, target: f64) -> u32 {
    if !(utilization.is_finite() && target > 0.0) {
        return replicas.max(1);
    }
    let ratio = utilization / target;
    if (ratio - 1.0).abs() <= 0.1 {
        return replicas.max(1);
    }
    ((f64::from(replicas) * ratio - 1e-9).ceil() as u32).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, cpu: f64, mem: f64) -> PodRequest {
        PodRequest { name: name.into(), cpu_millicores: cpu, memory_mib: mem }
    }

    const NODE: NodeShape = NodeShape { vcpu: 2.0, memory_mib: 8192.0, max_pods: 110 };

    #[test]
    fn first_fit_decreasing_fills_nodes_in_order() {
        // 2 cores at 0% headroom: 1500m + 500m on the first node, 1200m + 800m on the second.
        let pods = [pod("a", 500.0, 1.0), pod("b", 1500.0, 1.0), pod("c", 800.0, 1.0), pod("d", 1200.0, 1.0)];
        let p = pack(&NODE, &pods, &[], 0.0).unwrap();
        assert_eq!(p.nodes.len(), 2);
        assert_eq!(p.assignment, vec![0, 0, 1, 1]);
        assert_eq!(p.nodes[0].cpu_millicores, 2000.0);
    }

    #[test]
    fn daemonsets_and_headroom_take_room_on_every_node() {
        // 2 cores, 20% headroom → 1600m; a 200m DaemonSet leaves 1400m: 1000m pods go one a node.
        let pods = [pod("a", 1000.0, 1.0), pod("b", 1000.0, 1.0), pod("c", 1000.0, 1.0)];
        let p = pack(&NODE, &pods, &[pod("ztunnel", 200.0, 512.0)], 0.2).unwrap();
        assert_eq!(p.nodes.len(), 3);
        assert!(p.nodes.iter().all(|n| n.pods == 2 && n.cpu_millicores == 1200.0 && n.memory_mib == 513.0));
    }

    #[test]
    fn memory_and_pod_slots_bind_too() {
        let p = pack(&NODE, &[pod("a", 10.0, 5000.0), pod("b", 10.0, 5000.0)], &[], 0.0).unwrap();
        assert_eq!(p.nodes.len(), 2);
        let small = NodeShape { max_pods: 3, ..NODE };
        let pods: Vec<_> = (0..7).map(|i| pod(&format!("p{i}"), 1.0, 1.0)).collect();
        assert_eq!(pack(&small, &pods, &[], 0.0).unwrap().nodes.len(), 3);
    }

    #[test]
    fn a_pod_larger_than_a_node_is_refused_by_name() {
        let e = pack(&NODE, &[pod("big", 3000.0, 1.0)], &[], 0.0).unwrap_err();
        assert!(e.to_string().contains("`big`"), "{e}");
        assert_eq!(pack(&NODE, &[pod("a", 1.0, 1.0)], &[pod("fat", 2500.0, 1.0)], 0.0).unwrap_err(), PackError::NoRoom);
    }

    #[test]
    fn a_packing_respects_every_node_and_the_volume_bound() {
        let ds = [pod("ds", 100.0, 128.0)];
        let mut pods = Vec::new();
        for i in 0..200 {
            pods.push(pod(&format!("p{i}"), 100.0 + (i * 37 % 500) as f64, 64.0 + (i * 53 % 900) as f64));
            let p = pack(&NODE, &pods, &ds, 0.1).unwrap();
            let (cpu, mem): (f64, f64) = (pods.iter().map(|p| p.cpu_millicores).sum(), pods.iter().map(|p| p.memory_mib).sum());
            let lower = (cpu / (1800.0 - 100.0)).ceil().max((mem / (8192.0 * 0.9 - 128.0)).ceil()) as usize;
            assert!(p.nodes.len() >= lower, "{} nodes below the volume bound {lower}", p.nodes.len());
            for n in &p.nodes {
                assert!(n.cpu_millicores <= 1800.0 + 1e-6 && n.memory_mib <= 8192.0 * 0.9 + 1e-6 && n.pods <= 110);
            }
            // Every pod went to a node that exists.
            assert!(p.assignment.iter().all(|&k| (k as usize) < p.nodes.len()));
        }
    }

    #[test]
    fn the_hpa_scales_by_utilisation_over_target_with_a_tolerance() {
        assert_eq!(hpa_replicas(3, 0.9, 0.6), 5);
        assert_eq!(hpa_replicas(3, 0.63, 0.6), 3);
        assert_eq!(hpa_replicas(10, 0.1, 0.6), 2);
        assert_eq!(hpa_replicas(1, 0.0, 0.6), 1);
    }
}
