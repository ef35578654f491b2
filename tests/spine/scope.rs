//! Configuration scope: the endpoints each proxy holds, counted by hand on a small topology
//! for every proxy kind, every default scope of the mesh and every topology setting; bad
//! scopes refused naming file, line, column and field; and, on random topologies, scoping
//! never raises any proxy's endpoints or memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use meshsim::app::{run_placement, Inputs};
use meshsim::placement::{Deployment, Layout, Placement};
use proptest::prelude::*;

use crate::common::*;

/// The uniform fixture models, each with `[config] scope` set as given (`None`: the key absent).
fn models(dir: &Path, scopes: [Option<&str>; 4]) -> [PathBuf; 4] {
    let kinds = ["sidecar", "node-proxy", "ztunnel", "waypoint"];
    std::array::from_fn(|k| {
        let (kind, scope) = (kinds[k], scopes[k]);
        let mut text = std::fs::read_to_string(root().join(format!("tests/fixtures/models/uniform-{kind}.toml"))).unwrap();
        if let Some(s) = scope {
            text += &format!("\n[config]\nscope = \"{s}\"\n");
        }
        write(dir, &format!("model-{kind}"), &text)
    })
}

/// `[mesh]` naming the four models.
fn mesh_models(m: &[PathBuf; 4]) -> String {
    format!(
        "sidecar_model = \"{}\"\nnode_proxy_model = \"{}\"\nztunnel_model = \"{}\"\nwaypoint_model = \"{}\"\n",
        m[0].display(),
        m[1].display(),
        m[2].display(),
        m[3].display()
    )
}

/// Three namespaces on one node; 10 pods. `gen` (a, 1) loads `front` (a, 2), which calls
/// `back` (b, 3) and `aux` (a, 1); `back` calls `db` (c, 2); `other` (b, 1) is called by none.
fn small(scopes: [Option<&str>; 4], mesh: &str) -> Inputs {
    let dir = scratch("scope-small");
    let m = models(&dir, scopes);
    let text = format!(
        r#"version = 1
name = "small"
[simulation]
duration = "1s"
seed = 1
[mesh]
{}{mesh}
[[node]]
name = "n"
vcpu = 16
memory = "64Gi"
[[namespace]]
name = "a"
waypoint = {{ replicas = 1 }}
[[namespace]]
name = "b"
[[namespace]]
name = "c"
[[service]]
name = "gen"
namespace = "a"
replicas = 1
[[service]]
name = "front"
namespace = "a"
replicas = 2
[[service.call]]
to = "back"
[[service.call]]
to = "aux"
[[service]]
name = "aux"
namespace = "a"
replicas = 1
[[service]]
name = "back"
namespace = "b"
replicas = 3
[[service.call]]
to = "db"
[[service]]
name = "db"
namespace = "c"
replicas = 2
[[service]]
name = "other"
namespace = "b"
replicas = 1
[[load]]
to = "front"
from = "gen"
rate = "10rps"
"#,
        mesh_models(&m)
    );
    inputs(&write(&dir, "small", &text))
}

/// Endpoints of each proxy of `placement`: sidecars by service (all pods of a service hold
/// the same, checked), other proxies by name.
fn held(i: &Inputs, placement: Placement) -> BTreeMap<String, u32> {
    let d = Deployment::new(&i.topology, placement, i.models.scopes());
    let mut out = BTreeMap::new();
    for p in &d.proxies {
        let key = match p.pod {
            Some(pod) => i.topology.services[i.topology.pods[pod].service].name.clone(),
            None => p.name.clone(),
        };
        let before = out.insert(key.clone(), p.endpoints);
        assert!(before.is_none() || before == Some(p.endpoints), "{key}: the pods of a service hold different endpoints");
    }
    out
}

fn sidecars(i: &Inputs) -> Vec<u32> {
    let h = held(i, Placement::Sidecar);
    ["gen", "front", "aux", "back", "db", "other"].iter().map(|s| h[*s]).collect()
}

const ISTIO: [Option<&str>; 4] = [None; 4];
const LINKERD: [Option<&str>; 4] = [Some("called"), None, None, None];

