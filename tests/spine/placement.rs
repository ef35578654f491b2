//! Placement on the Faces topology: proxies deployed and passes per end-user request must be
//! what design.md's table gives.

use meshsim::placement::{Deployment, Layout, Placement};
use meshsim::topology::ProxyKind;

use crate::common::*;

fn faces() -> meshsim::app::Inputs {
    inputs(&root().join("topologies/faces.toml"))
}

/// The deployment of `layout` on the inputs' topology, with the configuration its models' meshes send.
fn deploy(i: &meshsim::app::Inputs, layout: impl Into<Layout>) -> Deployment {
    Deployment::for_layout(&i.topology, layout.into(), i.models.scopes())
}

fn check(placement: Placement, proxies: usize, passes: f64, l7: f64) {
    let i = faces();
    let (t, d) = (&i.topology, deploy(&i, placement));
    let counts = d.pass_counts(t);
    assert_eq!(d.proxies.len(), proxies, "{placement}: proxies");
    assert!((counts.total - passes).abs() < 1e-9, "{placement}: passes {} != {passes}", counts.total);
    assert!((counts.l7 - l7).abs() < 1e-9, "{placement}: L7 passes {} != {l7}", counts.l7);
}

#[test]
fn faces_none_has_no_proxies() {
    check(Placement::None, 0, 0.0, 0.0);
}

#[test]
fn faces_sidecar_has_27_proxies_and_6_l7_passes() {
    // 9 workloads x 3 replicas, the meshed load generator included; 3 calls x 2 sidecars.
    check(Placement::Sidecar, 27, 6.0, 6.0);
}

#[test]
fn faces_per_node_has_3_proxies_and_6_passes_3_at_l7() {
    // One proxy per node; L7 on the destination side only (mesh.per_node_l7 = "destination").
    check(Placement::PerNode, 3, 6.0, 3.0);
}

#[test]
fn faces_ambient_has_3_ztunnels_3_waypoints_and_9_passes_3_at_l7() {
    // Each of 3 calls: ztunnel (L4) -> waypoint (L7) -> ztunnel (L4).
    check(Placement::Ambient, 6, 9.0, 3.0);
    let d = deploy(&faces(), Placement::Ambient);
    assert_eq!(d.proxies.iter().filter(|p| p.kind == ProxyKind::Ztunnel).count(), 3);
    assert_eq!(d.proxies.iter().filter(|p| p.kind == ProxyKind::Waypoint).count(), 3);
}

/// Faces as a mixed mesh: the load generator keeps sidecars while the app runs ambient.
pub fn mixed_faces(name: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    let text = std::fs::read_to_string(root().join("topologies/faces.toml")).unwrap();
    let text = text.replace("[[namespace]]\nname = \"load\"", "[[namespace]]\nname = \"load\"\nplacement = \"sidecar\"");
    let text = text.replace("[[namespace]]\nname = \"faces\"", "[[namespace]]\nname = \"faces\"\nplacement = \"ambient\"");
    let text = text.replace("\"../models/", &format!("\"{}/models/", root().display()));
    write(&dir, "mixed", &text)
}

#[test]
fn mixed_mesh_takes_source_side_of_caller_and_destination_side_of_callee() {
    let i = inputs(&mixed_faces("mixed"));
    let d = deploy(&i, Layout::AsWritten);
    let counts = d.pass_counts(&i.topology);
    // wrk2 -> face: wrk2's sidecar (L7), face's waypoint (L7), face's ztunnel (L4) = 3;
    // face -> smiley and face -> color: 3 passes each as in ambient.
    assert!((counts.total - 9.0).abs() < 1e-9, "{}", counts.total);
    assert!((counts.l7 - 4.0).abs() < 1e-9, "{}", counts.l7);
    assert_eq!(d.proxies.iter().filter(|p| p.kind == ProxyKind::Sidecar).count(), 3);
}

#[test]
fn a_uniform_placement_overrides_the_namespaces_own() {
    // Each column of a comparison is what its label says, whatever the namespaces name.
    let i = inputs(&mixed_faces("mixed-uniform"));
    let t = &i.topology;
    for (placement, proxies, passes) in [(Placement::None, 0, 0.0), (Placement::Sidecar, 27, 6.0), (Placement::Ambient, 6, 9.0)] {
        let d = deploy(&i, placement);
        assert_eq!(d.proxies.len(), proxies, "{placement}");
        assert!((d.pass_counts(t).total - passes).abs() < 1e-9, "{placement}");
        assert!(d.namespace_placement.iter().all(|&p| p == placement), "{placement}");
    }
    let d = deploy(&i, Layout::AsWritten);
    assert_eq!(d.describe_namespaces(t), "faces=ambient;load=sidecar");
}

#[test]
fn simulated_passes_match_the_placement_table() {
    // The engine's pass counters agree with the static count: passes/s / rate ≈ passes/request.
    let r = run(&root().join("topologies/faces.toml"), Placement::Sidecar);
    let passes_per_s: f64 = r.summary.proxies.iter().map(|p| p.passes_per_s).sum();
    let per_request = passes_per_s / r.summary.summary.offered_rps;
    assert!((per_request - 6.0).abs() < 0.1, "{per_request}");
}
