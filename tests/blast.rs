//! `meshsim blast` on the Faces topology: the checks with known answers from the issue.
//! Runs are short (12 s simulated at 600 rps) so the suite stays fast in debug builds.

use std::path::{Path, PathBuf};

use meshsim::app::blast::{apply_flags, blast, blast_placement, BlastFlags};
use meshsim::app::{load_inputs, Inputs, Overrides};
use meshsim::blast::scenario::Settings;
use meshsim::blast::{PlacementResult, StaticAnalysis};
use meshsim::placement::{Deployment, Placement};

fn faces_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/faces.toml")
}

fn short() -> Overrides {
    Overrides { rate: Some("600rps".into()), duration: Some("12s".into()), warmup: Some("2s".into()), seed: Some(11) }
}

fn flags(retries: Option<u32>) -> BlastFlags {
    BlastFlags { fail_at: Some("4s".into()), outage: Some("4s".into()), retries, ..BlastFlags::default() }
}

fn inputs(retries: Option<u32>) -> Inputs {
    let mut i = load_inputs(&faces_path(), &short()).expect("faces loads");
    apply_flags(&mut i, &flags(retries)).expect("flags are valid");
    i
}

fn run(placement: Placement, retries: Option<u32>) -> PlacementResult {
    run_with(placement, &flags(retries))
}

fn run_with(placement: Placement, f: &BlastFlags) -> PlacementResult {
    let mut i = load_inputs(&faces_path(), &short()).expect("faces loads");
    apply_flags(&mut i, f).expect("flags are valid");
    let settings = Settings { blast: i.topology.blast.clone(), seed: 11 };
    blast_placement(&i, placement, &settings).expect("blast runs")
}

mod static_radius {
    use super::*;

    fn analysis(p: Placement) -> (meshsim::topology::Topology, StaticAnalysis) {
        let i = inputs(None);
        let (t, d) = (i.topology.clone(), Deployment::new(&i.topology, p, i.models.scopes()));
        let a = StaticAnalysis::new(&t, &d);
        (t, a)
    }

    #[test]
    fn one_sidecar_failure_cuts_one_pod_and_exposes_one_identity() {
        let (_, a) = analysis(Placement::Sidecar);
        for c in a.of_kind("sidecar") {
            assert_eq!(c.pods_cut.len(), 1, "{}", c.name);
            assert_eq!(c.identities.len(), 1, "{}", c.name);
        }
    }

    #[test]
    fn one_ztunnel_failure_cuts_a_third_of_the_pods_and_exposes_its_nodes_accounts() {
        let (t, a) = analysis(Placement::Ambient);
        let ztunnels = a.of_kind("ztunnel");
        assert_eq!(ztunnels.len(), 3);
        for c in ztunnels {
            let Some(node) = t.nodes.iter().position(|n| format!("ztunnel/{}", n.name) == c.name) else {
                panic!("{} names no node", c.name)
            };
            let on_node: Vec<usize> = (0..t.pods.len()).filter(|&p| t.pods[p].node == node).collect();
            assert_eq!(c.pods_cut, on_node, "{}", c.name);
            assert_eq!(c.pods_cut.len() * 3, t.pods.len());
            let accounts: std::collections::BTreeSet<usize> = on_node.iter().map(|&p| t.pods[p].service).collect();
            assert_eq!(c.identities.len(), accounts.len());
            assert_eq!(c.identities.len(), 9);
        }
    }
}

mod dynamic_runs {
    use super::*;

    #[test]
    fn one_retry_to_another_replica_hides_a_sidecar_crash() {
        let without = run(Placement::Sidecar, None);
        let with = run(Placement::Sidecar, Some(1));
        let name = "crash sidecar (worst)";
        let a = without.run(name).expect("scenario ran");
        let b = with.run(name).expect("scenario ran");
        assert_eq!(a.scenario.target_name, "sidecar/face-1");
        assert!(a.outcome.failed_share_outage > 0.25, "{:?}", a.outcome.failed_share_outage);
        assert!(b.outcome.failed_share_outage < 0.005, "{:?}", b.outcome.failed_share_outage);
        // The requests still complete: as many succeed during the outage as were sent.
        assert!(b.outcome.sent_outage > 1000);
        let ok: u64 = b.outcome.timeline.iter().map(|x| x.succeeded).sum();
        assert!(ok as f64 > 0.995 * b.sent as f64);
    }

