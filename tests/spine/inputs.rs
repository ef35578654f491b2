//! Bad input, as users write it: every problem of a file reported at once with its file,
//! line, column and dotted field path, in the user's terms; every quantity within its range;
//! exit code 2 and nothing written. Each test names the defect it guards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

fn meshsim(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim")).args(args).current_dir(cwd).output().expect("the binary runs")
}

fn faces_text() -> String {
    let text = std::fs::read_to_string(root().join("topologies/faces.toml")).unwrap();
    text.replace("\"../models/", &format!("\"{}/models/", root().display()))
}

/// Write `text` as a topology in a scratch folder, run `meshsim <args> FILE --out out` there,
/// and return (folder, file, stderr) after checking exit code 2 and that nothing was written.
fn refused(name: &str, bytes: &[u8], args: &[&str]) -> (PathBuf, PathBuf, String) {
    let dir = scratch(name);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, bytes).unwrap();
    let mut all: Vec<&str> = args.to_vec();
    all.push(path.to_str().unwrap());
    all.extend(["--out", "out"]);
    let o = meshsim(&all, &dir);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{name}: {stderr}");
    assert!(!dir.join("out").exists(), "{name}: an output folder was written");
    assert!(!dir.join("outputs").exists(), "{name}: an output folder was written");
    (dir, path, stderr)
}

/// `refused` for an edit of faces, with `compare`.
fn faces_refused(name: &str, edit: impl Fn(String) -> String) -> (PathBuf, String) {
    let text = faces_text();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit must change the file");
    let (_, path, stderr) = refused(name, edited.as_bytes(), &["compare"]);
    (path, stderr)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

fn has_all(stderr: &str, needles: &[&str]) {
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks `{n}`: {stderr}");
    }
}

// Defect 9: messages name file, line, column and field path, in the user's terms.

#[test]
fn type_errors_are_all_reported_at_once_in_the_users_terms() {
    let (path, stderr) = faces_refused("types", |t| {
        t.replacen("vcpu = 8", "vcpu = \"8\"", 1)
            .replacen(
                "name = \"smiley\"\nnamespace = \"faces\"\nreplicas = 3",
                "name = \"smiley\"\nnamespace = \"faces\"\nreplicas = nan",
                1,
            )
            .replacen("to = \"color\"\nmode = \"parallel\"", "to = \"color\"\nretries = 1.5\nmode = \"parallel\"", 1)
            .replacen("rate = \"1200rps\"", "rate = 1200", 1)
    });
    let p = path.display().to_string();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    has_all(
        &stderr,
        &[
            &format!("{p}:{}:8: node[0].vcpu: write a number", line_of(&faces_text(), "vcpu = 8")),
            "service[2].replicas: write a whole number",
            "service[1].call[1].retries: write a whole number, like 3 (found the number 1.5)",
            "load[0].rate: write a rate with a unit, in quotes, like \"1000rps\" (found the number 1200)",
        ],
    );
    for leak in ["invalid type", "expected u32", "expected i64", "floating point", "struct"] {
        assert!(!stderr.contains(leak), "a Rust type name leaks: {stderr}");
    }
}

