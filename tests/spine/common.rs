//! Helpers shared by the spine tests: topologies from text, runs through the library.

use std::path::{Path, PathBuf};

use meshsim::app::{load_inputs, run_placement, Inputs, Overrides, PlacementRun};
use meshsim::placement::Placement;

/// The repository root (where Cargo.toml is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("meshsim-test-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Write `text` as `<dir>/<name>.toml` and return its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

pub fn inputs(path: &Path) -> Inputs {
    load_inputs(path, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn run(path: &Path, placement: Placement) -> PlacementRun {
    let i = inputs(path);
    let seed = i.topology.simulation.seed.unwrap_or(1);
    run_placement(&i, placement, seed, Vec::new(), None).unwrap_or_else(|e| panic!("{e}"))
}

/// A topology with no network delay: `services` is TOML for [[service]] tables and calls,
/// `load` the [[load]] tables.
pub fn queueing_topology(duration: &str, services: &str, load: &str) -> String {
    queueing_topology_with_warmup(duration, "2s", services, load)
}

/// [`queueing_topology`] with its warm-up given.
pub fn queueing_topology_with_warmup(duration: &str, warmup: &str, services: &str, load: &str) -> String {
    format!(
        r#"version = 1
name = "queueing"
[simulation]
duration = "{duration}"
warmup = "{warmup}"
seed = 7
[mesh]
[network]
same_node = "0us"
same_zone = "0us"
cross_zone = "0us"
cross_cluster = "0us"
[[node]]
name = "n"
vcpu = 64
memory = "256Gi"
[[namespace]]
name = "app"
{services}
{load}
"#
    )
}
