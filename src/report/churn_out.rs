//! The churn of each placement as the terminal and `summary.md` show it (a line per
//! placement), and `churn.csv` (a row per placement), written only when the topology has
//! `[[churn]]`. `results.json` carries the same figures as `results::ChurnResult`.

use std::path::Path;

use crate::metrics::PlacementSummary;
use crate::report::number;

fn ms(x: Option<f64>) -> String {
    x.map_or("—".to_string(), |v| format!("{v:.1} ms"))
}

/// Lines under a comparison table: each placement's churn figures, then what is left out.
pub fn notes(rows: &[PlacementSummary]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut left: Vec<String> = Vec::new();
    for r in rows {
        let Some(c) = &r.churn else { continue };
        let mut line = format!(
            "churn, {}: {} endpoint changes; {} push rounds, {} proxy pushes ({} whole configurations to new proxies); control plane {:.1} CPU-ms pushing ({:.3}% of its replicas), proxies {:.1} CPU-ms applying; converged p50 {}, p99 {}, max {}",
            r.placement,
            c.changes,
            c.push_rounds,
            c.proxy_pushes,
            c.first_pushes,
            c.push_cpu_ms,
            c.push_busy_share * 100.0,
            c.apply_cpu_ms,
            ms(c.convergence_p50_ms),
            ms(c.convergence_p99_ms),
            ms(c.convergence_max_ms),
        );
        if c.unconverged > 0 {
            line.push_str(&format!(" ({} changes not converged by the run's end)", c.unconverged));
        }
        line.push_str(&format!(
            "; {} calls to removed pods, {} requests failed from the first change, {} retries; {} new certificates",
            c.stale_calls, c.requests_failed_during, c.retries, c.new_certificates
        ));
        if !c.recovery_ms.is_empty() {
            let rec: Vec<String> = c.recovery_ms.iter().map(|x| format!("{x:.1} ms")).collect();
            line.push_str(&format!("; every proxy configured again {} after the control plane returned", rec.join(", ")));
        }
        if !c.resilience.is_empty() {
            line.push_str(&format!(" ({})", c.resilience));
        }
        lines.push(line);
        for l in &c.left_out {
            if !left.contains(l) {
                left.push(l.clone());
            }
        }
    }
    if !left.is_empty() {
        lines.push(format!("churn terms not modelled (not measured, so not charged): {}", left.join("; ")));
    }
    lines
}

pub const CHURN_HEADER: [&str; 18] = [
    "placement",
    "changes",
    "push_rounds",
    "proxy_pushes",
    "first_pushes",
    "push_cpu_ms",
    "push_busy_share",
    "apply_cpu_ms",
    "convergence_p50_ms",
    "convergence_p99_ms",
    "convergence_max_ms",
    "unconverged",
    "stale_calls",
    "requests_failed_during",
    "retries",
    "new_certificates",
    "recovery_ms",
    "left_out",
];

/// The cells of one placement's churn figures, in [`CHURN_HEADER`] order after `placement`
/// (empty cells when the run had none).
pub fn churn_cells(c: Option<&crate::churn::ChurnSummary>) -> Result<Vec<String>, String> {
    let Some(c) = c else { return Ok(vec![String::new(); CHURN_HEADER.len() - 1]) };
    let f = |field: &str, x: f64| number::fixed(field, x, 4).map_err(|e| format!("{field}: {e}"));
    let opt = |field: &str, x: Option<f64>| number::fixed_or_empty(field, x, 4).map_err(|e| format!("{field}: {e}"));
    let recovery: Result<Vec<String>, String> = c.recovery_ms.iter().map(|&x| f("recovery_ms", x)).collect();
    Ok(vec![
        c.changes.to_string(),
        c.push_rounds.to_string(),
        c.proxy_pushes.to_string(),
        c.first_pushes.to_string(),
        f("push_cpu_ms", c.push_cpu_ms)?,
        number::fixed("push_busy_share", c.push_busy_share, 6).map_err(|e| e.to_string())?,
        f("apply_cpu_ms", c.apply_cpu_ms)?,
        opt("convergence_p50_ms", c.convergence_p50_ms)?,
        opt("convergence_p99_ms", c.convergence_p99_ms)?,
        opt("convergence_max_ms", c.convergence_max_ms)?,
        c.unconverged.to_string(),
        c.stale_calls.to_string(),
        c.requests_failed_during.to_string(),
        c.retries.to_string(),
        c.new_certificates.to_string(),
        recovery?.join(";"),
        c.left_out.join("; "),
    ])
}

/// `churn.csv`: a row per placement with churn.
pub fn write_churn(path: &Path, rows: &[PlacementSummary]) -> Result<(), String> {
    let mut w = csv::Writer::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    w.write_record(CHURN_HEADER).map_err(|e| e.to_string())?;
    for r in rows {
        let Some(c) = &r.churn else { continue };
        let mut row = vec![r.placement.to_string()];
        row.extend(churn_cells(Some(c)).map_err(|e| format!("{}: {e}", path.display()))?);
        w.write_record(row).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| format!("{}: {e}", path.display()))
}