#[test]
fn a_missing_node_figure_is_one_message_without_false_scheduling_complaints() {
    let (_, stderr) = faces_refused("missing-memory", |t| t.replacen("memory = \"32Gi\"\n", "", 1));
    has_all(&stderr, &["node[0].memory: missing from node[0]: write a size with a unit"]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_missing_version_asks_for_the_version_meshsim_reads() {
    // "write a whole number, like 3" invited `version = 3`, which is then refused.
    let (_, stderr) = faces_refused("missing-version", |t| t.replacen("version = 1\n", "", 1));
    has_all(&stderr, &["version: missing from the file: write `version = 1`, the format this meshsim reads"]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn another_version_of_the_format_is_refused_at_its_line() {
    let (path, stderr) = faces_refused("other-version", |t| t.replacen("version = 1\n", "version = 2\n", 1));
    let line = line_of(&std::fs::read_to_string(&path).unwrap(), "version = 2");
    has_all(&stderr, &[&format!(":{line}:11: version: 2 is not supported: this meshsim reads version 1")]);
}

#[test]
fn a_bare_duration_for_a_distribution_says_what_the_table_looks_like() {
    let (_, stderr) =
        faces_refused("service-time", |t| t.replacen("cpu = { dist = \"lognormal\", mean = \"4.4ms\", cv = 0.5 }", "cpu = \"1ms\"", 1));
    has_all(&stderr, &["service[1].cpu: write a table, like { dist = \"exponential\", mean = \"1ms\" }"]);
    assert!(!stderr.contains("ServiceTimeInput"), "{stderr}");
}

#[test]
fn a_file_ending_in_a_key_without_value_names_the_field() {
    let (_, path, stderr) = refused("truncated", b"version = 1\nname = \"x\"\n[simulation]\nduration =", &["compare"]);
    has_all(&stderr, &[&format!("{}:4:", path.display()), "simulation.duration: the value is missing after `=`"]);
    assert!(stderr.lines().all(|l| l.trim_end() != format!("error: {}:4:11:", path.display())), "{stderr}");
}

#[test]
fn an_unquoted_quantity_asks_for_quotes() {
    let (path, stderr) =
        faces_refused("unquoted", |t| t.replacen("connection = \"per-request\"", "connection = \"per-request\"\ntimeout = 2s", 1));
    let line = line_of(&std::fs::read_to_string(&path).unwrap(), "timeout = 2s");
    has_all(&stderr, &[&format!(":{line}:"), "service[1].call[1].timeout: `2s` needs quotes", "\"2s\""]);
}

#[test]
fn invalid_utf8_names_its_line_and_column() {
    let mut bytes = faces_text().into_bytes();
    let at = String::from_utf8_lossy(&bytes).find("description = \"").unwrap() + "description = \"".len();
    bytes.insert(at, 0xff);
    let (_, path, stderr) = refused("utf8", &bytes, &["compare"]);
    has_all(&stderr, &[&format!("{}:8:16:", path.display()), "not UTF-8"]);
}

#[test]
fn an_unknown_key_suggests_the_nearest_known_one() {
    let (_, stderr) = faces_refused("unknown", |t| t.replacen("cpu_request = \"300m\"", "cpu_requests = \"300m\"", 1));
    has_all(&stderr, &["service[1].cpu_requests: unknown key `cpu_requests` in service[1]: did you mean `cpu_request`?"]);
}

#[test]
fn a_size_with_a_wrong_unit_lists_every_unit() {
    let (_, stderr) = faces_refused("size-unit", |t| t.replacen("memory = \"32Gi\"", "memory = \"32G\"", 1));
    has_all(&stderr, &["node[0].memory: unknown size unit `G`", "Ki, Mi, Gi, KiB, MiB, GiB", "KB, MB, GB"]);
}

#[test]
fn a_model_of_the_wrong_kind_names_its_file_and_line_once() {
    let (_, stderr) = faces_refused("wrong-kind", |t| {
        let model = root().join("models/gsd-2025-gke/linkerd2-proxy.toml");
        t.replacen("per_node_l7 =", &format!("ztunnel_model = \"{}\"\nper_node_l7 =", model.display()), 1)
    });
    let model = root().join("models/gsd-2025-gke/linkerd2-proxy.toml");
    let line = line_of(&std::fs::read_to_string(&model).unwrap(), "kind = ");
    has_all(&stderr, &[&format!("{}:{line}:", model.display()), "kind: this model is for `sidecar`", "ztunnel_model"]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

// Defects 2, 3, 4, 5: every quantity within a documented range, refused before work starts.

#[test]
fn quantities_outside_their_ranges_are_refused_at_their_lines() {
    let (path, stderr) = faces_refused("ranges", |t| {
        t.replacen("duration = \"30s\"", "duration = \"1e18ns\"\nmax_pending = 0", 1)
            .replacen("speed = 1.0", "speed = 1e-15", 1)
            .replacen("mean = \"0.42ms\"", "mean = \"9e18ns\"", 1)
            .replacen("connection = \"per-request\"", "connection = \"per-request\"\ntimeout = \"1ns\"\nretries = 4294967295", 1)
            .replacen("rate = \"1200rps\"", "rate = \"1e308rps\"", 1)
    });
    let text = std::fs::read_to_string(&path).unwrap();
    has_all(
        &stderr,
        &[
            &format!(":{}:12: simulation.duration: `1e18ns` is longer than the limit of 30 days", line_of(&text, "1e18ns")),
            "simulation.max_pending: 0 is out of range: it must be between 1 and 1000000000",
            "node[0].speed: 1e-15 is out of range: it must be at least 0.001 and at most 1000",
            "service[2].cpu.mean: `9e18ns` is longer than the limit of 60min",
            "service[1].call[1].timeout: `1ns` is shorter than the minimum of 1us",
            "service[1].call[1].retries: 4294967295 is out of range: it must be between 0 and 10",
            "load[0].rate: 1e308 rps is above the limit of 10000000 rps",
        ],
    );
}

#[test]
fn command_line_overrides_go_through_the_same_checks() {
    let faces = root().join("topologies/faces.toml");
    let f = faces.to_str().unwrap();
    let dir = scratch("overrides");
    for (args, needle) in [
        (vec!["compare", f, "--duration", "1e9s"], "--duration: `1e9s` is longer than the limit of 30 days"),
        (vec!["compare", f, "--rps", "1e308"], "--rps: the loads add up to"),
        (vec!["compare", f, "--rps", "nan"], "--rps"),
        (vec!["compare", f, "--rps", "1e-7"], "--rps: 1e-7 is below the lowest rate of 0.000001 rps"),
        (vec!["capacity", f, "--slo-p99", "50ms", "--headroom", "0.99"], "--headroom: 0.99 must be a share between 0 and 0.9"),
        (vec!["blast", f, "--retries", "4000000000"], "--retries: must be at most 10"),
        (vec!["blast", f, "--timeout", "1ns"], "--timeout: must be at least 1us"),
        (vec!["calibrate", f, "--degree", "100000000"], "--degree: 100000000 is more than the limit of 5"),
    ] {
        let o = meshsim(&args, &dir);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert!(!dir.join("outputs").exists());
}

#[test]
fn max_pending_is_read_into_the_simulation_settings() {
    let dir = scratch("max-pending");
    let text = faces_text();
    let p = write(&dir, "default", &text);
    assert_eq!(inputs(&p).topology.simulation.max_pending, 10_000_000);
    let p = write(&dir, "set", &text.replacen("seed = 20250327", "seed = 20250327\nmax_pending = 5000", 1));
    assert_eq!(inputs(&p).topology.simulation.max_pending, 5000);
}

#[test]
fn a_degree_the_data_cannot_fit_is_refused() {
    let Some(data) = meshsim::app::validate::shared_path("data/gsd-v1/linkerd") else { return };
    let dir = scratch("degree");
    let faces = root().join("topologies/faces.toml");
    let o = meshsim(&["calibrate", data.to_str().unwrap(), "--degree", "5", "--topology", faces.to_str().unwrap(), "--out", "out"], &dir);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--degree: 5 needs at least 6 load levels"), "{stderr}");
    assert!(!dir.join("out").exists());
}

// Defect 6: input checks are linear; sizes have ceilings.

#[test]
fn eighty_thousand_nodes_are_accepted_and_more_than_the_limit_refused() {
    let dir = scratch("many-nodes");
    let text = faces_text();
    let entries = |n: usize, count: u32| -> String {
        (0..n).map(|k| format!("[[node]]\nname = \"n{k}\"\ncount = {count}\nvcpu = 8\nmemory = \"32Gi\"\n\n")).collect()
    };
    let (head, rest) = text.split_at(text.find("[[node]]").unwrap());
    let tail = &rest[rest.find("[[namespace]]").unwrap()..];
    let t = inputs(&write(&dir, "ok", &format!("{head}{}{tail}", entries(8, 10_000)))).topology;
    assert_eq!(t.nodes.len(), 80_000);
    // Pods spread fewest-first over nodes in order: the first replicas take the first nodes.
    assert_eq!(t.nodes[t.pods[0].node].name, "n0-1");
    assert_eq!(t.nodes[t.pods[1].node].name, "n0-2");
    let e = meshsim::topology::load(&write(&dir, "too-many", &format!("{head}{}{tail}", entries(11, 10_000)))).unwrap_err();
    assert!(e.to_string().contains("110000 nodes in all: at most 100000 are supported"), "{e}");
    let e = meshsim::topology::load(&write(&dir, "dup", &format!("{head}{}{}{tail}", entries(1, 10_000), entries(1, 10_000)))).unwrap_err();
    assert_eq!(e.0.len(), 1, "one message per clashing entry: {e}");
    assert!(e.to_string().contains("node[1].name: node `n0-1` is defined twice, here and by node[0] (and 9999 more names)"), "{e}");
}

// Defect 10: a name too long for a folder is refused early, with exit 2.

#[test]
fn a_name_of_100000_characters_is_refused_before_any_output_path() {
    let long = "x".repeat(100_000);
    let (_, stderr) = faces_refused("long-name", |t| t.replacen("name = \"faces\"", &format!("name = \"{long}\""), 1));
    has_all(&stderr, &[":7:8: name: is 100000 characters long: at most 64"]);
    let (_, stderr) = faces_refused("dot-name", |t| t.replacen("name = \"faces\"", "name = \"..\"", 1));
    has_all(&stderr, &["name: must start with a letter or digit"]);
}

// Defect 14: input files are regular files of bounded size.

#[test]
fn devices_folders_pipes_and_huge_files_are_refused_before_reading() {
    let dir = scratch("not-files");
    let check = |arg: &str, needle: &str| {
        let o = meshsim(&["compare", arg], &dir);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{arg}: {stderr}");
        assert!(stderr.contains(needle), "{arg}: {stderr}");
    };
    if Path::new("/dev/zero").exists() {
        check("/dev/zero", "/dev/zero: is not a regular file");
    }
    check(dir.to_str().unwrap(), "is a folder");
    let fifo = dir.join("fifo.toml");
    if Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
        check(fifo.to_str().unwrap(), "is not a regular file");
    }
    let big = dir.join("big.toml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(65 * 1024 * 1024).unwrap();
    check(big.to_str().unwrap(), "input files are limited to 64 MiB");
}

#[test]
fn wrk2_threads_are_refused_on_other_loads_and_beyond_the_connections() {
    let (_, stderr) =
        faces_refused("wrk2-threads-poisson", |t| t.replacen("arrival = \"poisson\"", "arrival = \"poisson\"\nthreads = 8", 1));
    has_all(&stderr, &["load[0].threads: threads applies to wrk2-paced load (arrival = \"wrk2\") only"]);
    let (_, stderr) =
        faces_refused("wrk2-threads-over", |t| t.replacen("arrival = \"poisson\"", "arrival = \"wrk2\"\nthreads = 8\nconnections = 4", 1));
    has_all(&stderr, &["load[0].connections: 4 is fewer than its 8 threads; wrk2 needs at least one connection per thread"]);
}
