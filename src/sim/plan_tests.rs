//! The plan holds each edge's paths as source and destination sides: joined, they must be
//! the deployment's paths, and what is counted over them must be what every path gives.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::plan::{Plan, MAX_PATH_STEPS, NO_PATHS};
use crate::model::CostModels;
use crate::placement::{Deployment, Placement, Stop};
use crate::topology::Topology;

/// Call `f` with each placement of each bundled topology that has several services.
fn each_deployment(mut f: impl FnMut(&str, &Topology, Placement, &Deployment)) {
    for name in ["faces", "bookinfo", "ecommerce-3region", "online-boutique"] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("topologies/{name}.toml"));
        let text = std::fs::read_to_string(&path).expect("a bundled topology");
        let t = crate::topology::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        for placement in Placement::ALL {
            f(name, &t, placement, &Deployment::new(&t, placement, Default::default()));
        }
    }
}

#[test]
fn joined_sides_are_the_deployments_paths_and_pool_the_same_connections() {
    each_deployment(|name, t, placement, d| {
        let plan = Plan::new(t, d, &CostModels::default());
        let station = |s: Stop| match s {
            Stop::Pod(p) => p as u32,
            Stop::Proxy { proxy, .. } => (plan.proxy_station_offset + proxy) as u32,
        };
        let offset = plan.proxy_station_offset;
        let mut peers = vec![BTreeSet::new(); plan.stations.len() - offset];
        for (e, edge) in plan.edges.iter().enumerate() {
            for (i, &src) in edge.src_pods.iter().enumerate() {
                for (j, &dst) in edge.dst_pods.iter().enumerate() {
                    for w in 0..edge.waypoints as usize {
                        let want = d.path(t, src, dst, w);
                        let mut got = [Default::default(); MAX_PATH_STEPS];
                        let (len, back_ns) = plan.write_path(e, i, j, w, &mut got);
                        let got = &got[..len as usize];
                        let at = format!("{name}, {placement}, {}: replicas {i} to {j}, waypoint {w}", edge.name);
                        assert_eq!(got.len(), want.steps.len(), "{at}");
                        for (g, s) in got.iter().zip(&want.steps) {
                            assert_eq!((g.station, g.delay_ns), (station(s.stop), s.delay_ns), "{at}");
                        }
                        assert_eq!(back_ns, want.return_delay_ns(), "{at}");
                        if edge.path_offset != NO_PATHS {
                            let k = edge.path_offset as usize + (i * edge.dst_pods.len() + j) * edge.waypoints as usize + w;
                            let (first, n, back) = plan.paths[k];
                            let whole = &plan.steps[first as usize..(first + n) as usize];
                            let same = whole.len() == got.len() && whole.iter().zip(got).all(|(a, b)| format!("{a:?}") == format!("{b:?}"));
                            assert!(same && back == back_ns, "{at}: the whole path");
                        }
                        assert!(plan.path_stations(e, i, j, w).eq(got.iter().map(|s| s.station)), "{at}");
                        if edge.per_request_connection {
                            continue;
                        }
                        let chain: Vec<u32> = src.map(|p| p as u32).into_iter().chain(got.iter().map(|s| s.station)).collect();
                        for pair in chain.windows(2) {
                            for (a, b) in [(pair[0], pair[1]), (pair[1], pair[0])] {
                                if a as usize >= offset && a != b {
                                    peers[a as usize - offset].insert(b);
                                }
                            }
                        }
                    }
                }
            }
        }
        let want: Vec<usize> = peers.iter().map(BTreeSet::len).collect();
        assert_eq!(plan.pooled_connections, want, "{name}, {placement}: pooled connections");
    });
}

#[test]
fn pass_counts_are_the_sums_over_every_path_to_the_last_bit() {
    use crate::placement::Layer;
    use crate::topology::ConnectionReuse;
    each_deployment(|name, t, placement, d| {
        let (per_call, per_load) = Deployment::calls_per_request(t);
        // Pass by pass, path by path, as the counts were first summed.
        let (mut total, mut l7, mut l4, mut new) = (0.0, 0.0, 0.0, 0.0);
        let edges = t.loads.iter().enumerate().map(|(l, x)| (x.from, x.to, per_load[l], x.connection));
        let calls = t.calls.iter().enumerate().map(|(c, x)| (Some(x.from), x.to, per_call[c], x.connection));
        for (from, to, weight, reuse) in edges.chain(calls) {
            if weight == 0.0 {
                continue;
            }
            let src: Vec<Option<usize>> = from.map_or(vec![None], |s| t.services[s].pods.iter().map(|&p| Some(p)).collect());
            let nw = d.waypoints(to).len().max(1);
            let x = weight / (src.len() * t.services[to].pods.len() * nw) as f64;
            for &s in &src {
                for &p in &t.services[to].pods {
                    for w in 0..nw {
                        for (_, layer) in d.path(t, s, p, w).passes() {
                            total += x;
                            match layer {
                                Layer::L7 => l7 += x,
                                Layer::L4 => l4 += x,
                            }
                            if reuse == ConnectionReuse::PerRequest {
                                new += x;
                            }
                        }
                    }
                }
            }
        }
        let c = d.pass_counts(t);
        let bits = |v: [f64; 4]| v.map(f64::to_bits);
        assert_eq!(bits([c.total, c.l7, c.l4, c.new_connection]), bits([total, l7, l4, new]), "{name}, {placement}");
    });
}

#[test]
fn a_run_is_the_same_with_paths_joined_per_call_as_with_whole_paths() {
    each_deployment(|name, t, placement, d| {
        let mut t = t.clone();
        t.simulation.duration_ns = 2_000_000_000;
        t.simulation.warmup_ns = 200_000_000;
        let whole = Plan::new(&t, d, &CostModels::default());
        assert!(whole.edges.iter().all(|e| e.path_offset != NO_PATHS), "{name}: every edge holds its paths whole");
        let mut joined = whole.clone();
        joined.steps.clear();
        joined.paths.clear();
        joined.edges.iter_mut().for_each(|e| e.path_offset = NO_PATHS);
        let run = |plan: &Plan| format!("{:?}", super::simulate(plan, &super::SimOptions::new(1)).unwrap_or_else(|e| panic!("{e}")));
        assert!(run(&whole) == run(&joined), "{name}, {placement}");
    });
}

#[test]
fn whole_paths_stop_at_their_cap_and_the_rest_join_per_call() {
    // 20,000 services of 2 pods, 3 waypoints per namespace: every edge has at most 12 paths,
    // about 3 million steps were they all held.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = crate::sweep::synth::topology_text(20_000, 1, "models");
    let path = root.join("synth-20000.toml");
    let t = crate::topology::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    let d = Deployment::new(&t, Placement::Ambient, Default::default());
    let plan = Plan::new(&t, &d, &CostModels::default());
    assert!(plan.steps.len() <= super::plan::WHOLE_PATH_STEPS_MAX, "{} steps held", plan.steps.len());
    assert!(plan.steps.len() > super::plan::WHOLE_PATH_STEPS_MAX / 2, "the cap is used, not skipped");
    let joined = plan.edges.iter().filter(|e| e.path_offset == NO_PATHS).count();
    assert!(joined > 0 && joined < plan.edges.len(), "{joined} of {} edges join per call", plan.edges.len());
}
