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

/// Every number in a written CSV, JSON or markdown file is finite: no cell or value reads as
/// NaN or infinity. Returns how many numbers were checked.
fn assert_written_numbers_are_finite(dir: &std::path::Path) -> usize {
    let mut checked = 0;
    let not_finite = |s: &str| {
        let t = s.trim().trim_start_matches(['-', '+']).to_ascii_lowercase();
        t == "nan" || t == "inf" || t == "infinity"
    };
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        match path.extension().and_then(|x| x.to_str()) {
            Some("csv") => {
                let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
                for rec in r.records() {
                    for cell in rec.unwrap().iter() {
                        assert!(!not_finite(cell), "{name}: `{cell}`");
                        if let Ok(x) = cell.parse::<f64>() {
                            assert!(x.is_finite(), "{name}: `{cell}`");
                            checked += 1;
                        }
                    }
                }
            }
            Some("json") => {
                fn walk(v: &serde_json::Value, name: &str, checked: &mut usize) {
                    match v {
                        serde_json::Value::Number(n) => {
                            assert!(n.as_f64().is_some_and(f64::is_finite), "{name}: {n}");
                            *checked += 1;
                        }
                        serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, name, checked)),
                        serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, name, checked)),
                        _ => {}
                    }
                }
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                walk(&v, &name, &mut checked);
            }
            Some("md") => {
                for cell in text.split(['|', ' ', '\n']) {
                    assert!(!not_finite(cell), "{name}: `{cell}`");
                }
            }
            _ => {}
        }
    }
    checked
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    /// Bundled topologies at random rates and seeds, short runs: every number meshsim writes
    /// into summary.csv, instances.csv, edges.csv, summary.md and run.json is finite.
    #[test]
    fn every_number_written_is_finite(
        topology in prop::sample::select(vec!["faces", "bookinfo", "ecommerce-3region", "istio-perf", "loopback-bench"]),
        rate in 1u32..4000,
        seed in any::<u64>(),
    ) {
        let dir = scratch("finite");
        let o = meshsim::app::Overrides {
            rate: Some(format!("{rate}rps")),
            duration: Some("2s".into()),
            warmup: Some("500ms".into()),
            seed: Some(seed),
        };
        let path = root().join(format!("topologies/{topology}.toml"));
        // The bench topologies name only the proxies they measure.
        let placements: Vec<meshsim::placement::Layout> = match topology {
            "loopback-bench" => vec![Placement::None.into(), Placement::Sidecar.into()],
            // Istio publishes no per-node proxy figure, so its profile has no such model.
            "istio-perf" => vec![Placement::None.into(), Placement::Sidecar.into(), Placement::Ambient.into()],
            _ => Vec::new(),
        };
        let c = meshsim::app::compare::compare(&path, &placements, &o).unwrap();
        let out = meshsim::app::compare::write(&c, &dir.join("out"), "compare", false).unwrap();
        let checked = assert_written_numbers_are_finite(&out);
        prop_assert!(checked > 50, "only {checked} numbers checked");
    }
}
