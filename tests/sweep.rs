//! Sweeps and capacity planning, end to end: grid expansion, seeding, shard/merge equality,
//! parallel against serial, input errors, and the bisection on a queue whose answer is known.

use std::path::{Path, PathBuf};

use meshsim::app::capacity::{capacity, CapacityOptions};
use meshsim::app::sweep::{csv_bytes, merge, run, SweepOptions};
use meshsim::app::{AppError, Overrides};
use meshsim::placement::Placement;
use meshsim::sweep::{expand, spec, Shard};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sweep-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Write a sweep file over faces.toml into `dir`; `body` follows the header.
fn sweep_file(dir: &Path, body: &str) -> PathBuf {
    let faces = root().join("topologies/faces.toml");
    let text = format!("version = 1\nname = \"t\"\ntopology = {:?}\nseed = 7\n{body}", faces.display().to_string());
    let p = dir.join("sweep.toml");
    std::fs::write(&p, text).unwrap();
    p
}

const SMALL: &str = r#"
placements = ["none", "sidecar", "ambient"]
[set]
"simulation.duration" = "1s"
"simulation.warmup" = "200ms"
[[axis]]
path = "rate"
values = [60, 240]
[[axis]]
path = "service.face.replicas"
range = { from = 1, to = 3, step = 2 }
"#;

mod grid {
    use super::*;

    #[test]
    fn expansion_counts_and_orders_cases_last_axis_fastest() {
        let d = scratch("grid");
        let s = spec::load(&sweep_file(&d, SMALL)).unwrap();
        assert_eq!(s.case_count(), 4);
        let cases = expand(&s);
        let cells: Vec<Vec<String>> = cases.iter().map(|c| c.axis_values.iter().map(spec::value_cell).collect()).collect();
        assert_eq!(cells, vec![vec!["60", "1"], vec!["60", "3"], vec!["240", "1"], vec!["240", "3"]]);
        assert_eq!(cases.iter().map(|c| c.index).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        // Fixed settings come first, then the axes in order.
        let paths: Vec<&str> = cases[0].settings.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, vec!["simulation.duration", "simulation.warmup", "rate", "service.face.replicas"]);
    }

    #[test]
    fn named_cases_are_crossed_with_axes() {
        let d = scratch("named");
        let body = r#"
[[case]]
name = "small"
set = { "service.face.replicas" = 1 }
[[case]]
name = "big"
set = { "node.gke.count" = 6, "service.face.replicas" = 6 }
[[axis]]
path = "rate"
range = { from = 100, to = 400, factor = 2 }
"#;
        let s = spec::load(&sweep_file(&d, body)).unwrap();
        let cases = expand(&s);
        assert_eq!(cases.len(), 6);
        let names: Vec<&str> = cases.iter().map(|c| c.name.as_deref().unwrap()).collect();
        assert_eq!(names, ["small", "small", "small", "big", "big", "big"]);
        assert_eq!(spec::value_cell(&cases[5].axis_values[0]), "400");
    }

    #[test]
    fn case_seeds_are_deterministic_and_distinct() {
        let d = scratch("seeds");
        let s = spec::load(&sweep_file(&d, SMALL)).unwrap();
        let a: Vec<u64> = expand(&s).iter().map(|c| c.seed).collect();
        let b: Vec<u64> = expand(&s).iter().map(|c| c.seed).collect();
        assert_eq!(a, b);
        let distinct: std::collections::BTreeSet<u64> = a.iter().copied().collect();
        assert_eq!(distinct.len(), a.len());
        for (i, seed) in a.iter().enumerate() {
            assert_eq!(*seed, meshsim::sweep::case_seed(7, i));
        }
    }
}

mod shards {
    use super::*;

    #[test]
    fn merged_shards_equal_the_unsharded_sweep_byte_for_byte() {
        let d = scratch("shards");
        let file = sweep_file(&d, SMALL);
        let whole = csv_bytes(&run(&file, &SweepOptions::default()).unwrap()).unwrap();
        for count in [2, 3] {
            let mut parts = Vec::new();
            // Shards in reverse order: merge must not depend on the order it is given.
            for index in (0..count).rev() {
                let o = SweepOptions { shard: Shard { index, count }, ..SweepOptions::default() };
                let out = run(&file, &o).unwrap();
                let p = meshsim::app::sweep::write(&out, &d.join("shards")).unwrap();
                parts.push(p);
            }
            let merged = d.join(format!("merged-{count}.csv"));
            merge(&merged, &parts).unwrap();
            assert_eq!(
                String::from_utf8(std::fs::read(&merged).unwrap()).unwrap(),
                String::from_utf8(whole.clone()).unwrap(),
                "{count} shards"
            );
        }
    }

