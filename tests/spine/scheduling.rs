//! Pod scheduling: the ordered-set scheduler places every pod where scanning every node for
//! every replica would (topology spread over zones with the service's `max_skew`, then the
//! fewest of the service's pods, then fewest pods, then lowest index), so results never move
//! when the input checks got faster; and known answers of the spread rule.

use meshsim::topology::parse;
use proptest::prelude::*;

use crate::common::*;

#[derive(Clone, Debug)]
struct NodeEntry {
    count: u32,
    vcpu: u32,
    memory_gi: u32,
    max_pods: u32,
    zone: u32,
}

#[derive(Clone, Debug)]
struct ServiceEntry {
    replicas: u32,
    cpu_m: u32,
    memory_mi: u32,
    /// 0: none, 1: zones = [the first node's], 2: nodes = ["e0-*"], 3: nodes = [first node], 4: clusters = ["c"].
    affinity: u32,
    /// `max_skew`; 0 leaves it out (1, the default).
    max_skew: u32,
}

fn text(nodes: &[NodeEntry], services: &[ServiceEntry]) -> String {
    let mut t = String::from(
        "version = 1\nname = \"sched\"\n[simulation]\nduration = \"1s\"\n[mesh]\n[[namespace]]\nname = \"a\"\n[[load]]\nto = \"s0\"\nrate = \"1rps\"\n",
    );
    for (k, n) in nodes.iter().enumerate() {
        t += &format!(
            "[[node]]\nname = \"e{k}\"\ncount = {}\ncluster = \"c\"\nzone = \"z{}\"\nvcpu = {}\nmemory = \"{}Gi\"\nmax_pods = {}\n",
            n.count, n.zone, n.vcpu, n.memory_gi, n.max_pods
        );
    }
    for (i, s) in services.iter().enumerate() {
        let affinity = match s.affinity {
            1 => format!("zones = [\"z{}\"]\n", nodes[0].zone),
            2 => "nodes = [\"e0-*\"]\n".to_string(),
            3 => format!("nodes = [\"{}\"]\n", if nodes[0].count == 1 { "e0".into() } else { "e0-1".to_string() }),
            4 => "clusters = [\"c\"]\n".to_string(),
            _ => String::new(),
        };
        let skew = if s.max_skew == 0 { String::new() } else { format!("max_skew = {}\n", s.max_skew) };
        t += &format!(
            "[[service]]\nname = \"s{i}\"\nnamespace = \"a\"\nreplicas = {}\ncpu_request = \"{}m\"\nmemory_request = \"{}Mi\"\n{affinity}{skew}",
            s.replicas, s.cpu_m, s.memory_mi
        );
    }
    t
}

/// The placement by brute force: every node considered for every replica. `None` when a
/// replica fits nowhere.
fn reference(nodes: &[NodeEntry], services: &[ServiceEntry]) -> Option<Vec<String>> {
    struct N {
        name: String,
        zone: u32,
        cpu_m: f64,
        mem: u64,
        max_pods: u32,
    }
    let mut all = Vec::new();
    for (k, e) in nodes.iter().enumerate() {
        for i in 0..e.count {
            let name = if e.count == 1 { format!("e{k}") } else { format!("e{k}-{}", i + 1) };
            all.push(N { name, zone: e.zone, cpu_m: e.vcpu as f64 * 1000.0, mem: (e.memory_gi as u64) << 30, max_pods: e.max_pods });
        }
    }
    let first = all[0].name.clone();
    let (mut cpu, mut mem, mut pods) = (vec![0.0f64; all.len()], vec![0u64; all.len()], vec![0u32; all.len()]);
    let mut out = Vec::new();
    for s in services {
        let eligible: Vec<usize> = (0..all.len())
            .filter(|&n| match s.affinity {
                1 => all[n].zone == nodes[0].zone,
                2 => all[n].name.starts_with("e0"),
                3 => all[n].name == first,
                _ => true,
            })
            .collect();
        let mut per_node = vec![0u32; all.len()];
        let mut per_zone = [0u32; 2];
        let skew = s.max_skew.max(1);
        for _ in 0..s.replicas {
            let (c, m) = (s.cpu_m as f64, (s.memory_mi as u64) << 20);
            let fitting: Vec<usize> = eligible
                .iter()
                .copied()
                .filter(|&n| cpu[n] + c <= all[n].cpu_m + 1e-9 && mem[n] + m <= all[n].mem && pods[n] < all[n].max_pods)
                .collect();
            // The fewest pods of the service in a zone where it still fits somewhere.
            let fewest = fitting.iter().map(|&n| per_zone[all[n].zone as usize]).min()?;
            let chosen = fitting
                .into_iter()
                .filter(|&n| per_zone[all[n].zone as usize] < fewest + skew)
                .min_by_key(|&n| (per_node[n], pods[n], n))?;
            per_zone[all[chosen].zone as usize] += 1;
            per_node[chosen] += 1;
            pods[chosen] += 1;
            cpu[chosen] += c;
            mem[chosen] += m;
            out.push(all[chosen].name.clone());
        }
    }
    Some(out)
}

fn node_entry() -> impl Strategy<Value = NodeEntry> {
    (1u32..6, 1u32..8, 1u32..8, 1u32..8, 0u32..2).prop_map(|(count, vcpu, memory_gi, max_pods, zone)| NodeEntry {
        count,
        vcpu,
        memory_gi,
        max_pods,
        zone,
    })
}

