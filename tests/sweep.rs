//! Sweeps and capacity planning, end to end: grid expansion, seeding, shard/merge equality,
//! parallel against serial, input errors, and the bisection on a queue whose answer is known.

use std::path::{Path, PathBuf};

use meshsim::app::capacity::{capacity, CapacityOptions};
use meshsim::app::sweep::{merge, run, SweepOptions};
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

/// Run a whole sweep into `out` and return its CSV bytes.
fn whole_csv(file: &Path, o: &SweepOptions, out: &Path) -> Vec<u8> {
    let r = run(file, o, out).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.complete);
    std::fs::read(out.join("sweep.csv")).unwrap()
}

/// Run every shard of `count` into `dir`, in reverse order; the shard CSVs.
fn shard_files(file: &Path, count: usize, dir: &Path) -> Vec<PathBuf> {
    (0..count)
        .rev()
        .map(|index| {
            let o = SweepOptions { shard: Shard { index, count }, ..SweepOptions::default() };
            let r = run(file, &o, dir).unwrap_or_else(|e| panic!("{e}"));
            assert!(r.complete);
            r.written
        })
        .collect()
}

mod shards {
    use super::*;

    #[test]
    fn merged_shards_equal_the_unsharded_sweep_byte_for_byte() {
        let d = scratch("shards");
        let file = sweep_file(&d, SMALL);
        let whole = whole_csv(&file, &SweepOptions::default(), &d.join("whole"));
        for count in [2, 3] {
            // Shards in reverse order: merge must not depend on the order it is given.
            let parts = shard_files(&file, count, &d.join(format!("shards-{count}")));
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
        let parts = shard_files(&file, 2, &d.join("s"));
        let p = parts.iter().find(|p| p.ends_with("sweep-shard-0-of-2.csv")).unwrap().clone();
        let e = merge(&d.join("m.csv"), std::slice::from_ref(&p)).unwrap_err();
        assert!(e.to_string().contains("missing shard"), "{e}");
        let e = merge(&d.join("m.csv"), &[p.clone(), p]).unwrap_err();
        assert!(e.to_string().contains("merge each shard once"), "{e}");
        assert!(!d.join("m.csv").exists());
    }

    /// Merge `parts` after `damage` edits the first shard; expect an input error naming the
    /// file (and line) with `needle`, and no output file.
    fn refused(name: &str, damage: impl Fn(&str) -> String, needle: &str, line: Option<usize>) {
        let d = scratch(name);
        let file = sweep_file(&d, SMALL);
        let parts = shard_files(&file, 2, &d.join("s"));
        let victim = d.join("s/sweep-shard-0-of-2.csv");
        let text = std::fs::read_to_string(&victim).unwrap();
        let damaged = damage(&text);
        assert_ne!(damaged, text, "{name}: the damage must change the file");
        std::fs::write(&victim, damaged).unwrap();
        let out = d.join("m.csv");
        let e = merge(&out, &parts).unwrap_err();
        assert!(matches!(e, AppError::Input(_)), "{name}: {e}");
        let msg = e.to_string();
        let at = match line {
            Some(l) => format!("{}:{l}:", victim.display()),
            None => victim.display().to_string(),
        };
        assert!(msg.contains(&at), "{name}: the message does not name {at}: {msg}");
        assert!(msg.contains(needle), "{name}: {msg}");
        assert!(!out.exists(), "{name}: a merged file was written");
        assert!(std::fs::read_dir(&d).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains(".tmp-")));
    }

    #[test]
    fn merge_refuses_a_header_only_shard() {
        refused("header-only", |t| format!("{}\n", t.lines().next().unwrap()), "cut short", Some(1));
    }

    #[test]
    fn merge_refuses_a_truncated_shard() {
        // Cut in the middle of the last row: shard 0 of 2 holds cases 0 and 2, 3 rows each.
        refused("truncated", |t| t[..t.len() - 40].to_string(), "fields where the header has", Some(7));
        // Cut at a row's end: the last row is missing.
        refused(
            "truncated-row",
            |t| {
                let lines: Vec<&str> = t.lines().collect();
                lines[..lines.len() - 1].join("\n") + "\n"
            },
            "cut short",
            Some(6),
        );
    }

    #[test]
    fn merge_refuses_a_duplicated_row() {
        refused(
            "duplicated",
            |t| {
                let lines: Vec<&str> = t.lines().collect();
                let mut v = lines.clone();
                v.insert(2, lines[1]);
                v.join("\n") + "\n"
            },
            "duplicated row",
            Some(3),
        );
        refused("duplicated-last", |t| format!("{t}{}\n", t.lines().last().unwrap()), "duplicated row", Some(8));
    }

