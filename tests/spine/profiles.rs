//! Model profiles and the cost terms measurements call for: a topology finds its profile's
//! models, a per-kind key overrides one, a bad name lists the known profiles, a run mixing
//! sources says so; a wake-up makes CPU per pass fall with load, and CPU after the response
//! costs CPU without adding latency.

use std::path::Path;
use std::process::Command;

use meshsim::placement::Placement;
use meshsim::topology::ProxyKind;

use crate::common::*;

fn meshsim(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim")).args(args).current_dir(cwd).output().expect("the binary runs")
}

/// Faces in a scratch folder, its models found in the repository's `models/`.
fn faces_in(dir: &Path, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join("topologies/faces.toml")).unwrap();
    let text = text.replace("\"../models/", &format!("\"{}/models/", root().display()));
    write(dir, "faces", &edit(text))
}

#[test]
fn a_profile_gives_every_kind_its_model_and_a_per_kind_key_replaces_one() {
    let dir = scratch("profile-models");
    let t = inputs(&faces_in(&dir, |t| t));
    let sidecar = t.models.get(ProxyKind::Sidecar).unwrap();
    assert!(sidecar.source.ends_with("models/gsd-2025-gke/linkerd2-proxy.toml"), "{}", sidecar.source.display());
    assert_eq!(t.topology.mesh.profile.as_ref().map(|p| p.name.as_str()), Some("gsd-2025-gke"));
    let replaced = format!("sidecar_model = \"{}/models/envoy-1.40-loopback/sidecar.toml\"\nper_node_l7 =", root().display());
    let t = inputs(&faces_in(&dir, |t| t.replacen("per_node_l7 =", &replaced, 1)));
    assert_eq!(t.models.get(ProxyKind::Sidecar).unwrap().name, "envoy-1.40-sidecar");
    assert_eq!(t.models.get(ProxyKind::Ztunnel).unwrap().name, "ztunnel");
}

#[test]
fn an_unknown_profile_is_refused_at_its_line_listing_the_known_ones() {
    let dir = scratch("profile-unknown");
    let path = faces_in(&dir, |t| t.replacen("profile = \"gsd-2025-gke\"", "profile = \"gsd-2025\"", 1));
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text.lines().position(|l| l.starts_with("profile = ")).unwrap() + 1;
    let o = meshsim(&["compare", path.to_str().unwrap(), "--out", "out"], &dir);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("faces.toml:{line}:11: mesh.profile: unknown profile `gsd-2025`")), "{stderr}");
    assert!(stderr.contains("known profiles: envoy-1.40-loopback, gsd-2025-gke, haproxy-loopback, istio-1.24-published"), "{stderr}");
    assert!(!dir.join("out").exists());
    // A name that is a path is refused, not followed.
    let path = faces_in(&dir, |t| t.replacen("profile = \"gsd-2025-gke\"", "profile = \"../models\"", 1));
    let o = meshsim(&["compare", path.to_str().unwrap(), "--out", "out"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("mesh.profile: `../models` use letters"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_placement_the_profile_does_not_cover_names_the_profile() {
    let dir = scratch("profile-uncovered");
    let path = faces_in(&dir, |t| t.replacen("profile = \"gsd-2025-gke\"", "profile = \"haproxy-loopback\"", 1));
    let o = meshsim(&["compare", path.to_str().unwrap(), "--placements", "none,ambient", "--out", "out"], &dir);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("profile `haproxy-loopback` has no ztunnel model (it covers sidecar)"), "{stderr}");
}

#[test]
fn models_from_two_sources_are_warned_about_on_the_terminal_and_in_every_record() {
    let dir = scratch("profile-mixed");
    let replaced = format!("sidecar_model = \"{}/models/istio-1.24-published/istio-1.24-sidecar.toml\"\nper_node_l7 =", root().display());
    let path = faces_in(&dir, |t| t.replacen("per_node_l7 =", &replaced, 1));
    let o = meshsim(
        &["compare", path.to_str().unwrap(), "--placements", "none,sidecar", "--duration", "3s", "--warmup", "1s", "--out", "out"],
        &dir,
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("warning: the cost models come from more than one source"), "{stderr}");
    assert!(stderr.contains("istio-1.24-sidecar (sidecar) from profile istio-1.24-published"), "{stderr}");
    let out = dir.join("out");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("Cost models: profile `gsd-2025-gke`") && md.contains("**Warning:** the cost models come from more than one source"),
        "{md}"
    );
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["profile"], "gsd-2025-gke");
    assert_eq!(run["model_sources"].as_array().unwrap().len(), 2, "{}", run["model_sources"]);
    let results: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["inputs"][0]["profile"], "gsd-2025-gke");
    assert!(results["warnings"].as_array().unwrap().iter().any(|w| w["kind"] == "mixed-model-sources"), "{}", results["warnings"]);
    // One profile, one source: no warning.
    let o = meshsim(
        &["compare", faces_in(&dir, |t| t).to_str().unwrap(), "--placements", "none", "--duration", "2s", "--warmup", "1s", "--out", "one"],
        &dir,
    );
    assert!(o.status.success() && !String::from_utf8_lossy(&o.stderr).contains("more than one source"));
}

