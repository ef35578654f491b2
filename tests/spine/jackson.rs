//! Differential tests against open queueing networks whose mean sojourn times are known in
//! closed form: random feedforward networks of M/M/c stations (Jackson, and BCMP for the
//! routes a sequence of calls makes), and M/G/1 stations (Pollaczek-Khinchine).
//!
//! The mapping onto meshsim, under placement `none` with zero network delay on one node of
//! more cores than the stations have workers (so no task ever waits for a core):
//!
//! - a service is a set of `replicas` stations, each an M/M/c queue with c = `concurrency`
//!   workers and exponential CPU work (`service_time`) in a FIFO queue;
//! - a caller picks its callee's replica uniformly at random, so each replica of a service
//!   that receives a Poisson flow λ receives a Poisson flow λ / replicas;
//! - a pod releases its worker when its own work is done and only then issues its calls, one
//!   at a time (`mode = "sequential"`), each with its `probability`: the pod holds nothing
//!   while it waits, so a request is a customer that visits the callee stations one after
//!   another along a route fixed by its coin flips, and the call graph is a DAG (no
//!   feedback). Such a network of FIFO stations with class-independent exponential service
//!   has a product-form stationary distribution (Jackson; BCMP type 1 for routes that depend
//!   on the customer's history), so each station behaves as an M/M/c queue at the sum of the
//!   flows into it, and its mean sojourn per visit is Erlang C's;
//! - the latency of a call is the sojourn at its callee plus the latencies of the calls the
//!   callee makes, so its mean is the callee's sojourn plus each outgoing call's probability
//!   times that call's mean, and the mean end-to-end latency of a load is its edge's;
//! - a station's own mean sojourn is measured by Little's law from its time-average
//!   occupancy and its admitted passes.
//!
//! Each case runs [`SEEDS`] independent seeds; every figure is checked against its exact
//! mean within [`T_QUANTILE`] standard errors of the mean over the seeds (a Student t bound
//! at 99.9%, two-sided). The standard error comes from the spread of the per-seed means (the
//! batch-means estimate), which counts the correlation between successive customers that a
//! bound from the number of completed requests alone would miss. Each check also requires
//! its standard error to be small against the expected value (at most `max_rel_se`), so a
//! pass says the figure is right to within a few per cent, not only that the runs were noisy.

use approx::abs_diff_eq;
use meshsim::placement::Placement;
use meshsim::sim::plan::StationKind;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::common::*;
use crate::queueing::mmc_sojourn_s;

/// Independent seeds (replications) of each case.
const SEEDS: u64 = 16;

/// Student's t quantile for 15 degrees of freedom at 0.9995 (99.9% two-sided).
const T_QUANTILE: f64 = 4.073;

/// One service of a network: `replicas` pods of `servers` workers each, CPU work of mean
/// `mean_ns` drawn from `dist` (with `cv` for a lognormal).
struct Station {
    replicas: u32,
    servers: u32,
    mean_ns: u64,
    dist: &'static str,
    cv: f64,
}

/// An open feedforward network: services `s0..`, calls `(from, to, probability)` with
/// `from < to` in file order, and Poisson loads `(to, rps)`.
struct Network {
    stations: Vec<Station>,
    calls: Vec<(usize, usize, f64)>,
    loads: Vec<(usize, f64)>,
}

impl Network {
    fn toml(&self, duration: &str, warmup: &str) -> String {
        let mut services = String::new();
        for (i, s) in self.stations.iter().enumerate() {
            let cv = if s.dist == "lognormal" { format!(", cv = {:?}", s.cv) } else { String::new() };
            services += &format!(
                "[[service]]\nname = \"s{i}\"\nnamespace = \"app\"\nreplicas = {}\nconcurrency = {}\n\
                 service_time = {{ dist = \"{}\", mean = \"{}ns\"{cv} }}\n",
                s.replicas, s.servers, s.dist, s.mean_ns
            );
            for &(_, to, p) in self.calls.iter().filter(|c| c.0 == i) {
                services += &format!("[[service.call]]\nto = \"s{to}\"\nprobability = {p:?}\nmode = \"sequential\"\n");
            }
        }
        let loads: String = self.loads.iter().map(|(to, rps)| format!("[[load]]\nto = \"s{to}\"\nrate = \"{rps}rps\"\n")).collect();
        queueing_topology_with_warmup(duration, warmup, &services, &loads)
    }

