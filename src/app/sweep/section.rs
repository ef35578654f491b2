//! The `sweep` section of the results, read back from the finished `sweep.csv`.

use super::SweepOutcome;
use crate::app::results::{base, input_set, placement_warnings};
use crate::app::Inputs;
use crate::report::results::*;

/// Cases of a sweep listed in `results.json` at most: the page and the file stay readable and
/// bounded in memory; `sweep.csv` holds every case.
pub const MAX_SWEEP_CASES_LISTED: usize = 10_000;

/// `sweep`, read back from the finished `sweep.csv` (the sweep streams its rows there, so
/// nothing else holds them): the first [`MAX_SWEEP_CASES_LISTED`] cases with every figure.
pub fn sweep(s: &SweepOutcome, base_inputs: Option<&Inputs>) -> Result<Results, String> {
    let spec = &s.spec;
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", s.csv.display());
    let mut reader = csv::Reader::from_path(&s.csv).map_err(|e| at(&e))?;
    let header = reader.headers().map_err(|e| at(&e))?.clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let case_col = col("case_index").ok_or_else(|| at(&"no column `case_index`"))?;
    let mut warnings = Vec::new();
    let mut cases: Vec<SweepCase> = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| at(&e))?;
        let index: usize = row.get(case_col).unwrap_or("").parse().map_err(|_| at(&"a row without its case index"))?;
        if cases.last().map(|c| c.index) != Some(index) {
            if cases.len() == MAX_SWEEP_CASES_LISTED {
                break;
            }
            let case = crate::sweep::case_at(spec, index);
            cases.push(SweepCase {
                index,
                name: case.name.clone(),
                seed: case.seed,
                values: spec.axes.iter().zip(&case.axis_values).map(|(a, v)| (a.path.clone(), v.clone())).collect(),
                placements: Vec::new(),
            });
        }
        let figures = figures_from_row(&header, &row).map_err(|e| at(&e))?;
        if let Some(c) = cases.last_mut() {
            c.placements.push(figures);
        }
    }
    for c in &cases {
        let label = match &c.name {
            Some(n) => format!("case {} ({n}), ", c.index),
            None => format!("case {}, ", c.index),
        };
        warnings.extend(placement_warnings(&c.placements, None, &label));
    }
    let inputs = base_inputs.map(|i| vec![input_set(&i.topology.name, i, spec.seed, false)]).unwrap_or_default();
    let axes: Vec<String> = spec.axes.iter().map(|a| a.path.clone()).collect();
    let total = s.total_cases;
    let mut r = base(
        "sweep",
        format!("{}: sweep of {total} cases", spec.name),
        format!(
            "How do data-plane CPU, memory and latency of each placement change across the {total} cases of sweep `{}` (varying {})?",
            spec.name,
            if axes.is_empty() { "named cases".to_string() } else { axes.join(", ") }
        ),
        inputs,
        Body::Sweep(SweepSection {
            name: spec.name.clone(),
            description: spec.description.clone(),
            sweep_file: FileIdentity::of_bytes(&spec.source, spec.text.as_bytes()),
            seed: spec.seed,
            axes,
            cases_total: total,
            cases,
        }),
    );
    r.warnings.extend(warnings);
    Ok(r)
}

/// One row of a sweep's CSV as the figures of a placement (columns by name, as
/// `csv_out::summary_cells` writes them).
fn figures_from_row(header: &csv::StringRecord, row: &csv::StringRecord) -> Result<PlacementFigures, String> {
    let cell = |name: &str| -> Result<&str, String> {
        header.iter().position(|h| h == name).and_then(|i| row.get(i)).ok_or_else(|| format!("no column `{name}`"))
    };
    let num = |name: &str| -> Result<f64, String> {
        let c = cell(name)?;
        c.parse::<f64>().map_err(|_| format!("`{c}` in column `{name}` is not a number"))
    };
    let int = |name: &str| -> Result<u64, String> {
        let c = cell(name)?;
        c.parse::<u64>().map_err(|_| format!("`{c}` in column `{name}` is not a whole number"))
    };
    // Empty where nothing was measured (no request succeeded).
    let opt = |name: &str| -> Result<Option<f64>, String> {
        let c = cell(name)?;
        if c.is_empty() {
            Ok(None)
        } else {
            c.parse::<f64>().map(|x| Some(r4(x))).map_err(|_| format!("`{c}` in column `{name}` is not a number"))
        }
    };
    Ok(PlacementFigures {
        placement: cell("placement")?.to_string(),
        proxies: int("proxies")? as usize,
        passes_per_request: r4(num("passes_per_request")?),
        l7_passes_per_request: r4(num("l7_passes_per_request")?),
        dp_cpu_millicores: r4(num("dp_cpu_millicores")?),
        dp_mem_mib: r4(num("dp_mem_mib")?),
        // Control-plane columns: empty where none is modelled, absent in older sweep files.
        cp_cpu_millicores: if header.iter().any(|h| h == "cp_cpu_millicores") { opt("cp_cpu_millicores")? } else { None },
        cp_mem_mib: if header.iter().any(|h| h == "cp_mem_mib") { opt("cp_mem_mib")? } else { None },
        mesh_cpu_millicores: r4(if header.iter().any(|h| h == "mesh_cpu_millicores") {
            num("mesh_cpu_millicores")?
        } else {
            num("dp_cpu_millicores")?
        }),
        mesh_mem_mib: r4(if header.iter().any(|h| h == "mesh_mem_mib") { num("mesh_mem_mib")? } else { num("dp_mem_mib")? }),
        control_plane: Vec::new(),
        control_plane_not_modelled: Vec::new(),
        app_cpu_millicores: r4(num("app_cpu_millicores")?),
        latency_p50_ms: opt("latency_p50_ms")?,
        latency_p90_ms: opt("latency_p90_ms")?,
        latency_p99_ms: opt("latency_p99_ms")?,
        latency_mean_ms: opt("latency_mean_ms")?,
        added_p50_ms: opt("added_p50_ms")?,
        added_p90_ms: opt("added_p90_ms")?,
        added_p99_ms: opt("added_p99_ms")?,
        requests_sent: int("requests_sent")?,
        requests_succeeded: int("requests_succeeded")?,
        requests_failed: int("requests_failed")?,
        error_share: r6(num("error_rate")?),
        offered_rps: r4(num("offered_rps")?),
        achieved_rps: r4(num("achieved_rps")?),
        dp_cpu_millicores_per_1000rps: opt("dp_cpu_millicores_per_1000rps")?,
        dp_mem_mib_per_proxy: r4(num("dp_mem_mib_per_proxy")?),
        node_cpu_utilization_max_share: r6(num("node_cpu_utilization_max")?),
        throttled_ms_per_s: r4(num("throttled_ms_per_s")?),
        node_mem_peak_max_share: r6(num("node_mem_peak_share_max")?),
        oom_kills: int("oom_kills")?,
        evictions: int("evictions")?,
        events: int("events")?,
        seed: int("seed")?,
        churn: None,
    })
}