#[test]
fn an_istio_sidecar_holds_the_mesh_unless_a_sidecar_scope_narrows_it() {
    //                                             gen front aux back db other
    assert_eq!(sidecars(&small(ISTIO, "")), [10, 10, 10, 10, 10, 10]);
    assert_eq!(sidecars(&small(ISTIO, "sidecar_scope = \"mesh\"")), [10, 10, 10, 10, 10, 10]);
    // Its namespace's pods and its callees': a = gen, front, aux (4); b = back, other (4); c = db (2).
    assert_eq!(sidecars(&small(ISTIO, "sidecar_scope = \"namespace\"")), [4, 4 + 3, 4, 4 + 2, 2, 4]);
    // Its callees only (the load gen sends counts as a call of gen's).
    assert_eq!(sidecars(&small(ISTIO, "sidecar_scope = \"called\"")), [2, 3 + 1, 0, 2, 0, 0]);
    // Egress hosts c/* (db: 2) and b/other (1) for every sidecar, each pod counted once.
    let egress = "sidecar_scope = \"called\"\negress_hosts = [\"c/*\", \"b/other\", \"c/*\"]";
    assert_eq!(sidecars(&small(ISTIO, egress)), [3 + 2, 3 + 3 + 1, 3, 3, 3, 3]);
    // b/* (4) with its namespace: b's own sidecars hold b once.
    let egress = "sidecar_scope = \"namespace\"\negress_hosts = [\"b/*\"]";
    assert_eq!(sidecars(&small(ISTIO, egress)), [4 + 4, 4 + 4, 4 + 4, 4 + 2, 4 + 2, 4]);
    // The control plane watching a and b only: c's pods are nowhere.
    assert_eq!(sidecars(&small(ISTIO, "discovery_namespaces = [\"a\", \"b\"]")), [8, 8, 8, 8, 8, 8]);
    assert_eq!(sidecars(&small(ISTIO, "sidecar_scope = \"called\"\ndiscovery_namespaces = [\"a\", \"b\"]")), [2, 4, 0, 0, 0, 0]);
}

#[test]
fn a_linkerd_sidecar_holds_its_callees_whatever_the_sidecar_scope() {
    for mesh in ["", "sidecar_scope = \"mesh\"", "sidecar_scope = \"namespace\"", "sidecar_scope = \"called\""] {
        assert_eq!(sidecars(&small(LINKERD, mesh)), [2, 4, 0, 2, 0, 0], "{mesh}");
    }
    assert_eq!(sidecars(&small(LINKERD, "discovery_namespaces = [\"a\", \"b\"]")), [2, 4, 0, 0, 0, 0]);
}

#[test]
fn ztunnels_node_proxies_and_waypoints_hold_what_their_mesh_sends() {
    // Istio's defaults: a ztunnel and a node proxy the whole mesh; a waypoint the pods it serves (a: 4).
    let i = small(ISTIO, "");
    assert_eq!(held(&i, Placement::PerNode)["node-proxy/n"], 10);
    let ambient = held(&i, Placement::Ambient);
    assert_eq!((ambient["ztunnel/n"], ambient["waypoint/a-1"]), (10, 4));
    // Scoped to what they call: the node's pods call front, back, aux and db (8).
    let i = small([None, Some("called"), Some("called"), Some("mesh")], "");
    assert_eq!(held(&i, Placement::PerNode)["node-proxy/n"], 8);
    let ambient = held(&i, Placement::Ambient);
    assert_eq!((ambient["ztunnel/n"], ambient["waypoint/a-1"]), (8, 10));
    // Discovery selectors narrow every kind; a sidecar scope narrows sidecars only.
    let i = small(ISTIO, "sidecar_scope = \"called\"\ndiscovery_namespaces = [\"b\", \"c\"]");
    assert_eq!(held(&i, Placement::PerNode)["node-proxy/n"], 6);
    let ambient = held(&i, Placement::Ambient);
    assert_eq!((ambient["ztunnel/n"], ambient["waypoint/a-1"]), (6, 0));
}

