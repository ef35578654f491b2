//! Calibration against the public measurements in the shared data folder
//! (`$MESHSIM_SHARED`, else `../shared` beside the crate); skipped when it is absent.

use std::path::PathBuf;

use meshsim::calibration::{
    calibrate_gsd, calibrate_istio_benchmark, derive_pass_costs, print_istio_table, print_table, write_gsd_outputs, write_istio_outputs,
    GsdCalibration, Metric, PlacementInputs, SidecarMode, SidecarProxy, DEFAULT_DEGREE, DEFAULT_ISTIO_DEGREE,
};

fn shared_dir() -> Option<PathBuf> {
    meshsim::app::validate::shared_path("data").and_then(|d| d.parent().map(PathBuf::from))
}

fn check_gsd(mesh: &str) -> Option<GsdCalibration> {
    let shared = shared_dir()?;
    let cal = calibrate_gsd(&shared.join("data/gsd-v1").join(mesh), DEFAULT_DEGREE).unwrap();
    println!("{}", print_table(&cal));
    assert_eq!(cal.dataset, mesh);
    let targets: Vec<u32> = cal.levels.iter().map(|l| l.target_rps).collect();
    assert_eq!(targets, vec![60, 120, 240, 600, 1200]);
    for level in &cal.levels {
        assert_eq!(level.runs.len(), 5, "{mesh} {} rps", level.target_rps);
        let target = f64::from(level.target_rps);
        assert!(
            (level.achieved_rps_mean - target).abs() <= 0.05 * target,
            "{mesh}: achieved {} at target {target}",
            level.achieved_rps_mean
        );
    }
    let cpu = cal.get("data-plane", Metric::Cpu).unwrap();
    assert_eq!(cpu.steady.len(), 5);
    for pair in cpu.steady.windows(2) {
        assert!(
            pair[1].value > pair[0].value,
            "{mesh}: data-plane CPU {} at {} rps is not above {} at {} rps",
            pair[1].value,
            pair[1].target_rps,
            pair[0].value,
            pair[0].target_rps
        );
    }
    let fit = cpu.fit.as_ref().unwrap();
    assert!(fit.r2 > 0.9, "{mesh}: data-plane CPU fit R² {}", fit.r2);
    assert!(cal.get("data-plane", Metric::Mem).is_some());
    Some(cal)
}

mod gsd_linkerd {
    use super::*;

    #[test]
    fn five_levels_rising_cpu_and_a_good_fit() {
        let Some(cal) = check_gsd("linkerd") else {
            return;
        };
        // per-workload sidecar groups; control-plane proxies are not series
        for series in ["face mesh", "smiley mesh", "color mesh", "wrk2 mesh"] {
            assert!(cal.get(series, Metric::Cpu).is_some(), "{series}");
        }
        assert!(cal.series.iter().all(|s| !s.series.starts_with("linkerd-")));
        // 27 sidecars; face→smiley, face→color and wrk2→face: 6 passes per request;
        // a new gRPC connection face→color per request, seen by two proxies.
        let costs = derive_pass_costs(
            &cal,
            "data-plane",
            PlacementInputs { instances: 27, passes_per_request: 6.0, new_connections_per_request: 2.0 },
        )
        .unwrap();
        println!("{costs:#?}");
        assert!(costs.cpu_per_pass_us > 0.0);
    }
}

mod gsd_ambient {
    use super::*;

    #[test]
    fn five_levels_rising_cpu_and_a_good_fit() {
        let Some(cal) = check_gsd("ambient") else {
            return;
        };
        for series in ["ztunnel mesh", "waypoint mesh"] {
            assert!(cal.get(series, Metric::Cpu).is_some(), "{series}");
        }
        assert!(cal.get("istiod mesh", Metric::Cpu).is_none());
        let names: Vec<&str> = cal.series.iter().map(|s| s.series.as_str()).collect();
        assert_eq!(names[0], "data-plane");
        for series in ["ztunnel mesh", "waypoint mesh"] {
            let inputs = if series == "ztunnel mesh" {
                PlacementInputs { instances: 3, passes_per_request: 6.0, new_connections_per_request: 2.0 }
            } else {
                PlacementInputs { instances: 3, passes_per_request: 3.0, new_connections_per_request: 1.0 }
            };
            let costs = derive_pass_costs(&cal, series, inputs).unwrap();
            println!("{costs:#?}");
        }
    }
}

