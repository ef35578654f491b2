//! Churn: push fan-out counted on a small case, convergence equal to debounce, push and apply
//! on a quiet control plane, stale endpoints failing or retried as the mesh's retry policy
//! says, a control-plane outage that keeps existing traffic and holds back new pods, and bad
//! `[[churn]]` input reported at its line.

use meshsim::placement::Placement;

use crate::common::{inputs, root, run, scratch, write};

/// Two services of two pods each (`s0` calls `s1`) on two 16-core nodes, Istio's published
/// models (istiod pushes to every sidecar: each holds the whole mesh), load `rate` to `s0`;
/// `call` is appended to the call table, `churn` to the file.
fn mesh(rate: &str, call: &str, churn: &str) -> String {
    format!(
        "version = 1\nname = \"churn\"\n[simulation]\nduration = \"12s\"\nwarmup = \"1s\"\nseed = 5\n\
         [mesh]\nprofile = \"istio-1.24-published\"\nmodels_dir = \"{}\"\n\
         [[node]]\nname = \"n\"\ncount = 2\nvcpu = 16\nmemory = \"64Gi\"\n[[namespace]]\nname = \"app\"\n\
         [[service]]\nname = \"s0\"\nnamespace = \"app\"\nreplicas = 2\ncpu = {{ dist = \"constant\", mean = \"100us\" }}\n\
         [[service.call]]\nto = \"s1\"\n{call}\n\
         [[service]]\nname = \"s1\"\nnamespace = \"app\"\nreplicas = 2\ncpu = {{ dist = \"constant\", mean = \"100us\" }}\n\
         [[load]]\nto = \"s0\"\nrate = \"{rate}\"\n{churn}",
        root().join("models").display()
    )
}

#[test]
fn every_change_is_pushed_to_every_proxy_holding_the_service() {
    // Restarts of s1 every 2 s from 2 s to 9 s, each 500 ms down: 4 restarts, 8 changes, each
    // more than the 100 ms debounce from the next, so 8 push rounds; every one of the 4
    // sidecars holds s1 (Istio sends a sidecar the whole mesh): 8 x 4 pushes.
    let dir = scratch("churn-fanout");
    let churn = "[[churn]]\nkind = \"restart\"\nservice = \"s1\"\nat = \"2s\"\nevery = \"2s\"\nuntil = \"9s\"\ndown = \"500ms\"\n";
    let r = run(&write(&dir, "t", &mesh("1rps", "", churn)), Placement::Sidecar);
    let c = r.summary.summary.churn.as_ref().expect("churn figures");
    assert_eq!((c.changes, c.push_rounds, c.proxy_pushes), (8, 8, 32));
    // Under ambient the same changes reach the 2 ztunnels: 8 x 2.
    let a = run(&write(&dir, "t", &mesh("1rps", "", churn)), Placement::Ambient);
    let c = a.summary.summary.churn.as_ref().expect("churn figures");
    assert_eq!((c.changes, c.push_rounds, c.proxy_pushes), (8, 8, 16));
}

#[test]
fn on_a_quiet_control_plane_convergence_is_debounce_then_push_then_apply() {
    // One change: s1 scales from 2 to 3 at 2 s and its new pod is Ready at 3 s. istiod waits
    // 100 ms without a change, pushes s1's 3 endpoints to each sidecar (1004 ns each), and
    // each sidecar applies the push (464 us + 7550 ns per endpoint), on idle 16-core nodes.
    let dir = scratch("churn-converge");
    let churn = "[[churn]]\nkind = \"scale\"\nservice = \"s1\"\nat = \"2s\"\nto = 3\nstartup = \"1s\"\n";
    let r = run(&write(&dir, "t", &mesh("1rps", "", churn)), Placement::Sidecar);
    let c = r.summary.summary.churn.as_ref().expect("churn figures");
    // One round to the 5 sidecars (the new one among them), and the new sidecar's own first
    // push of its whole configuration (the mesh's 5 endpoints) when its pod comes up.
    assert_eq!((c.changes, c.push_rounds, c.proxy_pushes, c.first_pushes), (1, 1, 6, 1));
    let expected_ms = 100.0 + 3.0 * 1004.0 / 1e6 + (464_000.0 + 3.0 * 7550.0) / 1e6;
    let got = c.convergence_p50_ms.unwrap();
    approx::assert_abs_diff_eq!(got, expected_ms, epsilon = 1e-6);
    approx::assert_abs_diff_eq!(c.convergence_max_ms.unwrap(), expected_ms, epsilon = 1e-6);
    // The control plane spent 5 pushes' CPU and the first push's, the proxies as many applies.
    approx::assert_abs_diff_eq!(c.push_cpu_ms, (5.0 * 3.0 + 5.0) * 1004.0 / 1e6, epsilon = 1e-9);
    let apply = 5.0 * (464_000.0 + 3.0 * 7550.0) + (464_000.0 + 5.0 * 7550.0);
    approx::assert_abs_diff_eq!(c.apply_cpu_ms, apply / 1e6, epsilon = 1e-9);
    // One new sidecar, one new certificate; under ambient the identity is already on every node.
    assert_eq!(c.new_certificates, 1);
    let a = run(&write(&dir, "t", &mesh("1rps", "", churn)), Placement::Ambient);
    assert_eq!(a.summary.summary.churn.as_ref().unwrap().new_certificates, 0);
}

