//! Kubernetes' response to a node failure in `meshsim blast` (NotReady, eviction, replacement
//! pods on surviving nodes with room) and retry budgets, on small fixtures with known answers.

use std::path::{Path, PathBuf};

use meshsim::app::blast::blast_placement;
use meshsim::app::{load_inputs, Inputs, Overrides};
use meshsim::blast::scenario::Settings;
use meshsim::blast::{PlacementResult, ScenarioResult};
use meshsim::mesh_defaults::mesh_defaults;
use meshsim::placement::{Deployment, Placement};
use meshsim::sim::{simulate, Fault, FaultEffect, Plan, RunOutput, SimOptions};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/one-replica.toml")
}

/// The fixture with `edit` applied to its text, written to a temporary file (model paths
/// made absolute).
fn variant(name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-resched-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text =
        std::fs::read_to_string(fixture()).expect("fixture").replace("../../models/", &format!("{}/models/", env!("CARGO_MANIFEST_DIR")));
    let path = dir.join("one-replica.toml");
    std::fs::write(&path, edit(text)).expect("write");
    path
}

fn blast(path: &Path, placement: Placement) -> PlacementResult {
    let i = load_inputs(path, &Overrides::default()).expect("fixture loads");
    let settings = Settings { blast: i.topology.blast.clone(), seed: 5 };
    blast_placement(&i, placement, &settings).expect("blast runs")
}

fn node_crash(p: &PlacementResult) -> &ScenarioResult {
    let r = p.run("crash node (worst)").expect("a node crash");
    assert_eq!(r.scenario.target_name, "node/a", "the node of api's only replica");
    r
}

/// (second, sent, failed) of each timeline bucket.
fn seconds(r: &ScenarioResult) -> Vec<(u64, u64, u64)> {
    r.outcome.timeline.iter().map(|b| (b.t_s as u64, b.sent, b.failed)).collect()
}

#[test]
fn a_crashed_nodes_replica_serves_again_after_reschedule_after_plus_pod_startup() {
    // fail_at 4 s, reschedule_after 3 s, pod_startup 2 s: api's replacement serves from 9 s.
    for placement in Placement::ALL {
        let p = blast(&fixture(), placement);
        let r = node_crash(&p);
        assert_eq!(r.rescheduled, Some((1, 0)), "{placement}");
        assert!(r.scenario.note.contains("serving from 9s"), "{placement}: {}", r.scenario.note);
        for (s, sent, failed) in seconds(r) {
            match s {
                // A request in flight at the crash fails too.
                0..=2 | 10.. => assert_eq!(failed, 0, "{placement} second {s}"),
                4..=7 => assert_eq!(failed, sent, "{placement} second {s}"),
                _ => {}
            }
        }
        assert_eq!(r.outcome.time_to_recover_s, Some(5.0), "{placement}");
    }
}

#[test]
fn a_replica_with_no_room_on_the_survivors_is_unscheduled_and_never_recovers() {
    // api requests 1000m; node b has 1 vCPU, less its load generator's and proxies' requests.
    let path = variant("full", |t| t.replacen("name = \"b\"\nvcpu = 4", "name = \"b\"\nvcpu = 1", 1));
    for placement in [Placement::None, Placement::Sidecar, Placement::Ambient] {
        let p = blast(&path, placement);
        let r = node_crash(&p);
        assert_eq!(r.rescheduled, Some((0, 1)), "{placement}");
        assert!(r.scenario.note.contains("1 did not fit (api-1)"), "{placement}: {}", r.scenario.note);
        for (s, sent, failed) in seconds(r).into_iter().filter(|&(s, _, _)| s >= 4) {
            assert_eq!(failed, sent, "{placement} second {s}");
        }
        assert_eq!(r.outcome.time_to_recover_s, None, "{placement}");
    }
}

