//! Where the control plane's replicas run: each on the allowed node least allocated by CPU
//! and memory requests (the mean of the two shares, as the Kubernetes scheduler's
//! `NodeResourcesFit` LeastAllocated score weighs them), counting what the node's pods
//! request, its proxies' CPU requests and memory at rest, and the replicas placed before it.
//! App pods are placed first and never move: the control plane comes after them, so every
//! placement of one comparison runs the same pods on the same nodes.

use super::ControlPlane;
use crate::model::CostModels;
use crate::placement::Deployment;
use crate::topology::Topology;

pub(super) fn place(t: &Topology, d: &Deployment, proxy_models: &CostModels, cp: &mut ControlPlane) {
    let mut cpu = vec![0.0; t.nodes.len()];
    let mut mem = vec![0.0; t.nodes.len()];
    for pod in &t.pods {
        let s = &t.services[pod.service];
        cpu[pod.node] += s.cpu_request_millicores;
        mem[pod.node] += s.memory_request_bytes as f64;
    }
    for p in &d.proxies {
        if let Some(m) = proxy_models.get(p.kind) {
            cpu[p.node] += m.cpu_request_millicores;
            mem[p.node] += m.memory_bytes(f64::from(p.endpoints), 0.0, 0.0);
        }
    }
    let allowed: Vec<usize> =
        if t.control_plane.eligible_nodes.is_empty() { (0..t.nodes.len()).collect() } else { t.control_plane.eligible_nodes.clone() };
    for c in &mut cp.components {
        for r in 0..c.replicas {
            let (want_cpu, want_mem) = (c.cpu_request_millicores, c.memory_request_bytes as f64);
            let share = |n: usize| {
                let node = &t.nodes[n];
                ((cpu[n] + want_cpu) / (node.vcpu * 1000.0) + (mem[n] + want_mem) / node.memory_bytes as f64) / 2.0
            };
            let fits = |n: usize| cpu[n] + want_cpu <= t.nodes[n].vcpu * 1000.0 && mem[n] + want_mem <= t.nodes[n].memory_bytes as f64;
            let best = |only_fitting: bool| {
                allowed.iter().copied().filter(|&n| !only_fitting || fits(n)).min_by(|&a, &b| share(a).total_cmp(&share(b)).then(a.cmp(&b)))
            };
            let node = match best(true) {
                Some(n) => n,
                None => {
                    let n = best(false).unwrap_or(0);
                    cp.unfitted.push(format!("{}-{} on {}", c.name, r + 1, t.nodes[n].name));
                    n
                }
            };
            cpu[node] += want_cpu;
            mem[node] += want_mem.max(c.mem_bytes_per_replica());
            c.nodes.push(node);
            c.node_names.push(t.nodes[node].name.clone());
        }
    }
}