    #[test]
    fn merge_refuses_shards_of_different_sweeps() {
        let d = scratch("merge-two-sweeps");
        let a = shard_files(&sweep_file(&d, SMALL), 2, &d.join("a"));
        let b_dir = d.join("other");
        std::fs::create_dir_all(&b_dir).unwrap();
        let b = shard_files(&sweep_file(&b_dir, &SMALL.replace("values = [60, 240]", "values = [60, 120]")), 2, &d.join("b"));
        let mixed = vec![
            a.iter().find(|p| p.ends_with("sweep-shard-0-of-2.csv")).unwrap().clone(),
            b.iter().find(|p| p.ends_with("sweep-shard-1-of-2.csv")).unwrap().clone(),
        ];
        let e = merge(&d.join("m.csv"), &mixed).unwrap_err().to_string();
        assert!(e.contains("another sweep") && e.contains("sweep-shard-"), "{e}");
        // The same sweep run with another seed is another sweep too.
        let o = |index| SweepOptions { shard: Shard { index, count: 2 }, seed: Some(99), ..SweepOptions::default() };
        let c = run(&sweep_file(&d, SMALL), &o(1), &d.join("c")).unwrap().written;
        let e = merge(&d.join("m.csv"), &[mixed[0].clone(), c]).unwrap_err().to_string();
        assert!(e.contains("another sweep") && e.contains("seed"), "{e}");
        // A shard without its record cannot be checked.
        std::fs::remove_file(mixed[0].with_extension("json")).unwrap();
        let e = merge(&d.join("m.csv"), &a).unwrap_err().to_string();
        assert!(e.contains("record"), "{e}");
        assert!(!d.join("m.csv").exists());
    }

    #[test]
    fn parallel_sweep_equals_serial_sweep() {
        let d = scratch("parallel");
        let file = sweep_file(&d, SMALL);
        let with = |threads: usize| {
            let o = SweepOptions { threads: Some(threads), ..SweepOptions::default() };
            whole_csv(&file, &o, &d.join(format!("t{threads}")))
        };
        assert_eq!(with(1), with(3));
    }

    #[test]
    fn a_whole_sweep_writes_its_csv_and_charts() {
        let d = scratch("whole");
        let file = sweep_file(&d, SMALL);
        let out = run(&file, &SweepOptions::default(), &d.join("out")).unwrap();
        let dir = out.written;
        for f in [
            "sweep.csv",
            "cpu-vs-rate.png",
            "cpu-vs-rate.svg",
            "mem-vs-rate.png",
            "p99-vs-rate.svg",
            ".meshsim-output",
            "report.html",
            "results.json",
        ] {
            assert!(dir.join(f).is_file(), "{f}");
        }
        let csv = std::fs::read_to_string(dir.join("sweep.csv")).unwrap();
        let header = csv.lines().next().unwrap();
        assert!(header.starts_with("case_index,case_seed,rate_rps,service.face.replicas,placement,proxies,"));
        assert_eq!(csv.lines().count(), 1 + 4 * 3);
        // Nothing of the run is left beside the output.
        let names: Vec<String> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(names.iter().all(|n| !n.contains("partial") && !n.contains("staging")), "{names:?}");
    }
}

