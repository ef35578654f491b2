//! The control plane as workloads: its steady figures by hand on a small mesh, its CPU
//! contending on its node, certificates per pod against per node, and bad `[control_plane]`
//! input reported at its line.

use std::path::Path;

use meshsim::placement::Placement;

use crate::common::{root, run, scratch, write};

/// `services` services of `replicas` pods on `nodes` nodes of `vcpu` cores, each request
/// `cpu` of work at `rate`, no calls, on profile `profile` in
/// `models_dir`; `extra` is appended (a `[control_plane]` table, say).
fn mesh(
    profile: &str,
    models_dir: &Path,
    (nodes, vcpu, services, replicas): (u32, u32, u32, u32),
    (cpu, rate): (&str, &str),
    extra: &str,
) -> String {
    let mut t = format!(
        "version = 1\nname = \"cp\"\n[simulation]\nduration = \"11s\"\nwarmup = \"1s\"\nseed = 3\n\
         [mesh]\nprofile = \"{profile}\"\nmodels_dir = \"{}\"\n\
         [[node]]\nname = \"n\"\ncount = {nodes}\nvcpu = {vcpu}\nmemory = \"64Gi\"\n[[namespace]]\nname = \"app\"\n",
        models_dir.display()
    );
    for s in 0..services {
        t.push_str(&format!(
            "[[service]]\nname = \"s{s}\"\nnamespace = \"app\"\nreplicas = {replicas}\ncpu = {{ dist = \"constant\", mean = \"{cpu}\" }}\n"
        ));
    }
    t.push_str(&format!("[[load]]\nto = \"s0\"\nrate = \"{rate}\"\n{extra}"));
    t
}

#[test]
fn istiod_memory_and_cpu_match_the_model_computed_by_hand() {
    // N = 6 sidecars (3 services x 2 pods), M = 3 services; every sidecar holds the whole mesh.
    let dir = scratch("cp-hand");
    let path = write(&dir, "t", &mesh("istio-1.24-published", &root().join("models"), (2, 4, 3, 2), ("100us", "10rps"), ""));
    let r = run(&path, Placement::Sidecar);
    let cp = &r.control_plane;
    assert_eq!(cp.components.len(), 1);
    let c = &cp.components[0];
    assert_eq!((c.name.as_str(), c.replicas, c.proxies, c.services, c.endpoints), ("istiod", 1, 6, 3, 6));
    let (n, m) = (6.0, 3.0);
    // base 42.26 MiB, 1281 KB per proxy, 791 B per proxy and service held.
    let mem = 42.26 * 1024.0 * 1024.0 + 1_281_000.0 * n + 791.0 * n * m;
    assert!((c.mem_bytes - mem).abs() < 1.0, "{} against {mem}", c.mem_bytes);
    // One certificate per sidecar, 24 h renewed at half-life: 6 / 43,200 s, 480 us each.
    assert_eq!(c.certificates, 6.0);
    assert!((c.signings_per_s - n / 43_200.0).abs() < 1e-12);
    let cpu = 1.38 + n / 43_200.0 * 0.48;
    assert!((c.cpu_millicores - cpu).abs() < 1e-9, "{} against {cpu}", c.cpu_millicores);
    // The run received what the model asks for, on an idle node, to a job in 100 of the window.
    let s = &r.summary.summary;
    let received = s.cp_cpu_millicores.unwrap();
    assert!((received - cpu).abs() / cpu < 0.011, "{received} against {cpu}");
    assert!((s.cp_mem_mib.unwrap() - mem / 1024.0 / 1024.0).abs() < 1e-6);
    // It sits on a node and counts there.
    let node = &r.summary.nodes[c.nodes[0]];
    assert!((node.control_plane_millicores - received).abs() < 1e-9);
    // `none` runs no proxies and so no control plane.
    let none = run(&path, Placement::None);
    assert!(none.control_plane.components.is_empty() && none.summary.summary.cp_cpu_millicores.is_none());
}