fn meshsim_on(path: &Path) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(["run", path.to_str().unwrap(), "--out"])
        .arg(path.with_extension("out"))
        .output()
        .unwrap();
    assert!(!path.with_extension("out").exists(), "an output folder was written");
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn a_scope_naming_an_unknown_namespace_or_host_is_refused_with_file_line_and_field() {
    let dir = scratch("scope-bad");
    let m = models(&dir, ISTIO);
    let text = std::fs::read_to_string(root().join("topologies/faces.toml")).unwrap();
    let text = text.replace("[mesh]\n", &format!("[mesh]\n{}", mesh_models(&m)));
    let text = text.replace("profile = \"gsd-2025-gke\"\nmodels_dir = \"../models/\"\n", "");
    let bad = text.replacen(
        "[mesh]\n",
        "[mesh]\nsidecar_scope = \"called\"\negress_hosts = [\"faces/*\", \"shop/*\", \"faces/nope\", \"load\"]\ndiscovery_namespaces = [\"faces\", \"nowhere\"]\n",
        1,
    );
    let path = write(&dir, "bad", &bad);
    let (code, stderr) = meshsim_on(&path);
    assert_eq!(code, 2, "{stderr}");
    let line = bad.lines().position(|l| l.starts_with("egress_hosts")).unwrap() + 1;
    let p = path.display();
    for want in [
        format!("{p}:{line}:28: mesh.egress_hosts[1]: host `shop/*` names namespace `shop`, which no [[namespace]] defines (defined: faces, load)"),
        format!("{p}:{line}:38: mesh.egress_hosts[2]: host `faces/nope`: namespace `faces` has no service `nope`"),
        format!("{p}:{line}:52: mesh.egress_hosts[3]: `load` is not a host: write `namespace/*` or `namespace/service`"),
        format!("{p}:{}:34: mesh.discovery_namespaces[1]: namespace `nowhere` is not defined by any [[namespace]]", line + 1),
    ] {
        assert!(stderr.contains(&want), "stderr lacks `{want}`:\n{stderr}");
    }
    // Egress hosts under the mesh scope narrow nothing; an empty discovery list watches nothing.
    let bad =
        text.replacen("[mesh]\n", "[mesh]\negress_hosts = [\"faces/*\"]\ndiscovery_namespaces = []\nsidecar_scope = \"everything\"\n", 1);
    let path = write(&dir, "bad2", &bad);
    let (code, stderr) = meshsim_on(&path);
    assert_eq!(code, 2, "{stderr}");
    let line = bad.lines().position(|l| l.starts_with("egress_hosts")).unwrap() + 1;
    for want in [
        format!("{}:{line}:16: mesh.egress_hosts: egress hosts add to a scoped sidecar's hosts", path.display()),
        format!("{}:{}:24: mesh.discovery_namespaces: an empty list watches no namespace", path.display(), line + 1),
        format!("{}:{}:17: mesh.sidecar_scope: unknown value `everything`: write one of mesh, namespace, called", path.display(), line + 2),
    ] {
        assert!(stderr.contains(&want), "stderr lacks `{want}`:\n{stderr}");
    }
}

#[test]
fn a_model_naming_an_unknown_scope_is_refused_with_file_line_and_field() {
    let dir = scratch("scope-bad-model");
    let text =
        std::fs::read_to_string(root().join("tests/fixtures/models/uniform-sidecar.toml")).unwrap() + "\n[config]\nscope = \"all\"\n";
    let path = write(&dir, "m", &text);
    let err = meshsim::model::load(&path).unwrap_err().to_string();
    let line = text.lines().count();
    assert!(err.contains(&format!("{}:{line}:9: config.scope: unknown scope `all`", path.display())), "{err}");
    let path = write(&dir, "m2", &text.replace("scope = \"all\"", "scop = \"mesh\""));
    let err = meshsim::model::load(&path).unwrap_err().to_string();
    assert!(err.contains("config.scope: missing") && err.contains("config.scop"), "{err}");
}

#[test]
fn every_bundled_model_says_what_its_mesh_sends() {
    for dir in std::fs::read_dir(root().join("models")).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = f.unwrap().path();
            if path.ends_with("profile.toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // A control-plane component's model (its `[deploy]`) holds no configuration of
            // its own; it must read as one.
            if text.contains("\n[deploy]\n") {
                meshsim::control_plane::model::load(&path).unwrap_or_else(|e| panic!("{e}"));
                continue;
            }
            assert!(text.contains("\n[config]\n") && text.contains("\nscope = \""), "{} has no [config] scope", path.display());
        }
    }
}

/// A random topology: namespaces, services with replicas and calls to later services, loads
/// (some from a service), over one to three nodes, with each kind's default scope and the
/// topology's scoping given.
#[derive(Clone, Debug)]
struct Case {
    namespaces: usize,
    /// (namespace, replicas, callees as offsets to later services).
    services: Vec<(usize, u32, Vec<usize>)>,
    nodes: u32,
    load_from: Option<usize>,
    defaults: [Option<&'static str>; 4],
    sidecar_scope: &'static str,
    egress: Vec<(usize, Option<usize>)>,
    discovery: Vec<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    let scope = || prop::option::of(prop::sample::select(vec!["mesh", "called"]));
    (
        1usize..=3,
        prop::collection::vec((0usize..3, 1u32..=3, prop::collection::vec(1usize..4, 0..3)), 1..=6),
        1u32..=3,
        prop::option::of(0usize..6),
        [scope(), scope(), scope(), scope()],
        prop::sample::select(vec!["namespace", "called"]),
        prop::collection::vec((0usize..3, prop::option::of(0usize..6)), 0..3),
        prop::collection::vec(0usize..3, 1..=3),
    )
        .prop_map(|(namespaces, services, nodes, load_from, defaults, sidecar_scope, egress, discovery)| Case {
            namespaces,
            services,
            nodes,
            load_from,
            defaults,
            sidecar_scope,
            egress,
            discovery,
        })
}

impl Case {
    fn namespace(&self, s: usize) -> usize {
        self.services[s].0 % self.namespaces
    }