/// One sidecar pass per request into a single backend, Poisson arrivals; the sidecar model
/// is written beside it with the given `[cpu]` lines.
fn one_pass(dir: &Path, cpu: &str, rate: u32) -> std::path::PathBuf {
    std::fs::write(
        dir.join("model.toml"),
        format!(
            "version = 1\nname = \"m\"\nkind = \"sidecar\"\nworkers = 2\n[cpu]\n{cpu}\nl4_pass = \"0us\"\nper_kib = \"0us\"\n\
             new_connection = \"0us\"\ntls_handshake = \"0us\"\nidle = \"0m\"\n[latency]\nfixed = \"0us\"\n[memory]\nbase = \"1MiB\"\n\
             per_endpoint = \"0KiB\"\nper_connection = \"0KiB\"\nper_inflight = \"0KiB\"\n[provenance]\nsource = \"test\"\n"
        ),
    )
    .unwrap();
    let services =
        "[[service]]\nname = \"backend\"\nnamespace = \"app\"\nreplicas = 1\nservice_time = { dist = \"constant\", mean = \"50us\" }";
    let load = format!("[[load]]\nto = \"backend\"\nrate = \"{rate}rps\"\narrival = \"poisson\"");
    let text = queueing_topology("12s", services, &load).replacen("[mesh]", "[mesh]\nsidecar_model = \"model.toml\"", 1);
    write(dir, &format!("one-pass-{rate}"), &text)
}

/// CPU per request over the requests that arrived in the window (a Poisson count).
fn cpu_us_per_request(path: &Path) -> f64 {
    let r = run(path, Placement::Sidecar).summary.summary;
    r.dp_cpu_millicores * 1000.0 / r.achieved_rps
}

#[test]
fn a_wake_up_makes_cpu_per_pass_fall_as_load_keeps_the_proxy_awake() {
    let dir = scratch("wake-up");
    let cpu = "l7_pass = \"100us\"\nwake_up = \"500us\"\nwake_up_after_idle = \"1ms\"";
    // Poisson gaps longer than 1 ms after a 0.1 ms pass: exp(-rate x 1.1 ms) of the passes wake.
    for (rate, expected) in [(50.0, 100.0 + 500.0 * (-0.055f64).exp()), (5000.0, 100.0 + 500.0 * (-5.5f64).exp())] {
        let got = cpu_us_per_request(&one_pass(&dir, cpu, rate as u32));
        assert!((got - expected).abs() / expected < 0.08, "{rate} rps: {got:.1} us per pass, expected about {expected:.1}");
    }
    // Without the term, CPU per pass does not depend on the rate.
    for rate in [50.0, 5000.0] {
        let got = cpu_us_per_request(&one_pass(&dir, "l7_pass = \"100us\"", rate as u32));
        assert!((got - 100.0).abs() < 3.0, "{rate} rps: {got:.1}");
    }
}

#[test]
fn the_idle_starts_counted_for_every_idle_time_are_the_wake_ups_charged() {
    use meshsim::sim::output::IDLE_THRESHOLDS_NS;
    let dir = scratch("idle-starts");
    let r = run(&one_pass(&dir, "l7_pass = \"100us\"\nwake_up = \"500us\"\nwake_up_after_idle = \"1ms\"", 400), Placement::Sidecar);
    let s = r.plan.stations.iter().position(|s| matches!(s.kind, meshsim::sim::plan::StationKind::Proxy(_))).unwrap();
    let st = &r.output.stations[s];
    // A pass found idle longer than a threshold was found idle longer than every shorter one.
    assert!(st.idle_starts.windows(2).all(|w| w[0] >= w[1]), "{:?}", st.idle_starts);
    assert!(st.idle_starts[0] <= st.passes && st.idle_starts[IDLE_THRESHOLDS_NS.len() - 1] > 0, "{:?}", st.idle_starts);
    // The count at the model's idle time is what was charged: CPU = passes x 100 us + wake-ups x 500 us.
    let k = IDLE_THRESHOLDS_NS.iter().position(|&t| t == 1_000_000).unwrap();
    let charged_ns = st.passes as f64 * 100_000.0 + st.idle_starts[k] as f64 * 500_000.0;
    assert!((st.cpu_ns - charged_ns).abs() / charged_ns < 0.01, "CPU {} ns, charged {charged_ns} ns", st.cpu_ns);
    // Poisson arrivals at 400 rps: a pass wakes if the next gap exceeds 1 ms after the end of
    // the previous pass, which took 0.1 ms, or 0.6 ms if it woke: the share p solves
    // p = p·exp(-0.4 x 1.6) + (1 - p)·exp(-0.4 x 1.1).
    let (woke, slept) = ((-0.64f64).exp(), (-0.44f64).exp());
    let expected = slept / (1.0 - woke + slept);
    let share = st.idle_starts[k] as f64 / st.passes as f64;
    assert!((share - expected).abs() < 0.02, "{share} against {expected}");
}

#[test]
fn cpu_after_the_response_costs_cpu_but_adds_no_latency() {
    let dir = scratch("after-response");
    let on_path = run(&one_pass(&dir, "l7_pass = \"200us\"", 200), Placement::Sidecar).summary.summary;
    let dir2 = scratch("after-response-2");
    let split = run(&one_pass(&dir2, "l7_pass = \"50us\"\nafter_response = \"150us\"", 200), Placement::Sidecar).summary.summary;
    let rel = (split.dp_cpu_millicores - on_path.dp_cpu_millicores).abs() / on_path.dp_cpu_millicores;
    assert!(rel < 0.03, "CPU {} against {}", split.dp_cpu_millicores, on_path.dp_cpu_millicores);
    let (a, b) = (on_path.latency_p50_ms.unwrap(), split.latency_p50_ms.unwrap());
    assert!(a - b > 0.14, "p50 {a} ms with all CPU on the path, {b} ms with most after it");
}

#[test]
fn a_wake_up_without_its_idle_time_is_refused() {
    let dir = scratch("wake-no-idle");
    let path = one_pass(&dir, "l7_pass = \"100us\"\nwake_up = \"500us\"", 100);
    let o = meshsim(&["compare", path.to_str().unwrap(), "--out", "out"], &dir);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("model.toml:") && stderr.contains("cpu.wake_up: a wake-up cost needs cpu.wake_up_after_idle"), "{stderr}");
}