    /// The flow into each service (all its replicas), per second.
    fn flows(&self) -> Vec<f64> {
        flows(self.stations.len(), &self.calls, &self.loads)
    }

    /// Each service's utilisation per worker.
    fn utilisations(&self) -> Vec<f64> {
        let f = self.flows();
        self.stations.iter().zip(&f).map(|(s, l)| l * s.mean_ns as f64 * 1e-9 / f64::from(s.replicas * s.servers)).collect()
    }

    /// The exact mean sojourn per visit at each service, s: Erlang C for exponential work,
    /// Pollaczek-Khinchine for one worker and any work distribution.
    fn sojourns_s(&self) -> Vec<f64> {
        self.stations
            .iter()
            .zip(self.flows())
            .map(|(s, flow)| {
                let lambda = flow / f64::from(s.replicas);
                let mean = s.mean_ns as f64 * 1e-9;
                match s.dist {
                    "exponential" => mmc_sojourn_s(lambda, 1.0 / mean, s.servers),
                    _ => {
                        assert_eq!(s.servers, 1, "Pollaczek-Khinchine is for one worker");
                        let cv = if s.dist == "constant" { 0.0 } else { s.cv };
                        let rho = lambda * mean;
                        mean + lambda * mean * mean * (1.0 + cv * cv) / (2.0 * (1.0 - rho))
                    }
                }
            })
            .collect()
    }

    /// The exact mean latency of each edge (loads, then calls in file order), s: the callee's
    /// sojourn plus, for each of its calls, the call's probability times its mean latency.
    fn edge_latencies_s(&self) -> Vec<f64> {
        let w = self.sojourns_s();
        let mut subtree = w.clone();
        for j in (0..self.stations.len()).rev() {
            subtree[j] = w[j] + self.calls.iter().filter(|c| c.0 == j).map(|&(_, to, p)| p * subtree[to]).sum::<f64>();
        }
        self.loads.iter().map(|l| subtree[l.0]).chain(self.calls.iter().map(|c| subtree[c.1])).collect()
    }
}

fn flows(n: usize, calls: &[(usize, usize, f64)], loads: &[(usize, f64)]) -> Vec<f64> {
    let mut f = vec![0.0; n];
    for &(to, rps) in loads {
        f[to] += rps;
    }
    // Calls go from lower to higher index, so one pass in index order settles every flow.
    for j in 0..n {
        for &(_, to, p) in calls.iter().filter(|c| c.0 == j) {
            f[to] += p * f[j];
        }
    }
    f
}

