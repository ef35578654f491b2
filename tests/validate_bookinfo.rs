//! `meshsim validate`'s Bookinfo group: LiveWyer's measured throughput per mesh
//! (`calibration/livewyer-bookinfo.csv`) against `topologies/bookinfo-small-nodes.toml`.

use std::path::PathBuf;

use meshsim::app::validate::bookinfo::{read_measured, validate_bookinfo, SHARE_TARGET_POINTS};
use meshsim::placement::Placement;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_measured_mesh_is_checked_against_its_own_studys_baseline() {
    let measured = root().join("calibration/livewyer-bookinfo.csv");
    let rows = read_measured(&measured).unwrap();
    assert_eq!(rows.len(), 21);
    let checks = validate_bookinfo(&rows, &measured, &root().join("topologies/bookinfo-small-nodes.toml"), 1).unwrap();
    // 3 meshes of the 2024 study and 2 of the Istio 1.22 one, at 32, 64 and 128 connections.
    assert_eq!(checks.len(), 15);
    let linkerd: Vec<_> = checks.iter().filter(|c| c.series.starts_with("linkerd,")).collect();
    assert_eq!(linkerd.len(), 3);
    for c in &checks {
        // The measured share is the mesh's rate over the same study's baseline at the same
        // connection count: Istio's sidecar at 32 connections, 120.27 / 157.45 rps.
        if c.series.starts_with("istio-sidecar, 32") && c.dataset.ends_with("mesh-2024") {
            assert!((c.measured - 76.39).abs() < 0.01, "{}", c.describe());
        }
        assert!(c.simulated > 0.0 && c.simulated <= 101.0, "{}", c.describe());
        assert_eq!(c.target, SHARE_TARGET_POINTS / c.measured);
    }
    // Linkerd's sidecars, fitted on Faces, hold within 5 points on Bookinfo at every count.
    for c in linkerd {
        assert_eq!(c.placement, Placement::Sidecar);
        assert!(c.within_target(), "{}", c.describe());
    }
}

#[test]
fn bad_measurements_are_named_by_file_and_line_all_at_once() {
    let dir = std::env::temp_dir().join(format!("meshsim-bookinfo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("m.csv");
    std::fs::write(&f, "study,mesh,connections,qps,source\ns,baseline,32,157,x\ns,linkerd,32,-1,x\ns,istio-sidecar,many,120,x\n").unwrap();
    let e = read_measured(&f).unwrap_err().to_string();
    assert!(e.contains("m.csv:3: qps and connections must be positive"), "{e}");
    assert!(e.contains("m.csv:4: connections: "), "{e}");
    std::fs::write(&f, "study,mesh,connections,qps,source\ns,baseline,32,157,x\ns,kuma,32,120,x\n").unwrap();
    let e = validate_bookinfo(&read_measured(&f).unwrap(), &f, &root().join("topologies/bookinfo-small-nodes.toml"), 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("mesh `kuma` is none of"), "{e}");
    std::fs::write(&f, "study,mesh,connections,qps,source\ns,baseline,32,157,x\ns,linkerd,64,120,x\n").unwrap();
    let e = validate_bookinfo(&read_measured(&f).unwrap(), &f, &root().join("topologies/bookinfo-small-nodes.toml"), 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("has no baseline at 64 connections"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