#[test]
fn the_sidecar_scope_is_a_sweep_axis_and_narrower_scopes_hold_less() {
    // Istio's sidecar (its mesh sends every endpoint), so the scope is the lever.
    let d = scratch("scope-axis");
    let model = root().join("models/istio-1.24-published/istio-1.24-sidecar.toml");
    let body = format!(
        "placements = [\"sidecar\"]\n[set]\n\"simulation.duration\" = \"1s\"\n\"simulation.warmup\" = \"200ms\"\n\"model.sidecar\" = {:?}\n\
         [[axis]]\npath = \"mesh.sidecar_scope\"\nvalues = [\"mesh\", \"namespace\", \"called\"]\n",
        model.display().to_string()
    );
    let r = run(&sweep_file(&d, &body), &SweepOptions::default(), &d.join("out")).unwrap();
    let csv = std::fs::read_to_string(r.written.join("sweep.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let (scope, mem) =
        (header.iter().position(|h| *h == "mesh.sidecar_scope").unwrap(), header.iter().position(|h| *h == "dp_mem_mib").unwrap());
    let rows: Vec<(String, f64)> =
        csv.lines().skip(1).map(|l| l.split(',').collect::<Vec<_>>()).map(|c| (c[scope].to_string(), c[mem].parse().unwrap())).collect();
    assert_eq!(rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["mesh", "namespace", "called"]);
    assert!(rows[0].1 > rows[1].1 && rows[1].1 >= rows[2].1, "{rows:?}");
}

#[test]
fn an_axis_of_many_values_is_summarised_in_the_charts() {
    let d = scratch("many-series");
    let body = r#"
placements = ["none"]
[set]
"simulation.duration" = "300ms"
"simulation.warmup" = "100ms"
[[axis]]
path = "service.face.replicas"
range = { from = 1, to = 14, step = 1 }
[[axis]]
path = "rate"
values = [100, 200]
"#;
    let r = run(&sweep_file(&d, body), &SweepOptions::default(), &d.join("out")).unwrap();
    let svg = std::fs::read_to_string(r.written.join("cpu-vs-rate.svg")).unwrap();
    assert!(svg.contains("none (14 settings of the other inputs)"), "the 14 lines are not summarised");
    assert!(!svg.contains("service.face.replicas=13"));
}

mod resume {
    use super::*;

    /// A sweep stopped after `k` cases and resumed gives the bytes of an uninterrupted run:
    /// CSV, charts and marker alike.
    #[test]
    fn a_resumed_sweep_equals_an_uninterrupted_one() {
        let d = scratch("resume");
        let file = sweep_file(&d, SMALL);
        let whole = d.join("whole");
        whole_csv(&file, &SweepOptions::default(), &whole);
        for k in [1, 3] {
            let out = d.join(format!("stopped-{k}"));
            let stop = SweepOptions { stop_after_cases: Some(k), threads: Some(2), ..SweepOptions::default() };
            let r = run(&file, &stop, &out).unwrap();
            assert!(!r.complete);
            assert_eq!(r.cases_run, k);
            assert!(!out.exists(), "no output before every case is done");
            let partial = d.join(format!("stopped-{k}.partial"));
            let rows = std::fs::read_to_string(partial.join("sweep.csv")).unwrap().lines().count() - 1;
            assert_eq!(rows, k * 3, "the finished cases are on disk");
            // Without --resume the finished work is neither lost nor silently reused.
            let e = run(&file, &SweepOptions::default(), &out).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains("--resume"), "{e}");
            let r = run(&file, &SweepOptions { resume: true, ..SweepOptions::default() }, &out).unwrap();
            assert!(r.complete);
            assert_eq!((r.cases_resumed, r.cases_run), (k, 4 - k));
            assert!(!partial.exists());
            for f in ["sweep.csv", "cpu-vs-rate.svg", "p99-vs-rate.png", ".meshsim-output"] {
                assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(whole.join(f)).unwrap(), "{f} after stopping at {k}");
            }
        }
    }

    #[test]
    fn a_resumed_shard_equals_an_uninterrupted_one() {
        let d = scratch("resume-shard");
        let file = sweep_file(&d, SMALL);
        let shard = Shard { index: 1, count: 2 };
        let full = run(&file, &SweepOptions { shard, ..SweepOptions::default() }, &d.join("a")).unwrap();
        let stopped = run(&file, &SweepOptions { shard, stop_after_cases: Some(1), ..SweepOptions::default() }, &d.join("b")).unwrap();
        assert!(!stopped.complete);
        let resumed = run(&file, &SweepOptions { shard, resume: true, ..SweepOptions::default() }, &d.join("b")).unwrap();
        assert_eq!(std::fs::read(&full.written).unwrap(), std::fs::read(&resumed.written).unwrap());
        let record = |p: &Path| std::fs::read_to_string(p.with_extension("json")).unwrap();
        assert_eq!(record(&full.written), record(&resumed.written));
    }

    /// A sweep whose lock names a live process that is not called `meshsim` (a renamed
    /// binary, one under a profiler) is still running: neither --force nor --resume takes
    /// its partial folder, which it would otherwise publish short of rows.
    #[test]
    fn a_running_sweep_of_another_name_keeps_its_partial_folder() {
        if !Path::new("/proc/self").exists() {
            println!("skipped: no /proc to tell live processes by");
            return;
        }
        let d = scratch("lock-other-name");
        let file = sweep_file(&d, SMALL);
        let out = d.join("out");
        run(&file, &SweepOptions { stop_after_cases: Some(1), ..SweepOptions::default() }, &out).unwrap();
        let partial = d.join("out.partial");
        let csv = std::fs::read(partial.join("sweep.csv")).unwrap();
        let mut other = std::process::Command::new("sleep").arg("60").spawn().expect("sleep runs");
        std::fs::write(partial.join(".lock"), format!("{}\n", other.id())).unwrap();
        let forced = run(&file, &SweepOptions { force: true, ..SweepOptions::default() }, &out);
        let resumed = run(&file, &SweepOptions { resume: true, ..SweepOptions::default() }, &out);
        let kept = std::fs::read(partial.join("sweep.csv")).ok();
        let _ = other.kill();
        let _ = other.wait();
        for r in [forced, resumed] {
            let e = r.expect_err("the partial folder of a running sweep is refused");
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains("another meshsim"), "{e}");
        }
        assert_eq!(kept, Some(csv), "the running sweep's rows are untouched");
        // Once that process is gone, the finished case is resumed.
        let r = run(&file, &SweepOptions { resume: true, ..SweepOptions::default() }, &out).unwrap();
        assert!(r.complete && r.cases_resumed == 1);
    }

    /// Two sweep files of one name share their output and partial folders: one's finished
    /// cases are neither resumed by the other nor offered to it to discard without naming
    /// whose they are.
    #[test]
    fn the_unfinished_cases_of_another_sweep_file_are_named_not_taken() {
        let d = scratch("resume-other-file");
        let first = sweep_file(&d, SMALL);
        std::fs::create_dir_all(d.join("other")).unwrap();
        let second = d.join("other/sweep.toml");
        std::fs::write(&second, std::fs::read_to_string(&first).unwrap().replace("\"1s\"", "\"2s\"")).unwrap();
        let out = d.join("out");
        run(&first, &SweepOptions { stop_after_cases: Some(1), ..SweepOptions::default() }, &out).unwrap();
        let csv = std::fs::read(d.join("out.partial/sweep.csv")).unwrap();
        for o in [SweepOptions::default(), SweepOptions { resume: true, ..SweepOptions::default() }] {
            let e = run(&second, &o, &out).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(&first.display().to_string()), "{e}");
        }
        assert_eq!(std::fs::read(d.join("out.partial/sweep.csv")).unwrap(), csv);
        let r = run(&first, &SweepOptions { resume: true, ..SweepOptions::default() }, &out).unwrap();
        assert!(r.complete && r.cases_resumed == 1);
    }

    #[test]
    fn resume_is_refused_when_the_spec_or_seed_changed() {
        let d = scratch("resume-changed");
        let file = sweep_file(&d, SMALL);
        let out = d.join("out");
        run(&file, &SweepOptions { stop_after_cases: Some(2), ..SweepOptions::default() }, &out).unwrap();
        let again = SweepOptions { resume: true, ..SweepOptions::default() };
        let e = run(&file, &SweepOptions { seed: Some(8), ..again.clone() }, &out).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("changed"), "{e}");
        let edited = sweep_file(&d, &SMALL.replace("\"1s\"", "\"2s\""));
        let e = run(&edited, &again, &out).unwrap_err();
        assert!(e.to_string().contains("changed"), "{e}");
        // The finished cases are still there, and --force starts over.
        assert!(d.join("out.partial/sweep.csv").is_file());
        let r = run(&edited, &SweepOptions { force: true, ..SweepOptions::default() }, &out).unwrap();
        assert!(r.complete && r.cases_resumed == 0);
    }
}

