//! Pass latency as a distribution fitted to measured percentiles: a single pass at low load
//! reproduces the model's p50/p90/p99, the same seed gives the same run, and the bundled
//! loopback models' simulated p99 stays above their p90 as measured.

use std::path::{Path, PathBuf};

use meshsim::metrics::PlacementSummary;
use meshsim::placement::Placement;

use crate::common::*;

/// One sidecar pass per request into a backend of constant 50 µs, no network delay, Poisson
/// arrivals at `rate`; the sidecar's `[latency]` is `latency`, its pass CPU 100 µs.
fn one_pass(dir: &Path, latency: &str, rate: u32, seed: u64) -> PathBuf {
    std::fs::write(
        dir.join("model.toml"),
        format!(
            "version = 1\nname = \"m\"\nkind = \"sidecar\"\nworkers = 2\n[cpu]\nl7_pass = \"100us\"\nl4_pass = \"0us\"\nper_kib = \"0us\"\n\
             new_connection = \"0us\"\ntls_handshake = \"0us\"\nidle = \"0m\"\n[latency]\n{latency}\n[memory]\nbase = \"1MiB\"\n\
             per_endpoint = \"0KiB\"\nper_connection = \"0KiB\"\nper_inflight = \"0KiB\"\n[provenance]\nsource = \"test\"\n"
        ),
    )
    .unwrap();
    let services =
        "[[service]]\nname = \"backend\"\nnamespace = \"app\"\nreplicas = 1\nservice_time = { dist = \"constant\", mean = \"50us\" }";
    let load = format!("[[load]]\nto = \"backend\"\nrate = \"{rate}rps\"\narrival = \"poisson\"");
    let text = queueing_topology("62s", services, &load).replacen("[mesh]", "[mesh]\nsidecar_model = \"model.toml\"", 1).replacen(
        "seed = 7",
        &format!("seed = {seed}"),
        1,
    );
    write(dir, &format!("one-pass-{rate}-{seed}"), &text)
}

fn summary(path: &Path, placement: Placement) -> PlacementSummary {
    run(path, placement).summary.summary
}

/// Added (p50, p90, p99) in µs of the sidecar over no mesh.
fn added_us(path: &Path) -> [f64; 3] {
    let (s, n) = (summary(path, Placement::Sidecar), summary(path, Placement::None));
    let d = |a: Option<f64>, b: Option<f64>| (a.unwrap() - b.unwrap()) * 1000.0;
    [d(s.latency_p50_ms, n.latency_p50_ms), d(s.latency_p90_ms, n.latency_p90_ms), d(s.latency_p99_ms, n.latency_p99_ms)]
}

#[test]
fn a_single_pass_at_low_load_reproduces_the_models_percentiles() {
    let dir = scratch("pass-latency");
    // 12,000 requests in the window at 200 rps: p99 from 120 above it. The pass's 100 µs of
    // CPU is inside the figures (includes_cpu), and at 200 rps it almost never queues.
    let path =
        one_pass(&dir, "p50 = \"400us\"\np90 = \"900us\"\np99 = \"2500us\"\nincludes_cpu = \"100us\"\nmeasured_at = \"test\"", 200, 3);
    let got = added_us(&path);
    for (i, (want, tol)) in [(400.0, 0.05), (900.0, 0.05), (2500.0, 0.10)].into_iter().enumerate() {
        assert!((got[i] / want - 1.0).abs() < tol, "added p{}: {:.1} us against {want} us ({got:?})", [50, 90, 99][i], got[i]);
    }
    // The old form: a fixed delay, so p99 is no more than p90.
    let path = one_pass(&dir, "fixed = \"300us\"", 200, 3);
    let got = added_us(&path);
    assert!((got[0] - 400.0).abs() < 20.0 && (got[2] - got[1]).abs() < 20.0, "{got:?}");
}

#[test]
fn the_same_seed_gives_the_same_latencies_and_another_seed_others() {
    let dir = scratch("pass-latency-seed");
    let latency = "p50 = \"400us\"\np90 = \"900us\"\np99 = \"2500us\"\nmeasured_at = \"test\"";
    let a = format!("{:?}", summary(&one_pass(&dir, latency, 100, 3), Placement::Sidecar));
    let b = format!("{:?}", summary(&one_pass(&dir, latency, 100, 3), Placement::Sidecar));
    let c = format!("{:?}", summary(&one_pass(&dir, latency, 100, 4), Placement::Sidecar));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn the_loopback_sidecar_model_keeps_its_measured_tail() {
    // models/envoy-1.40-loopback/sidecar.toml: p50/p90/p99 683.7/1166.5/2517.1 µs per pass
    // with 792.4 µs of CPU inside, a pass that wakes the proxy, as most do at 100 rps: the
    // added p50 is that CPU and p90/p99 are the measured ones.
    let dir = scratch("pass-latency-loopback");
    let text = std::fs::read_to_string(root().join("models/envoy-1.40-loopback/sidecar.toml")).unwrap();
    let latency = text.split("[latency]\n").nth(1).unwrap().split("\n[memory]").next().unwrap();
    let path = one_pass(&dir, latency, 100, 3);
    let model = std::fs::read_to_string(dir.join("model.toml")).unwrap();
    let model = model.replace("l7_pass = \"100us\"", &cpu_lines(&text));
    std::fs::write(dir.join("model.toml"), model).unwrap();
    let got = added_us(&path);
    assert!(got[2] > got[1] * 1.5, "{got:?}");
    for (i, want) in [(1, 1166.5), (2, 2517.1)] {
        assert!((got[i] / want - 1.0).abs() < 0.12, "added p{}: {:.1} us against {want} ({got:?})", [50, 90, 99][i], got[i]);
    }
}

/// The model's `l7_pass`, `wake_up` and `wake_up_after_idle` lines.
fn cpu_lines(model: &str) -> String {
    model
        .lines()
        .filter(|l| ["l7_pass =", "wake_up =", "wake_up_after_idle ="].iter().any(|k| l.starts_with(k)))
        .collect::<Vec<_>>()
        .join("\n")
}