    #[test]
    fn outlier_detection_stops_sending_to_a_crashed_sidecar() {
        let f = flags(None);
        let without = run_with(Placement::Sidecar, &f);
        let mut i = load_inputs(&faces_path(), &short()).expect("faces loads");
        apply_flags(&mut i, &f).expect("flags are valid");
        // Eject a replica after 5 errors in a row for 30 s, Envoy's defaults.
        i.topology.mesh.outlier_detection =
            Some(meshsim::topology::OutlierDetection { consecutive_errors: 5, ejection_ns: 30_000_000_000, max_ejection_percent: 10 });
        let settings = Settings { blast: i.topology.blast.clone(), seed: 11 };
        let with = blast_placement(&i, Placement::Sidecar, &settings).expect("blast runs");
        let name = "crash sidecar (worst)";
        let a = without.run(name).expect("scenario ran").outcome.failed_share_outage;
        let b = with.run(name).expect("scenario ran").outcome.failed_share_outage;
        assert!(a > 0.25, "without outlier detection: {a}");
        // A handful of errors per edge before the ejection, out of thousands of requests.
        assert!(b < 0.01, "with outlier detection: {b}");
        assert!(b > 0.0, "the first errors still happen: {b}");
    }

    #[test]
    fn noisy_tenant_slows_ambient_with_a_cpu_limited_ztunnel_but_not_sidecars() {
        // At 600 rps a ztunnel uses ~0.4 core, within a 0.6-core CFS quota; the tenant's
        // 600 Mbit/s adds ~0.33 core, which takes it past the quota: the ztunnel is throttled
        // every period and its passes wait for the next.
        let f = BlastFlags { cpu_limit: Some("600m".into()), noisy_tenant: Some("600Mbps".into()), ..flags(None) };
        let ambient = run_with(Placement::Ambient, &f);
        let base = ambient.run("baseline").expect("baseline");
        let limited = ambient.run("cpu-limit ztunnel").expect("cpu limit");
        let noisy = ambient.run("noisy-tenant").expect("noisy");
        assert!(noisy.scenario.target_name.starts_with("ztunnel/"));
        let p99 = |r: &meshsim::blast::ScenarioResult| r.outcome.latency_p99_outage_ms.expect("requests succeeded");
        assert!(
            p99(noisy) > p99(base) * 1.2 && p99(noisy) > p99(limited) * 1.2,
            "noisy {} vs baseline {} and limit alone {}",
            p99(noisy),
            p99(base),
            p99(limited)
        );
        let sidecar = run_with(Placement::Sidecar, &f);
        let base = sidecar.run("baseline").expect("baseline");
        let noisy = sidecar.run("noisy-tenant").expect("noisy");
        assert_eq!(noisy.outcome, base.outcome);
    }

    #[test]
    fn outage_timelines_conserve_requests() {
        for p in [Placement::Sidecar, Placement::Ambient] {
            let r = run(p, None);
            for s in &r.runs {
                assert_eq!(s.sent, s.succeeded + s.failed + s.in_flight, "{}", s.scenario.name);
                let tl = &s.outcome.timeline;
                let sent: u64 = tl.iter().map(|b| b.sent).sum();
                let done: u64 = tl.iter().map(|b| b.succeeded + b.failed).sum();
                assert_eq!(sent, s.sent, "{}", s.scenario.name);
                assert_eq!(done + s.in_flight, sent, "{}", s.scenario.name);
                for b in tl {
                    assert!(b.slo_missed >= b.failed && b.succeeded + b.failed <= b.sent);
                }
            }
            let crash = r.runs.iter().find(|s| s.scenario.name == "crash node (worst)");
            let crash = crash.expect("node crash ran");
            // At least the third of requests sent by the load generator's pod on the dead node
            // fail, whatever the retries (ambient's waypoints retry by Istio's default).
            assert!(crash.outcome.failed_share_outage > 1.0 / 3.0 - 0.02, "{p}: {}", crash.outcome.failed_share_outage);
            assert_eq!(crash.outcome.failed_share_run.min(1.0), crash.outcome.failed_share_run);
            assert!(crash.outcome.time_to_recover_s.is_some());
        }
    }
}

