//! Golden runs: each sample topology's summary at a fixed seed and duration is checked in
//! under tests/golden/. After an intended change, regenerate them with
//! `UPDATE_GOLDEN=1 cargo test --release --test spine golden` and review the diff.

use std::process::Command;

use crate::common::*;

fn golden(name: &str) {
    let dir = scratch(&format!("golden-{name}"));
    let topo = root().join(format!("topologies/{name}.toml"));
    let o = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(["compare", topo.to_str().unwrap(), "--duration", "8s", "--warmup", "2s", "--seed", "1", "--out", "out"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = std::fs::read_to_string(dir.join("out/summary.csv")).unwrap();
    // A golden file only guards what it holds: every row must carry real latencies.
    for row in got.lines().skip(1) {
        let p50: f64 = row.split(',').nth(7).unwrap().parse().unwrap();
        assert!(p50 > 0.0, "{name}: zero p50 in `{row}`");
    }
    let path = root().join(format!("tests/golden/{name}.summary.csv"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(got, want, "{name}: summary differs from {}", path.display());
}

#[test]
fn golden_faces() {
    golden("faces");
}

#[test]
fn golden_bookinfo() {
    golden("bookinfo");
}

#[test]
fn golden_ecommerce_3region() {
    golden("ecommerce-3region");
}
