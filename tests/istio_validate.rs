//! Istio validation on topologies/istio-perf.toml: the published Istio 1.24 figures (no
//! shared data needed) and Istio's own sidecar benchmark (`$MESHSIM_SHARED`, else
//! `../shared` beside the crate; skipped when it is absent).

use std::path::{Path, PathBuf};

use meshsim::calibration::calibrate_istio_benchmark;
use meshsim::calibration::DEFAULT_ISTIO_DEGREE;
use meshsim::model;
use meshsim::validate::istio::{
    bench_model_file_name, bench_telemetry_modes, fit_bench_sidecar, format_bench_table, format_published_table, render_bench_model,
    validate_istio_benchmark, validate_istio_published, write_bench_csv, write_published_csv, IstioBenchRow,
};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn topology() -> PathBuf {
    crate_dir().join("topologies/istio-perf.toml")
}

fn benchmark_csv() -> Option<PathBuf> {
    meshsim::app::validate::shared_path("data/istio-benchmark/benchmark.csv")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn published_istio_figures_within_targets() {
    let checks = validate_istio_published(&topology(), 1).unwrap();
    println!("{}", format_published_table(&checks));
    assert_eq!(checks.len(), 10);
    for c in &checks {
        let e = c.error.unwrap().abs();
        match (c.metric.as_str(), c.component.as_str()) {
            ("cpu", _) => assert!(e <= 0.10, "{c:?}"),
            ("memory", _) => assert!(e <= 0.15, "{c:?}"),
            ("added p90", _) => assert!(e <= 0.25, "{c:?}"),
            // The model's proxy passes take a constant time, so its added p99 is its added
            // p90: it misses the published p99 of two sidecars (0.298 ms) by about a quarter.
            ("added p99", "Istio 1.20 two sidecars") => assert!(e <= 0.30, "{c:?}"),
            ("added p99", _) => assert!(e <= 0.25, "{c:?}"),
            _ => panic!("unexpected check {c:?}"),
        }
    }
    let dir = temp_dir("published");
    let path = dir.join("istio-published.csv");
    write_published_csv(&path, &checks).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("component,metric,unit,published,simulated,error,source\n"));
    assert_eq!(text.lines().count(), 11);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn published_check_is_deterministic() {
    let a = validate_istio_published(&topology(), 5).unwrap();
    let b = validate_istio_published(&topology(), 5).unwrap();
    assert_eq!(a, b);
}

#[test]
fn bench_model_files_match_the_benchmark_fit() {
    let Some(csv) = benchmark_csv() else { return };
    let cal = calibrate_istio_benchmark(&csv, DEFAULT_ISTIO_DEGREE).unwrap();
    let modes = bench_telemetry_modes(&cal);
    assert!(modes.contains(&"v2-stats-nullvm".to_string()), "{modes:?}");
    assert!(modes.contains(&"none_mtls".to_string()), "{modes:?}");
    for mode in &modes {
        let fit = fit_bench_sidecar(&cal, mode).unwrap();
        let path = crate_dir().join("models/istio-bench-2020").join(bench_model_file_name(mode));
        let text = render_bench_model(&fit, "benchmark.csv");
        let file = model::load(&path).unwrap_or_else(|e| {
            panic!("{e}\nwrite {} with:\n{text}", path.display());
        });
        let rendered = model::parse(Path::new("rendered.toml"), &text).unwrap();
        assert_eq!(
            (file.cpu_l7_pass_ns, file.cpu_idle_millicores, file.latency_fixed_ns, file.mem_base_bytes,),
            (rendered.cpu_l7_pass_ns, rendered.cpu_idle_millicores, rendered.latency_fixed_ns, rendered.mem_base_bytes,),
            "{} no longer matches the benchmark fit; write it as:\n{text}",
            path.display()
        );
        assert!(file.provenance.contains_key("fit") && file.provenance.contains_key("source"));
    }
}

/// (telemetry mode, qps, connections) where the per-sidecar CPU misses ±10%. The fitted line
/// a + b·rps goes through every rate; these rows are off it in the data itself:
/// - 10 and 100 rps: per-request CPU falls with the rate in the data (about 0.4 mC per rps
///   between 10 and 100 rps, 0.18 between 1000 and 3000), so the line's intercept (27-66 mC)
///   sits far above the 7-11 mC measured at 10 rps and above most 100 rps rows;
/// - 1000 rps: the same settings vary between runs and connection counts (v2-stats-nullvm
///   client sidecar 353 mC at c=2 vs 221 mC at c=4), and the line passes through their
///   middle, so the highest (c=2) and a few others miss by 10-27%;
/// - v2-stats-wasm 500 rps: 188 mC measured, 17% over the line (its fit has no 3000 rps row).
const CPU_EXCEPTIONS: &[(&str, u32, u32)] = &[
    ("none_mtls", 10, 16),
    ("none_mtls", 100, 16),
    ("none_mtls", 1000, 8),
    ("v2-sd-full-nullvm", 10, 16),
    ("v2-sd-full-nullvm", 100, 16),
    ("v2-sd-full-nullvm", 1000, 2),
    ("v2-sd-nologging-nullvm", 10, 16),
    ("v2-sd-nologging-nullvm", 100, 16),
    ("v2-sd-nologging-nullvm", 1000, 2),
    ("v2-sd-nologging-nullvm", 1000, 4),
    ("v2-stats-nullvm", 10, 16),
    ("v2-stats-nullvm", 100, 16),
    ("v2-stats-nullvm", 1000, 2),
    // Two runs at these settings: 266 and 284 mC; the second misses by 10.1%.
    ("v2-stats-nullvm", 1000, 16),
    ("v2-stats-wasm", 10, 16),
    ("v2-stats-wasm", 500, 16),
    ("v2-stats-wasm", 1000, 8),
];

fn cpu_exception(r: &IstioBenchRow) -> bool {
    CPU_EXCEPTIONS.iter().any(|&(m, q, c)| m == r.telemetry_mode && q == r.qps_target && c == r.conns)
}

#[test]
fn benchmark_rows_are_all_reported() {
    let Some(csv) = benchmark_csv() else { return };
    let models = crate_dir().join("models/istio-bench-2020");
    let rows = validate_istio_benchmark(&csv, &topology(), &models, 1).unwrap();
    println!("{}", format_bench_table(&rows));
    let cal = calibrate_istio_benchmark(&csv, DEFAULT_ISTIO_DEGREE).unwrap();
    let both = cal.rows.iter().filter(|r| r.sidecar_mode == meshsim::calibration::SidecarMode::Both).count();
    assert_eq!(rows.len(), both);
    for r in &rows {
        assert!(r.added_p50_measured_ms.is_some(), "{r:?}");
        assert!(r.cpu_simulated_millicores > 0.0, "{r:?}");
        if !cpu_exception(r) {
            let e = r.cpu_error.unwrap();
            assert!(e.abs() <= 0.10, "{} {} qps c={}: CPU error {e}", r.telemetry_mode, r.qps_target, r.conns);
        }
    }
    // The exceptions are real misses, not a stale list: each has a row outside ±10%.
    for &(m, q, c) in CPU_EXCEPTIONS {
        assert!(
            rows.iter().any(|r| r.telemetry_mode == m && r.qps_target == q && r.conns == c && r.cpu_error.is_some_and(|e| e.abs() > 0.10)),
            "{m} {q} qps c={c} is listed as a CPU exception but is within 10%"
        );
    }
    // Added p50 and p90 within 25% at 1000 rps over 2 connections, for every mode with that
    // row. The fixed delay was fitted on the p50 there, so the p50 guards the derivation; the
    // p90 is not fitted. Other rows miss where the aligned-burst model does (see
    // docs/validate-istio.md): c=64, low rates at c=16, and 2000-3000 rps.
    for r in rows.iter().filter(|r| r.qps_target == 1000 && r.conns == 2) {
        for e in [r.added_p50_error, r.added_p90_error] {
            assert!(e.unwrap().abs() <= 0.25, "{r:?}");
        }
    }
    let dir = temp_dir("bench");
    let path = dir.join("istio-bench.csv");
    write_bench_csv(&path, &rows).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), rows.len() + 1);
    let _ = std::fs::remove_dir_all(&dir);
}
