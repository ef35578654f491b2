//! Synthetic topologies of any size, for measuring how the cost of one sweep case grows with
//! the topology: `services` services in five layers, each calling two services of the next
//! layer with probability 0.5 (so a request makes about one call per layer whatever the
//! size), ten services per namespace, two replicas each, on as many nodes as they need.

use std::fmt::Write;

use super::grid::splitmix64;

/// How every synthetic topology begins (so `synth` replaces only files it wrote).
pub const FIRST_LINE: &str = "# Synthetic topology: ";

/// Services per layer boundary: five layers.
const LAYERS: usize = 5;

/// The TOML text of a synthetic topology; `models_dir` is written as given (relative to where
/// the file will be saved). The same arguments give the same text.
pub fn topology_text(services: usize, seed: u64, models_dir: &str) -> String {
    let services = services.max(1);
    let replicas = 2;
    let pods = services * replicas;
    let nodes = pods.div_ceil(40).max(3);
    let width = services.div_ceil(LAYERS);
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "{FIRST_LINE}{services} services in {LAYERS} layers (meshsim synth).");
    let _ = writeln!(w, "version = 1\nname = \"synth-{services}\"");
    let _ = writeln!(w, "\n[simulation]\nduration = \"5s\"\nwarmup = \"1s\"\nseed = {seed}");
    let _ = writeln!(w, "\n[mesh]\nprofile = \"envoy-1.40-loopback\"\nmodels_dir = \"{models_dir}\"");
    let _ = writeln!(w, "\n[[node]]\nname = \"n\"\ncount = {nodes}\nzone = \"z1\"\nvcpu = 16\nmemory = \"64Gi\"");
    for ns in 0..services.div_ceil(10) {
        let _ = writeln!(w, "\n[[namespace]]\nname = \"ns{ns}\"\nwaypoint = {{ scope = \"namespace\", replicas = 3 }}");
    }
    let mut rng = seed;
    for i in 0..services {
        let _ = writeln!(
            w,
            "\n[[service]]\nname = \"svc{i}\"\nnamespace = \"ns{}\"\nreplicas = {replicas}\ncpu_request = \"100m\"\nmemory_request = \"64Mi\"\nservice_time = {{ dist = \"exponential\", mean = \"1ms\" }}",
            i / 10
        );
        // The next layer is one contiguous range of indices.
        let next = next_layer(services, width, i);
        if next.is_empty() {
            continue;
        }
        let mut picked = Vec::new();
        for _ in 0..2 {
            rng = splitmix64(rng);
            let j = next.start + (rng % next.len() as u64) as usize;
            if !picked.contains(&j) {
                picked.push(j);
            }
        }
        for j in picked {
            let _ = writeln!(w, "\n[[service.call]]\nto = \"svc{j}\"\nprobability = 0.5");
        }
    }
    // End users call the first layer, at most [`crate::limits::MAX_LOADS`] of its services.
    let entries = width.min(services).min(crate::limits::MAX_LOADS);
    for i in 0..entries {
        let _ = writeln!(w, "\n[[load]]\nto = \"svc{i}\"\nrate = \"{:.3}rps\"", 1000.0 / entries as f64);
    }
    s
}

/// Indices of the services in the layer after service `i`'s (layers are `width` wide).
fn next_layer(services: usize, width: usize, i: usize) -> std::ops::Range<usize> {
    let first = (i / width + 1) * width;
    first.min(services)..(first + width).min(services)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_layer_is_the_services_one_layer_down() {
        for services in [1usize, 2, 7, 10, 23, 100] {
            let width = services.div_ceil(LAYERS);
            for i in 0..services {
                let scanned: Vec<usize> = (0..services).filter(|&j| j / width == i / width + 1).collect();
                assert_eq!(next_layer(services, width, i).collect::<Vec<_>>(), scanned, "{services} services, service {i}");
            }
        }
    }

    #[test]
    fn synthetic_topologies_validate_at_every_size() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/synth.toml");
        for n in [1, 10, 100] {
            let text = topology_text(n, 1, "../models");
            let t = crate::topology::parse(&dir, &text).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(t.services.len(), n);
            assert!((t.total_rate_rps() - 1000.0).abs() < 0.1);
        }
    }
}