#[test]
fn control_plane_cpu_contends_for_its_node_cores() {
    // A profile of this test's own: a sidecar model and a control plane asking for 600m of
    // steady CPU with a 10m request, on a 1-vCPU node.
    let dir = scratch("cp-contend");
    let models = dir.join("models");
    let profile = models.join("p");
    std::fs::create_dir_all(&profile).unwrap();
    let sidecar = std::fs::read_to_string(root().join("models/istio-1.24-published/istio-1.24-sidecar.toml")).unwrap();
    std::fs::write(profile.join("sidecar.toml"), sidecar.replace("profile = \"istio-1.24-published\"", "profile = \"p\"")).unwrap();
    std::fs::write(
        profile.join("cp.toml"),
        "version = 1\nname = \"busy-cp\"\n[deploy]\nreplicas = 1\ncpu_request = \"10m\"\nmemory_request = \"64Mi\"\nsource = \"test\"\n\
         [memory]\nbase = \"10MiB\"\n[cpu]\nbase = \"600m\"\n[provenance]\nsource = \"test\"\nprofile = \"p\"\n",
    )
    .unwrap();
    std::fs::write(
        profile.join("profile.toml"),
        "version = 1\nname = \"p\"\nsource = \"t\"\nsoftware = \"t\"\nhardware = \"t\"\nanswers = \"t\"\n[models]\nsidecar = \"sidecar.toml\"\n\
         [control_plane]\nsidecar = [\"cp.toml\"]\n",
    )
    .unwrap();
    let idle = write(&dir, "idle", &mesh("p", &models, (1, 1, 1, 1), ("1ms", "1rps"), ""));
    let busy = write(&dir, "busy", &mesh("p", &models, (1, 1, 1, 1), ("1ms", "5000rps"), ""));
    let alone = run(&idle, Placement::Sidecar).summary.summary.cp_cpu_millicores.unwrap();
    assert!((alone - 600.0).abs() < 7.0, "{alone}");
    // 5000 rps of 1 ms each ask for 5 cores of the node's one: the app (request 100m) and its
    // sidecar (100m) outweigh the control plane (10m), which now gets much less than it asks.
    let r = run(&busy, Placement::Sidecar);
    let squeezed = r.summary.summary.cp_cpu_millicores.unwrap();
    assert!(squeezed < 200.0, "{squeezed}");
    let node = &r.summary.nodes[0];
    assert!(node.cpu_utilization > 0.99 && node.control_plane_millicores > 0.0, "{node:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sidecars_hold_a_certificate_per_pod_and_ztunnels_one_per_identity_of_their_node() {
    // 2 services x 4 pods on 2 nodes: 8 pods, 2 identities on each node.
    let dir = scratch("cp-certs");
    let path = write(&dir, "t", &mesh("istio-1.24-published", &root().join("models"), (2, 4, 2, 4), ("100us", "10rps"), ""));
    let sidecar = run(&path, Placement::Sidecar);
    assert_eq!(sidecar.control_plane.components[0].certificates, 8.0);
    let ambient = run(&path, Placement::Ambient);
    assert_eq!(ambient.control_plane.components[0].proxies, 2);
    assert_eq!(ambient.control_plane.components[0].certificates, 4.0);
}

#[test]
fn control_plane_settings_replace_the_defaults_and_place_replicas_on_the_named_nodes() {
    let dir = scratch("cp-settings");
    let extra = "[control_plane]\nreplicas = 2\nnodes = [\"n-3\"]\ncpu_request = \"1\"\nmemory_request = \"1Gi\"\n";
    let path = write(&dir, "t", &mesh("istio-1.24-published", &root().join("models"), (3, 4, 2, 2), ("100us", "10rps"), extra));
    let r = run(&path, Placement::Sidecar);
    let c = &r.control_plane.components[0];
    assert_eq!((c.replicas, c.nodes.clone(), c.cpu_request_millicores), (2, vec![2, 2], 1000.0));
    // Two replicas: two bases; the proxies split between them.
    let one = run(
        &write(&dir, "one", &mesh("istio-1.24-published", &root().join("models"), (3, 4, 2, 2), ("100us", "10rps"), "")),
        Placement::Sidecar,
    );
    let base = 42.26 * 1024.0 * 1024.0;
    assert!((c.mem_bytes - one.control_plane.components[0].mem_bytes - base).abs() < 1.0);
}

#[test]
fn bad_control_plane_settings_are_reported_at_their_line() {
    let dir = scratch("cp-bad");
    let extra = "[control_plane]\nreplicas = -1\nnodes = [\"nowhere\"]\ncpu_request = \"lots\"\nmemory_request = \"1\"\ncolour = 1\n";
    let text = mesh("istio-1.24-published", &root().join("models"), (1, 4, 1, 1), ("100us", "10rps"), extra);
    let path = write(&dir, "t", &text);
    let e = meshsim::topology::parse(&path, &text).unwrap_err().to_string();
    let line = |key: &str| text.lines().position(|l| l.starts_with(key)).unwrap() + 1;
    let p = path.display().to_string();
    assert!(e.contains(&format!("{p}:{}:12: control_plane.replicas: -1 is out of range", line("replicas = -1"))), "{e}");
    assert!(
        e.contains(&format!("{p}:{}:", line("nodes = "))) && e.contains("control_plane.nodes[0]: node `nowhere` does not exist"),
        "{e}"
    );
    assert!(e.contains("control_plane.cpu_request:") && e.contains("control_plane.memory_request:"), "{e}");
    assert!(e.contains("unknown key `colour`"), "{e}");
}

#[test]
fn a_bad_control_plane_model_is_reported_with_its_file_and_line() {
    let dir = scratch("cp-bad-model");
    let path = write(
        &dir,
        "m",
        "version = 1\nname = \"x\"\n[deploy]\nreplicas = -2\ncpu_request = \"1\"\nmemory_request = \"1Gi\"\nsource = \"s\"\n\
         [memory]\nbase = \"-5MiB\"\n[cpu]\nbase = \"1m\"\n[certificates]\nttl = \"1440min\"\nrenew_at = 2.0\nsource = \"s\"\n[provenance]\nsource = \"s\"\n",
    );
    let e = meshsim::control_plane::model::load(&path).unwrap_err().to_string();
    let p = path.display().to_string();
    assert!(e.contains(&format!("{p}:4:12: deploy.replicas: -2 is out of range")), "{e}");
    assert!(e.contains(&format!("{p}:9:8: memory.base:")), "{e}");
    assert!(e.contains("certificates.renew_at: 2 is out of range"), "{e}");
    assert!(e.contains("cpu.per_certificate: a component with [certificates] needs"), "{e}");
}

/// Istio's per-proxy terms were fitted at 20,000 to 25,000 connected sidecars: a mesh far
/// smaller where they are a tenth of istiod's memory is named as an extrapolation, one
/// where the base dominates is not.
#[test]
fn control_plane_memory_outside_its_fitted_range_is_named() {
    let dir = scratch("cp-fitted");
    let models = root().join("models");
    // 200 sidecars: 256 MB of per-proxy terms against a 44 MB base.
    let big = run(&write(&dir, "big", &mesh("istio-1.24-published", &models, (4, 16, 10, 20), ("100us", "10rps"), "")), Placement::Sidecar);
    assert_eq!(big.control_plane.components[0].extrapolated_from, Some((20_000, 25_000)));
    let notes = meshsim::report::control_plane_figures::notes(std::slice::from_ref(&big.summary.summary));
    assert!(
        notes
            .iter()
            .any(|l| l.starts_with("warning: control-plane memory extrapolated") && l.contains("istiod in sidecar connects 200 proxies")),
        "{notes:?}"
    );
    // 2 sidecars: 2.6 MB against the base, under a tenth.
    let small =
        run(&write(&dir, "small", &mesh("istio-1.24-published", &models, (1, 4, 1, 2), ("100us", "10rps"), "")), Placement::Sidecar);
    assert_eq!(small.control_plane.components[0].extrapolated_from, None);
    // A range given by half, or upside down, is an input error at its line.
    for (keys, want) in [
        ("fitted_proxies_min = 10\n", "give both fitted_proxies_min and fitted_proxies_max"),
        ("fitted_proxies_min = 10\nfitted_proxies_max = 5\n", "the fitted range must satisfy"),
    ] {
        let path = write(
            &dir,
            "m",
            &format!(
                "version = 1\nname = \"x\"\n[deploy]\nreplicas = 1\ncpu_request = \"1\"\nmemory_request = \"1Gi\"\nsource = \"s\"\n\
                 [memory]\nbase = \"5MiB\"\n{keys}[cpu]\nbase = \"1m\"\n[provenance]\nsource = \"s\"\n"
            ),
        );
        let e = meshsim::control_plane::model::load(&path).unwrap_err().to_string();
        assert!(e.contains(&format!("{}:10:", path.display())) && e.contains(want), "{e}");
    }
}
