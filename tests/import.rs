//! `meshsim import`: Kubernetes manifests to a topology that runs as it is, every value with
//! its source, bad input refused with exit code 2 and nothing written. The Online Boutique
//! manifests in the shared data folder (`$MESHSIM_SHARED`, else `../shared` beside the crate)
//! are imported when present; the rest uses the small manifests of `tests/fixtures/import/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use meshsim::app::import::{import, ImportArgs};
use meshsim::import::model::LoadKind;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/import").join(name)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meshsim-import-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn args(inputs: Vec<PathBuf>, out: Option<PathBuf>) -> ImportArgs {
    ImportArgs {
        inputs,
        traces: Vec::new(),
        metrics: Vec::new(),
        metrics_window: None,
        out,
        check: false,
        name: None,
        models: Some(root().join("models").to_string_lossy().into_owned()),
        profile: "envoy-1.40-loopback".into(),
    }
}

fn meshsim(a: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim")).args(a).current_dir(cwd).output().expect("the binary runs")
}

/// `meshsim import` with the project's models, from a scratch folder.
fn meshsim_import(a: &[&str], cwd: &Path) -> std::process::Output {
    let models = root().join("models");
    let mut all = vec!["import", "--models", models.to_str().unwrap()];
    all.extend_from_slice(a);
    meshsim(&all, cwd)
}

