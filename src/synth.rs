//! Synthetic topologies for benchmarks and scaling measurements: a layered call graph of
//! `services` services (at most 10 layers), each calling two services of the next layer with
//! probability one half, so a request makes about one call per layer whatever the size.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// TOML text of a layered synthetic topology. `models_dir` is where the cost model files are,
/// as the topology file will see it (e.g. `"../models"`).
pub fn layered(services: usize, total_rps: f64, models_dir: &str, seed: u64) -> String {
    let services = services.max(1);
    let layers = services.clamp(1, 10);
    let per_layer = services.div_ceil(layers);
    let nodes = services.div_ceil(20).max(3);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut t = format!(
        r#"version = 1
name = "synthetic-{services}"
description = "layered synthetic call graph, {services} services"

[simulation]
duration = "10s"
warmup = "2s"
seed = {seed}

[mesh]
sidecar_model = "{models_dir}/linkerd2-proxy.toml"
ztunnel_model = "{models_dir}/ztunnel.toml"
waypoint_model = "{models_dir}/waypoint-envoy.toml"
node_proxy_model = "{models_dir}/envoy-node.toml"

[[node]]
name = "node"
count = {nodes}
vcpu = 32
memory = "128Gi"
max_pods = 250
"#
    );
    for l in 0..layers {
        t += &format!("\n[[namespace]]\nname = \"layer{l}\"\nwaypoint = {{ replicas = 2 }}\n");
    }
    let name = |i: usize| format!("svc{i}");
    let mut entries = Vec::new();
    for i in 0..services {
        let layer = i / per_layer;
        t += &format!(
            "\n[[service]]\nname = \"{}\"\nnamespace = \"layer{layer}\"\nreplicas = 2\nservice_time = {{ dist = \"exponential\", mean = \"1ms\" }}\n",
            name(i)
        );
        let next_start = (layer + 1) * per_layer;
        if next_start < services {
            let next_end = ((layer + 2) * per_layer).min(services);
            for _ in 0..2 {
                let to = rng.gen_range(next_start..next_end);
                t += &format!("[[service.call]]\nto = \"{}\"\nprobability = 0.5\n", name(to));
            }
        }
        if layer == 0 {
            entries.push(i);
        }
    }
    let rate = total_rps / entries.len() as f64;
    for i in entries {
        t += &format!("\n[[load]]\nto = \"{}\"\nrate = \"{rate}rps\"\n", name(i));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_topologies_parse_and_have_the_asked_size() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/synthetic.toml");
        for n in [1, 10, 100, 1000] {
            let t = crate::topology::parse(&dir, &layered(n, 1000.0, "../models", 1)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(t.services.len(), n);
            assert_eq!(t.pods.len(), 2 * n);
        }
    }
}