mod outputs {
    use super::*;

    #[test]
    fn gsd_outputs_are_written_and_deterministic() {
        let Some(shared) = shared_dir() else { return };
        let cal = calibrate_gsd(&shared.join("data/gsd-v1/ambient"), DEFAULT_DEGREE).unwrap();
        let base = std::env::temp_dir().join(format!("meshsim-calib-out-{}", std::process::id()));
        let (a, b) = (base.join("a"), base.join("b"));
        let files = write_gsd_outputs(&cal, &a).unwrap();
        write_gsd_outputs(&cal, &b).unwrap();
        for name in ["steady-state.csv", "fits.csv", "ambient-data-plane-cpu.png", "ambient-ztunnel-mesh-mem.svg"] {
            assert!(files.contains(&a.join(name)), "{name} in {files:?}");
        }
        for name in ["steady-state.csv", "fits.csv"] {
            let first = std::fs::read(a.join(name)).unwrap();
            assert_eq!(first, std::fs::read(b.join(name)).unwrap(), "{name}");
        }
        let fits = std::fs::read_to_string(a.join("fits.csv")).unwrap();
        assert!(fits.starts_with("series,metric,unit,degree,c0,c1,c2,r2\n"), "{fits}");
        let _ = std::fs::remove_dir_all(&base);
    }
}

mod istio_benchmark {
    use super::*;

