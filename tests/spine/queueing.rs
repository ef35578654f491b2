//! Queueing cases with known answers: the engine must reproduce M/M/1, M/M/c, a Jackson
//! tandem and Little's law within 2%.

use approx::assert_relative_eq;
use meshsim::placement::Placement;

use crate::common::*;

fn mean_sojourn_ms(run: &meshsim::app::PlacementRun, edge: usize) -> f64 {
    run.summary.edges[edge].latency_mean_ms.expect("some calls succeeded")
}

/// M/M/1 with service rate μ = 100,000/s (mean 10 µs): time is scaled so that a few
/// simulated seconds hold millions of customers.
fn mm1(rho: f64, duration: &str) -> (f64, f64, meshsim::app::PlacementRun) {
    let mu = 100_000.0;
    let lambda = rho * mu;
    let dir = scratch(&format!("mm1-{rho}"));
    let text = queueing_topology(
        duration,
        r#"[[service]]
name = "server"
namespace = "app"
replicas = 1
concurrency = 1
service_time = { dist = "exponential", mean = "10us" }"#,
        &format!("[[load]]\nto = \"server\"\nrate = \"{lambda}rps\""),
    );
    let run = run(&write(&dir, "mm1", &text), Placement::None);
    (lambda, mu, run)
}

#[test]
fn mm1_at_half_load_matches_one_over_mu_minus_lambda() {
    let (lambda, mu, run) = mm1(0.5, "22s");
    let expected_ms = 1e3 / (mu - lambda);
    assert_relative_eq!(mean_sojourn_ms(&run, 0), expected_ms, max_relative = 0.02);
}

#[test]
fn mm1_at_ninety_percent_load_matches_one_over_mu_minus_lambda() {
    let (lambda, mu, run) = mm1(0.9, "62s");
    let expected_ms = 1e3 / (mu - lambda);
    assert_relative_eq!(mean_sojourn_ms(&run, 0), expected_ms, max_relative = 0.02);
}

#[test]
fn littles_law_holds_at_the_station() {
    let (lambda, _mu, run) = mm1(0.5, "22s");
    let window_ns = 20e9;
    // L measured as the time-average of calls present, independent of per-call timings.
    let l = run.output.stations[0].occupancy_ns / window_ns;
    let w_s = mean_sojourn_ms(&run, 0) / 1e3;
    let achieved = run.output.edges[0].calls as f64 / 20.0;
    assert_relative_eq!(achieved, lambda, max_relative = 0.01);
    assert_relative_eq!(l, achieved * w_s, max_relative = 0.02);
    // And L = ρ/(1-ρ) = 1 for M/M/1 at ρ = 0.5.
    assert_relative_eq!(l, 1.0, max_relative = 0.03);
}

/// Erlang C: mean time in an M/M/c system.
pub fn mmc_sojourn_s(lambda: f64, mu: f64, c: u32) -> f64 {
    let a = lambda / mu;
    let rho = a / c as f64;
    let mut sum = 0.0;
    let mut term = 1.0;
    for k in 0..c {
        if k > 0 {
            term *= a / k as f64;
        }
        sum += term;
    }
    let last = term * a / c as f64 / (1.0 - rho);
    let p_wait = last / (sum + last);
    p_wait / (c as f64 * mu - lambda) + 1.0 / mu
}

#[test]
fn mmc_matches_erlang_c() {
    let (c, mu) = (3u32, 100_000.0);
    let lambda = 0.8 * c as f64 * mu;
    let dir = scratch("mmc");
    let text = queueing_topology(
        "22s",
        r#"[[service]]
name = "server"
namespace = "app"
replicas = 1
concurrency = 3
service_time = { dist = "exponential", mean = "10us" }"#,
        &format!("[[load]]\nto = \"server\"\nrate = \"{lambda}rps\""),
    );
    let run = run(&write(&dir, "mmc", &text), Placement::None);
    let expected_ms = mmc_sojourn_s(lambda, mu, c) * 1e3;
    assert_relative_eq!(mean_sojourn_ms(&run, 0), expected_ms, max_relative = 0.02);
}

#[test]
fn tandem_of_mm1_stations_adds_their_sojourns() {
    // A then B: by Burke's theorem A's departures are Poisson, so B is M/M/1 too (Jackson).
    let lambda = 50_000.0;
    let (mu_a, mu_b) = (100_000.0, 200_000.0);
    let dir = scratch("tandem");
    let text = queueing_topology(
        "22s",
        r#"[[service]]
name = "a"
namespace = "app"
replicas = 1
concurrency = 1
service_time = { dist = "exponential", mean = "10us" }
[[service.call]]
to = "b"
mode = "sequential"
[[service]]
name = "b"
namespace = "app"
replicas = 1
concurrency = 1
service_time = { dist = "exponential", mean = "5us" }"#,
        &format!("[[load]]\nto = \"a\"\nrate = \"{lambda}rps\""),
    );
    let run = run(&write(&dir, "tandem", &text), Placement::None);
    let expected_ms = 1e3 / (mu_a - lambda) + 1e3 / (mu_b - lambda);
    assert_relative_eq!(mean_sojourn_ms(&run, 0), expected_ms, max_relative = 0.02);
    assert_relative_eq!(mean_sojourn_ms(&run, 1), 1e3 / (mu_b - lambda), max_relative = 0.02);
}