mod errors {
    use super::*;

    fn input_errors(body: &str, name: &str) -> String {
        let d = scratch(name);
        match run(&sweep_file(&d, body), &SweepOptions::default(), &d.join("out")) {
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
    fn a_bad_sidecar_scope_in_an_axis_is_reported_at_its_value() {
        let e = input_errors("[[axis]]\npath = \"mesh.sidecar_scope\"\nvalues = [\"mesh\", \"everything\"]\n", "bad-scope");
        assert!(e.contains("sweep.toml:7:19:"), "{e}");
        assert!(e.contains("mesh.sidecar_scope: unknown value `everything`: write one of mesh, namespace, called"), "{e}");
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
            autoscale_target: None,
            placements: vec![Placement::None],
            progress: false,
        };
        let ov = Overrides { duration: Some("60s".into()), warmup: Some("5s".into()), ..Overrides::default() };
        let r = capacity(&p, &ov, &o).unwrap();
        let max = r.rows[0].search.rate_rps;
        assert!((max - 900.0).abs() < 45.0, "max rate {max}");
        let f = r.rows[0].search.failing_rps.unwrap();
        assert!((f - max) / f < 0.01);
    }
}

mod interrupt {
    use super::*;

    fn state_next_case(partial: &Path) -> Option<u64> {
        let text = std::fs::read_to_string(partial.join("sweep-state.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["next_case"].as_u64()
    }

    /// Ctrl-C in the middle of a sweep keeps the finished cases; the command it prints
    /// (`--resume` with the run's own `--out` and `--seed`) runs the rest and writes the bytes
    /// of an uninterrupted run.
    #[test]
    fn ctrl_c_keeps_finished_cases_and_resume_finishes_them() {
        let d = scratch("ctrl-c");
        let body = r#"
placements = ["none", "sidecar"]
[set]
"simulation.duration" = "60s"
"simulation.warmup" = "1s"
[[axis]]
path = "rate"
range = { from = 200, to = 1400, step = 100 }
"#;
        let file = sweep_file(&d, body);
        let bin = env!("CARGO_BIN_EXE_meshsim");
        let f = file.to_str().unwrap();
        let full = std::process::Command::new(bin)
            .args(["sweep", f, "--threads", "1", "--seed", "9", "--out", "full"])
            .current_dir(&d)
            .output()
            .unwrap();
        assert!(full.status.success(), "{}", String::from_utf8_lossy(&full.stderr));
        let child = std::process::Command::new(bin)
            .args(["sweep", f, "--threads", "1", "--seed", "9", "--out", "cut"])
            .current_dir(&d)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let partial = d.join("cut.partial");
        let started = std::time::Instant::now();
        while state_next_case(&partial).unwrap_or(0) == 0 {
            assert!(started.elapsed().as_secs() < 60, "no case finished");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(130), "{stderr}");
        assert!(stderr.contains("--resume"), "{stderr}");
        let kept = state_next_case(&partial).unwrap();
        assert!(kept > 0 && kept < 13, "{kept}");
        assert!(!d.join("cut").exists());
        let leftovers: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .chain(std::fs::read_dir(&partial).unwrap())
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".staging-") || n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // The command the note gives, as printed: the run's seed and folder are part of it.
        let command = stderr.split('`').nth(1).unwrap_or_default();
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"meshsim"), "{stderr}");
        assert!(command.contains("--out cut") && command.contains("--seed 9") && command.contains("--resume"), "{stderr}");
        let resumed = std::process::Command::new(bin).args(&words[1..]).current_dir(&d).output().unwrap();
        assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
        assert!(String::from_utf8_lossy(&resumed.stdout).contains(&format!("{kept} finished before")));
        for name in ["sweep.csv", "cpu-vs-rate.svg", "p99-vs-rate.png", ".meshsim-output"] {
            assert_eq!(std::fs::read(d.join("cut").join(name)).unwrap(), std::fs::read(d.join("full").join(name)).unwrap(), "{name}");
        }
        assert!(!partial.exists());
    }

