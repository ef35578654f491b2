//! Capacity planning end to end: node counts by bin-packing pods' requests (sidecars and
//! DaemonSets included), autoscaled replicas at a rate, the `--autoscale` flag's checks, and
//! that `none` saturates on shared node CPU too.

use std::path::{Path, PathBuf};
use std::process::Command;

use meshsim::app::capacity::{capacity, CapacityOptions};
use meshsim::app::Overrides;
use meshsim::placement::Placement;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("capacity-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A topology file in `dir` using the uniform fixture models; `body` follows `[mesh]`'s models.
fn topology(dir: &Path, body: &str) -> PathBuf {
    let m = |k: &str| root().join(format!("tests/fixtures/models/uniform-{k}.toml")).display().to_string();
    let text = format!(
        "version = 1\nname = \"t\"\n[simulation]\nduration = \"4s\"\nwarmup = \"1s\"\nseed = 11\n[mesh]\nsidecar_model = {:?}\nnode_proxy_model = {:?}\nztunnel_model = {:?}\nwaypoint_model = {:?}\n{body}",
        m("sidecar"),
        m("node-proxy"),
        m("ztunnel"),
        m("waypoint")
    );
    let p = dir.join("t.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn options(placements: Vec<Placement>, headroom: f64) -> CapacityOptions {
    CapacityOptions {
        slo_p99_ns: 1_000_000_000,
        max_error_rate: 0.001,
        headroom,
        max_rps: None,
        rate_rps: None,
        autoscale_target: None,
        placements,
        progress: false,
    }
}

/// `api` pods requesting 450m each, on 2-vCPU nodes; the sidecar adds its model's default
/// `cpu.request` of 100m to each pod (550m), the node proxy takes 100m of every node.
/// - No headroom (2000m a node), 4 pods: none 1800m, one node; sidecar three pods a node
///   (1650m), the fourth opens a second; per-node 1800m in the 1900m left, one node.
/// - 10% headroom (1800m): none exactly fits one node; sidecar 2; per-node three pods in
///   1700m, so 2.
/// - 25% headroom (1500m), 5 pods: none three pods a node (1350m), 2 nodes; sidecar two a
///   node (a third makes 1650m), 3 nodes, where summing requests (2750m / 1500m) says 2;
///   per-node three a node in 1400m, 2 nodes.
#[test]
fn sidecar_requests_push_pods_onto_another_node() {
    let d = scratch("packing");
    let p = topology(
        &d,
        r#"[network]
same_node = "0us"
same_zone = "0us"
[[node]]
name = "small"
count = 2
vcpu = 2
memory = "8Gi"
[[namespace]]
name = "a"
[[service]]
name = "api"
namespace = "a"
replicas = 4
concurrency = 4
cpu_request = "450m"
memory_request = "64Mi"
service_time = { dist = "constant", mean = "1ms" }
[[load]]
to = "api"
rate = "50rps"
"#,
    );
    let nodes = |headroom: f64| -> Vec<Option<u32>> {
        let mut o = options(vec![Placement::None, Placement::Sidecar, Placement::PerNode], headroom);
        o.rate_rps = Some(50.0);
        o.max_rps = Some(100.0);
        let r = capacity(&p, &Overrides::default(), &o).unwrap();
        r.rows.iter().map(|c| c.at_rate.as_ref().unwrap().nodes).collect()
    };
    assert_eq!(nodes(0.0), vec![Some(1), Some(2), Some(1)]);
    // 10% headroom: 1800m a node. none: 4 × 450m fit exactly (1 node). sidecar: 3 × 550m =
    // 1650m a node, 4 pods → 2 nodes, where the sum 2200m / 1800m also gives 2. per-node:
    // 1700m free, 3 pods a node (1350m) → 2 nodes, where a sum (1800m + 200m over 1800m) gives 2.
    assert_eq!(nodes(0.1), vec![Some(1), Some(2), Some(2)]);
    let five = std::fs::read_to_string(&p).unwrap().replace("replicas = 4", "replicas = 5");
    std::fs::write(&p, five).unwrap();
    assert_eq!(nodes(0.25), vec![Some(2), Some(3), Some(2)]);
}

/// Four `api` pods ask 100m each but use about 900m each at 3600 rps (1 ms of CPU a request):
/// their requests pack onto one 2-vCPU node, their use needs two (two pods a node in 1800m of
/// 2000m, a third would not fit). The count is the one that carries the load, and says use
/// bound it; at 40 rps (about 10m a pod) the requests bind.
#[test]
fn the_node_count_carries_the_cpu_the_pods_use_when_it_exceeds_their_requests() {
    let d = scratch("by-use");
    let p = topology(
        &d,
        r#"[network]
same_node = "0us"
same_zone = "0us"
[[node]]
name = "small"
count = 4
vcpu = 2
memory = "8Gi"
[[namespace]]
name = "a"
[[service]]
name = "api"
namespace = "a"
replicas = 4
concurrency = 8
cpu_request = "100m"
memory_request = "64Mi"
service_time = { dist = "constant", mean = "1ms" }
[[load]]
to = "api"
rate = "40rps"
"#,
    );
    let at = |rate: f64| {
        let mut o = options(vec![Placement::None], 0.0);
        o.rate_rps = Some(rate);
        o.max_rps = Some(80.0);
        let r = capacity(&p, &Overrides::default(), &o).unwrap();
        let s = r.rows[0].at_rate.clone().unwrap();
        (s.nodes, s.nodes_by_requests, s.nodes_bound, s.nodes_note)
    };
    use meshsim::app::capacity::NodesBound;
    let (nodes, by_requests, bound, note) = at(3600.0);
    assert_eq!((nodes, by_requests, bound), (Some(2), Some(1), Some(NodesBound::CpuUse)), "{note:?}");
    assert!(note.unwrap().contains("the CPU they use needs 2"));
    let (nodes, by_requests, bound, note) = at(40.0);
    assert_eq!((nodes, by_requests, bound, note), (Some(1), Some(1), Some(NodesBound::Requests), None));
}

/// A hot service (one replica asking 100m, using about 400m at 200 rps) is scaled up to keep
/// its pods near 70% of their request; a cold one keeps the file's replicas (never fewer).
#[test]
fn autoscaling_raises_the_replicas_of_a_hot_service() {
    let d = scratch("autoscale");
    let p = topology(
        &d,
        r#"[network]
same_node = "0us"
same_zone = "0us"
[[node]]
name = "big"
count = 2
vcpu = 8
memory = "32Gi"
[[namespace]]
name = "a"
[[service]]
name = "hot"
namespace = "a"
replicas = 1
concurrency = 16
cpu_request = "100m"
service_time = { dist = "exponential", mean = "2ms" }
[[service.call]]
to = "cold"
[[service]]
name = "cold"
namespace = "a"
replicas = 2
concurrency = 16
cpu_request = "100m"
service_time = { dist = "exponential", mean = "0.05ms" }
[[load]]
to = "hot"
rate = "200rps"
"#,
    );
    let mut o = options(vec![Placement::None], 0.2);
    o.rate_rps = Some(200.0);
    o.max_rps = Some(400.0);
    o.autoscale_target = Some(0.7);
    let r = capacity(&p, &Overrides::default(), &o).unwrap();
    let s = r.rows[0].at_rate.as_ref().unwrap();
    let replicas: std::collections::BTreeMap<_, _> = s.replicas.iter().cloned().collect();
    // 400m over 100m is 4.0 of the request; ceil(1 × 4.0 / 0.7) = 6, then each of 6 pods is
    // near 0.67, within the HPA's tolerance of 0.7: it settles at 6 (±1 for sampling noise).
    assert!((5..=7).contains(&replicas["hot"]), "{replicas:?}");
    assert_eq!(replicas["cold"], 2, "{replicas:?}");
    assert!(s.autoscale_rounds >= 1, "{}", s.autoscale_rounds);
    // Without autoscaling the file's replicas are what is sized.
    o.autoscale_target = None;
    let r = capacity(&p, &Overrides::default(), &o).unwrap();
    let replicas: std::collections::BTreeMap<_, _> = r.rows[0].at_rate.as_ref().unwrap().replicas.iter().cloned().collect();
    assert_eq!((replicas["hot"], replicas["cold"]), (1, 2));
}

#[test]
fn bad_autoscale_targets_are_refused_with_exit_2() {
    let dir = scratch("bad-autoscale");
    let faces = root().join("topologies/faces.toml");
    let f = faces.to_str().unwrap();
    for (extra, needle) in [
        (vec!["--rate", "100", "--autoscale", "0"], "--autoscale: 0 must be a CPU utilisation share in (0, 1]"),
        (vec!["--rate", "100", "--autoscale", "1.5"], "--autoscale: 1.5 must be a CPU utilisation share in (0, 1]"),
        (vec!["--rate", "100", "--autoscale=-0.2"], "--autoscale: -0.2 must be"),
        (vec!["--rate", "100", "--autoscale", "NaN"], "--autoscale: NaN must be"),
        (vec!["--autoscale", "0.7"], "--autoscale: needs --rate"),
        (vec!["--rate", "100", "--autoscale", "lots"], "--autoscale"),
    ] {
        let mut args = vec!["capacity", f, "--slo-p99", "50ms"];
        args.extend(extra.iter().copied());
        let o = Command::new(env!("CARGO_BIN_EXE_meshsim")).args(&args).current_dir(&dir).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert!(!dir.join("outputs").exists());
}

/// On one 1-vCPU node the application's CPU (0.5 ms a request) and the sidecar's (a 100 µs
/// L7 pass and more per request) share the core: `none` saturates near 2000 rps and so
/// misses the SLO somewhere (a finite capacity), and the sidecar, adding its CPU to the same
/// core, saturates sooner.
#[test]
fn none_saturates_on_shared_node_cpu_and_a_mesh_sooner() {
    let d = scratch("shared-cpu");
    let p = topology(
        &d,
        r#"[network]
same_node = "0us"
same_zone = "0us"
[[node]]
name = "tiny"
vcpu = 1
memory = "4Gi"
[[namespace]]
name = "a"
[[service]]
name = "api"
namespace = "a"
replicas = 1
concurrency = 64
service_time = { dist = "exponential", mean = "0.5ms" }
[[load]]
to = "api"
rate = "100rps"
"#,
    );
    let mut o = options(vec![Placement::None, Placement::Sidecar], 0.2);
    o.slo_p99_ns = 20_000_000;
    let r = capacity(&p, &Overrides::default(), &o).unwrap();
    let (none, sidecar) = (&r.rows[0].search, &r.rows[1].search);
    assert!(none.failing_rps.is_some(), "none never missed the SLO: {none:?}");
    assert!(none.rate_rps > 0.0 && none.rate_rps < 2000.0, "{none:?}");
    assert!(sidecar.rate_rps > 0.0, "{sidecar:?}");
    assert!(none.rate_rps > sidecar.rate_rps * 1.1, "none {} rps, sidecar {} rps", none.rate_rps, sidecar.rate_rps);
}

/// The search varies the offered rate; a closed-loop topology has none to vary, so it is
/// refused with the file and the load's line, not a panic.
#[test]
fn closed_loop_topologies_are_refused() {
    let dir = scratch("closed-loop");
    let f = root().join("topologies/bookinfo-small-nodes.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(["capacity", f.to_str().unwrap(), "--slo-p99", "1s"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bookinfo-small-nodes.toml") && stderr.contains("is closed-loop"), "{stderr}");
    assert!(!dir.join("outputs").exists());
}

/// A one-service topology at `rate` on one roomy node.
fn one_service(dir: &Path, rate: &str) -> PathBuf {
    topology(
        dir,
        &format!(
            "[[node]]\nname = \"n\"\nvcpu = 8\nmemory = \"16Gi\"\n[[namespace]]\nname = \"a\"\n[[service]]\nname = \"api\"\nnamespace = \"a\"\nreplicas = 1\n\
             service_time = {{ dist = \"constant\", mean = \"1ms\" }}\n[[load]]\nto = \"api\"\nrate = \"{rate}\"\n"
        ),
    )
}

/// The search never panics on its own bounds: a ceiling below the lowest rate it would probe
/// is searched up to that ceiling, and loads of 0 rps, which give it no rate to start from,
/// are refused as an input error naming the file.
#[test]
fn a_low_ceiling_is_searched_and_loads_of_no_rate_are_refused() {
    let d = scratch("bounds");
    let mut o = options(vec![Placement::None], 0.2);
    o.max_rps = Some(0.5);
    let r = capacity(&one_service(&d, "100rps"), &Overrides::default(), &o).unwrap();
    let s = &r.rows[0].search;
    assert!(s.probes.iter().all(|&(rate, _)| rate <= 0.5), "{s:?}");
    assert_eq!((s.rate_rps, s.failing_rps), (0.5, None));
    let e = match capacity(&one_service(&d, "0rps"), &Overrides::default(), &options(vec![Placement::None], 0.2)) {
        Err(e) => e,
        Ok(_) => panic!("loads of 0 rps give the search no rate to start from"),
    };
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(e.to_string().contains("t.toml") && e.to_string().contains("0 rps"), "{e}");
}