fn service_entry() -> impl Strategy<Value = ServiceEntry> {
    (1u32..8, 50u32..3000, 64u32..3000, 0u32..5, 0u32..4).prop_map(|(replicas, cpu_m, memory_mi, affinity, max_skew)| ServiceEntry {
        replicas,
        cpu_m,
        memory_mi,
        affinity,
        max_skew,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn pods_go_where_scanning_every_node_would_put_them(
        nodes in prop::collection::vec(node_entry(), 1..4),
        services in prop::collection::vec(service_entry(), 1..8),
    ) {
        let t = text(&nodes, &services);
        let path = root().join("sched.toml");
        let expected = reference(&nodes, &services);
        match (parse(&path, &t), expected) {
            (Ok(topology), Some(names)) => {
                let got: Vec<String> = topology.pods.iter().map(|p| topology.nodes[p.node].name.clone()).collect();
                prop_assert_eq!(got, names);
            }
            (Err(e), None) => prop_assert!(e.to_string().contains("does not fit"), "{}", e),
            (Ok(_), None) => prop_assert!(false, "accepted, but a replica fits nowhere:\n{}", t),
            (Err(e), Some(_)) => prop_assert!(false, "refused: {}\n{}", e, t),
        }
    }
}

/// Nodes `a-1…`, `b-1…` in zones za, zb, … (`(zone letter, node count)`), listed zone by
/// zone so the old rule (fewest pods, then lowest index) would fill them in file order, and a
/// service `first` of two replicas before the services of `services`.
fn zoned(zones: &[(&str, u32)], services: &str) -> meshsim::topology::Topology {
    let mut t = String::from("version = 1\nname = \"spread\"\n[simulation]\nduration = \"1s\"\n[mesh]\n[[namespace]]\nname = \"a\"\n");
    for (z, count) in zones {
        t += &format!("[[node]]\nname = \"{z}\"\ncount = {count}\ncluster = \"c\"\nzone = \"z{z}\"\nvcpu = 8\nmemory = \"32Gi\"\n");
    }
    t +=
        &format!("[[service]]\nname = \"first\"\nnamespace = \"a\"\nreplicas = 2\n{services}\n[[load]]\nto = \"first\"\nrate = \"1rps\"\n");
    parse(&root().join("spread.toml"), &t).unwrap_or_else(|e| panic!("{e}"))
}

fn nodes_of(t: &meshsim::topology::Topology, service: &str) -> Vec<String> {
    let s = t.services.iter().find(|s| s.name == service).expect("service");
    s.pods.iter().map(|&p| t.nodes[t.pods[p].node].name.clone()).collect()
}

#[test]
fn replicas_spread_over_zones_before_nodes() {
    // Two nodes per zone: the second replica goes to the other zone, not the next node.
    let t = zoned(&[("a", 2), ("b", 2)], "");
    assert_eq!(nodes_of(&t, "first"), ["a-1", "b-1"]);
}

#[test]
fn three_replicas_over_three_zones_take_one_zone_each() {
    let t = zoned(&[("a", 2), ("b", 2), ("c", 2)], "[[service]]\nname = \"s\"\nnamespace = \"a\"\nreplicas = 3\n");
    // `first` is on a-1 and b-1: s's first replica takes the emptiest node, a-2 (zone a and b
    // hold none of s), then b-2, then zone c.
    assert_eq!(nodes_of(&t, "s"), ["a-2", "b-2", "c-1"]);
}

#[test]
fn max_skew_lets_a_zone_take_more_and_affinity_still_decides() {
    // Zone a has three nodes, zone b one; `first` is on a-1 and b-1.
    let service =
        |skew: u32, extra: &str| format!("[[service]]\nname = \"s\"\nnamespace = \"a\"\nreplicas = 4\nmax_skew = {skew}\n{extra}");
    let even = zoned(&[("a", 3), ("b", 1)], &service(1, ""));
    assert_eq!(nodes_of(&even, "s"), ["a-2", "b", "a-3", "b"], "skew 1: two per zone, b's one node takes two");
    let skewed = zoned(&[("a", 3), ("b", 1)], &service(3, ""));
    assert_eq!(nodes_of(&skewed, "s"), ["a-2", "a-3", "a-1", "b"], "skew 3: zone a takes three before b takes one");
    let pinned = zoned(&[("a", 3), ("b", 1)], &service(1, "zones = [\"za\"]\n"));
    assert_eq!(nodes_of(&pinned, "s"), ["a-2", "a-3", "a-1", "a-2"], "affinity to zone a: spread applies within it");
}

#[test]
fn max_skew_out_of_range_names_its_line() {
    let text = "version = 1\nname = \"x\"\n[simulation]\nduration = \"1s\"\n[mesh]\n[[namespace]]\nname = \"a\"\n[[node]]\nname = \"n\"\nvcpu = 8\nmemory = \"8Gi\"\n[[service]]\nname = \"s\"\nnamespace = \"a\"\nreplicas = 1\nmax_skew = 0\n[[load]]\nto = \"s\"\nrate = \"1rps\"\n";
    let e = parse(&root().join("x.toml"), text).unwrap_err().to_string();
    assert!(e.contains("x.toml:16") && e.contains("service[0].max_skew"), "{e}");
}
