//! `meshsim blast`'s control-plane outage: running proxies keep serving, new pods wait for
//! the control plane, certificates that expire in the window fail their workloads. Known
//! answers on Faces (27 pods on 3 nodes) and the bundled scale-out topology.

use std::path::{Path, PathBuf};

use meshsim::app::blast::{apply_flags, blast_placement, BlastFlags};
use meshsim::app::{load_inputs, Inputs, Overrides};
use meshsim::blast::outage::{certificate_expiry, NAME};
use meshsim::blast::scenario::Settings;
use meshsim::blast::{PlacementResult, ScenarioResult};
use meshsim::placement::{Deployment, Placement};

fn topology(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies").join(name)
}

/// Faces for 12 s at 600 rps, the control plane down from 4 s to 8 s.
fn faces() -> Inputs {
    let o = Overrides { rate: Some("600rps".into()), duration: Some("12s".into()), warmup: Some("2s".into()), seed: Some(11) };
    let mut i = load_inputs(&topology("faces.toml"), &o).expect("faces loads");
    let f = BlastFlags { fail_at: Some("4s".into()), outage: Some("4s".into()), ..BlastFlags::default() };
    apply_flags(&mut i, &f).expect("flags are valid");
    i
}

/// Every certificate the control plane signs lives `ttl_s` seconds.
fn with_ttl(mut i: Inputs, ttl_s: u64) -> Inputs {
    for c in i.control_plane.components.iter_mut() {
        if let Some(cert) = c.certificates.as_mut() {
            cert.ttl_ns = ttl_s * 1_000_000_000;
        }
    }
    i
}

fn blast(i: &Inputs, p: Placement) -> PlacementResult {
    let settings = Settings { blast: i.topology.blast.clone(), seed: 11 };
    blast_placement(i, p, &settings).expect("blast runs")
}

fn outage(r: &PlacementResult) -> &ScenarioResult {
    r.run(NAME).unwrap_or_else(|| panic!("{:?} has a control-plane outage scenario", r.placement))
}

#[test]
fn running_proxies_keep_serving_through_the_outage() {
    let i = faces();
    for p in [Placement::Sidecar, Placement::Ambient] {
        let r = blast(&i, p);
        let o = outage(&r);
        assert_eq!(o.failed, 0, "{p:?}: nothing fails while the control plane is down");
        assert!(o.outcome.sent_outage > 1000, "{p:?}: traffic flows in the window ({} sent)", o.outcome.sent_outage);
        assert_eq!(o.outcome.failed_share_outage, 0.0);
        assert!(o.scenario.note.contains("configured again"), "{p:?}: {}", o.scenario.note);
        // A day's certificates outlive a 4 s outage.
        assert!(o.scenario.note.contains(" 0 of "), "{p:?}: {}", o.scenario.note);
        assert!(o.scenario.faults.is_empty());
    }
}

#[test]
fn without_a_mesh_there_is_no_control_plane_to_lose() {
    let r = blast(&faces(), Placement::None);
    assert!(r.run(NAME).is_none());
}

#[test]
fn certificates_are_held_per_pod_with_sidecars_and_per_identity_and_node_in_ambient() {
    let i = faces();
    let t = &i.topology;
    let (start, end) = (t.blast.fail_at_ns, t.blast.fail_at_ns + t.blast.outage_ns);
    let sidecar = Deployment::new(t, Placement::Sidecar, i.models.scopes());
    let held: Vec<u64> = certificate_expiry(t, &sidecar, &i.control_plane, start, end).iter().map(|(_, e)| e.held).collect();
    assert_eq!(held, vec![t.pods.len() as u64], "one per sidecar: 27");
    let ambient = Deployment::new(t, Placement::Ambient, i.models.scopes());
    let held: Vec<u64> = certificate_expiry(t, &ambient, &i.control_plane, start, end).iter().map(|(_, e)| e.held).collect();
    // Faces' 9 identities on each of 3 nodes (27 ztunnel certificates) and 3 waypoints.
    assert_eq!(held, vec![30]);
}

