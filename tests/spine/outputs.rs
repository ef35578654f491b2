//! Output folders through the binary: meshsim writes only into new, empty or its own
//! folders, never removes what it did not write, cleans up after itself (on errors, a full
//! disk, Ctrl-C, and after processes that died), and says in every output which placement
//! each namespace used.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

fn meshsim(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim")).args(args).current_dir(cwd).output().expect("the binary runs")
}

fn faces() -> String {
    root().join("topologies/faces.toml").display().to_string()
}

/// A short `run` of faces with placement none into `out`.
fn run_into(out: &str, cwd: &Path, extra: &[&str]) -> Output {
    let f = faces();
    let mut args = vec!["run", f.as_str(), "--placement", "none", "--duration", "2s", "--warmup", "1s", "--seed", "1", "--out", out];
    args.extend_from_slice(extra);
    meshsim(&args, cwd)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// No temporary name of meshsim's is left in `dir`.
fn no_leftovers(dir: &Path) {
    let left: Vec<String> =
        names(dir).into_iter().filter(|n| n.contains(".staging-") || n.contains(".tmp-") || n.contains(".old-")).collect();
    assert!(left.is_empty(), "left in {}: {left:?}", dir.display());
}

#[test]
fn a_folder_holding_other_files_is_refused_and_kept() {
    let dir = scratch("foreign-out");
    let out = dir.join("mine");
    std::fs::create_dir_all(out.join("sub")).unwrap();
    std::fs::write(out.join("notes.txt"), "my notes").unwrap();
    std::fs::write(out.join("sub/data.csv"), "a,b").unwrap();
    let o = run_into("mine", &dir, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force") && stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(names(&out), ["notes.txt", "sub"]);
    // --force writes meshsim's files beside them, and removes nothing.
    let o = run_into("mine", &dir, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "my notes");
    assert_eq!(std::fs::read_to_string(out.join("sub/data.csv")).unwrap(), "a,b");
    assert!(out.join("summary.csv").is_file() && out.join(".meshsim-output").is_file());
    no_leftovers(&out);
    no_leftovers(&dir);
}

#[test]
fn force_never_overwrites_a_file_meshsim_did_not_write() {
    let dir = scratch("force-collision");
    std::fs::create_dir_all(dir.join("mine")).unwrap();
    std::fs::write(dir.join("mine/summary.csv"), "my own summary").unwrap();
    let o = run_into("mine", &dir, &["--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("summary.csv"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.join("mine/summary.csv")).unwrap(), "my own summary");
    assert_eq!(names(&dir.join("mine")), ["summary.csv"]);
}

#[test]
fn the_current_folder_is_refused_without_removing_anything() {
    let dir = scratch("dot-out");
    std::fs::write(dir.join("keep.txt"), "x").unwrap();
    let o = run_into(".", &dir, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("busy"), "{}", stderr(&o));
    assert_eq!(names(&dir), ["keep.txt"]);
    // With --force meshsim writes beside the folder's files and then owns only its own.
    let o = run_into(".", &dir, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("keep.txt").is_file() && dir.join("summary.csv").is_file());
    let o = run_into(".", &dir, &[]);
    assert!(o.status.success(), "a marked folder is meshsim's: {}", stderr(&o));
    assert!(dir.join("keep.txt").is_file());
    no_leftovers(&dir);
}

#[test]
fn an_empty_folder_and_its_own_output_are_written() {
    let dir = scratch("own-out");
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let o = run_into("empty", &dir, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The user adds a file to meshsim's folder; a rerun replaces meshsim's files only.
    std::fs::write(dir.join("empty/review.md"), "comments").unwrap();
    std::fs::write(dir.join("empty/summary.csv"), "stale").unwrap();
    let o = run_into("empty", &dir, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.join("empty/review.md")).unwrap(), "comments");
    assert!(std::fs::read_to_string(dir.join("empty/summary.csv")).unwrap().starts_with("placement,"));
    no_leftovers(&dir.join("empty"));
}

/// The text of faces.toml with its model paths made absolute, to be saved anywhere.
fn faces_text() -> String {
    let text = std::fs::read_to_string(root().join("topologies/faces.toml")).unwrap();
    text.replace("\"../models/", &format!("\"{}/models/", root().display()))
}

/// Run faces edited by `edit`, placement none, into `<dir>/out`.
fn run_edited(dir: &Path, edit: impl Fn(String) -> String) -> Output {
    let p = write(dir, "edited", &edit(faces_text()));
    let path = p.display().to_string();
    meshsim(&["run", &path, "--placement", "none", "--duration", "3s", "--warmup", "1s", "--out", "out"], dir)
}

/// Faces under another file name (and folder), keeping its `name = "faces"`.
fn faces_copy(dir: &Path, sub: &str) -> PathBuf {
    let text = faces_text();
    std::fs::create_dir_all(dir.join(sub)).unwrap();
    let p = dir.join(sub).join("faces.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn two_topologies_with_one_name_do_not_overwrite_each_other() {
    let dir = scratch("same-name");
    let (a, b) = (faces_copy(&dir, "team-a"), faces_copy(&dir, "team-b"));
    let args = |p: &PathBuf| {
        vec!["compare".to_string(), p.display().to_string(), "--duration".into(), "2s".into(), "--warmup".into(), "1s".into()]
    };
    let run = |p: &PathBuf, extra: &[&str]| {
        let mut v = args(p);
        v.extend(extra.iter().map(|s| s.to_string()));
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        meshsim(&v, &dir)
    };
    let o = run(&a, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = std::fs::read(dir.join("outputs/faces/run.json")).unwrap();
    let o = run(&b, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("team-a") && e.contains("team-b") && e.contains("--force"), "{e}");
    assert_eq!(std::fs::read(dir.join("outputs/faces/run.json")).unwrap(), before);
    let o = run(&b, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(dir.join("outputs/faces/.meshsim-output")).unwrap().contains("team-b"));
    no_leftovers(&dir.join("outputs"));
}

#[test]
fn a_symlinked_output_folder_is_written_through_not_replaced() {
    let dir = scratch("symlink-out");
    std::fs::create_dir_all(dir.join("outputs")).unwrap();
    std::fs::create_dir_all(dir.join("elsewhere/faces-none")).unwrap();
    std::os::unix::fs::symlink(dir.join("elsewhere/faces-none"), dir.join("outputs/faces-none")).unwrap();
    let f = faces();
    let o = meshsim(&["run", &f, "--placement", "none", "--duration", "2s", "--warmup", "1s"], &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let link = dir.join("outputs/faces-none");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert!(dir.join("elsewhere/faces-none/summary.csv").is_file());
    // A link to a folder that is not meshsim's is refused; so is a dangling one.
    std::fs::write(dir.join("elsewhere/user.txt"), "x").unwrap();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(dir.join("elsewhere"), &link).unwrap();
    let o = meshsim(&["run", &f, "--placement", "none", "--duration", "2s", "--warmup", "1s"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(dir.join("nowhere"), &link).unwrap();
    let o = meshsim(&["run", &f, "--placement", "none", "--duration", "2s", "--warmup", "1s"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    assert!(!dir.join("nowhere").exists());
}

#[test]
fn concurrent_runs_into_one_folder_all_succeed() {
    let dir = scratch("concurrent-out");
    let f = faces();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_meshsim"))
                .args(["run", &f, "--placement", "none", "--duration", "2s", "--warmup", "1s", "--seed", "1", "--out", "shared"])
                .current_dir(&dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert!(dir.join("shared/summary.csv").is_file());
    no_leftovers(&dir);
    no_leftovers(&dir.join("shared"));
}

#[test]
fn stale_temporary_folders_of_dead_processes_are_removed() {
    let dir = scratch("stale");
    // Left by a killed meshsim (a process id above the kernel's maximum is never alive).
    let stale = dir.join(".mine.staging-4194999-0");
    std::fs::create_dir_all(stale.join("x")).unwrap();
    std::fs::write(dir.join(".mine.tmp-4194999"), "half").unwrap();
    std::fs::write(dir.join(".hidden-notes"), "user's").unwrap();
    let o = run_into("mine", &dir, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stale.exists() && !dir.join(".mine.tmp-4194999").exists());
    assert!(dir.join(".hidden-notes").is_file());
}

/// Run the binary with writes limited to `kib` KiB per file, as a full disk would stop them.
fn with_full_disk(args: &[&str], cwd: &Path, kib: u32) -> Output {
    let bin = env!("CARGO_BIN_EXE_meshsim");
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    // SIGXFSZ ignored: the write fails with an error, as on a full disk, instead of killing.
    let script = format!("trap '' XFSZ; ulimit -f {}; exec '{bin}' {}", kib * 2, quoted.join(" "));
    Command::new("sh").args(["-c", &script]).current_dir(cwd).output().unwrap()
}

#[test]
fn a_full_disk_leaves_no_temporary_files() {
    let dir = scratch("full-disk");
    let f = faces();
    let o = with_full_disk(&["compare", &f, "--duration", "2s", "--warmup", "1s", "--out", "out"], &dir, 4);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!dir.join("out").exists());
    no_leftovers(&dir);
    let o = with_full_disk(&["synth", "--services", "3000", "--out", "big.toml"], &dir, 16);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!dir.join("big.toml").exists());
    no_leftovers(&dir);
}

#[test]
fn an_interrupted_run_removes_its_staging_and_exits_130() {
    let dir = scratch("sigterm");
    let f = faces();
    for signal in ["TERM", "INT"] {
        let child = Command::new(env!("CARGO_BIN_EXE_meshsim"))
            .args(["compare", &f, "--duration", "1000s", "--warmup", "1s", "--out", "out"])
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(400));
        let k = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
        assert!(k.success());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "{signal}: {}", stderr(&o));
        assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
        assert!(!dir.join("out").exists());
        no_leftovers(&dir);
    }
}

mod mixed {
    use super::*;
    use crate::placement::mixed_faces;

    #[test]
    fn compare_shows_the_topology_as_written_beside_uniform_placements() {
        let p = mixed_faces("mixed-compare");
        let dir = p.parent().unwrap().to_path_buf();
        let path = p.display().to_string();
        let o = meshsim(&["compare", &path, "--duration", "3s", "--warmup", "1s", "--out", "out"], &dir);
        assert!(o.status.success(), "{}", stderr(&o));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("faces on ambient, load on sidecar"), "{stdout}");
        let csv = std::fs::read_to_string(dir.join("out/summary.csv")).unwrap();
        let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(rows[0].last(), Some(&"namespace_placements"));
        let labels: Vec<&str> = rows[1..].iter().map(|r| r[0]).collect();
        assert_eq!(labels, ["as-written", "none", "sidecar", "per-node", "ambient"]);
        // The uniform rows are what they say: none has no proxy, sidecar one per pod.
        let proxies: Vec<&str> = rows[1..].iter().map(|r| r[1]).collect();
        assert_eq!(proxies, ["9", "0", "27", "3", "6"]);
        assert_eq!(rows[1].last(), Some(&"faces=ambient;load=sidecar"));
        assert_eq!(rows[3].last(), Some(&"faces=sidecar;load=sidecar"));
        let md = std::fs::read_to_string(dir.join("out/summary.md")).unwrap();
        assert!(md.contains("| as-written |") && md.contains("faces on ambient, load on sidecar"), "{md}");
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("out/run.json")).unwrap()).unwrap();
        assert_eq!(json["resolved"]["namespace_placements"]["as-written"]["load"], "sidecar");
        assert_eq!(json["resolved"]["namespace_placements"]["none"]["load"], "none");
    }

    #[test]
    fn run_without_a_placement_runs_a_mixed_mesh_as_written() {
        let p = mixed_faces("mixed-run");
        let dir = p.parent().unwrap().to_path_buf();
        let path = p.display().to_string();
        let o = meshsim(&["run", &path, "--duration", "3s", "--warmup", "1s"], &dir);
        assert!(o.status.success(), "{}", stderr(&o));
        let csv = std::fs::read_to_string(dir.join("outputs/faces-as-written/summary.csv")).unwrap();
        assert!(csv.lines().nth(1).unwrap().starts_with("as-written,9,"), "{csv}");
        assert!(!dir.join("outputs/faces-sidecar").exists());
    }
}

#[test]
fn every_request_failing_prints_no_latency() {
    let dir = scratch("all-fail");
    // A 1 µs timeout (the shortest accepted) on the entry: every request fails.
    let o = run_edited(&dir, |t| t.replacen("[[load]]\n", "[[load]]\ntimeout = \"1us\"\n", 1));
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let row: Vec<&str> = stdout.lines().find(|l| l.starts_with("none ")).unwrap().split_whitespace().collect();
    assert_eq!(row[6..9], ["—", "—", "—"], "p50, p90, p99: {stdout}");
    assert!(stdout.contains("no request succeeded"), "{stdout}");
    let csv = std::fs::read_to_string(dir.join("out/summary.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let cell = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(cell("latency_p50_ms"), "");
    assert_eq!(cell("latency_p99_ms"), "");
    assert_eq!(cell("requests_succeeded"), "0");
    assert_ne!(cell("requests_failed"), "0");
    let md = std::fs::read_to_string(dir.join("out/summary.md")).unwrap();
    assert!(md.contains("| — |") && md.contains("no request succeeded"), "{md}");
    let edges = std::fs::read_to_string(dir.join("out/edges.csv")).unwrap();
    assert!(!edges.contains("0.0000,0.0000,0.0000,0.0000"), "{edges}");
}

#[test]
fn a_service_calling_one_callee_twice_has_two_edge_labels() {
    let dir = scratch("double-call");
    let o = run_edited(&dir, |t| {
        t.replacen("[[service.call]]\nto = \"color\"", "[[service.call]]\nto = \"color\"\n\n[[service.call]]\nto = \"color\"", 1)
    });
    assert!(o.status.success(), "{}", stderr(&o));
    let edges = std::fs::read_to_string(dir.join("out/edges.csv")).unwrap();
    let labels: Vec<&str> = edges.lines().skip(1).map(|l| l.split(',').nth(1).unwrap()).collect();
    let distinct: std::collections::BTreeSet<&&str> = labels.iter().collect();
    assert_eq!(distinct.len(), labels.len(), "{labels:?}");
    assert!(labels.contains(&"face -> color") && labels.contains(&"face -> color#2"), "{labels:?}");
}

/// With no load offered, the data plane still idles: its CPU per 1000 rps does not exist
/// (not 0), in `summary.csv` and `results.json` alike.
#[test]
fn no_rate_offered_gives_no_cpu_per_request_figure() {
    let dir = scratch("no-rate");
    let o = run_edited(&dir, |t| t.replace("rate = \"1200rps\"", "rate = \"0rps\""));
    assert!(o.status.success(), "{}", stderr(&o));
    let path = dir.join("edited.toml").display().to_string();
    let o = meshsim(&["run", &path, "--placement", "sidecar", "--duration", "3s", "--warmup", "1s", "--out", "mesh"], &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(dir.join("mesh/summary.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let cell = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(cell("offered_rps"), "0.0000");
    assert_ne!(cell("dp_cpu_millicores"), "0.0000", "idle proxies use CPU");
    assert_eq!(cell("dp_cpu_millicores_per_1000rps"), "", "{csv}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("mesh/results.json")).unwrap()).unwrap();
    let figures = &json["compare"]["placements"][0];
    assert_eq!(figures["placement"], "sidecar", "{figures}");
    assert!(figures["dp_cpu_millicores_per_1000rps"].is_null(), "{figures}");
}

/// `synth` and `merge` write one file: they replace only a file of that kind meshsim wrote,
/// never a file of the user's that is not text, a folder, or a link to nothing.
#[test]
fn single_file_outputs_never_replace_what_meshsim_did_not_write() {
    let dir = scratch("single-file");
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    std::fs::write(dir.join("photo.jpg"), &binary).unwrap();
    std::fs::create_dir_all(dir.join("folder")).unwrap();
    std::os::unix::fs::symlink("nowhere", dir.join("dangling")).unwrap();
    for target in ["photo.jpg", "folder", "dangling"] {
        let o = meshsim(&["synth", "--services", "3", "--out", target], &dir);
        assert_eq!(o.status.code(), Some(2), "synth --out {target}: {}", stderr(&o));
        assert!(stderr(&o).contains(target), "{}", stderr(&o));
        let o = meshsim(&["merge", target, "shard.csv"], &dir);
        assert_eq!(o.status.code(), Some(2), "merge {target}: {}", stderr(&o));
    }
    assert_eq!(std::fs::read(dir.join("photo.jpg")).unwrap(), binary);
    assert!(std::fs::read_link(dir.join("dangling")).is_ok() && dir.join("folder").is_dir());
    assert!(std::fs::read_dir(dir.join("folder")).unwrap().next().is_none());
    // Its own file is replaced.
    let o = meshsim(&["synth", "--services", "3", "--out", "synth.toml"], &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = meshsim(&["synth", "--services", "4", "--out", "synth.toml"], &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    no_leftovers(&dir);
}

/// `compare A B` writes the output of the pair: a comparison with another B of the same
/// topology name is refused (exit 2, before anything runs) rather than replacing it, as two
/// topologies of one name are.
#[test]
fn a_comparison_with_another_variant_does_not_replace_the_first() {
    let dir = scratch("variants-pair");
    let a = write(&dir, "a", &faces_text());
    let b1 = write(&dir, "b1", &faces_text().replace("rate = \"1200rps\"", "rate = \"600rps\""));
    let b2 = write(&dir, "b2", &faces_text().replace("rate = \"1200rps\"", "rate = \"900rps\""));
    let compare = |b: &Path, extra: &[&str]| {
        let (a, b) = (a.display().to_string(), b.display().to_string());
        let mut args = vec!["compare", a.as_str(), b.as_str(), "--placements", "none", "--duration", "2s", "--warmup", "1s"];
        args.extend_from_slice(extra);
        meshsim(&args, &dir)
    };
    let o = compare(&b1, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.join("outputs/faces-variants");
    let first = std::fs::read(out.join("variants.csv")).unwrap();
    let o = compare(&b2, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("b1.toml") && stderr(&o).contains("b2.toml") && stderr(&o).contains("--force"), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "refused before anything ran: {}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(std::fs::read(out.join("variants.csv")).unwrap(), first);
    // The same pair again is its own output; --force replaces the other pair's.
    assert!(compare(&b1, &[]).status.success());
    assert!(compare(&b2, &["--force"]).status.success());
    assert_ne!(std::fs::read(out.join("variants.csv")).unwrap(), first);
    no_leftovers(&out);
}

/// A synthetic shape no topology can have is refused by the flag that asks for it, and
/// nothing is written.
#[test]
fn synth_refuses_an_impossible_shape_by_its_flag() {
    let dir = scratch("synth-shape");
    for (flag, value) in
        [("--replicas", "0"), ("--replicas", "1000000"), ("--nodes", "0"), ("--nodes", "10001"), ("--rate", "0"), ("--rate", "nan")]
    {
        let o = meshsim(&["synth", "--services", "10", flag, value, "--out", "s.toml"], &dir);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{flag} {value}: {}", stderr(&o));
        assert!(!dir.join("s.toml").exists(), "{flag} {value}");
    }
    let o = meshsim(&["synth", "--services", "10", "--replicas", "3", "--nodes", "4", "--load-per-namespace", "--out", "s.toml"], &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    no_leftovers(&dir);
}
