//! Synthetic topologies of any size, for measuring how the cost of one sweep case grows with
//! the topology: `services` services in five layers, each calling two services of the next
//! layer with probability 0.5 (so a request makes about one call per layer whatever the
//! size), ten services per namespace, two replicas each by default, on as many nodes as they
//! need. End users call the first layer, or, with one load generator per namespace, each
//! namespace's meshed generator calls its namespace's first service (the shape of large
//! published mesh benchmarks: many namespaces, each loaded on its own).

use std::fmt::Write;

use super::grid::splitmix64;

/// How every synthetic topology begins (so `synth` replaces only files it wrote).
pub const FIRST_LINE: &str = "# Synthetic topology: ";

/// Services per layer boundary: five layers.
const LAYERS: usize = 5;

/// Where a synthetic topology's load comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadShape {
    /// End users call the services of the first layer, the rate split evenly.
    FirstLayer,
    /// A meshed load-generator service in each namespace calls that namespace's first service.
    PerNamespace,
}

/// The size and load of a synthetic topology.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub services: usize,
    /// Replicas of every service.
    pub replicas: usize,
    /// Nodes of 16 vCPU and 64 GiB; `None`: one per 40 pods, at least 3.
    pub nodes: Option<usize>,
    /// Requests per second from all load together.
    pub rate_rps: f64,
    pub loads: LoadShape,
}

impl Shape {
    /// The default shape: two replicas, nodes as needed, 1000 rps into the first layer.
    pub fn of(services: usize) -> Shape {
        Shape { services, replicas: 2, nodes: None, rate_rps: 1000.0, loads: LoadShape::FirstLayer }
    }
}

/// The TOML text of a synthetic topology of the default shape; see [`shaped_text`].
pub fn topology_text(services: usize, seed: u64, models_dir: &str) -> String {
    shaped_text(&Shape::of(services), seed, models_dir)
}

/// The TOML text of a synthetic topology; `models_dir` is written as given (relative to where
/// the file will be saved). The same arguments give the same text.
pub fn shaped_text(shape: &Shape, seed: u64, models_dir: &str) -> String {
    let services = shape.services.max(1);
    let replicas = shape.replicas.max(1);
    let pods = services * replicas;
    let nodes = shape.nodes.unwrap_or_else(|| pods.div_ceil(40).max(3)).max(1);
    let namespaces = services.div_ceil(10);
    let width = services.div_ceil(LAYERS);
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "{FIRST_LINE}{services} services in {LAYERS} layers (meshsim synth).");
    if shape != &Shape::of(services) {
        let loads = match shape.loads {
            LoadShape::FirstLayer => "end users calling the first layer".to_string(),
            LoadShape::PerNamespace => format!("a load generator in each of the {namespaces} namespaces"),
        };
        let _ = writeln!(w, "# {replicas} replicas each ({pods} pods) on {nodes} nodes, {} rps from {loads}.", shape.rate_rps);
    }
    let _ = writeln!(w, "version = 1\nname = \"synth-{services}\"");
    let _ = writeln!(w, "\n[simulation]\nduration = \"5s\"\nwarmup = \"1s\"\nseed = {seed}");
    let _ = writeln!(w, "\n[mesh]\nprofile = \"envoy-1.40-loopback\"\nmodels_dir = \"{models_dir}\"");
    let _ = writeln!(w, "\n[[node]]\nname = \"n\"\ncount = {nodes}\nzone = \"z1\"\nvcpu = 16\nmemory = \"64Gi\"");
    for ns in 0..namespaces {
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
    match shape.loads {
        LoadShape::FirstLayer => {
            // At most [`crate::limits::MAX_LOADS`] of the first layer's services.
            let entries = width.min(services).min(crate::limits::MAX_LOADS);
            for i in 0..entries {
                let _ = writeln!(w, "\n[[load]]\nto = \"svc{i}\"\nrate = \"{:.3}rps\"", shape.rate_rps / entries as f64);
            }
        }
        LoadShape::PerNamespace => {
            let entries = namespaces.min(crate::limits::MAX_LOADS);
            for ns in 0..entries {
                let _ = writeln!(
                    w,
                    "\n[[service]]\nname = \"load-ns{ns}\"\nnamespace = \"ns{ns}\"\nreplicas = 1\ncpu_request = \"100m\"\nmemory_request = \"64Mi\""
                );
            }
            for ns in 0..entries {
                let _ = writeln!(
                    w,
                    "\n[[load]]\nfrom = \"load-ns{ns}\"\nto = \"svc{}\"\nrate = \"{:.3}rps\"",
                    ns * 10,
                    shape.rate_rps / entries as f64
                );
            }
        }
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

    #[test]
    fn a_load_generator_per_namespace_loads_each_namespace_at_its_share() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/synth.toml");
        let shape = Shape { services: 25, replicas: 4, nodes: Some(7), rate_rps: 600.0, loads: LoadShape::PerNamespace };
        let t = crate::topology::parse(&dir, &shaped_text(&shape, 1, "../models")).unwrap_or_else(|e| panic!("{e}"));
        // 25 services in 3 namespaces, and one generator in each.
        assert_eq!(t.namespaces.len(), 3);
        assert_eq!(t.services.len(), 25 + 3);
        assert_eq!(t.pods.len(), 25 * 4 + 3);
        assert_eq!(t.nodes.len(), 7);
        assert!((t.total_rate_rps() - 600.0).abs() < 0.01);
        for (ns, entry) in [(0usize, 0usize), (1, 10), (2, 20)] {
            let generator = t.services.iter().position(|s| s.name == format!("load-ns{ns}")).expect("a generator");
            assert_eq!(t.services[generator].namespace, ns);
            let load = t.loads.iter().find(|l| l.from == Some(generator)).expect("its load");
            assert_eq!(t.services[load.to].name, format!("svc{entry}"));
            assert_eq!(t.services[load.to].namespace, ns);
        }
        // The default shape writes what it always did.
        assert_eq!(shaped_text(&Shape::of(30), 3, "m"), topology_text(30, 3, "m"));
    }
}