/// The two-zone shop of `tests/fixtures/shop-2zone.toml`: a load generator and every
/// service with a replica per zone, 400 rps for 20 s, failures from 6 s for 6 s.
mod shop {
    use super::*;

    pub fn path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shop-2zone.toml")
    }

    /// Failures at 6 s for 6 s; no retries, so the dynamic shares match the static paths.
    pub fn flags() -> BlastFlags {
        BlastFlags { fail_at: Some("6s".into()), outage: Some("6s".into()), retries: Some(0), ..BlastFlags::default() }
    }

    pub fn run_with(placement: Placement, f: &BlastFlags) -> PlacementResult {
        let mut i = load_inputs(&path(), &Overrides::default()).expect("shop loads");
        apply_flags(&mut i, f).expect("flags are valid");
        let settings = Settings { blast: i.topology.blast.clone(), seed: 7 };
        blast_placement(&i, placement, &settings).expect("blast runs")
    }

    #[test]
    fn a_node_crash_in_none_fails_exactly_the_requests_whose_path_crosses_it() {
        let r = run_with(Placement::None, &flags());
        for name in ["crash node (worst)", "crash node (seeded)"] {
            let s = r.run(name).expect("node crash ran");
            let expected = r.target_impact(s).expect("a node").traffic_share;
            let got = s.outcome.failed_share_outage;
            // About 2,400 requests in the outage: a share within 0.04 of the path count's.
            assert!((got - expected).abs() < 0.04, "{name} on {}: failed {got}, paths through it {expected}", s.scenario.target_name);
        }
    }

    #[test]
    fn a_dead_load_generator_sends_nothing_in_any_placement() {
        // The node holding loadgen-1 (and a replica of everything else): every placement loses
        // the requests it would have sent, `none` included, so the shares are comparable.
        let mut shares = Vec::new();
        for p in [Placement::None, Placement::Sidecar, Placement::Ambient] {
            let r = run_with(p, &flags());
            let s = r.run("crash node (worst)").expect("node crash ran");
            assert_eq!(s.scenario.target_name, "node/a-1", "{p}");
            shares.push((p, s.outcome.failed_share_outage, r.target_impact(s).expect("a node").traffic_share));
        }
        let none = shares[0].1;
        assert!(none > 0.5, "none loses the load generator's half and more: {none}");
        for &(p, got, expected) in &shares {
            assert!((got - expected).abs() < 0.04, "{p}: failed {got}, paths through the node {expected}");
        }
        // Sidecars add no component beyond the node's own pods; ambient also loses the
        // waypoint replica scheduled there.
        assert!((shares[1].1 - none).abs() < 0.04, "sidecar {} against none's {none}", shares[1].1);
    }

    #[test]
    fn istio_default_retries_hide_one_replica_crash() {
        // The fixture's sidecars are Istio's: 2 retries on another host by default.
        let f = BlastFlags { retries: None, ..flags() };
        let r = run_with(Placement::Sidecar, &f);
        assert!(r.resilience.contains("2 on another host by default of istio-1.24-sidecar"), "{}", r.resilience);
        let s = r.run("crash sidecar (worst)").expect("sidecar crash ran");
        assert_eq!(s.scenario.target_name, "sidecar/frontend-1");
        assert!(s.outcome.failed_share_outage < 0.002, "{}", s.outcome.failed_share_outage);
        assert_eq!(s.outcome.time_to_fail_ms, None, "nothing failed: nothing to measure");
        let without = run_with(Placement::Sidecar, &flags());
        let s0 = without.run("crash sidecar (worst)").expect("sidecar crash ran");
        assert!(
            (s0.outcome.failed_share_outage - 0.5).abs() < 0.04,
            "half the requests reach frontend-1: {}",
            s0.outcome.failed_share_outage
        );
        assert!(without.resilience.contains("0 as written"), "{}", without.resilience);
    }

    #[test]
    fn replicas_spread_over_both_zones_and_a_zone_failure_kills_everything_in_it() {
        let t = load_inputs(&path(), &Overrides::default()).expect("shop loads").topology;
        for s in &t.services {
            let mut zones: Vec<&str> = s.pods.iter().map(|&p| t.nodes[t.pods[p].node].zone.as_str()).collect();
            zones.sort();
            assert_eq!(zones, ["zone-a", "zone-b"], "{}", s.name);
        }
        for p in [Placement::None, Placement::Sidecar, Placement::Ambient] {
            let r = run_with(p, &flags());
            let s = r.run("crash zone (worst)").expect("zone crash ran");
            let c = r.target_impact(s).expect("a zone");
            // Every pod in the zone is cut: six of twelve, one replica of every service.
            assert_eq!(c.pods_cut.len(), 6, "{p}");
            assert!(
                (s.outcome.failed_share_outage - c.traffic_share).abs() < 0.04,
                "{p}: {} vs {}",
                s.outcome.failed_share_outage,
                c.traffic_share
            );
        }
    }

    #[test]
    fn an_upgrade_replaces_sidecars_with_their_pods_and_restarts_ztunnels_node_by_node() {
        let f = BlastFlags { retries: None, ..flags() };
        let sidecar = run_with(Placement::Sidecar, &f);
        let up = sidecar.run("upgrade sidecar").expect("sidecar upgrade ran");
        // Ten shop pods (not the load generator's two) in two waves of 2 s.
        assert!(up.scenario.note.starts_with("10 instances in 2 waves"), "{}", up.scenario.note);
        assert_eq!(up.scenario.window_ns, (6_000_000_000, 10_000_000_000));
        let ambient = run_with(Placement::Ambient, &f);
        let up_z = ambient.run("upgrade ztunnel").expect("ztunnel upgrade ran");
        assert!(up_z.scenario.note.starts_with("4 instances in 4 waves"), "{}", up_z.scenario.note);
        // Waypoint replicas are a Deployment: the old one is drained while the new one serves.
        let up_w = ambient.run("upgrade waypoint").expect("waypoint upgrade ran");
        assert!(up_w.outcome.failed_share_outage < 0.01, "waypoint upgrade: {}", up_w.outcome.failed_share_outage);
        assert!(
            sidecar.run("upgrade ztunnel").is_none()
                && run_with(Placement::None, &f).runs.iter().all(|r| !r.scenario.name.starts_with("upgrade"))
        );
        // A pod replaced with its new sidecar is drained first; a restarting ztunnel cuts the
        // pods of its node, the load generator's among them, which no retry reaches.
        assert!(up.outcome.failed_share_outage < 0.01, "sidecar upgrade: {}", up.outcome.failed_share_outage);
        assert!(up_z.outcome.failed_share_outage > 0.1, "ztunnel upgrade: {}", up_z.outcome.failed_share_outage);
    }

    #[test]
    fn each_sidecar_keeps_its_own_outlier_state() {
        // Eject after 5 errors in a row for 30 s. Both load-generator pods call frontend
        // through their own sidecars: each must see its own 5 errors from the crashed
        // frontend-1 before it stops choosing it, so about 10 requests fail, not 5.
        let mut i = load_inputs(&path(), &Overrides::default()).expect("shop loads");
        apply_flags(&mut i, &flags()).expect("flags are valid");
        i.topology.mesh.outlier_detection =
            Some(meshsim::topology::OutlierDetection { consecutive_errors: 5, ejection_ns: 30_000_000_000, max_ejection_percent: 50 });
        let settings = Settings { blast: i.topology.blast.clone(), seed: 7 };
        let r = blast_placement(&i, Placement::Sidecar, &settings).expect("blast runs");
        let s = r.run("crash sidecar (worst)").expect("sidecar crash ran");
        assert_eq!(s.scenario.target_name, "sidecar/frontend-1");
        let failed: u64 = s.outcome.timeline.iter().map(|b| b.failed).sum();
        // In-flight requests at the crash fail too (a few at 400 rps and ~20 ms).
        assert!((10..=20).contains(&failed), "{failed} failed");
    }

    /// The shop with a third zone and three replicas of everything, written beside the
    /// fixture's models (paths made absolute).
    fn three_zones() -> PathBuf {
        let text = std::fs::read_to_string(path()).expect("fixture")
            .replace("../../models/", &format!("{}/models/", env!("CARGO_MANIFEST_DIR")))
            .replace("replicas = 2\n", "replicas = 3\n")
            .replace(
                "[[namespace]]\nname = \"load\"",
                "[[node]]\nname = \"c\"\ncount = 2\ncluster = \"c1\"\nzone = \"zone-c\"\nvcpu = 8\nmemory = \"32Gi\"\n\n[[namespace]]\nname = \"load\"",
            );
        let dir = std::env::temp_dir().join(format!("meshsim-shop3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let p = dir.join("shop-3zone.toml");
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn a_zone_failure_in_a_three_zone_spread_of_three_replicas_leaves_two() {
        let p = three_zones();
        let mut i = load_inputs(&p, &Overrides::default()).expect("three-zone shop loads");
        let t = &i.topology;
        for s in &t.services {
            let mut zones: Vec<&str> = s.pods.iter().map(|&q| t.nodes[t.pods[q].node].zone.as_str()).collect();
            zones.sort();
            assert_eq!(zones, ["zone-a", "zone-b", "zone-c"], "{}", s.name);
        }
        apply_flags(&mut i, &flags()).expect("flags are valid");
        let settings = Settings { blast: i.topology.blast.clone(), seed: 7 };
        let r = blast_placement(&i, Placement::None, &settings).expect("blast runs");
        let s = r.run("crash zone (worst)").expect("zone crash ran");
        let c = r.target_impact(s).expect("a zone");
        // One replica of each of the six services is cut; two of each survive.
        assert_eq!(c.pods_cut.len(), 6);
        let t = &i.topology;
        for svc in &t.services {
            let alive = svc.pods.iter().filter(|q| !c.pods_cut.contains(q)).count();
            assert_eq!(alive, 2, "{}", svc.name);
        }
        // With no retries, a request survives when its load generator and every replica it
        // picks lie outside the dead zone: the failed share is the static paths' share.
        assert!((s.outcome.failed_share_outage - c.traffic_share).abs() < 0.04, "{} vs {}", s.outcome.failed_share_outage, c.traffic_share);
        // Each pick (load generator, frontend, cart, catalog; checkout and payment on half the
        // requests) is alive with probability 2/3, so 1 - (2/3)^4 (1/2 + (2/3)^2 / 2) of the
        // requests cross the dead zone.
        let two_thirds = 2.0f64 / 3.0;
        let expected = 1.0 - two_thirds.powi(4) * (0.5 + 0.5 * two_thirds.powi(2));
        assert!((c.traffic_share - expected).abs() < 0.03, "{} vs {expected}", c.traffic_share);
    }
}

/// What a failure costs in time: a dead node answers nothing, so connections to it wait for
/// the client's connect timeout; a crashed process on a live node is refused at once.
mod time_to_fail {
    use super::*;

    /// `meshsim blast` on the shop with these flags and `[blast] connect_timeout` set.
    fn shop_with_connect_timeout(p: Placement, f: &BlastFlags, connect_timeout_ns: Option<u64>) -> PlacementResult {
        let mut i = load_inputs(&shop::path(), &Overrides::default()).expect("shop loads");
        apply_flags(&mut i, f).expect("flags are valid");
        i.topology.blast.connect_timeout_ns = connect_timeout_ns;
        let settings = Settings { blast: i.topology.blast.clone(), seed: 7 };
        blast_placement(&i, p, &settings).expect("blast runs")
    }

    #[test]
    fn attempts_to_a_dead_node_fail_at_the_connect_timeout() {
        // No retries, a 3 s connect timeout: every request that meets the dead node (its
        // load generator's, or a pick of a replica there) fails 3 s after it started, plus
        // at most a round trip (a few ms; the histogram keeps two significant digits).
        let r = shop_with_connect_timeout(Placement::None, &shop::flags(), Some(3_000_000_000));
        let s = r.run("crash node (worst)").expect("node crash ran");
        let o = &s.outcome;
        let expected = r.target_impact(s).expect("a node").traffic_share;
        assert!((o.failed_share_outage - expected).abs() < 0.04, "failed {} against {expected}", o.failed_share_outage);
        let fail = o.time_to_fail_ms.expect("requests failed");
        assert!((3000.0..3000.0 * 1.01 + 5.0).contains(&fail), "time to fail {fail} ms");
        // Most requests failed, slowly: the p99 over all of them is the timeout, not the
        // p99 of the few that succeeded.
        let all = o.latency_p99_all_outage_ms.expect("requests sent");
        assert!(all >= 3000.0 && all > o.latency_p99_outage_ms.expect("some succeeded"), "p99 all {all}");
        assert!(r.resilience.contains("connect timeout: 3s as written in [blast]"), "{}", r.resilience);
    }

    #[test]
    fn without_a_proxy_the_kernel_gives_up_after_127_s() {
        let r = shop_with_connect_timeout(Placement::None, &shop::flags(), None);
        let s = r.run("crash node (worst)").expect("node crash ran");
        let fail = s.outcome.time_to_fail_ms.expect("requests failed");
        assert!((127_000.0..127_000.0 * 1.01 + 5.0).contains(&fail), "time to fail {fail} ms");
        // Still counted, though they end long after the run's duration.
        assert!(s.outcome.failed_share_outage > 0.5, "{}", s.outcome.failed_share_outage);
        assert!(r.resilience.contains("connect timeout: 127s the kernel's: no proxy"), "{}", r.resilience);
    }

    #[test]
    fn half_the_first_attempts_to_two_replicas_wait_out_the_timeout() {
        // The seeded node crash takes a node without a load generator: half the calls to
        // each service with a replica there pick it and, with no retries, fail at Istio's
        // default connect timeout of 10 s; the requests that avoid it are unchanged.
        let r = shop_with_connect_timeout(Placement::Sidecar, &shop::flags(), None);
        assert!(r.resilience.contains("10s by default of istio-1.24-sidecar"), "{}", r.resilience);
        let s = r.run("crash node (seeded)").expect("node crash ran");
        let c = r.target_impact(s).expect("a node");
        assert!(!s.scenario.target_name.ends_with("a-1"), "{}", s.scenario.target_name);
        assert!((s.outcome.failed_share_outage - c.traffic_share).abs() < 0.04, "{} vs {}", s.outcome.failed_share_outage, c.traffic_share);
        let fail = s.outcome.time_to_fail_ms.expect("requests failed");
        assert!((10_000.0..10_000.0 * 1.01 + 5.0).contains(&fail), "time to fail {fail} ms");
    }

    #[test]
    fn a_retry_after_a_timed_out_attempt_carries_the_wait() {
        // Istio's two retries on another host: a call that picked the dead node's replica
        // waits 10 s, then succeeds on the other one. Those requests succeed slowly, so the
        // p99 of successes is the timeout, not an improvement.
        let f = BlastFlags { retries: None, ..shop::flags() };
        let r = shop_with_connect_timeout(Placement::Sidecar, &f, None);
        let s = r.run("crash node (seeded)").expect("node crash ran");
        let o = &s.outcome;
        assert!(o.failed_share_outage < 0.01, "retried elsewhere: {}", o.failed_share_outage);
        let ok = o.latency_p99_outage_ms.expect("requests succeeded");
        assert!(ok >= 10_000.0, "p99 of successes {ok} ms");
        assert!(o.slowed_share_outage > 0.2, "slowed {}", o.slowed_share_outage);
    }

    #[test]
    fn a_crashed_process_on_a_live_node_is_refused_within_a_round_trip() {
        // frontend-1's sidecar crashes; its node answers with a reset. New requests that
        // pick it fail within about a round trip (2 × 0.6 ms cross-zone plus the proxies);
        // those in flight at the crash fail at that instant.
        let r = shop::run_with(Placement::Sidecar, &shop::flags());
        let s = r.run("crash sidecar (worst)").expect("sidecar crash ran");
        assert_eq!(s.scenario.target_name, "sidecar/frontend-1");
        let fail = s.outcome.time_to_fail_ms.expect("requests failed");
        assert!(fail < 3.0, "time to fail {fail} ms");
    }
}

/// Cluster failure on `tests/fixtures/two-cluster.toml`: a load generator, front and back,
/// one replica of each per cluster, no retries.
mod cluster_failure {
    use super::*;

    #[test]
    fn a_cluster_failure_fails_seven_eighths_of_a_two_tier_graph() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/two-cluster.toml");
        for p in [Placement::None, Placement::Sidecar] {
            let mut i = load_inputs(&path, &Overrides::default()).expect("two-cluster loads");
            apply_flags(&mut i, &BlastFlags { retries: Some(0), ..BlastFlags::default() }).expect("flags are valid");
            let settings = Settings { blast: i.topology.blast.clone(), seed: 5 };
            let r = blast_placement(&i, p, &settings).expect("blast runs");
            let s = r.run("crash cluster (worst)").expect("cluster crash ran");
            let c = r.target_impact(s).expect("a cluster");
            assert_eq!(c.pods_cut.len(), 3, "{p}");
            assert!((c.traffic_share - 0.875).abs() < 1e-9, "{p}: static {}", c.traffic_share);
            // About 2,000 requests in the 5 s outage: 7/8 within 3 standard errors (0.022).
            let got = s.outcome.failed_share_outage;
            assert!((got - 0.875).abs() < 0.025, "{p}: failed {got}");
            // The fixture's own connect timeout (2 s), plus at most a cross-cluster round trip.
            let fail = s.outcome.time_to_fail_ms.expect("requests failed");
            assert!((2000.0..2000.0 * 1.01 + 12.0).contains(&fail), "{p}: time to fail {fail} ms");
            // Back with the cluster after 5 s; the requests started then succeed.
            assert_eq!(s.outcome.time_to_recover_s, Some(5.0), "{p}");
        }
    }
}

mod output {
    use super::*;

    #[test]
    fn same_seed_same_bytes() {
        let dir = std::env::temp_dir().join(format!("meshsim-blast-test-{}", std::process::id()));
        let mut bytes = Vec::new();
        for k in 0..2 {
            let r = blast(&faces_path(), &[Placement::Sidecar], &short(), &flags(None)).expect("blast runs");
            let out = dir.join(format!("run{k}"));
            let written = meshsim::app::blast::write(&r, &out, false).expect("written");
            let read = |f: &str| std::fs::read(written.join(f)).expect("file exists");
            for f in
                ["blast-static.csv", "blast-spread.csv", "timeline.csv", "blast.md", "timeline-sidecar.svg", "report.html", "results.json"]
            {
                assert!(!read(f).is_empty(), "{f}");
            }
            bytes.push((read("blast.csv"), read("timeline.csv"), read("blast.md"), read("results.json"), read("report.html")));
        }
        assert_eq!(bytes[0], bytes[1]);
        let csv = String::from_utf8(bytes[0].0.clone()).expect("utf-8");
        assert!(csv.starts_with("placement,scenario,target,failed_share_outage"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_flags_and_blast_tables_exit_2_naming_the_place() {
        let bin = env!("CARGO_BIN_EXE_meshsim");
        let out = std::process::Command::new(bin)
            .args(["blast", faces_path().to_str().expect("utf-8 path"), "--fail-at", "1h"])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--fail-at"));

        let dir = std::env::temp_dir().join(format!("meshsim-blast-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let text =
            std::fs::read_to_string(faces_path()).expect("faces").replace("../models/", &format!("{}/models/", env!("CARGO_MANIFEST_DIR")));
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, format!("{text}\n[blast]\noutage = \"ten seconds\"\n")).expect("write");
        let out = std::process::Command::new(bin).args(["blast", bad.to_str().expect("utf-8 path")]).output().expect("runs");
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bad.toml:") && err.contains("blast.outage"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// Golden: `meshsim blast topologies/faces.toml` with the topology's own settings and seed
/// (20250327, recorded in the command below), its `blast.csv` and `blast.md` compared byte
/// for byte with `tests/golden/faces.blast.csv` and `tests/golden/faces.blast.md`. After an
/// intended change, regenerate them with
/// `UPDATE_GOLDEN=1 cargo test --release --test blast golden` and review the diff.
mod golden {
    use std::process::Command;

    use super::*;

    #[test]
    fn golden_faces_blast() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = std::env::temp_dir().join(format!("meshsim-golden-blast-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        // Run from the repository with a relative topology path, so no machine's folders are recorded.
        let o = Command::new(env!("CARGO_BIN_EXE_meshsim"))
            .args(["blast", "topologies/faces.toml", "--seed", "20250327", "--out", out.to_str().unwrap()])
            .current_dir(root)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        for file in ["blast.csv", "blast.md"] {
            let got = std::fs::read_to_string(out.join(file)).unwrap();
            // A golden file only guards what it holds: every placement ran its failures.
            for p in ["none", "sidecar", "per-node", "ambient"] {
                assert!(
                    got.contains(&format!("{p},crash node (worst)")) || got.contains(&format!("| {p} | crash node (worst)")),
                    "{file}: {p}"
                );
            }
            let path = root.join(format!("tests/golden/faces.{file}"));
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", path.display()));
            assert_eq!(got, want, "{file} differs from {}", path.display());
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}