    #[test]
    fn merge_refuses_a_missing_or_repeated_shard() {
        let d = scratch("merge-bad");
        let file = sweep_file(&d, SMALL);
        let o = SweepOptions { shard: Shard { index: 0, count: 2 }, ..SweepOptions::default() };
        let p = meshsim::app::sweep::write(&run(&file, &o).unwrap(), &d).unwrap();
        let e = merge(&d.join("m.csv"), std::slice::from_ref(&p)).unwrap_err();
        assert!(e.to_string().contains("missing shard"), "{e}");
        let e = merge(&d.join("m.csv"), &[p.clone(), p]).unwrap_err();
        assert!(e.to_string().contains("in both"), "{e}");
        assert!(!d.join("m.csv").exists());
    }

    #[test]
    fn parallel_sweep_equals_serial_sweep() {
        let d = scratch("parallel");
        let file = sweep_file(&d, SMALL);
        let with = |threads| {
            let o = SweepOptions { threads: Some(threads), ..SweepOptions::default() };
            csv_bytes(&run(&file, &o).unwrap()).unwrap()
        };
        assert_eq!(with(1), with(3));
    }

    #[test]
    fn a_whole_sweep_writes_its_csv_and_charts() {
        let d = scratch("whole");
        let file = sweep_file(&d, SMALL);
        let out = run(&file, &SweepOptions::default()).unwrap();
        let dir = meshsim::app::sweep::write(&out, &d.join("out")).unwrap();
        for f in ["sweep.csv", "cpu-vs-rate.png", "cpu-vs-rate.svg", "mem-vs-rate.png", "p99-vs-rate.svg"] {
            assert!(dir.join(f).is_file(), "{f}");
        }
        let csv = std::fs::read_to_string(dir.join("sweep.csv")).unwrap();
        let header = csv.lines().next().unwrap();
        assert!(header.starts_with("case_index,case_seed,rate_rps,service.face.replicas,placement,proxies,"));
        assert_eq!(csv.lines().count(), 1 + 4 * 3);
    }
}

mod errors {
    use super::*;

    fn input_errors(body: &str, name: &str) -> String {
        let d = scratch(name);
        match run(&sweep_file(&d, body), &SweepOptions::default()) {
            Err(e @ AppError::Input(_)) => e.to_string(),
            Err(e) => panic!("not an input error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn bad_paths_and_values_are_reported_at_their_line() {
        let e = input_errors(
            "[[axis]]\npath = \"service.nosuch.replicas\"\nvalues = [1]\n[[axis]]\npath = \"service.face.replicas\"\nvalues = [2, 0]\n",
            "bad-path",
        );
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 1, "{e}");
        // The first value of the bad path is where the case first goes wrong.
        assert!(e.contains("sweep.toml:7:11:"), "{e}");
        assert!(e.contains("no entry named `nosuch`"), "{e}");
        let e = input_errors("[[axis]]\npath = \"service.face.replicas\"\nvalues = [2, 0]\n", "bad-value");
        assert!(e.contains("sweep.toml:7:14:"), "{e}");
        assert!(e.contains("service[1].replicas"), "{e}");
    }

    #[test]
    fn a_bad_path_is_reported_once_not_once_per_case() {
        let e = input_errors(
            "[[axis]]\npath = \"rate\"\nvalues = [60, 120, 240]\n[[axis]]\npath = \"service.face.replicaz\"\nvalues = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n",
            "bad-path-once",
        );
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains("in 30 cases, the first with rate = 60, service.face.replicaz = 1"), "{e}");
        assert!(e.contains("service[1].replicaz: unknown key `replicaz` in service[1]: did you mean `replicas`?"), "{e}");
    }