/// A random feedforward network of 3 to 5 M/M/c services whose flows add up to about
/// `visits_per_s`: one bottleneck service at utilisation `rho_max`, the others drawn from
/// `rho_others`.
fn random_network(rng: &mut ChaCha8Rng, visits_per_s: f64, rho_max: f64, rho_others: std::ops::Range<f64>) -> Network {
    let n = rng.gen_range(3..=5usize);
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    let mut calls = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            if rng.gen_bool(0.4) {
                calls.push((i, j, round2(rng.gen_range(0.2..=1.0))));
            }
        }
    }
    // Every service is called by one before it, so every one has a flow.
    for j in 1..n {
        if !calls.iter().any(|c| c.1 == j) {
            let i = rng.gen_range(0..j);
            calls.push((i, j, round2(rng.gen_range(0.5..=1.0))));
        }
    }
    calls.sort_by_key(|c| (c.0, c.1));
    let mut shares = vec![(0, 1.0)];
    if rng.gen_bool(0.5) {
        shares.push((rng.gen_range(1..n), round2(rng.gen_range(0.2..0.6))));
    }
    // Scale the loads so that the flows add up to about `visits_per_s`.
    let unit: f64 = flows(n, &calls, &shares).iter().sum();
    let loads: Vec<(usize, f64)> = shares.iter().map(|&(to, s)| (to, (s * visits_per_s / unit).round())).collect();
    let f = flows(n, &calls, &loads);
    let bottleneck = rng.gen_range(0..n);
    let stations = (0..n)
        .map(|j| {
            let replicas = rng.gen_range(1..=2u32);
            let servers = [1u32, 2, 4][rng.gen_range(0..3)];
            let rho = if j == bottleneck { rho_max } else { rng.gen_range(rho_others.clone()) };
            let mean_ns = (rho * f64::from(replicas * servers) / f[j] * 1e9).round() as u64;
            Station { replicas, servers, mean_ns, dist: "exponential", cv: 0.0 }
        })
        .collect();
    Network { stations, calls, loads }
}

/// What one run measured: per service, its mean sojourn per visit (Little's law) and its
/// admitted passes per second; per edge, its mean latency of successful calls; all in s.
struct Measured {
    sojourn_s: Vec<f64>,
    flow_rps: Vec<f64>,
    edge_s: Vec<f64>,
}

fn measure(net: &Network, duration_s: f64, warmup_s: f64, seed: u64) -> Measured {
    let dir = scratch("jackson");
    let path = write(&dir, "net", &net.toml(&format!("{duration_s}s"), &format!("{warmup_s}s")));
    let i = inputs(&path);
    let r = meshsim::app::run_placement(&i, Placement::None, seed, Vec::new(), None).unwrap_or_else(|e| panic!("{e}"));
    let o = &r.output;
    assert_eq!(o.failed, 0, "no request may fail in a queueing network");
    let n = net.stations.len();
    let (mut occupancy, mut passes) = (vec![0.0; n], vec![0u64; n]);
    for (s, spec) in r.plan.stations.iter().enumerate() {
        if let StationKind::Pod(p) = spec.kind {
            let svc = i.topology.pods[p].service;
            occupancy[svc] += o.stations[s].occupancy_ns;
            passes[svc] += o.stations[s].passes;
        }
    }
    let window_s = duration_s - warmup_s;
    Measured {
        sojourn_s: occupancy.iter().zip(&passes).map(|(occ, &k)| occ * 1e-9 / k as f64).collect(),
        flow_rps: passes.iter().map(|&k| k as f64 / window_s).collect(),
        edge_s: o
            .edges
            .iter()
            .map(|e| {
                assert_eq!(e.failed, 0, "no call may fail in a queueing network");
                e.latency_sum_ns * 1e-9 / e.latency_ns.len() as f64
            })
            .collect(),
    }
}

/// The mean of `samples` (one per seed) is `expected` within [`T_QUANTILE`] standard errors,
/// and that standard error is at most `max_rel_se` of `expected`.
fn assert_within_confidence(what: &str, samples: &[f64], expected: f64, max_rel_se: f64) {
    let k = samples.len() as f64;
    assert_eq!(samples.len() as u64, SEEDS);
    let mean = samples.iter().sum::<f64>() / k;
    let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1.0);
    let se = (var / k).sqrt();
    assert!(
        se <= max_rel_se * expected,
        "{what}: standard error {se:.4e} is more than {max_rel_se} of the expected {expected:.4e}: too few customers for a sharp check"
    );
    let bound = T_QUANTILE * se;
    assert!(
        abs_diff_eq!(mean, expected, epsilon = bound),
        "{what}: {mean:.5e} over {SEEDS} seeds, expected {expected:.5e} ± {bound:.2e} ({:+.2}%, {:+.1} standard errors)",
        (mean / expected - 1.0) * 100.0,
        (mean - expected) / se
    );
}