#[test]
fn with_kubernetes_defaults_a_short_run_sees_no_rescheduling_and_says_so() {
    let path = variant("defaults", |t| {
        t.split("[blast]").next().expect("text").to_string() + "[blast]\nfail_at = \"4s\"\nnode_reschedule = \"60s\"\n"
    });
    let p = blast(&path, Placement::None);
    let r = node_crash(&p);
    assert_eq!(r.rescheduled, Some((0, 0)));
    assert!(r.scenario.note.contains("eviction at 354s comes after the run's end at 16s"), "{}", r.scenario.note);
    assert!(seconds(r).into_iter().filter(|&(s, _, _)| s >= 4).all(|(_, sent, failed)| failed == sent));
}

/// Two replicas of api at 2000 rps under sidecars with Istio's two retries; api-1 and its
/// sidecar down from 2 s to the end, so half of all first attempts fail.
fn storm(budget: u32, crash: bool) -> (RunOutput, Plan) {
    let path = variant("storm", |t| {
        t.replace("replicas = 1\ncpu_request", "replicas = 2\ncpu_request").replace("rate = \"200rps\"", "rate = \"2000rps\"")
    });
    let Inputs { topology, models, .. } =
        load_inputs(&path, &Overrides { duration: Some("6s".into()), ..Overrides::default() }).expect("loads");
    let d = Deployment::new(&topology, Placement::Sidecar, models.scopes());
    let (t, _, _) = mesh_defaults(&topology, &d, &models);
    let mut plan = Plan::new(&t, &d, &models);
    for e in &mut plan.edges {
        e.retry_budget = budget;
    }
    let api1 = t.pods.iter().position(|p| p.name == "api-1").expect("api-1");
    let sidecar = d.proxies.iter().position(|x| x.pod == Some(api1)).expect("its sidecar");
    let mut o = SimOptions::new(5);
    o.faults.extend(crash.then(|| Fault {
        stations: vec![api1 as u32, (t.pods.len() + sidecar) as u32],
        start_ns: 2_000_000_000,
        end_ns: None,
        effect: FaultEffect::Down,
    }));
    (simulate(&plan, &o).expect("runs"), plan)
}

fn proxy_cpu_ns(out: &RunOutput, plan: &Plan) -> f64 {
    out.stations[plan.proxy_station_offset..].iter().map(|s| s.cpu_ns).sum()
}

#[test]
fn a_retry_budget_caps_retries_in_flight_and_every_retry_sent_costs_its_passes() {
    let (none, plan) = storm(0, true);
    assert_eq!(none.retries, 0);
    assert!(none.retries_over_budget > 1000, "{}", none.retries_over_budget);
    let (one, _) = storm(1, true);
    assert!(one.retries > 0 && one.retries_in_flight_max == 1, "{} {}", one.retries, one.retries_in_flight_max);
    assert!(one.retries_over_budget > 0);
    let (many, _) = storm(1000, true);
    assert_eq!(many.retries_over_budget, 0);
    assert!(many.retries_in_flight_max <= 1000 && many.retries > one.retries);
    // Every failed first attempt is retried once on the live replica: the extra CPU is one
    // successful attempt's two sidecar passes per retry, as a request without failure costs.
    let retried = |o: &RunOutput| o.edges.iter().map(|e| e.retried).sum::<u64>() as f64;
    let (healthy, _) = storm(0, false);
    let per_request = proxy_cpu_ns(&healthy, &plan) / healthy.measured_sent as f64;
    let extra = proxy_cpu_ns(&many, &plan) - proxy_cpu_ns(&none, &plan);
    let expected = retried(&many) * per_request;
    assert!((extra / expected - 1.0).abs() < 0.1, "extra {extra:.0} ns vs {expected:.0} ns for {} retries", retried(&many));
    // All requests succeed with retries, half fail from 2 s without.
    assert!(many.measured_failed * 100 < many.measured_sent, "{} of {}", many.measured_failed, many.measured_sent);
    assert!(none.measured_failed * 3 > none.measured_sent);
}
