//! Exports of the Istio benchmark calibration: `istio-rows.csv`, `istio-fits.csv`,
//! `istio-added-latency.csv`, charts of per-sidecar CPU and memory against the rate (one
//! colour per telemetry mode, measured points and fitted line), and a terminal table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::report::number::exact;
use crate::report::plot::{write_chart, Chart, Mark, Series};

use super::istio_bench::{IstioCalibration, IstioRow, SidecarMode, SidecarProxy};
use super::series::Metric;
use super::CalibrationError;

/// Write the Istio calibration into `out_dir` (created if missing); returns the files written, sorted.
pub fn write_istio_outputs(calibration: &IstioCalibration, out_dir: &Path) -> Result<Vec<PathBuf>, CalibrationError> {
    fs::create_dir_all(out_dir).map_err(|e| CalibrationError::io(out_dir, e))?;
    let mut written = Vec::new();
    for (name, rows) in [
        ("istio-rows.csv", row_rows(calibration)),
        ("istio-fits.csv", fit_rows(calibration)),
        ("istio-added-latency.csv", added_latency_rows(calibration)),
    ] {
        let path = out_dir.join(name);
        super::write_csv(&path, &rows)?;
        written.push(path);
    }
    if !calibration.dropped.is_empty() {
        let path = out_dir.join(super::DROPPED_FILE);
        super::write_csv(&path, &super::dropped_rows(&calibration.dropped))?;
        written.push(path);
    }
    for metric in Metric::ALL {
        let stem = out_dir.join(format!("istio-per-sidecar-{}", metric.name()));
        write_chart(&stem, &per_sidecar_chart(calibration, metric))
            .map_err(|message| CalibrationError::Plot { path: stem.clone(), message })?;
        written.push(stem.with_extension("png"));
        written.push(stem.with_extension("svg"));
    }
    written.sort();
    Ok(written)
}

fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn row_rows(calibration: &IstioCalibration) -> Vec<Vec<String>> {
    let mut rows = vec![header(&[
        "telemetry_mode",
        "sidecar_mode",
        "qps_target",
        "rate_rps",
        "conns",
        "payload_bytes",
        "run_id",
        "latency_p50_us",
        "latency_p90_us",
        "latency_p99_us",
        "cpu_client_millicores",
        "cpu_server_millicores",
        "mem_client_mib",
        "mem_server_mib",
    ])];
    rows.extend(calibration.rows.iter().map(|r: &IstioRow| {
        vec![
            r.telemetry_mode.clone(),
            r.sidecar_mode.name().to_string(),
            r.qps_target.to_string(),
            exact(r.rate_rps),
            r.conns.to_string(),
            r.payload_bytes.to_string(),
            r.run_id.clone(),
            exact(r.latency_p50_us),
            exact(r.latency_p90_us),
            exact(r.latency_p99_us),
            exact(r.cpu_client_millicores),
            exact(r.cpu_server_millicores),
            exact(r.mem_client_mib),
            exact(r.mem_server_mib),
        ]
    }));
    rows
}

fn fit_rows(calibration: &IstioCalibration) -> Vec<Vec<String>> {
    let degree = calibration.degree;
    let mut head = header(&["telemetry_mode", "sidecar_mode", "proxy", "metric", "unit", "degree"]);
    head.extend((0..=degree).map(|k| format!("c{k}")));
    head.extend(["r2".to_string(), "points".to_string()]);
    let mut rows = vec![head];
    for f in &calibration.fits {
        let mut row = vec![
            f.telemetry_mode.clone(),
            f.sidecar_mode.name().to_string(),
            f.proxy.name().to_string(),
            f.metric.name().to_string(),
            f.metric.unit().to_string(),
            degree.to_string(),
        ];
        row.extend((0..=degree).map(|k| f.fit.coefficients.get(k).map_or_else(String::new, |&c| exact(c))));
        row.push(exact(f.fit.r2));
        row.push(f.fit.points.to_string());
        rows.push(row);
    }
    rows
}