    #[test]
    fn per_sidecar_lines_and_added_latency() {
        let Some(shared) = shared_dir() else { return };
        let path = shared.join("data/istio-benchmark/benchmark.csv");
        let cal = calibrate_istio_benchmark(&path, DEFAULT_ISTIO_DEGREE).unwrap();
        println!("{}", print_istio_table(&cal));
        assert_eq!(cal.rows.len(), 82);
        let modes: std::collections::BTreeSet<&str> = cal.rows.iter().map(|r| r.telemetry_mode.as_str()).collect();
        for mode in ["none_mtls", "v2-stats-nullvm", "v2-stats-wasm", "v2-sd-full-nullvm", "v2-sd-nologging-nullvm"] {
            assert!(modes.contains(mode), "{mode}");
        }
        let stats_cpu = cal
            .fits
            .iter()
            .find(|f| {
                f.telemetry_mode == "v2-stats-nullvm"
                    && f.sidecar_mode == SidecarMode::Both
                    && f.proxy == SidecarProxy::PerSidecar
                    && f.metric == Metric::Cpu
            })
            .unwrap();
        assert!(stats_cpu.fit.coefficients[1] > 0.0);
        assert!(cal.added_latency.iter().all(|a| a.added_p50_us > 0.0));
        let out = std::env::temp_dir().join(format!("meshsim-istio-out-{}", std::process::id()));
        let files = write_istio_outputs(&cal, &out).unwrap();
        assert!(files.contains(&out.join("istio-rows.csv")));
        assert!(files.contains(&out.join("istio-fits.csv")));
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// `meshsim calibrate` on damaged copies of the public data: problems are reported with file
/// and line and refused (exit 2) unless `--allow-incomplete`, which lists what it left out.
mod damaged_data {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    fn scratch(name: &str) -> PathBuf {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("calibrate-{name}"));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A copy of a shared gsd-v1 data set in `dir`, or `None` (test skipped) without the data.
    fn copy_gsd(mesh: &str, dir: &Path) -> Option<PathBuf> {
        let Some(shared) = super::shared_dir() else {
            println!("skipped: no shared data");
            return None;
        };
        let to = dir.join(mesh);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(shared.join("data/gsd-v1").join(mesh)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
        Some(to)
    }

    fn calibrate(args: &[&str]) -> Output {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        Command::new(env!("CARGO_BIN_EXE_meshsim")).arg("calibrate").args(args).current_dir(root).output().unwrap()
    }

    fn first_log(dir: &Path, prefix: &str) -> PathBuf {
        let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix) && p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        logs[0].clone()
    }

    #[test]
    fn a_log_missing_its_rate_is_refused_and_listed_when_allowed() {
        let d = scratch("no-rate");
        let Some(data) = copy_gsd("linkerd", &d) else { return };
        let log = first_log(&data, "600-3-");
        let text = std::fs::read_to_string(&log).unwrap();
        std::fs::write(&log, text.lines().filter(|l| !l.contains("Requests/sec:")).collect::<Vec<_>>().join("\n")).unwrap();
        let out = d.join("out");
        let o = calibrate(&[data.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&log.display().to_string()) && stderr.contains("Requests/sec"), "{stderr}");
        assert!(stderr.contains("--allow-incomplete"), "{stderr}");
        assert!(!out.exists());
        let o = calibrate(&[data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--allow-incomplete"]);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(stdout.contains("left out") && stdout.contains("600-3"), "{stdout}");
        let dropped = std::fs::read_to_string(out.join("dropped.csv")).unwrap();
        assert!(dropped.starts_with("file,line,run,problem\n") && dropped.contains("600-3"), "{dropped}");
        let model = std::fs::read_to_string(out.join("models/linkerd2-proxy.toml")).unwrap();
        assert!(model.contains("left_out"), "{model}");
    }

    #[test]
    fn a_bad_metrics_cell_and_a_missing_file_are_all_reported_at_once() {
        let d = scratch("bad-cell");
        let Some(data) = copy_gsd("ambient", &d) else { return };
        let metrics = data.join("120-2-metrics.csv");
        let text = std::fs::read_to_string(&metrics).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines[2] = lines[2].replacen(',', ",oops", 2);
        std::fs::write(&metrics, lines.join("\n") + "\n").unwrap();
        std::fs::remove_file(data.join("240-1-metrics.csv")).unwrap();
        let o = calibrate(&[data.to_str().unwrap(), "--out", d.join("out").to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("120-2-metrics.csv:3:"), "{stderr}");
        assert!(stderr.contains("no `240-1-metrics.csv`"), "{stderr}");
        assert!(!d.join("out").exists());
    }

    #[test]
    fn an_istio_csv_with_a_byte_order_mark_is_read_like_one_without() {
        let Some(shared) = super::shared_dir() else {
            println!("skipped: no shared data");
            return;
        };
        let d = scratch("bom");
        let plain = std::fs::read(shared.join("data/istio-benchmark/benchmark.csv")).unwrap();
        // The label column first, where a byte-order mark sticks to its name.
        let text = String::from_utf8(plain).unwrap();
        let mut rows: Vec<Vec<String>> = text.lines().map(|l| l.split(',').map(String::from).collect()).collect();
        let labels = rows[0].iter().position(|h| h == "Labels").unwrap();
        for r in &mut rows {
            let c = r.remove(labels);
            r.insert(0, c);
        }
        let csv: String = rows.iter().map(|r| r.join(",") + "\n").collect();
        std::fs::write(d.join("plain.csv"), &csv).unwrap();
        std::fs::write(d.join("bom.csv"), format!("\u{feff}{csv}")).unwrap();
        for name in ["plain", "bom"] {
            let o = calibrate(&[d.join(format!("{name}.csv")).to_str().unwrap(), "--out", d.join(name).to_str().unwrap()]);
            assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        }
        assert_eq!(std::fs::read(d.join("bom/istio-fits.csv")).unwrap(), std::fs::read(d.join("plain/istio-fits.csv")).unwrap());
        // A degree the sidecar models cannot use is bad input, refused before any fit.
        let o = calibrate(&[d.join("plain.csv").to_str().unwrap(), "--out", d.join("deg").to_str().unwrap(), "--degree", "2"]);
        assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(!d.join("deg").exists());
    }
}