    #[test]
    fn a_geometric_range_counts_its_values_before_building_them() {
        let e = input_errors("[[axis]]\npath = \"rate\"\nrange = { from = 1, to = 1e300, factor = 1.000001 }\n", "huge-range");
        assert!(e.contains("sweep.toml:7:9: axis[0]: range of `rate`: 6907"), "{e}");
        assert!(e.contains("values: more than the limit of 100000 cases"), "{e}");
        let e = input_errors("[[axis]]\npath = \"rate\"\nrange = { from = 0, to = 1e300, step = 1e-300 }\n", "huge-step");
        assert!(e.contains("more than the limit of 100000 cases"), "{e}");
    }

    #[test]
    fn set_values_go_through_the_topology_checks() {
        let e = input_errors("[set]\n\"simulation.duration\" = \"1e9s\"\n[[axis]]\npath = \"rate\"\nvalues = [60]\n", "set-duration");
        assert!(e.contains("sweep.toml:6:25:"), "{e}");
        assert!(e.contains("simulation.duration: `1e9s` is longer than the limit of 30 days"), "{e}");
        let e = input_errors("[[axis]]\npath = \"rate\"\nvalues = [1e308]\n", "axis-rate");
        assert!(e.contains("rate: the loads add up to 1e308 rps, above the limit"), "{e}");
        let e = input_errors("[[axis]]\npath = \"rate\"\nvalues = [nan]\n", "axis-nan");
        assert!(e.contains("sweep.toml:7:11: axis[0].values[0]: nan is not a number meshsim can use"), "{e}");
    }

    #[test]
    fn the_sweep_file_itself_is_checked() {
        let e = input_errors(
            "placements = [\"sidecar\", \"mesh\"]\n[[axis]]\npath = \"rate\"\nrange = { from = 10, to = 5, step = 1 }\n",
            "bad-file",
        );
        assert!(e.contains("sweep.toml:5:26:"), "{e}");
        assert!(e.contains("sweep.toml:8:9:"), "{e}");
    }

    #[test]
    fn the_binary_exits_2_naming_the_line_and_writes_nothing() {
        let d = scratch("cli");
        let file = sweep_file(&d, "[[axis]]\npath = \"rate\"\nvalues = [\"fast\"]\n");
        let out = d.join("out");
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_meshsim"))
            .args(["sweep", file.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("sweep.toml:7:11: rate:"), "{stderr}");
        assert!(!out.exists());
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_meshsim"))
            .args(["sweep", file.to_str().unwrap(), "--shard", "2/2"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
    }
}

mod capacity_search {
    use super::*;

    /// One M/M/1 queue (exponential service of mean 1 ms, one worker, Poisson arrivals, no
    /// network delay): the response time is exponential with rate μ − λ, so its p99 is
    /// ln(100)/(μ − λ). An SLO of ln(100)/100 s ≈ 46.05 ms is met up to λ = 900 rps.
    #[test]
    fn bisection_finds_the_analytic_limit_of_an_mm1_queue() {
        let d = scratch("mm1");
        let p = d.join("mm1.toml");
        std::fs::write(
            &p,
            r#"
version = 1
name = "mm1"
[simulation]
duration = "60s"
warmup = "5s"
seed = 3
[mesh]
[network]
same_node = "0us"
same_zone = "0us"
cross_zone = "0us"
cross_cluster = "0us"
[[node]]
name = "n"
vcpu = 4
memory = "8Gi"
[[namespace]]
name = "q"
[[service]]
name = "server"
namespace = "q"
replicas = 1
concurrency = 1
service_time = { dist = "exponential", mean = "1ms" }
[[load]]
to = "server"
rate = "100rps"
"#,
        )
        .unwrap();
        let o = CapacityOptions {
            slo_p99_ns: 46_051_702,
            max_error_rate: 0.001,
            headroom: 0.2,
            max_rps: None,
            rate_rps: None,
            placements: vec![Placement::None],
        };
        let ov = Overrides { duration: Some("60s".into()), warmup: Some("5s".into()), ..Overrides::default() };
        let r = capacity(&p, &ov, &o).unwrap();
        let max = r.rows[0].search.rate_rps;
        assert!((max - 900.0).abs() < 45.0, "max rate {max}");
        let f = r.rows[0].search.failing_rps.unwrap();
        assert!((f - max) / f < 0.01);
    }
}
