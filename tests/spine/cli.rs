//! The binary as users run it: determinism of output files, and bad input rejected with
//! exit code 2, a `path:line` message naming the field, and no output folder.

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn meshsim(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim")).args(args).current_dir(cwd).output().expect("the binary runs")
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn same_file_and_seed_give_identical_bytes() {
    let dir = scratch("determinism");
    let faces = root().join("topologies/faces.toml");
    let f = faces.to_str().unwrap();
    for out in ["a", "b"] {
        let o = meshsim(&["compare", f, "--duration", "6s", "--warmup", "1s", "--seed", "11", "--out", out], &dir);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (a, b) = (files(&dir.join("a")), files(&dir.join("b")));
    assert_eq!(
        a.iter().map(|x| &x.0).collect::<Vec<_>>(),
        [
            ".meshsim-output",
            "containers.csv",
            "edges.csv",
            "instances.csv",
            "nodes.csv",
            "report.html",
            "results.json",
            "run.json",
            "summary.csv",
            "summary.md"
        ]
    );
    assert_eq!(a, b);
    // A different seed gives a different run.
    let o = meshsim(&["compare", f, "--duration", "6s", "--warmup", "1s", "--seed", "12", "--out", "c"], &dir);
    assert!(o.status.success());
    let summary = |v: &[(String, Vec<u8>)]| v.iter().find(|x| x.0 == "summary.csv").cloned();
    assert_ne!(summary(&files(&dir.join("c"))), summary(&a));
}

/// Run `compare` on a topology made from faces by `edit`, expect exit 2 with every `needles`
/// in stderr, and no output folder.
fn rejects(name: &str, edit: impl Fn(String) -> String, needles: &[&str]) {
    let dir = scratch(name);
    let text = std::fs::read_to_string(root().join("topologies/faces.toml")).unwrap();
    let text = text.replace("\"../models/", &format!("\"{}/models/", root().display()));
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit must change the file");
    let path = write(&dir, name, &edited);
    let o = meshsim(&["compare", path.to_str().unwrap(), "--out", "out"], &dir);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{name}: {stderr}");
    let where_ = format!("{}:", path.display());
    assert!(stderr.contains(&where_), "{name}: stderr does not name the file: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{name}: stderr lacks `{n}`: {stderr}");
    }
    assert!(!dir.join("out").exists(), "{name}: an output folder was written");
    assert!(std::fs::read_dir(&dir).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains("staging")));
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn call_to_missing_service_is_rejected() {
    rejects(
        "missing-service",
        |t| t.replacen("to = \"smiley\"", "to = \"smiely\"", 1),
        &["service[1].call[0].to", "`smiely`", "does not exist"],
    );
}

#[test]
fn call_cycle_is_rejected() {
    rejects(
        "cycle",
        |t| t.replacen("[[service]]\nname = \"color\"\n", "[[service.call]]\nto = \"face\"\n\n[[service]]\nname = \"color\"\n", 1),
        &["cycle", "acyclic"],
    );
}

#[test]
fn zero_replicas_is_rejected() {
    rejects(
        "zero-replicas",
        |t| t.replacen("name = \"color\"\nnamespace = \"faces\"\nreplicas = 3", "name = \"color\"\nnamespace = \"faces\"\nreplicas = 0", 1),
        &["service[3].replicas", "between 1 and"],
    );
}

#[test]
fn negative_rate_is_rejected_at_its_line() {
    let text = std::fs::read_to_string(root().join("topologies/faces.toml")).unwrap();
    let line = line_of(&text, "rate = \"1200rps\"");
    rejects("negative-rate", |t| t.replace("rate = \"1200rps\"", "rate = \"-5rps\""), &["load[0].rate", "negative", &format!(":{line}:")]);
}

#[test]
fn unknown_field_is_rejected() {
    rejects(
        "unknown-field",
        |t| t.replacen("replicas = 3\ncpu_request = \"300m\"", "replicas = 3\ncpu_requests = \"300m\"", 1),
        &["cpu_requests"],
    );
}

#[test]
fn more_pods_than_nodes_can_hold_is_rejected() {
    rejects(
        "too-many-pods",
        |t| t.replacen("replicas = 3\ncpu_request = \"300m\"", "replicas = 30\ncpu_request = \"1\"", 1),
        &["service[1].replicas", "does not fit"],
    );
}

#[test]
fn missing_model_file_is_rejected() {
    let missing = format!("ztunnel_model = \"{}/models/gsd-2025-gke/ztunel.toml\"\nper_node_l7 =", root().display());
    rejects("missing-model", |t| t.replacen("per_node_l7 =", &missing, 1), &["mesh.ztunnel_model", "not found"]);
    let models = format!("models_dir = \"{}/models/\"", root().display());
    let missing = format!("models_dir = \"{}/no-models\"", root().display());
    rejects("missing-models-dir", |t| t.replacen(&models, &missing, 1), &["mesh.models_dir", "not found"]);
}

#[test]
fn all_errors_in_a_file_are_reported_at_once() {
    rejects(
        "several",
        |t| {
            t.replacen("to = \"smiley\"", "to = \"nope\"", 1).replacen(
                "name = \"color\"\nnamespace = \"faces\"\nreplicas = 3",
                "name = \"color\"\nnamespace = \"faces\"\nreplicas = 0",
                1,
            )
        },
        &["`nope`", "service[3].replicas"],
    );
}

#[test]
fn run_writes_one_placement() {
    let dir = scratch("run");
    let faces = root().join("topologies/faces.toml");
    let o = meshsim(
        &["run", faces.to_str().unwrap(), "--placement", "ambient", "--rps", "300", "--duration", "4s", "--warmup", "1s", "--seed", "3"],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = std::fs::read_to_string(dir.join("outputs/faces-ambient/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 2);
    assert!(summary.lines().nth(1).unwrap().starts_with("ambient,6,9.0000,3.0000,"));
}

#[test]
fn a_run_whose_clock_stops_exits_1_naming_the_stall_and_writes_nothing() {
    // A service with no work at no distance answers a closed loop at the instant it asked.
    let dir = scratch("stall");
    let text = queueing_topology(
        "10s",
        "[[service]]\nname = \"srv\"\nnamespace = \"app\"\nreplicas = 1\n",
        "[[load]]\nto = \"srv\"\narrival = \"closed\"\nconnections = 2\n",
    );
    let p = write(&dir, "stall", &text);
    let o = meshsim(&["run", p.to_str().unwrap(), "--placement", "none", "--out", "out"], &dir);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("simulated time stopped at t=0 ns") && stderr.contains("requests were sent"), "{stderr}");
    assert!(!stderr.contains("event limit"), "{stderr}");
    assert!(!dir.join("out").exists());
}

#[test]
fn queue_limits_under_a_closed_loop_finish_with_their_refusals_counted() {
    // The two commands that used to spin at one instant: bookinfo on small nodes with a queue
    // of one, and with 65,536 connections. Both end, and every refusal is a failed request.
    for (name, edit) in [("ql1", "seed = 2024\nqueue_limit = 1"), ("c65k", "seed = 2024")] {
        let dir = scratch(name);
        let mut text = std::fs::read_to_string(root().join("topologies/bookinfo-small-nodes.toml")).unwrap().replace("seed = 2024", edit);
        if name == "c65k" {
            text = text.replace("connections = 32", "connections = 65536");
        }
        text = text.replace(
            "profile = \"envoy-1.40-loopback\"",
            &format!("models_dir = {:?}\nprofile = \"envoy-1.40-loopback\"", root().join("models")),
        );
        let p = write(&dir, name, &text);
        let o = meshsim(&["compare", p.to_str().unwrap(), "--duration", "2s", "--warmup", "500ms", "--out", "out"], &dir);
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        let summary = std::fs::read_to_string(dir.join("out/summary.csv")).unwrap();
        assert!(summary.lines().count() == 5, "{summary}");
        let none: Vec<&str> = summary.lines().nth(1).unwrap().split(',').collect();
        assert!(none[0] == "none" && none[16].parse::<u64>().unwrap() > 0, "{name}: refusals fail requests: {summary}");
    }
}