#[test]
fn stale_endpoints_fail_without_retries_and_are_retried_under_the_mesh_default() {
    // A rollout of s1 (2 pods: surge 1, unavailable 0) whose old pods exit as they leave the
    // endpoints: for the 100 ms until istiod's push, sidecars still send to them.
    let dir = scratch("churn-stale");
    let churn = "[[churn]]\nkind = \"rollout\"\nservice = \"s1\"\nat = \"2s\"\nstartup = \"2s\"\n";
    // No retries anywhere: on the call, nor on the load (whose client is s0's sidecar).
    let text = mesh("400rps", "retries = 0", churn).replace("rate = \"400rps\"\n", "rate = \"400rps\"\nretries = 0\n");
    let none = run(&write(&dir, "none", &text), Placement::Sidecar);
    let c = none.summary.summary.churn.as_ref().unwrap();
    assert!(c.stale_calls > 0, "{c:?}");
    // Every stale send is refused by the exited pod and fails its request.
    assert!(c.requests_failed_during >= c.stale_calls, "{c:?}");
    assert_eq!(c.retries, 0);
    // Istio's default: 2 retries on another host for connect failures; the stale sends are retried.
    let istio = run(&write(&dir, "dflt", &mesh("400rps", "", churn)), Placement::Sidecar);
    let c = istio.summary.summary.churn.as_ref().unwrap();
    assert!(c.stale_calls > 0 && c.retries >= c.stale_calls, "{c:?}");
    assert_eq!(c.requests_failed_during, 0, "{c:?}");
    assert!(c.resilience.contains("2 on another host"), "{}", c.resilience);
    // Under `none` clients follow Kubernetes at once: no stale sends.
    let base = run(&write(&dir, "none2", &mesh("400rps", "retries = 0", churn)), Placement::None);
    assert_eq!(base.summary.summary.churn.as_ref().unwrap().stale_calls, 0);
}

#[test]
fn a_control_plane_outage_keeps_traffic_flowing_and_holds_new_pods_back() {
    // The control plane is down from 2 s to 8 s; s1 scales 2 -> 4 at 3 s (Ready after 1 s in
    // Kubernetes, but the new sidecars get no configuration or certificate until 8 s).
    let dir = scratch("churn-outage");
    let churn = "[[churn]]\nkind = \"control-plane-outage\"\nat = \"2s\"\noutage = \"6s\"\n\
                 [[churn]]\nkind = \"scale\"\nservice = \"s1\"\nat = \"3s\"\nto = 4\nstartup = \"1s\"\n";
    let path = write(&dir, "t", &mesh("200rps", "", churn));
    let r = run(&path, Placement::Sidecar);
    let c = r.summary.summary.churn.as_ref().unwrap();
    // Existing pods and proxies keep serving with what they had.
    assert_eq!(r.summary.summary.requests_failed, 0);
    let bucket = r.output.bucket_ns;
    for b in (2_000_000_000 / bucket)..(8_000_000_000 / bucket) {
        assert!(r.output.timeline[b as usize].succeeded > 0, "bucket {b}");
    }
    // The new pods join only once the control plane is back, and serve after.
    let i = inputs(&path);
    let d = meshsim::placement::Deployment::for_layout(&i.topology, Placement::Sidecar.into(), i.models.scopes());
    let cp = meshsim::control_plane::ControlPlane::for_deployment(&i.topology, &d, &i.models, &i.control_plane);
    let setup = meshsim::churn::compile(&i.topology, &d, &i.models, &i.control_plane, &cp, 0).unwrap();
    let adds: Vec<u64> = setup.run.changes.iter().filter(|x| x.add).map(|x| x.at_ns).collect();
    assert_eq!(adds, vec![8_000_000_000, 8_000_000_000]);
    for p in 4..6 {
        assert!(r.output.stations[p].passes > 0, "new pod {p} never served");
    }
    // On its return istiod reconnects all 6 sidecars.
    assert_eq!(c.recovery_ms.len(), 1);
    assert!(c.recovery_ms[0] > 0.0 && c.recovery_ms[0] < 10.0, "{:?}", c.recovery_ms);
}

#[test]
fn bad_churn_is_reported_at_its_line() {
    let dir = scratch("churn-bad");
    let churn = "[[churn]]\nkind = \"rollout\"\nservice = \"s1\"\nat = \"2s\"\nmax_unavailable = 3\n\
                 [[churn]]\nkind = \"scale\"\nservice = \"s0\"\nat = \"11s\"\nto = 5\nstartup = \"5s\"\n\
                 [[churn]]\nkind = \"drain\"\nnode = \"elsewhere\"\nat = \"1s\"\n\
                 [[churn]]\nkind = \"drain\"\nnode = \"gone\"\nat = \"99s\"\n\
                 [[churn]]\nkind = \"reboot\"\nat = \"1s\"\n\
                 [[churn]]\nkind = \"restart\"\nservice = \"s1\"\nat = \"1s\"\nevery = \"1s\"\nto = 3\n";
    let text = mesh("1rps", "", churn);
    let path = write(&dir, "t", &text);
    let e = meshsim::topology::parse(&path, &text).unwrap_err().to_string();
    let line = |needle: &str| text.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    for (needle, what) in [
        ("max_unavailable = 3", "].max_unavailable: 3 is more than the service's 2 replicas"),
        ("at = \"11s\"", "the scale ends at 16s, after the run's end at 12s"),
        ("node = \"elsewhere\"", "].node: node `elsewhere` does not exist"),
        ("kind = \"reboot\"", "`reboot` is not a kind of change"),
        // A change starting past the end is reported with the entry's other problems.
        ("node = \"gone\"", "].node: node `gone` does not exist"),
        ("at = \"99s\"", "the change starts at or after the end of the run"),
        ("to = 3", "].to: does not apply to a restart"),
    ] {
        let at = format!("t.toml:{}:", line(needle));
        assert!(e.lines().any(|l| l.contains(&at) && l.contains(what)), "no `{at} … {what}` in:\n{e}");
    }
}
