//! One-way latency between nodes as the engine reads it when a call crosses from its source
//! side to its destination side: nodes the latency cannot tell apart share a class, and a
//! table per pair of classes replaces the scan of the overrides.

use std::collections::HashMap;

use crate::topology::{Place, Topology};

#[derive(Clone, Debug, Default)]
pub struct NodeLatency {
    /// Class of each node.
    class: Vec<u32>,
    classes: usize,
    /// Between two distinct nodes, by (class of one, class of the other).
    between: Vec<u64>,
    /// From a node to itself, by class.
    same_node: Vec<u64>,
}

impl NodeLatency {
    /// The classes of `t`'s nodes: a latency depends on a node's cluster, its zone and, for a
    /// node an override names, the node itself; so nodes alike in these are alike to it.
    pub fn new(t: &Topology) -> NodeLatency {
        let named: Vec<&str> = t
            .network
            .overrides
            .iter()
            .flat_map(|o| [&o.a, &o.b])
            .filter_map(|p| match p {
                Place::Node(n) => Some(n.as_str()),
                _ => None,
            })
            .collect();
        let mut index: HashMap<(&str, &str, &str), u32> = HashMap::new();
        // A node of each class, and a second one where the class has two.
        let mut members: Vec<(usize, Option<usize>)> = Vec::new();
        let class = t
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let name = if named.contains(&n.name.as_str()) { n.name.as_str() } else { "" };
                let c = *index.entry((n.cluster.as_str(), n.zone.as_str(), name)).or_insert_with(|| {
                    members.push((i, None));
                    (members.len() - 1) as u32
                });
                let m = &mut members[c as usize];
                if m.0 != i && m.1.is_none() {
                    m.1 = Some(i);
                }
                c
            })
            .collect();
        let classes = members.len();
        let latency = |a: usize, b: usize| t.network.latency_ns(&t.nodes, a, b);
        let mut between = vec![0; classes * classes];
        for (ca, &(a, a2)) in members.iter().enumerate() {
            for (cb, &(b, _)) in members.iter().enumerate() {
                // Two distinct nodes of one class exist only where it has a second.
                let other = if ca == cb { a2 } else { Some(b) };
                if let Some(b) = other {
                    between[ca * classes + cb] = latency(a, b);
                }
            }
        }
        let same_node = members.iter().map(|&(a, _)| latency(a, a)).collect();
        NodeLatency { class, classes, between, same_node }
    }

    /// The class of node `n`.
    pub fn class(&self, n: usize) -> u32 {
        self.class[n]
    }

    /// One-way latency between a node of class `a` and one of class `b` (`same`: the same node).
    #[inline]
    pub fn between(&self, a: u32, b: u32, same: bool) -> u64 {
        if same {
            self.same_node[a as usize]
        } else {
            self.between[a as usize * self.classes + b as usize]
        }
    }

    /// One-way latency between nodes `a` and `b`, as [`crate::topology::Network::latency_ns`] gives it.
    pub fn ns(&self, a: usize, b: usize) -> u64 {
        self.between(self.class[a], self.class[b], a == b)
    }
}

#[cfg(test)]
mod tests {
    use super::NodeLatency;

    #[test]
    fn every_pair_of_nodes_has_the_latency_of_the_network() {
        for name in ["faces", "bookinfo", "ecommerce-3region"] {
            let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("topologies/{name}.toml"));
            let text = std::fs::read_to_string(&path).expect("a bundled topology");
            let mut t = crate::topology::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
            // A node named by an override gets a class of its own.
            let (a, b) = (t.nodes[0].name.clone(), t.nodes[t.nodes.len() - 1].name.clone());
            t.network.overrides.push(crate::topology::LatencyOverride {
                a: crate::topology::Place::Node(a),
                b: crate::topology::Place::Node(b),
                latency_ns: 7_777,
            });
            let table = NodeLatency::new(&t);
            for a in 0..t.nodes.len() {
                for b in 0..t.nodes.len() {
                    assert_eq!(table.ns(a, b), t.network.latency_ns(&t.nodes, a, b), "{name}: nodes {a} and {b}");
                }
            }
        }
    }
}
