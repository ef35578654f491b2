//! Engine tests with known answers: queueing on the nodes' shared cores (M/M/1-PS and its
//! insensitivity), CFS throttling through a whole run, closed-loop load (the machine
//! repairman), aligned open-loop connections, background work, conservation, and requests
//! answered after a CPU limit is lifted or a crash ends.

use std::path::Path;

use approx::assert_relative_eq;

use super::engine::simulate;
use super::output::{BackgroundLoad, Fault, FaultEffect, NodeHog, RunOutput, SimError, SimOptions};
use super::plan::Plan;
use crate::model::CostModels;
use crate::placement::{Deployment, Placement};
use crate::topology::{ClosedLoop, ProxyKind, ServiceTime, Topology};

/// A one-node topology with no network delay, one service `srv` (`service` holds its extra
/// keys) and one load (`load` holds its keys).
pub(super) fn topology(duration: &str, vcpu: f64, service: &str, load: &str) -> Topology {
    let text = format!(
        r#"
version = 1
name = "t"
[simulation]
duration = "{duration}"
warmup = "1s"
[mesh]
[network]
same_node = "0us"
same_zone = "0us"
cross_zone = "0us"
cross_cluster = "0us"
[[node]]
name = "n"
vcpu = {vcpu}
memory = "64Gi"
[[namespace]]
name = "ns"
[[service]]
name = "srv"
namespace = "ns"
replicas = 1
{service}
[[load]]
to = "srv"
{load}
"#
    );
    crate::topology::parse(Path::new("t.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

fn run(t: &Topology, seed: u64) -> RunOutput {
    let d = Deployment::new(t, Placement::None, Default::default());
    let plan = Plan::new(t, &d, &CostModels::default());
    simulate(&plan, &SimOptions::new(seed)).unwrap_or_else(|e| panic!("{e}"))
}

fn mean_ms(o: &RunOutput) -> f64 {
    o.edges[0].latency_sum_ns / o.edges[0].latency_ns.len() as f64 / 1e6
}

// ----------------------------------------------------------------- processor sharing

/// One core shared by every request in service (concurrency far above the load's needs):
/// M/G/1-PS with μ = 100,000/s.
fn ps_run(rho: f64, dist: &str, duration: &str) -> (f64, RunOutput) {
    let lambda = rho * 100_000.0;
    let t = topology(
        duration,
        1.0,
        &format!("concurrency = 1024\nservice_time = {{ {dist}, mean = \"10us\" }}"),
        &format!("rate = \"{lambda}rps\""),
    );
    (lambda, run(&t, 3))
}

#[test]
fn mm1_ps_at_half_load_has_mean_sojourn_one_over_mu_minus_lambda() {
    let (lambda, out) = ps_run(0.5, "dist = \"exponential\"", "21s");
    assert_relative_eq!(mean_ms(&out), 1e3 / (100_000.0 - lambda), max_relative = 0.02);
}

#[test]
fn mm1_ps_at_ninety_percent_load_has_mean_sojourn_one_over_mu_minus_lambda() {
    let (lambda, out) = ps_run(0.9, "dist = \"exponential\"", "41s");
    assert_relative_eq!(mean_ms(&out), 1e3 / (100_000.0 - lambda), max_relative = 0.02);
}

#[test]
fn ps_mean_sojourn_is_insensitive_to_the_work_distribution() {
    // M/G/1-PS: the mean sojourn depends on the work's mean only.
    let expected = 1e3 / (100_000.0 - 70_000.0);
    for dist in ["dist = \"constant\"", "dist = \"lognormal\", cv = 2.0", "dist = \"exponential\""] {
        let (_, out) = ps_run(0.7, dist, "21s");
        assert_relative_eq!(mean_ms(&out), expected, max_relative = 0.02);
    }
}

#[test]
fn cpu_on_a_node_never_exceeds_its_cores_and_requests_are_conserved() {
    let (_, out) = ps_run(0.95, "dist = \"exponential\"", "6s");
    let cpu: f64 = out.containers.iter().map(|c| c.cpu_ns).sum();
    assert!(cpu <= 5e9 * 1.0 + 1.0, "{cpu} core-ns in a 5 s window on one core");
    assert!(cpu > 0.9 * 5e9, "{cpu}: a node at ρ 0.95 is busy");
    assert_eq!(out.sent, out.succeeded + out.failed + out.in_flight);
}

// ---------------------------------------------------------------------- CFS limits

#[test]
fn a_cpu_limit_throttles_a_request_through_whole_periods() {
    // 50 ms of CPU with a quota of 20 ms per 100 ms: done at 210 ms after a period's start.
    let mut t = topology(
        "3s",
        4.0,
        "concurrency = 1\nservice_time = { dist = \"constant\", mean = \"50ms\" }",
        "rate = \"1rps\"\narrival = \"constant\"",
    );
    t.services[0].cpu_limit_millicores = Some(200.0);
    let out = run(&t, 1);
    // Requests at 1 s and 2 s, both at a period's start.
    assert_eq!(out.measured_succeeded, 2);
    let h = &out.latency_ns;
    assert!(h.equivalent(h.min(), 210_000_000) && h.equivalent(h.max(), 210_000_000), "{} {}", h.min(), h.max());
    let c = &out.containers[0];
    assert_relative_eq!(c.throttled_ns, 320e6, max_relative = 1e-6);
    assert_eq!(c.throttled_periods, 4);
}

/// One pod on 2 cores serving requests of exactly 50 ms of CPU, arriving on whole seconds
/// (`load`), with `fault` on its station and a hog of `hog_threads` endless threads with the
/// pod's CPU request from `hog_start_ns`. What each second's requests take is known.
fn run_with_fault(load: &str, concurrency: u32, fault: (FaultEffect, u64, u64), hog_threads: u32, hog_start_ns: u64) -> RunOutput {
    let t = topology(
        "5s",
        2.0,
        &format!("concurrency = {concurrency}\ncpu_request = \"100m\"\nservice_time = {{ dist = \"constant\", mean = \"50ms\" }}"),
        load,
    );
    let d = Deployment::new(&t, Placement::None, Default::default());
    let plan = Plan::new(&t, &d, &CostModels::default());
    let mut opts = SimOptions::new(1);
    let (effect, start_ns, end_ns) = fault;
    opts.faults.push(Fault { stations: vec![0], start_ns, end_ns: Some(end_ns), effect });
    opts.hogs.push(NodeHog {
        node: 0,
        threads: hog_threads,
        request_millicores: 100.0,
        limit_millicores: None,
        start_ns: hog_start_ns,
        end_ns: None,
    });
    simulate(&plan, &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// Every request started in second `s` succeeded and took `ms`.
fn assert_second_took(out: &RunOutput, s: usize, ms: u64) {
    let b = &out.timeline[s];
    assert!(b.sent > 0 && b.succeeded == b.sent, "second {s}: {} sent, {} succeeded, {} failed", b.sent, b.succeeded, b.failed);
    let h = &b.latency_ns;
    assert!(h.equivalent(h.min(), ms * 1_000_000) && h.equivalent(h.max(), ms * 1_000_000), "second {s}: {} to {} ns", h.min(), h.max());
}

#[test]
fn every_request_after_a_lifted_cpu_limit_is_answered() {
    // A 0.2-core limit (20 ms per 100 ms period) until 2.05 s. The request of 1 s runs
    // 20 ms in each of three periods: 210 ms. The one of 2 s runs 2.00–2.02, is throttled,
    // and runs its last 30 ms from the lift: 80 ms. A hog of 2 threads from 2.5 s contends
    // for the 2 cores, but the pod's one task keeps a core by weight: 50 ms from 3 s on.
    // The node's CPU bookkeeping went back to the uncontended mode at the lift, before
    // the period's end it had scheduled; it must still schedule the contended seconds.
    let out = run_with_fault(
        "rate = \"1rps\"\narrival = \"constant\"",
        1,
        (FaultEffect::CpuLimit { cores: 0.2 }, 0, 2_050_000_000),
        2,
        2_500_000_000,
    );
    assert_eq!(out.in_flight, 0, "{} of {} requests never answered", out.in_flight, out.sent);
    assert_second_took(&out, 1, 210);
    assert_second_took(&out, 2, 80);
    assert_second_took(&out, 3, 50);
    assert_second_took(&out, 4, 50);
}

#[test]
fn every_request_after_a_crash_ends_is_answered() {
    // Two requests on every whole second; a hog thread with the pod's request keeps a core,
    // so the pod's two tasks share the other: 100 ms each. The crash at 2.05 s fails the
    // two of 2 s and leaves the hog alone (uncontended) before the completion the node
    // had scheduled; after the restart at 2.5 s the requests of 3 s and 4 s take 100 ms.
    let out = run_with_fault(
        "rate = \"2rps\"\narrival = \"constant\"\nconnections = 2",
        2,
        (FaultEffect::Down, 2_050_000_000, 2_500_000_000),
        1,
        0,
    );
    assert_eq!(out.in_flight, 0, "{} of {} requests never answered", out.in_flight, out.sent);
    assert_second_took(&out, 1, 100);
    assert_eq!((out.timeline[2].sent, out.timeline[2].failed), (2, 2));
    assert_second_took(&out, 3, 100);
    assert_second_took(&out, 4, 100);
}

// ----------------------------------------------------------------- closed loop

/// Machine repairman (M/M/1//N): N connections with exponential think time Z in front of an
/// exponential single server of mean S.
fn repairman(n: u32, s_ms: f64, z_ms: f64) -> (f64, f64) {
    let r = s_ms / z_ms.max(1e-12);
    let mut sum = 0.0;
    let mut term = 1.0;
    for k in 0..=n {
        if k > 0 {
            term *= f64::from(n - k + 1) * r;
        }
        sum += term;
    }
    let p0 = 1.0 / sum;
    let x_per_ms = (1.0 - p0) / s_ms;
    let resp_ms = f64::from(n) / x_per_ms - z_ms;
    (x_per_ms * 1e3, resp_ms)
}

fn closed_run(n: u32, think: Option<ServiceTime>, duration: &str) -> RunOutput {
    let mut t = topology(duration, 8.0, "concurrency = 1\nservice_time = { dist = \"exponential\", mean = \"1ms\" }", "rate = \"1rps\"");
    t.loads[0].closed = Some(ClosedLoop { connections: n, think, min_gap_ns: None });
    run(&t, 5)
}

#[test]
fn closed_loop_matches_the_machine_repairman() {
    let (n, z) = (10, 5.0);
    let out = closed_run(n, Some(ServiceTime::Exponential { mean_ns: 5_000_000 }), "201s");
    let (x, r) = repairman(n, 1.0, z);
    let window_s = 200.0;
    let achieved = out.measured_succeeded as f64 / window_s;
    assert_relative_eq!(achieved, x, max_relative = 0.02);
    assert_relative_eq!(out.latency_ns.mean() / 1e6, r, max_relative = 0.02);
    // Little's law over the whole loop: N = X · (R + Z).
    assert_relative_eq!(achieved * (out.latency_ns.mean() / 1e9 + z / 1e3), f64::from(n), max_relative = 0.02);
}

#[test]
fn closed_loop_without_think_time_keeps_the_server_busy() {
    // Every connection always has a request in the system: X = μ, R = N/μ.
    let out = closed_run(4, None, "101s");
    let achieved = out.measured_succeeded as f64 / 100.0;
    assert_relative_eq!(achieved, 1000.0, max_relative = 0.02);
    assert_relative_eq!(out.latency_ns.mean() / 1e6, 4.0, max_relative = 0.02);
}

#[test]
fn a_per_connection_rate_cap_spaces_requests() {
    // 2 connections capped at 10 rps each, answers in 1 ms: 20 rps.
    let mut t = topology("11s", 8.0, "concurrency = 4\nservice_time = { dist = \"constant\", mean = \"1ms\" }", "rate = \"1rps\"");
    t.loads[0].closed = Some(ClosedLoop { connections: 2, think: None, min_gap_ns: Some(100_000_000) });
    let out = run(&t, 1);
    assert_eq!(out.measured_succeeded, 200);
}

// ------------------------------------------------------------------- node CPU hog

#[test]
fn a_hog_on_the_node_slows_requests_by_the_share_it_takes() {
    // One core; the app and a hog thread have equal requests, so while the hog runs a
    // request of 1 ms CPU gets half the core: 2 ms.
    let t = topology(
        "3s",
        1.0,
        "concurrency = 1\ncpu_request = \"100m\"\nservice_time = { dist = \"constant\", mean = \"1ms\" }",
        "rate = \"10rps\"\narrival = \"constant\"",
    );
    let d = Deployment::new(&t, Placement::None, Default::default());
    let plan = Plan::new(&t, &d, &CostModels::default());
    let mut opts = SimOptions::new(1);
    opts.hogs.push(NodeHog { node: 0, threads: 1, request_millicores: 100.0, limit_millicores: None, start_ns: 0, end_ns: None });
    let out = simulate(&plan, &opts).unwrap();
    let h = &out.latency_ns;
    assert!(h.equivalent(h.min(), 2_000_000) && h.equivalent(h.max(), 2_000_000), "{} {}", h.min(), h.max());
    // The hog took the rest of the core: with the app, the core is full.
    let used: f64 = out.containers.iter().map(|c| c.cpu_ns).sum();
    assert_relative_eq!(used, 2e9, max_relative = 1e-3);
}

// -------------------------------------------------- aligned open-loop connections

/// One pod serving one request at a time for exactly 1 ms; `connections` on the load.
fn run_with_connections(connections: u32) -> RunOutput {
    let mut t = topology(
        "2s",
        4.0,
        "concurrency = 1\nservice_time = { dist = \"constant\", mean = \"1ms\" }",
        &format!("rate = \"400rps\"\narrival = \"constant\"\nconnections = {connections}"),
    );
    t.simulation.duration_ns = 1_000_000_000;
    t.simulation.warmup_ns = 100_000_000;
    run(&t, 7)
}

#[test]
fn aligned_connections_send_bursts_that_queue() {
    // 400 rps over 4 connections: a tick every 10 ms sends 4 requests at once; the pod
    // serves them one after another, so they take 1, 2, 3 and 4 ms.
    let out = run_with_connections(4);
    assert_eq!(out.measured_sent % 4, 0);
    assert_eq!(out.measured_sent, 360);
    let h = &out.latency_ns;
    assert_eq!(h.len(), 360);
    assert!(h.equivalent(h.min(), 1_000_000), "min {}", h.min());
    assert!(h.equivalent(h.max(), 4_000_000), "max {}", h.max());
    assert!((h.mean() - 2_500_000.0).abs() < 5_000.0, "mean {}", h.mean());
}

#[test]
fn one_connection_keeps_constant_arrivals_spread() {
    // The same rate on one connection: a request every 2.5 ms, none waits.
    let out = run_with_connections(1);
    assert_eq!(out.measured_sent, 360);
    let h = &out.latency_ns;
    assert!(h.equivalent(h.max(), 1_000_000), "max {}", h.max());
}

// ------------------------------------------------------------------- wrk2 pacing

#[test]
fn wrk2_pacing_sends_each_threads_requests_together_5ms_apart() {
    // One pod, 2 threads of 2 connections at 50 rps: every 80 ms, 2 requests at once and 2
    // more 5 ms later. The pod serves one at a time for 3 ms: the first pair takes 3 and
    // 6 ms; the second, arriving at 5 ms, waits 1 ms and 4 ms, so takes 4 and 7 ms.
    let mut t = topology(
        "2s",
        4.0,
        "concurrency = 1\nservice_time = { dist = \"constant\", mean = \"3ms\" }",
        "rate = \"50rps\"\narrival = \"wrk2\"\nthreads = 2\nconnections = 4",
    );
    t.simulation.duration_ns = 2_000_000_000;
    t.simulation.warmup_ns = 400_000_000;
    let out = run(&t, 7);
    let h = &out.latency_ns;
    // 1.6 s measured at 50 rps, in groups of 4 (a period's ticks may straddle the window).
    assert!((78..=82).contains(&h.len()), "{}", h.len());
    assert!(h.equivalent(h.min(), 3_000_000), "min {}", h.min());
    assert!(h.equivalent(h.max(), 7_000_000), "max {}", h.max());
    assert!((h.mean() - 5_000_000.0).abs() < 150_000.0, "mean {}", h.mean());
    for ms in [3, 4, 6, 7] {
        assert!(h.count_between(ms * 1_000_000 - 10_000, ms * 1_000_000 + 10_000) >= 19, "{ms} ms");
    }
}

// ------------------------------------------------------------- background work

fn faces_plan(placement: Placement) -> (Plan, Deployment) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/faces.toml");
    let text = std::fs::read_to_string(&path).expect("faces.toml is in the repository");
    let mut t = crate::topology::parse(&path, &text).expect("faces.toml is valid");
    t.simulation.duration_ns = 4_000_000_000;
    t.simulation.warmup_ns = 1_000_000_000;
    let models = CostModels::load(&t.mesh.models).expect("models load");
    let d = Deployment::new(&t, placement, models.scopes());
    (Plan::new(&t, &d, &models), d)
}

#[test]
fn background_load_queues_calls_behind_it_and_conserves_requests() {
    let (plan, d) = faces_plan(Placement::Ambient);
    let ztunnel = d.proxies.iter().position(|p| p.kind == ProxyKind::Ztunnel).expect("ambient has ztunnels");
    let station = (plan.proxy_station_offset + ztunnel) as u32;
    let quiet = simulate(&plan, &SimOptions::new(7)).expect("run");
    let mut opts = SimOptions::new(7);
    // 1.5 cores of extra work on one ztunnel: more than its two workers have spare.
    opts.background.push(BackgroundLoad {
        stations: vec![station],
        start_ns: 1_000_000_000,
        end_ns: None,
        job_ns: 300_000,
        jobs_per_s: 5_000.0,
    });
    let noisy = simulate(&plan, &opts).expect("run");
    let p99 = |o: &RunOutput| o.latency_ns.value_at_quantile(0.99);
    assert!(p99(&noisy) > p99(&quiet), "{} <= {}", p99(&noisy), p99(&quiet));
    let s = station as usize;
    assert!(noisy.stations[s].cpu_ns > quiet.stations[s].cpu_ns * 1.5);
    assert_eq!(noisy.sent, noisy.succeeded + noisy.failed + noisy.in_flight);
    // Same seed, same background: the same run.
    let again = simulate(&plan, &opts).expect("run");
    assert_eq!(again.events, noisy.events);
    assert_eq!(p99(&again), p99(&noisy));
}

#[test]
fn background_jobs_on_a_crashed_station_are_dropped_not_failed_as_calls() {
    let (plan, d) = faces_plan(Placement::Ambient);
    let ztunnel = d.proxies.iter().position(|p| p.kind == ProxyKind::Ztunnel).expect("ambient has ztunnels");
    let station = (plan.proxy_station_offset + ztunnel) as u32;
    let mut opts = SimOptions::new(3);
    opts.background.push(BackgroundLoad { stations: vec![station], start_ns: 0, end_ns: None, job_ns: 400_000, jobs_per_s: 10_000.0 });
    opts.faults.push(Fault { stations: vec![station], start_ns: 2_000_000_000, end_ns: Some(3_000_000_000), effect: FaultEffect::Down });
    let out = simulate(&plan, &opts).expect("run");
    assert!(out.failed > 0);
    assert_eq!(out.sent, out.succeeded + out.failed + out.in_flight);
    let timeline_sent: u64 = out.timeline.iter().map(|b| b.sent).sum();
    assert_eq!(timeline_sent, out.sent);
}

#[test]
fn a_long_duration_keeps_the_timeline_small() {
    // A day at 1 rps: the timeline is widened to its bucket limit instead of 86,400 buckets.
    let mut t = topology("2s", 4.0, "service_time = { dist = \"constant\", mean = \"1ms\" }", "rate = \"1rps\"");
    t.simulation.duration_ns = 86_400_000_000_000;
    let out = run(&t, 1);
    assert!(out.timeline.len() as u64 <= super::output::MAX_TIMELINE_BUCKETS);
    assert!(out.sent > 80_000);
}

// ------------------------------------------------------------------- engine limits

fn simulate_with_limits(t: &Topology, max_events: u64, max_pending: u64) -> Result<RunOutput, SimError> {
    let mut t = t.clone();
    t.simulation.max_events = max_events;
    t.simulation.max_pending = max_pending;
    let d = Deployment::new(&t, Placement::None, Default::default());
    simulate(&Plan::new(&t, &d, &CostModels::default()), &SimOptions::new(1))
}

#[test]
fn a_run_past_its_event_limit_stops_with_the_limit_and_the_time_reached() {
    // 100 rps for 10 s is some 4,000 events; a limit of 1,000 is passed near 2.5 s.
    let t = topology("10s", 1.0, "service_time = { dist = \"constant\", mean = \"1ms\" }", "rate = \"100rps\"");
    let full = simulate_with_limits(&t, u64::MAX, u64::MAX).expect("no limit binds");
    assert!(full.events > 1_000);
    match simulate_with_limits(&t, 1_000, u64::MAX) {
        Err(SimError::EventLimit(1_000, at)) => assert!(at > 0 && at < 10_000_000_000, "stopped at {at} ns"),
        other => panic!("expected the event limit, got {:?}", other.map(|o| o.events)),
    }
    // At exactly the events the run needs, it ends normally.
    assert!(simulate_with_limits(&t, full.events, u64::MAX).is_ok());
}

#[test]
fn a_run_whose_pending_events_pile_up_stops_with_the_pending_limit() {
    // Every request waits 100 s off-CPU, so at 1,000 rps the waits pending grow by 1,000 a
    // second: past 500 within the first second. Without the limit the run ends normally.
    let t = topology(
        "3s",
        1.0,
        "concurrency = 100000\ncpu = { dist = \"constant\", mean = \"10us\" }\nwait = { dist = \"constant\", mean = \"100s\" }",
        "rate = \"1000rps\"",
    );
    assert!(simulate_with_limits(&t, u64::MAX, u64::MAX).is_ok());
    match simulate_with_limits(&t, u64::MAX, 500) {
        Err(SimError::PendingLimit(500, at)) => assert!(at < 1_000_000_000, "stopped at {at} ns"),
        other => panic!("expected the pending limit, got {:?}", other.map(|o| o.events)),
    }
}