fn added_latency_rows(calibration: &IstioCalibration) -> Vec<Vec<String>> {
    let mut rows = vec![header(&[
        "telemetry_mode",
        "qps_target",
        "conns",
        "payload_bytes",
        "rows_both",
        "rows_baseline",
        "added_p50_us",
        "added_p90_us",
        "added_p99_us",
    ])];
    rows.extend(calibration.added_latency.iter().map(|a| {
        vec![
            a.telemetry_mode.clone(),
            a.qps_target.to_string(),
            a.conns.to_string(),
            a.payload_bytes.to_string(),
            a.rows_both.to_string(),
            a.rows_baseline.to_string(),
            exact(a.added_p50_us),
            exact(a.added_p90_us),
            exact(a.added_p99_us),
        ]
    }));
    rows
}

/// Per-sidecar values of `both` tests against the rate, one colour per telemetry mode.
fn per_sidecar_chart(calibration: &IstioCalibration, metric: Metric) -> Chart {
    let mut series = Vec::new();
    let fits = calibration
        .fits
        .iter()
        .filter(|f| f.sidecar_mode == SidecarMode::Both && f.proxy == SidecarProxy::PerSidecar && f.metric == metric);
    for (color, f) in fits.enumerate() {
        series.push(Series { name: f.telemetry_mode.clone(), points: f.points.clone(), mark: Mark::Points, color });
        let (lo, hi) = f.points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
        let curve = (0..=60)
            .map(|i| {
                let x = lo + (hi - lo) * f64::from(i) / 60.0;
                (x, f.fit.eval(x))
            })
            .collect();
        series.push(Series { name: format!("{} fit, R² {:.3}", f.telemetry_mode, f.fit.r2), points: curve, mark: Mark::Line, color });
    }
    Chart {
        title: format!("istio per-sidecar {} ({}) vs achieved rps", metric.column_suffix(), metric.unit()),
        x_label: "achieved rate (rps)".to_string(),
        y_label: format!("{} per sidecar ({})", metric.column_suffix(), metric.unit()),
        series,
        ..Chart::default()
    }
}

/// A plain-text summary: per telemetry mode, the per-sidecar lines and the added latency at
/// 1000 rps (mean over connection counts).
pub fn print_istio_table(calibration: &IstioCalibration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "istio benchmark ({} rows; fit degree {})", calibration.rows.len(), calibration.degree);
    let _ = writeln!(out, "{:<24} {:<11} {:<4} {:>10} {:>12} {:>7} {:>7}", "telemetry mode", "proxy", "met", "c0", "c1", "R²", "points");
    for f in &calibration.fits {
        if f.sidecar_mode != SidecarMode::Both && f.proxy == SidecarProxy::PerSidecar {
            continue;
        }
        let c = |k: usize| f.fit.coefficients.get(k).copied().unwrap_or(f64::NAN);
        let _ = writeln!(
            out,
            "{:<24} {:<11} {:<4} {:>10.3} {:>12.5} {:>7.4} {:>7}",
            f.telemetry_mode,
            f.proxy.name(),
            f.metric.name(),
            c(0),
            c(1),
            f.fit.r2,
            f.fit.points
        );
    }
    let mut at_1000: BTreeMap<&str, Vec<[f64; 3]>> = BTreeMap::new();
    for a in calibration.added_latency.iter().filter(|a| a.qps_target == 1000) {
        at_1000.entry(a.telemetry_mode.as_str()).or_default().push([a.added_p50_us, a.added_p90_us, a.added_p99_us]);
    }
    let _ = writeln!(out, "added latency at 1000 rps, two sidecars (mean over connection counts):");
    let _ = writeln!(out, "{:<24} {:>6} {:>10} {:>10} {:>10}", "telemetry mode", "cases", "p50 µs", "p90 µs", "p99 µs");
    for (mode, cases) in at_1000 {
        let n = cases.len() as f64;
        let m = |i: usize| cases.iter().map(|c| c[i]).sum::<f64>() / n;
        let _ = writeln!(out, "{:<24} {:>6} {:>10.0} {:>10.0} {:>10.0}", mode, cases.len(), m(0), m(1), m(2));
    }
    for note in &calibration.notes {
        let _ = writeln!(out, "no fit: {note}");
    }
    out
}