#[test]
fn the_boutique_manifests_give_its_services_requests_calls_and_users() {
    let Some(data) = meshsim::calibration::shared_path("data/online-boutique/kubernetes-manifests.yaml") else { return };
    let dir = scratch("boutique");
    let out = dir.join("boutique.toml");
    let mut a = args(vec![data.clone(), data.with_file_name("istio-manifests.yaml")], Some(out.clone()));
    a.name = Some("boutique".into());
    let imported = import(&a).unwrap();
    let f = &imported.found;
    let mut names: Vec<&str> = f.services.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "adservice",
            "cartservice",
            "checkoutservice",
            "currencyservice",
            "emailservice",
            "frontend",
            "loadgenerator",
            "paymentservice",
            "productcatalogservice",
            "recommendationservice",
            "redis-cart",
            "shippingservice"
        ]
    );
    let frontend = f.service("frontend").unwrap();
    assert_eq!(frontend.cpu_request_millicores.as_ref().unwrap().value, 100.0);
    assert_eq!(frontend.memory_request_bytes.as_ref().unwrap().value, 64 << 20);
    assert_eq!(frontend.cpu_limit_millicores.as_ref().unwrap().value, 200.0);
    assert_eq!(f.service("adservice").unwrap().memory_request_bytes.as_ref().unwrap().value, 180 << 20);
    let callees = |s: &str| {
        let mut c: Vec<String> = f.service(s).unwrap().calls.iter().map(|c| c.to.clone()).collect();
        c.sort();
        c
    };
    assert_eq!(
        callees("frontend"),
        [
            "adservice",
            "cartservice",
            "checkoutservice",
            "currencyservice",
            "productcatalogservice",
            "recommendationservice",
            "shippingservice"
        ]
    );
    assert_eq!(
        callees("checkoutservice"),
        ["cartservice", "currencyservice", "emailservice", "paymentservice", "productcatalogservice", "shippingservice"]
    );
    assert_eq!(callees("cartservice"), ["redis-cart"]);
    assert!(f.service("loadgenerator").unwrap().is_load_generator);
    assert_eq!(f.loads.len(), 1);
    let l = &f.loads[0];
    assert_eq!((l.from_service.as_deref(), l.to.as_str()), (Some("loadgenerator"), "frontend"));
    match &l.kind {
        LoadKind::Closed { connections, think } => {
            assert_eq!(connections.value, 10);
            assert!(connections.from.contains("USERS"), "{}", connections.from);
            assert!(think.is_default());
        }
        other => panic!("the load generator's users are a closed loop, not {other:?}"),
    }
    let summary = f.summary.render();
    assert!(summary.contains("shoppingassistantservice") && summary.contains("no Service of the input"), "{summary}");
    // Every value written says where it came from.
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with(meshsim::import::FIRST_LINE));
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let is_value = line.contains(" = ") && !line.starts_with('#');
        let exempt = ["version", "description", "name =", "to ="].iter().any(|k| line.starts_with(k));
        if is_value && !exempt {
            assert!(lines[i - 1].starts_with("# "), "no source above line {}: {line}", i + 1);
        }
    }
    assert!(text.contains("kubernetes-manifests.yaml:511 Deployment loadgenerator container main env USERS"), "{text}");
    // And it runs: compare every placement on it.
    let o = meshsim(&["compare", out.to_str().unwrap(), "--duration", "3s", "--warmup", "1s", "--out", "cmp"], &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for p in ["none", "sidecar", "per-node", "ambient"] {
        assert!(stdout.lines().any(|l| l.starts_with(p)), "{stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn workloads_services_nodes_autoscalers_and_mesh_switches_are_mapped() {
    let dir = scratch("shop");
    let out = dir.join("shop.toml");
    let imported = import(&args(vec![fixture("shop.yaml")], Some(out.clone()))).unwrap();
    let f = &imported.found;
    let web = f.service("web").unwrap();
    assert_eq!(web.replicas.value, 3);
    // Two containers: their requests add up; only one has a limit, so the pod has none.
    assert_eq!(web.cpu_request_millicores.as_ref().unwrap().value, 300.0);
    assert_eq!(web.memory_request_bytes.as_ref().unwrap().value, 160 << 20);
    assert!(web.cpu_limit_millicores.is_none());
    assert_eq!(web.protocol.value, "http1");
    // Calls from a ConfigMap URL in the FQDN form and a host:port; not from telemetry or outside hosts.
    let mut callees: Vec<&str> = web.calls.iter().map(|c| c.to.as_str()).collect();
    callees.sort();
    assert_eq!(callees, ["catalog", "orders"]);
    assert_eq!(f.service("orders").unwrap().calls.iter().map(|c| c.to.as_str()).collect::<Vec<_>>(), ["db"]);
    // The autoscaler's minimum over the Deployment's default of 1; decimal memory; protocols from port names.
    let orders = f.service("orders").unwrap();
    assert_eq!(orders.replicas.value, 2);
    assert!(orders.replicas.from.contains("HorizontalPodAutoscaler"), "{}", orders.replicas.from);
    assert_eq!(orders.memory_request_bytes.as_ref().unwrap().value, 1_000_000_000);
    assert_eq!(orders.protocol.value, "grpc");
    assert_eq!(f.service("catalog").unwrap().protocol.value, "http2");
    assert_eq!(f.service("db").unwrap().protocol.value, "tcp");
    // A DaemonSet runs on every Node; Nodes keep their allocatable CPU, memory and zone.
    assert_eq!(f.service("node-agent").unwrap().replicas.value, 2);
    assert_eq!(f.nodes.len(), 2);
    assert!((f.nodes[0].vcpu.value - 3.92).abs() < 1e-9);
    assert_eq!(f.nodes[0].zone.as_ref().unwrap().value, "zone-a");
    // Mesh switches per namespace.
    let ns = |n: &str| f.namespaces.iter().find(|x| x.name == n).unwrap();
    assert_eq!(ns("shop").placement.as_ref().unwrap().value, "sidecar");
    assert_eq!(ns("data").placement.as_ref().unwrap().value, "ambient");
    assert_eq!(ns("data").waypoint.as_ref().unwrap().value.0, "namespace");
    // The exposed Service is the entry, at a visible default rate.
    assert_eq!(f.loads.len(), 1);
    assert_eq!(f.loads[0].to, "web");
    let s = f.summary.render();
    for expected in [
        "Deployment shop/legacy: 0 replicas",
        "Service shop/nothing-here: selects no running workload",
        "telemetry address",
        "autoscaling up to 10 replicas",
        "namespace shop: its pods are on 2 placements",
        "kinds not used: PodDisruptionBudget",
    ] {
        assert!(s.contains(expected), "missing {expected:?} in\n{s}");
    }
    assert!(!f.services.iter().any(|s| s.name == "legacy"));
    // The written file is a topology that loads.
    meshsim::topology::load(&out).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kubectl_list_output_is_read_item_by_item() {
    let imported = import(&args(vec![fixture("list.yaml")], None)).unwrap();
    let f = &imported.found;
    assert_eq!(f.services.len(), 2);
    assert_eq!(f.service("api").unwrap().calls[0].to, "store");
    assert_eq!(f.namespaces[0].placement.as_ref().unwrap().value, "sidecar");
    assert!(f.namespaces[0].placement.as_ref().unwrap().from.contains("linkerd.io/inject"));
}

#[test]
fn a_folder_of_manifests_is_read_whole() {
    let dir = scratch("folder");
    std::fs::create_dir_all(dir.join("app/sub")).unwrap();
    std::fs::copy(fixture("list.yaml"), dir.join("app/sub/list.yaml")).unwrap();
    std::fs::copy(fixture("registry-app.yaml"), dir.join("app/other.yml")).unwrap();
    std::fs::write(dir.join("app/notes.txt"), "not a manifest").unwrap();
    let imported = import(&args(vec![dir.join("app")], None)).unwrap();
    assert_eq!(imported.found.services.len(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_callee_named_anywhere_the_call_graph_is_missing_and_no_edge_is_invented() {
    let imported = import(&args(vec![fixture("registry-app.yaml")], None)).unwrap();
    let f = &imported.found;
    assert!(f.services.iter().all(|s| s.calls.is_empty()));
    let s = f.summary.render();
    assert!(s.contains("the call graph: no input names a callee") && s.contains("traces"), "{s}");
    assert_eq!(f.loads.iter().map(|l| l.to.as_str()).collect::<Vec<_>>(), ["gateway"]);
}

#[test]
fn broken_yaml_names_file_and_line_exits_2_and_writes_nothing() {
    let dir = scratch("broken");
    let broken = fixture("broken.yaml");
    let o = meshsim_import(&[broken.to_str().unwrap(), "--out", "t.toml"], &dir);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("broken.yaml:6:") && err.contains("not valid YAML"), "{err}");
    assert!(!dir.join("t.toml").exists());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_writes_nothing_and_out_never_overwrites_a_foreign_file() {
    let dir = scratch("out");
    let list = fixture("list.yaml");
    let o = meshsim_import(&[list.to_str().unwrap(), "--check"], &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("inferred"));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::write(dir.join("mine.toml"), "# my own topology\n").unwrap();
    let o = meshsim_import(&[list.to_str().unwrap(), "--out", "mine.toml"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(dir.join("mine.toml")).unwrap(), "# my own topology\n");
    // A file import wrote is its own to replace.
    let o = meshsim_import(&[list.to_str().unwrap(), "--out", "t.toml"], &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = meshsim_import(&[list.to_str().unwrap(), "--out", "t.toml"], &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

fn traced(traces: &[&str], metrics: &[&str], window: Option<&str>) -> meshsim::import::Imported {
    let mut a = args(vec![fixture("traced.yaml")], None);
    a.traces = traces.iter().map(|t| fixture(t)).collect();
    a.metrics = metrics.iter().map(|m| fixture(m)).collect();
    a.metrics_window = window.map(String::from);
    import(&a).unwrap()
}

#[test]
fn otlp_zipkin_and_jaeger_traces_give_the_same_calls_order_own_time_and_sizes() {
    for file in ["traces-otlp.json", "traces-zipkin.json", "traces-jaeger.json"] {
        let imported = traced(&[file], &[], None);
        let f = &imported.found;
        let web = f.service("web").unwrap();
        let calls: Vec<(&str, f64, &str)> = web.calls.iter().map(|c| (c.to.as_str(), c.per_request.value, c.mode.value)).collect();
        assert_eq!(calls, [("api", 1.0, "parallel"), ("cache", 1.0, "parallel")], "{file}");
        let api = f.service("api").unwrap();
        assert_eq!(
            (api.calls[0].to.as_str(), api.calls[0].per_request.value, api.calls[0].mode.value),
            ("store", 2.0, "sequential"),
            "{file}"
        );
        // Own time: web's 10 ms less the 6.2 ms of its client span to api and its call to
        // cache; api's 6 ms less its two 1 ms calls.
        assert_eq!(web.cpu.value.mean_ns, 3_800_000, "{file}");
        assert_eq!(api.cpu.value.mean_ns, 4_000_000, "{file}");
        assert_eq!(web.request_bytes.as_ref().unwrap().value, 300, "{file}");
        assert_eq!(web.response_bytes.as_ref().unwrap().value, 8000, "{file}");
        // The traces' calls replace the guessed one; the entry is where traces begin.
        assert!(f.summary.render().contains("guessed calls set aside"), "{file}");
        assert_eq!(f.loads.iter().map(|l| l.to.as_str()).collect::<Vec<_>>(), ["web"]);
        assert!(imported.text.contains("mode = \"parallel\""));
    }
}

#[test]
fn a_trace_with_a_cycle_keeps_the_graph_acyclic_and_says_so() {
    let f = traced(&["traces-cycle.json"], &[], None).found;
    assert!(f.service("api").unwrap().calls.is_empty());
    assert_eq!(f.service("web").unwrap().calls.iter().map(|c| c.to.as_str()).collect::<Vec<_>>(), ["api"]);
    let s = f.summary.render();
    assert!(s.contains("api → web closes a cycle"), "{s}");
}

#[test]
fn span_parents_in_a_loop_are_an_error_naming_the_trace() {
    let dir = scratch("span-loop");
    let bad = dir.join("loop.json");
    std::fs::write(
        &bad,
        r#"[{"traceId":"t1","id":"a","parentId":"b","timestamp":1,"duration":5,"localEndpoint":{"serviceName":"web"}},
            {"traceId":"t1","id":"b","parentId":"a","timestamp":1,"duration":5,"localEndpoint":{"serviceName":"web"}},
            {"traceId":"t1","id":"c","parentId":"a","timestamp":2,"duration":1,"localEndpoint":{"serviceName":"api"}}]"#,
    )
    .unwrap();
    let o = meshsim_import(&[fixture("traced.yaml").to_str().unwrap(), "--traces", bad.to_str().unwrap(), "--out", "t.toml"], &dir);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("trace t1") && err.contains("loop"), "{err}");
    assert!(!dir.join("t.toml").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mesh_metrics_give_calls_per_request_and_the_entry_rate_and_name_unknown_workloads() {
    let f = traced(&[], &["metrics.prom"], Some("60s")).found;
    let per = |from: &str, to: &str| f.service(from).unwrap().calls.iter().find(|c| c.to == to).unwrap().per_request.value;
    // Destination-reported requests only (each request counted once), over all requests into the caller.
    assert_eq!(per("web", "api"), 1.0);
    assert_eq!(per("web", "cache"), 0.5);
    assert_eq!(per("api", "store"), 2.0);
    match &f.loads[0].kind {
        LoadKind::Open { rate_rps } => assert_eq!(rate_rps.value, 100.0),
        other => panic!("{other:?}"),
    }
    let s = f.summary.render();
    assert!(s.contains("metrics name workload `billing`") && s.contains("left out"), "{s}");
    assert!(f.service("billing").is_none());
    // Traces come before metrics for a caller both cover.
    let both = traced(&["traces-otlp.json"], &["metrics.prom"], Some("60s")).found;
    assert_eq!(both.service("web").unwrap().calls[0].mode.value, "parallel");
    // … and the metrics' counts of every request before the traces' sample.
    assert_eq!(both.service("web").unwrap().calls[1].per_request.value, 0.5);
}

#[test]
fn broken_metrics_and_trace_files_name_their_line() {
    let dir = scratch("bad-traffic");
    std::fs::write(dir.join("m.prom"), "istio_requests_total{source_workload=\"web\" 3\n").unwrap();
    std::fs::write(dir.join("t.json"), "{\"resourceSpans\": [\n  {,}\n]}").unwrap();
    let yaml = fixture("traced.yaml");
    let o = meshsim_import(&[yaml.to_str().unwrap(), "--metrics", "m.prom", "--check"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("m.prom:1:"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = meshsim_import(&[yaml.to_str().unwrap(), "--traces", "t.json", "--check"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("t.json:2:"), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Calls of each edge (`caller -> callee`, repeated edges summed) from a run's `edges.csv`.
fn edge_calls(dir: &Path) -> std::collections::BTreeMap<String, f64> {
    let text = std::fs::read_to_string(dir.join("edges.csv")).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let name = cells[1].split('#').next().unwrap().to_string();
        *out.entry(name).or_insert(0.0) += cells[2].parse::<f64>().unwrap();
    }
    out
}

/// The first row's achieved rate from a run folder's `summary.csv`.
fn done_rps(dir: &Path) -> f64 {
    let text = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "achieved_rps").expect("an achieved_rps column");
    lines.next().unwrap().split(',').nth(col).unwrap().parse().unwrap()
}

#[test]
fn a_run_exported_and_imported_again_keeps_services_calls_replicas_and_rates() {
    let dir = scratch("round-trip");
    let original = root().join("topologies/online-boutique.toml");
    let run = |file: &Path, out: &str, extra: &[&str]| {
        let mut a = vec!["run", file.to_str().unwrap(), "--placement", "sidecar", "--duration", "6s", "--warmup", "1s", "--out", out];
        a.extend_from_slice(extra);
        let o = meshsim(&a, &dir);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&original, "first", &["--export-traffic"]);
    let traffic = dir.join("first/traffic");
    for f in ["manifests.yaml", "metrics.prom", "traces.json"] {
        assert!(traffic.join(f).is_file(), "{f}");
    }
    let mut a = args(vec![traffic.join("manifests.yaml")], Some(dir.join("again.toml")));
    a.traces = vec![traffic.join("traces.json")];
    a.metrics = vec![traffic.join("metrics.prom")];
    a.metrics_window = Some("5s".into());
    let imported = import(&a).unwrap();
    let f = &imported.found;
    let t = meshsim::topology::load(&original).unwrap();
    // The same services and replicas.
    let mut want: Vec<(String, u32)> = t.services.iter().map(|s| (s.name.clone(), s.replicas)).collect();
    let mut got: Vec<(String, u32)> = f.services.iter().map(|s| (s.name.clone(), s.replicas.value)).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    // The same calls, in the traces' order, as often per request as the first run made them.
    let first_calls = edge_calls(&dir.join("first"));
    let into = |s: &str| first_calls.iter().filter(|(e, _)| e.ends_with(&format!("-> {s}"))).map(|(_, n)| *n).sum::<f64>();
    for c in &t.calls {
        let (from, to) = (&t.services[c.from].name, &t.services[c.to].name);
        let call = f.service(from).unwrap().calls.iter().find(|x| &x.to == to).unwrap_or_else(|| panic!("{from} -> {to} lost"));
        assert_eq!(call.evidence, meshsim::import::model::Evidence::Traces);
        let made = first_calls[&format!("{from} -> {to}")] / into(from);
        assert!(
            (call.per_request.value - made).abs() < 1e-3 * made.max(1.0),
            "{from} -> {to}: {} calls per request, {made} made",
            call.per_request.value
        );
        let written = c.count as f64 * c.probability;
        assert!(
            (call.per_request.value - written).abs() / written < 0.3,
            "{from} -> {to}: {} against {written} written",
            call.per_request.value
        );
    }
    let calls: usize = f.services.iter().map(|s| s.calls.len()).sum();
    assert_eq!(calls, t.calls.len());
    // The load: from the same generator to the same entry, at the rate the first run did.
    assert_eq!(f.loads.len(), 1);
    assert_eq!((f.loads[0].from_service.as_deref(), f.loads[0].to.as_str()), (Some("loadgenerator"), "frontend"));
    let first = done_rps(&dir.join("first"));
    match &f.loads[0].kind {
        LoadKind::Open { rate_rps } => assert!((rate_rps.value - first).abs() / first < 0.05, "{} against {first}", rate_rps.value),
        other => panic!("{other:?}"),
    }
    // And simulated again: the same throughput, and every edge as busy within sampling error.
    run(&dir.join("again.toml"), "second", &[]);
    let second = done_rps(&dir.join("second"));
    assert!((second - first).abs() / first < 0.05, "{second} rps against {first}");
    for (edge, a) in &first_calls {
        let b = edge_calls(&dir.join("second"))[edge];
        assert!((a - b).abs() <= 5.0 * a.sqrt() + 0.03 * a, "{edge}: {b} calls against {a}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bot_calling_the_front_is_the_load_and_rollouts_are_workloads() {
    let f = import(&args(vec![fixture("bot.yaml")], None)).unwrap().found;
    assert_eq!(f.service("web").unwrap().replicas.value, 2);
    assert_eq!(f.service("web").unwrap().calls.iter().map(|c| c.to.as_str()).collect::<Vec<_>>(), ["voting"]);
    assert!(f.service("vote-bot").unwrap().is_load_generator);
    assert_eq!((f.loads[0].from_service.as_deref(), f.loads[0].to.as_str()), (Some("vote-bot"), "web"));
    // No rate or users in its environment: a visible default.
    match &f.loads[0].kind {
        LoadKind::Open { rate_rps } => assert!(rate_rps.is_default()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mutated_manifests_traces_and_metrics_never_panic() {
    let dir = scratch("mutations");
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let inputs = ["shop.yaml", "list.yaml", "traced.yaml", "traces-otlp.json", "traces-jaeger.json", "metrics.prom"];
    let pieces: &[&[u8]] =
        &[b"{", b"}", b"[", b"]", b":", b"- ", b"\n  ", b"\"", b"0", b"-1", b"&a ", b"*a", b"null", b",", b"\t", b"\xc3\xa9"];
    for round in 0..120 {
        let name = inputs[round % inputs.len()];
        let mut bytes = std::fs::read(fixture(name)).unwrap();
        for _ in 0..1 + next() % 4 {
            let at = next() % (bytes.len() + 1);
            match next() % 3 {
                0 => {
                    let end = (at + next() % 40).min(bytes.len());
                    bytes.drain(at..end);
                }
                1 => bytes.splice(at..at, pieces[next() % pieces.len()].iter().copied()).for_each(drop),
                _ => {
                    let end = (at + next() % 60).min(bytes.len());
                    let copy = bytes[at..end].to_vec();
                    bytes.splice(at..at, copy).for_each(drop);
                }
            }
        }
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        let mut a = args(vec![if name.ends_with(".yaml") { path.clone() } else { fixture("traced.yaml") }], None);
        if name.ends_with(".json") {
            a.traces = vec![path.clone()];
        }
        if name.ends_with(".prom") {
            a.metrics = vec![path.clone()];
            a.metrics_window = Some("60s".into());
        }
        // An error or a topology, never a panic.
        let _ = import(&a);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
