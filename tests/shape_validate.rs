//! Shape checks of the profiles measured here against Istio's figures (src/validate/shape.rs):
//! on a small benchmark file written by the test, and on Istio's benchmark CSV
//! (`$MESHSIM_SHARED`, else `../shared` beside the crate; skipped when it is absent).

use std::path::{Path, PathBuf};

use meshsim::validate::shape::{
    bench_points, format_shape_table, inputs_with_profile, validate_shape, write_shape_csv, ShapeCheck, CONNECTION_RATIO_TARGET,
    ENVOY_PROFILE, KIND_RATIO_TARGET, RATE_RATIO_TARGET, TAIL_RATIO_TARGET, ZTUNNEL_PROFILE,
};

fn topology() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("topologies/istio-perf.toml")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-shape-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A benchmark file in Istio's format: `(qps, connections, sidecar mode, p50 µs, p90 µs, client mC, server mC)`.
fn write_bench(dir: &Path, rows: &[(u32, u32, &str, u32, u32, f64, f64)]) -> PathBuf {
    let mut text = String::from(
        "StartTime,ActualDuration,Labels,NumThreads,ActualQPS,p50,p90,p99,cpu_mili_avg_istio_proxy_fortioclient,\
         cpu_mili_avg_istio_proxy_fortioserver,cpu_mili_avg_istio_proxy_istio-ingressgateway,mem_Mi_avg_istio_proxy_fortioclient,\
         mem_Mi_avg_istio_proxy_fortioserver,mem_Mi_avg_istio_proxy_istio-ingressgateway\n",
    );
    for (i, (qps, c, mode, p50, p90, client, server)) in rows.iter().enumerate() {
        text.push_str(&format!(
            "2020-08-12T08:44:{i:02}Z,240,run{i}_qps_{qps}_c_{c}_1024_none_mtls_{mode},{c},{qps},{p50},{p90},{},{client},{server},1,60,{},1\n",
            p90 + 100,
            60 + i
        ));
    }
    let path = dir.join("benchmark.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn find<'a>(checks: &'a [ShapeCheck], ratio: &str, condition: &str) -> Option<&'a ShapeCheck> {
    checks.iter().find(|c| c.ratio.starts_with(ratio) && c.condition.contains(condition))
}

#[test]
fn measured_ratios_come_from_the_benchmark_rows_and_missing_points_leave_a_ratio_out() {
    let dir = temp_dir("fixture");
    // Per-sidecar CPU is the mean of client and server: 100 mC at 100 rps, 200 at 1000 (two
    // rows: 190 and 210), 320 at 2000, 180 at 1000 over 64 connections, 220 over 2.
    let csv = write_bench(
        &dir,
        &[
            (100, 16, "both", 900, 1300, 90.0, 110.0),
            (1000, 16, "both", 1000, 1500, 180.0, 200.0),
            (1000, 16, "both", 1200, 1700, 200.0, 220.0),
            (2000, 16, "both", 1300, 1800, 300.0, 340.0),
            (1000, 64, "both", 900, 1600, 170.0, 190.0),
            (1000, 2, "both", 700, 800, 210.0, 230.0),
            (1000, 16, "baseline", 300, 400, 2.0, 2.0),
            (100, 16, "baseline", 300, 400, 2.0, 2.0),
        ],
    );
    let checks = validate_shape(&topology(), Some(&csv), 1).unwrap();
    let close = |c: Option<&ShapeCheck>, want: f64| {
        let c = c.unwrap_or_else(|| panic!("missing check"));
        assert!((c.measured - want).abs() < 1e-9, "{}: {} not {want}", c.ratio, c.measured);
        c.clone()
    };
    let rate = close(find(&checks, "per-sidecar CPU, 2000 vs 1000", "none_mtls"), 320.0 / 200.0);
    assert_eq!((rate.target, rate.profile.as_str()), (RATE_RATIO_TARGET, ENVOY_PROFILE));
    close(find(&checks, "CPU per request, 100 vs 1000", "none_mtls"), (100.0 / 100.0) / (200.0 / 1000.0));
    let conns = close(find(&checks, "per-sidecar CPU, 64 vs 2 connections", "none_mtls"), 180.0 / 220.0);
    assert_eq!(conns.target, CONNECTION_RATIO_TARGET);
    // Added p50 and p90 at 1000 rps, 16 connections: means of the two rows less the baseline.
    let tail = close(find(&checks, "added latency p90 / p50, two sidecars", "none_mtls"), (1600.0 - 400.0) / (1100.0 - 300.0));
    assert_eq!(tail.target, TAIL_RATIO_TARGET);
    // Published ratios follow the benchmark's.
    close(find(&checks, "CPU per proxy, waypoint / sidecar", "Envoy waypoint"), 250.0 / 200.0);
    let rust = close(find(&checks, "CPU per proxy, ztunnel / sidecar", "Rust ztunnel"), 60.0 / 200.0);
    assert_eq!((rust.target, rust.profile.as_str()), (KIND_RATIO_TARGET, ZTUNNEL_PROFILE));
    close(find(&checks, "added latency p99 / p90, two sidecars", "Envoy"), 0.298 / 0.228);

    // Without the 2000 rps row its ratio is left out; the others stay.
    let csv = write_bench(
        &dir,
        &[
            (100, 16, "both", 900, 1300, 90.0, 110.0),
            (1000, 16, "both", 1000, 1500, 180.0, 200.0),
            (1000, 16, "baseline", 300, 400, 2.0, 2.0),
        ],
    );
    let cal = meshsim::calibration::calibrate_istio_benchmark(&csv, 1).unwrap();
    assert_eq!(bench_points(&cal)["none_mtls"].len(), 2);
    let checks = validate_shape(&topology(), Some(&csv), 1).unwrap();
    assert!(find(&checks, "per-sidecar CPU, 2000 vs 1000", "none_mtls").is_none());
    assert!(find(&checks, "per-sidecar CPU, 64 vs", "none_mtls").is_none());
    assert!(find(&checks, "CPU per request, 100 vs 1000", "none_mtls").is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_check_names_the_hardware_of_both_sides_and_the_output_is_repeatable() {
    let a = validate_shape(&topology(), None, 7).unwrap();
    let b = validate_shape(&topology(), None, 7).unwrap();
    assert_eq!(a, b);
    assert!(!a.is_empty());
    for c in &a {
        assert!(c.measured_on.contains(':') && !c.profile_hardware.is_empty(), "{c:?}");
        assert!(c.measured.is_finite() && c.measured > 0.0 && !c.why_target.is_empty(), "{c:?}");
    }
    let dir = temp_dir("csv");
    let path = dir.join("validate-shape.csv");
    write_shape_csv(&path, &a).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(
        "ratio,condition,rate_rps,measured,measured_on,simulated,profile,profile_hardware,error,target,within_target,why_target\n"
    ));
    assert_eq!(text.lines().count(), a.len() + 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unknown_profile_is_an_error_naming_its_file() {
    let e = inputs_with_profile(&topology(), "no-such-profile").unwrap_err().to_string();
    assert!(e.contains("no-such-profile") && e.contains("profile.toml"), "{e}");
}

#[test]
fn shape_against_istio_benchmark_and_published_figures() {
    // shared_path prints `skipped: ...` when the data is absent.
    let Some(csv) = meshsim::calibration::shared_path("data/istio-benchmark/benchmark.csv") else { return };
    let checks = validate_shape(&topology(), Some(&csv), 1).unwrap();
    println!("{}", format_shape_table(&checks));
    // Every telemetry mode of the file gives its rate, connection and percentile ratios.
    for mode in ["none_mtls", "v2-sd-full-nullvm", "v2-sd-nologging-nullvm", "v2-stats-nullvm", "v2-stats-wasm"] {
        for ratio in ["per-sidecar CPU, 2000 vs 1000", "CPU per request, 100 vs 1000", "per-sidecar CPU, 64 vs"] {
            assert!(find(&checks, ratio, mode).is_some(), "{ratio} {mode}");
        }
    }
    // The measured none_mtls ratio, from the file's rows: (286.3 + 346.8) / 2 at 2000 rps over
    // the mean of the two 1000 rps, 16-connection rows.
    let m = find(&checks, "per-sidecar CPU, 2000 vs 1000", "none_mtls").unwrap();
    let at_1000 = ((197.028 + 213.264) / 2.0 + (177.943 + 225.123) / 2.0) / 2.0;
    assert!((m.measured - (286.303 + 346.804) / 2.0 / at_1000).abs() < 1e-3, "{m:?}");
    // Both sides agree that CPU per request falls with load: the wake-up term's shape.
    for c in checks.iter().filter(|c| c.ratio.starts_with("CPU per request, 100 vs 1000")) {
        assert!(c.measured > 1.0 && c.simulated.unwrap() > 1.0, "{c:?}");
    }
    // The Rust ztunnel's process is a quarter of Envoy's (16.5 MiB against 64 MiB idle RSS on
    // the bench), so its memory beside a sidecar is well below Envoy doing its job. (Their CPU
    // here is within 2% of each other, 0.45 either way, since pass latency is a distribution:
    // the Rust ztunnel's earlier wake-up, after 477 us idle against 762 us, offsets its cheaper
    // pass under this closed-loop load, so no CPU order is asserted.)
    let rust = find(&checks, "memory per proxy, ztunnel / sidecar", "Rust ztunnel").unwrap().simulated.unwrap();
    let envoy = find(&checks, "memory per proxy, ztunnel / sidecar", "Envoy doing").unwrap().simulated.unwrap();
    assert!(rust < 0.5 * envoy, "{rust} {envoy}");
}