#[test]
fn certificates_whose_renewal_falls_in_the_window_expire_and_fail_their_workloads() {
    // ttl 6 s against a 4 s outage from 4 s. Issue times are spread evenly over the last
    // ttl x renew_at before it: a certificate issued `a` before the outage expires in it when
    // a > 6 - 4 = 2 s, so a share 1 - 2 / (6 x renew_at) of them expire.
    let i = with_ttl(faces(), 6);
    let t = &i.topology;
    let (start, end) = (t.blast.fail_at_ns, t.blast.fail_at_ns + t.blast.outage_ns);
    // Linkerd (renewed at 70%): 27 x (1 - 2 / 4.2) = 14.1 of 27.
    let sidecar = Deployment::new(t, Placement::Sidecar, i.models.scopes());
    let e = certificate_expiry(t, &sidecar, &i.control_plane, start, end);
    assert_eq!(e[0].1.held, 27, "{}", e[0].0);
    assert!((e[0].1.expired as f64 - 27.0 * (1.0 - 2.0 / 4.2)).abs() <= 1.0, "{} expired", e[0].1.expired);
    for f in &e[0].1.faults {
        assert_eq!(f.stations.len(), 2, "a sidecar's pod and the sidecar");
        assert!(f.start_ns >= start && f.start_ns < end && f.end_ns == Some(end));
    }
    // istiod (renewed at 50%): 30 x (1 - 2 / 3) = 10 of 30.
    let ambient = Deployment::new(t, Placement::Ambient, i.models.scopes());
    let e = certificate_expiry(t, &ambient, &i.control_plane, start, end);
    assert_eq!(e[0].1.held, 30, "{}", e[0].0);
    assert!((e[0].1.expired as f64 - 10.0).abs() <= 1.0, "{} expired", e[0].1.expired);
    // Twice the outage's length of life: none expire.
    let long = with_ttl(faces(), 9);
    let e = certificate_expiry(t, &ambient, &long.control_plane, start, end);
    assert_eq!(e[0].1.expired, 0, "istiod renews at 4.5 s of 9: every one was renewed less than 4.5 s ago");

    // In the run those workloads refuse connections until the control plane is back.
    for p in [Placement::Sidecar, Placement::Ambient] {
        let r = blast(&i, p);
        let o = outage(&r);
        assert!(o.outcome.failed_share_outage > 0.0, "{p:?}: expired certificates fail requests");
        assert!(o.scenario.note.contains("expire in the window"), "{}", o.scenario.note);
        let base = &r.runs[0];
        assert_eq!(base.failed, 0, "{p:?}: the baseline has no outage");
    }
}

#[test]
fn new_pods_wait_for_the_control_plane() {
    // cart scales 10 -> 100 at 10 s; its new pods are Ready at 20 s, inside an outage of
    // 15 s to 25 s.
    let o = Overrides { duration: Some("30s".into()), seed: Some(3), ..Overrides::default() };
    let mut i = load_inputs(&topology("churn-scale.toml"), &o).expect("churn-scale loads");
    let f = BlastFlags { fail_at: Some("15s".into()), outage: Some("10s".into()), ..BlastFlags::default() };
    apply_flags(&mut i, &f).expect("flags are valid");
    let r = blast(&i, Placement::Sidecar);
    let o = outage(&r);
    assert!(o.scenario.note.contains("90 pods Ready in the window reach no proxy"), "{}", o.scenario.note);
    assert_eq!(o.failed, 0, "the 10 running pods keep serving");
    // Once back, istiod pushes again: the recovery is measured, not left open.
    assert!(o.scenario.note.contains("configured again"), "{}", o.scenario.note);
    // Moving the outage past the new pods' readiness holds none of them.
    let f = BlastFlags { fail_at: Some("22s".into()), outage: Some("4s".into()), ..BlastFlags::default() };
    apply_flags(&mut i, &f).expect("flags are valid");
    let r = blast(&i, Placement::Sidecar);
    assert!(!outage(&r).scenario.note.contains("Ready in the window"), "{}", outage(&r).scenario.note);
    // An outage past the run's end has no recovery to report.
    let f = BlastFlags { fail_at: Some("25s".into()), outage: Some("60s".into()), ..BlastFlags::default() };
    apply_flags(&mut i, &f).expect("flags are valid");
    let r = blast(&i, Placement::Sidecar);
    assert!(outage(&r).scenario.note.contains("still down at the run's end"), "{}", outage(&r).scenario.note);
}
