//! Invariants over random topologies and seeds: requests are conserved, CPU is never
//! negative, and at equal cost models a placement with more proxies never costs less memory.

use meshsim::placement::Placement;
use meshsim::sim::{Fault, FaultEffect};
use proptest::prelude::*;

use crate::common::*;

/// A random chain-and-fan-out topology using the uniform fixture models.
fn topology_text(services: usize, replicas: &[u32], nodes: u32, rate: u32, waypoints: u32, seed: u64) -> String {
    let models = root().join("tests/fixtures/models");
    let m = models.display();
    let mut t = format!(
        r#"version = 1
name = "random"
[simulation]
duration = "3s"
warmup = "500ms"
seed = {seed}
[mesh]
sidecar_model = "{m}/uniform-sidecar.toml"
node_proxy_model = "{m}/uniform-node-proxy.toml"
ztunnel_model = "{m}/uniform-ztunnel.toml"
waypoint_model = "{m}/uniform-waypoint.toml"
per_node_l7 = "both"
[[node]]
name = "n"
count = {nodes}
vcpu = 16
memory = "64Gi"
[[namespace]]
name = "app"
waypoint = {{ replicas = {waypoints} }}
"#
    );
    for (s, r) in replicas.iter().enumerate().take(services) {
        t += &format!(
            "[[service]]\nname = \"s{s}\"\nnamespace = \"app\"\nreplicas = {r}\nservice_time = {{ dist = \"exponential\", mean = \"1ms\" }}\n"
        );
        // Each service calls the next one or two (a DAG by construction).
        for d in [s + 1, s + 2] {
            if d < services {
                t += &format!("[[service.call]]\nto = \"s{d}\"\n");
            }
        }
    }
    t += &format!("[[load]]\nto = \"s0\"\nrate = \"{rate}rps\"\n");
    t
}

fn arb_topology() -> impl Strategy<Value = String> {
    (1usize..5, prop::collection::vec(1u32..4, 5), 1u32..4, 50u32..400, 1u32..3, 0u64..1000)
        .prop_map(|(s, r, n, rate, w, seed)| topology_text(s, &r, n, rate, w, seed))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    #[test]
    fn requests_are_conserved_and_cpu_is_never_negative(text in arb_topology(), crash in any::<bool>()) {
        let dir = scratch("conservation");
        let path = write(&dir, "random", &text);
        let inputs = inputs(&path);
        for placement in Placement::ALL {
            // Optionally crash the first station mid-run, so failures are conserved too.
            let faults = if crash {
                vec![Fault { stations: vec![0], start_ns: 1_000_000_000, end_ns: Some(1_500_000_000), effect: FaultEffect::Down }]
            } else {
                Vec::new()
            };
            let r = meshsim::app::run_placement(&inputs, placement, 5, faults, None).unwrap();
            let o = &r.output;
            prop_assert_eq!(o.sent, o.succeeded + o.failed + o.in_flight);
            let timeline_sent: u64 = o.timeline.iter().map(|b| b.sent).sum();
            let timeline_done: u64 = o.timeline.iter().map(|b| b.succeeded + b.failed).sum();
            prop_assert_eq!(timeline_sent, o.sent);
            prop_assert!(timeline_done <= timeline_sent);
            prop_assert!(r.summary.proxies.iter().all(|p| p.cpu_millicores >= 0.0 && p.mem_mib >= 0.0));
            prop_assert!(r.summary.summary.app_cpu_millicores >= 0.0);
            prop_assert!(r.output.stations.iter().all(|s| s.cpu_ns >= 0.0 && s.occupancy_ns >= 0.0));
        }
    }

    #[test]
    fn more_proxies_never_cost_less_memory(text in arb_topology()) {
        let dir = scratch("memory");
        let path = write(&dir, "random", &text);
        let inputs = inputs(&path);
        let rows: Vec<(usize, f64)> = Placement::ALL
            .iter()
            .map(|&p| {
                let r = meshsim::app::run_placement(&inputs, p, 5, Vec::new(), None).unwrap();
                (r.summary.summary.proxies, r.summary.summary.dp_mem_mib)
            })
            .collect();
        for a in &rows {
            for b in &rows {
                if a.0 > b.0 {
                    prop_assert!(a.1 >= b.1, "{} proxies: {} MiB < {} proxies: {} MiB", a.0, a.1, b.0, b.1);
                }
            }
        }
    }
}