    /// A named case that sets namespace placements runs as written in its own row; the other
    /// rows of every case are uniform, whatever the case sets.
    #[test]
    fn named_cases_of_mixed_meshes_are_labelled_by_what_ran() {
        let d = scratch("mixed-sweep");
        let body = r#"
[set]
"simulation.duration" = "2s"
"simulation.warmup" = "500ms"
[[case]]
name = "migrating"
set = { "namespace.load.placement" = "sidecar", "namespace.faces.placement" = "ambient" }
[[case]]
name = "plain"
set = { "service.face.replicas" = 2 }
"#;
        let file = sweep_file(&d, body);
        let r = run(&file, &SweepOptions::default(), &d.join("out")).unwrap();
        let csv = std::fs::read_to_string(r.written.join("sweep.csv")).unwrap();
        let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
        let col = |name: &str| rows[0].iter().position(|h| *h == name).unwrap();
        let (name, placement, proxies, ns) = (col("case_name"), col("placement"), col("proxies"), col("namespace_placements"));
        let got: Vec<(&str, &str, &str, &str)> = rows[1..].iter().map(|r| (r[name], r[placement], r[proxies], r[ns])).collect();
        assert_eq!(got.len(), 10, "{csv}");
        assert_eq!(got[0], ("migrating", "as-written", "9", "faces=ambient;load=sidecar"));
        assert_eq!(got[1], ("migrating", "none", "0", "faces=none;load=none"));
        assert_eq!(got[2], ("migrating", "sidecar", "27", "faces=sidecar;load=sidecar"));
        assert_eq!(got[5], ("plain", "as-written", "0", "faces=none;load=none"));
        assert_eq!(got[7], ("plain", "sidecar", "26", "faces=sidecar;load=sidecar"));
    }
}