/// Run `net` on [`SEEDS`] seeds and check every service's sojourn and flow and every edge's
/// mean latency against the closed form.
fn check_network(name: &str, net: &Network, duration_s: f64, warmup_s: f64, max_rel_se: f64) {
    let runs: Vec<Measured> = (1..=SEEDS).into_par_iter().map(|seed| measure(net, duration_s, warmup_s, seed)).collect();
    let rho = net.utilisations();
    for (j, (w, flow)) in net.sojourns_s().iter().zip(net.flows()).enumerate() {
        let s = &net.stations[j];
        let queue = match s.dist {
            "exponential" => format!("M/M/{}", s.servers),
            "constant" => "M/D/1".to_string(),
            _ => format!("M/G/1 {} cv {}", s.dist, s.cv),
        };
        let what = format!("{name}: s{j} ({}×{queue} at ρ {:.3})", s.replicas, rho[j]);
        let samples: Vec<f64> = runs.iter().map(|m| m.sojourn_s[j]).collect();
        assert_within_confidence(&format!("{what} sojourn"), &samples, *w, max_rel_se);
        let samples: Vec<f64> = runs.iter().map(|m| m.flow_rps[j]).collect();
        assert_within_confidence(&format!("{what} flow"), &samples, flow, max_rel_se);
    }
    let loads = net.loads.len();
    for (e, expected) in net.edge_latencies_s().iter().enumerate() {
        let what = if e < loads {
            format!("{name}: end to end from load[{e}] (to s{})", net.loads[e].0)
        } else {
            let (from, to, p) = net.calls[e - loads];
            format!("{name}: call s{from} → s{to} (p {p})")
        };
        let samples: Vec<f64> = runs.iter().map(|m| m.edge_s[e]).collect();
        assert_within_confidence(&what, &samples, *expected, max_rel_se);
    }
}

/// Random networks drawn from `seed`, checked one after another.
fn check_random_networks(seed: u64, networks: usize, rho_max: f64, rho_others: std::ops::Range<f64>, duration_s: f64, max_rel_se: f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for k in 0..networks {
        let net = random_network(&mut rng, 120_000.0, rho_max, rho_others.clone());
        check_network(&format!("network {k} of seed {seed}"), &net, duration_s, 0.2, max_rel_se);
    }
}

#[test]
fn random_jackson_networks_at_light_load_match_erlang_c() {
    check_random_networks(11, 2, 0.5, 0.1..0.5, 1.2, 0.01);
}

#[test]
fn random_jackson_networks_at_heavy_load_match_erlang_c() {
    check_random_networks(12, 2, 0.8, 0.3..0.8, 1.7, 0.015);
}

#[test]
fn random_jackson_network_with_a_bottleneck_at_095_matches_erlang_c() {
    check_random_networks(13, 1, 0.95, 0.3..0.7, 8.2, 0.02);
}

/// One M/G/1 station at utilisation `rho` with work of mean 10 µs.
fn mg1(dist: &'static str, cv: f64, rho: f64) -> Network {
    let mean_ns = 10_000;
    let rps = (rho / (mean_ns as f64 * 1e-9)).round();
    Network { stations: vec![Station { replicas: 1, servers: 1, mean_ns, dist, cv }], calls: Vec::new(), loads: vec![(0, rps)] }
}

#[test]
fn mg1_with_lognormal_work_matches_pollaczek_khinchine() {
    check_network("M/G/1 lognormal cv 1.5", &mg1("lognormal", 1.5, 0.7), 1.7, 0.2, 0.015);
}

#[test]
fn md1_matches_pollaczek_khinchine() {
    check_network("M/D/1", &mg1("constant", 0.0, 0.9), 2.2, 0.2, 0.015);
}
