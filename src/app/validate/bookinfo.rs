//! Bookinfo's throughput under each mesh against LiveWyer's 2024 measurements
//! (`calibration/livewyer-bookinfo.csv`): closed-loop load with a new connection per request
//! on 2-vCPU nodes, where what a mesh costs comes out of the application's throughput. Each
//! check is a mesh's throughput as a share of the same study's baseline at the same
//! connection count, simulated with the mesh's placement and profile against `none`.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use super::Check;
use crate::app::{run_placement, AppError};
use crate::placement::Placement;
use crate::validate::shape::inputs_with_profile;

/// Largest miss of a throughput share counted as a match, in points of the baseline's
/// throughput (issue target: within 5 points).
pub const SHARE_TARGET_POINTS: f64 = 5.0;

/// How each measured mesh is simulated: placement, profile, and what the mapping leaves out.
const MESHES: [(&str, Placement, &str, &str); 4] = [
    ("linkerd", Placement::Sidecar, "gsd-2025-gke", ""),
    ("istio-sidecar", Placement::Sidecar, "envoy-1.40-loopback", ""),
    ("istio-ambient", Placement::Ambient, "loopback-2026", ""),
    // LiveWyer's Cilium ran WireGuard between nodes with no proxy in the request's path
    // (its Envoy only served ingress); no placement models that, so the nearest is named.
    ("cilium", Placement::PerNode, "envoy-1.40-loopback", "; measured: WireGuard, no proxy in the path"),
];

/// One measured row: a mesh's throughput in a study at a connection count.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct MeasuredRow {
    pub study: String,
    pub mesh: String,
    pub connections: u32,
    pub qps: f64,
    pub source: String,
}

/// The measurements' columns, in order.
const COLUMNS: [&str; 5] = ["study", "mesh", "connections", "qps", "source"];

/// Reads the measurements; every bad row is named with its file, line and column, all at once.
pub fn read_measured(path: &Path) -> Result<Vec<MeasuredRow>, AppError> {
    let bad = |m: String| AppError::arg("validate", m);
    let mut r = csv::Reader::from_path(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let (mut rows, mut errors) = (Vec::new(), Vec::new());
    for (i, rec) in r.deserialize::<MeasuredRow>().enumerate() {
        let at = format!("{}:{}", path.display(), i + 2);
        match rec {
            Ok(row) if row.qps.is_finite() && row.qps > 0.0 && row.connections > 0 => rows.push(row),
            Ok(_) => errors.push(format!("{at}: qps and connections must be positive")),
            Err(e) => match e.kind() {
                csv::ErrorKind::Deserialize { err, .. } => {
                    let column = err.field().and_then(|f| COLUMNS.get(f as usize)).map_or(String::new(), |c| format!("{c}: "));
                    errors.push(format!("{at}: {column}{}", err.kind()));
                }
                _ => errors.push(format!("{at}: {e}")),
            },
        }
    }
    if !errors.is_empty() {
        return Err(bad(errors.join("\n")));
    }
    Ok(rows)
}

/// Simulated throughput, rps, of `placement` under `profile` at `connections`.
fn simulate(path: &Path, profile: &str, placement: Placement, connections: u32, seed: u64) -> Result<f64, AppError> {
    let mut inputs = inputs_with_profile(path, profile)?;
    for load in &mut inputs.topology.loads {
        load.connections = connections;
        if let Some(closed) = &mut load.closed {
            closed.connections = connections;
        }
    }
    Ok(run_placement(&inputs, placement, seed, Vec::new(), None)?.summary.summary.achieved_rps)
}

/// Every mesh's throughput share against its study's baseline, measured and simulated.
/// `rows` as [`read_measured`] read them from `measured` (named in messages).
pub fn validate_bookinfo(rows: &[MeasuredRow], measured: &Path, topology: &Path, seed: u64) -> Result<Vec<Check>, AppError> {
    let baseline: BTreeMap<(&str, u32), f64> =
        rows.iter().filter(|r| r.mesh == "baseline").map(|r| ((r.study.as_str(), r.connections), r.qps)).collect();
    let mut cases = Vec::new();
    for r in rows.iter().filter(|r| r.mesh != "baseline") {
        let Some(&(_, placement, profile, note)) = MESHES.iter().find(|m| m.0 == r.mesh) else {
            return Err(AppError::arg(
                "validate",
                format!("{}: mesh `{}` is none of {:?}", measured.display(), r.mesh, MESHES.map(|m| m.0)),
            ));
        };
        let Some(&base) = baseline.get(&(r.study.as_str(), r.connections)) else {
            return Err(AppError::arg(
                "validate",
                format!("{}: study `{}` has no baseline at {} connections", measured.display(), r.study, r.connections),
            ));
        };
        cases.push((r, placement, profile, note, base));
    }
    // `none` under each connection count once (its throughput does not depend on the profile).
    let mut conns: Vec<u32> = cases.iter().map(|c| c.0.connections).collect();
    conns.sort_unstable();
    conns.dedup();
    let none: BTreeMap<u32, f64> = conns
        .par_iter()
        .map(|&n| Ok((n, simulate(topology, "envoy-1.40-loopback", Placement::None, n, seed)?)))
        .collect::<Result<_, AppError>>()?;
    if let Some((n, _)) = none.iter().find(|(_, &rps)| rps.is_nan() || rps <= 0.0) {
        // A share of nothing is no figure: refuse rather than print inf.
        return Err(AppError::arg("validate", format!("{}: no request completed without a mesh at {n} connections", topology.display())));
    }
    cases
        .par_iter()
        .map(|&(r, placement, profile, note, base)| {
            let rps = simulate(topology, profile, placement, r.connections, seed)?;
            let measured = 100.0 * r.qps / base;
            Ok(Check {
                dataset: format!("livewyer-bookinfo {}", r.study),
                placement,
                series: format!("{}, {} connections (profile {profile}{note})", r.mesh, r.connections),
                metric: "throughput",
                unit: "% of none",
                target_rps: r.qps.round() as u32,
                rate_rps: rps,
                measured,
                simulated: 100.0 * rps / none[&r.connections],
                target: SHARE_TARGET_POINTS / measured,
            })
        })
        .collect()
}