    /// The topology with `mesh` lines under `[mesh]`.
    fn toml(&self, models: &[PathBuf; 4], mesh: &str) -> String {
        let mut t = format!(
            "version = 1\nname = \"scoped\"\n[simulation]\nduration = \"600ms\"\nwarmup = \"100ms\"\nseed = 3\n[mesh]\n{}{mesh}\n\
             [[node]]\nname = \"n\"\ncount = {}\nvcpu = 16\nmemory = \"64Gi\"\n",
            mesh_models(models),
            self.nodes
        );
        for n in 0..self.namespaces {
            t += &format!("[[namespace]]\nname = \"ns{n}\"\nwaypoint = {{ replicas = 1 }}\n");
        }
        for (i, (_, replicas, calls)) in self.services.iter().enumerate() {
            t += &format!("[[service]]\nname = \"s{i}\"\nnamespace = \"ns{}\"\nreplicas = {replicas}\n", self.namespace(i));
            t += "cpu = { dist = \"constant\", mean = \"100us\" }\n";
            let mut to: Vec<usize> = calls.iter().map(|d| i + d).filter(|&d| d < self.services.len()).collect();
            to.sort_unstable();
            to.dedup();
            for d in to {
                t += &format!("[[service.call]]\nto = \"s{d}\"\n");
            }
        }
        let from = self.load_from.filter(|&f| f > 0 && f < self.services.len()).map(|f| format!("from = \"s{f}\"\n")).unwrap_or_default();
        t += &format!("[[load]]\nto = \"s0\"\nrate = \"50rps\"\n{from}");
        t
    }

    /// The scoping lines: the sidecar scope, egress hosts and discovery namespaces.
    fn scoping(&self) -> String {
        let hosts: Vec<String> = self
            .egress
            .iter()
            .map(|&(n, s)| match s.filter(|&s| s < self.services.len()) {
                Some(s) => format!("\"ns{}/s{s}\"", self.namespace(s)),
                None => format!("\"ns{}/*\"", n % self.namespaces),
            })
            .collect();
        let watched: Vec<String> = self.discovery.iter().map(|n| format!("\"ns{}\"", n % self.namespaces)).collect();
        format!(
            "sidecar_scope = \"{}\"\negress_hosts = [{}]\ndiscovery_namespaces = [{}]\n",
            self.sidecar_scope,
            hosts.join(", "),
            watched.join(", ")
        )
    }
}

/// Each proxy's (name, endpoints, memory in MiB) of a run of `layout`.
fn proxies(i: &Inputs, layout: Layout) -> Vec<(String, u64, f64)> {
    let r = run_placement(i, layout, 3, Vec::new(), None).unwrap_or_else(|e| panic!("{e}"));
    r.summary.proxies.iter().map(|p| (p.name.clone(), u64::from(p.endpoints), p.mem_mib)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 100, .. ProptestConfig::default() })]

    /// Whatever the mesh sends each kind, narrowing it (a sidecar scope with egress hosts,
    /// discovery namespaces, or the narrower sidecar scope `called` under `namespace`) never
    /// gives any proxy more endpoints or more memory, in the same run otherwise.
    #[test]
    fn scoping_never_raises_any_proxys_memory(c in case()) {
        let dir = scratch("scope-prop");
        let models = models(&dir, c.defaults);
        let open = inputs(&write(&dir, "open", &c.toml(&models, "")));
        let scoped_text = c.toml(&models, &c.scoping());
        let scoped = inputs(&write(&dir, "scoped", &scoped_text));
        let narrower = inputs(&write(&dir, "narrower", &c.toml(&models, &c.scoping().replace("\"namespace\"", "\"called\""))));
        for layout in Layout::UNIFORM {
            let (a, b, n) = (proxies(&open, layout), proxies(&scoped, layout), proxies(&narrower, layout));
            prop_assert_eq!(a.len(), b.len());
            for ((x, y), z) in a.iter().zip(&b).zip(&n) {
                prop_assert_eq!(&x.0, &y.0);
                prop_assert!(y.1 <= x.1 && z.1 <= y.1, "{}: {} {} {} endpoints\n{}", x.0, x.1, y.1, z.1, scoped_text);
                prop_assert!(y.2 <= x.2 + 1e-9 && z.2 <= y.2 + 1e-9, "{}: {} {} {} MiB\n{}", x.0, x.2, y.2, z.2, scoped_text);
            }
        }
    }
}
