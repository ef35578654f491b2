//! What a sweep draws and shows from its finished `sweep.csv`: the charts against the offered
//! rate and the preview of its first rows on the terminal.

use super::*;

/// Series of the charts beyond this are summarised: one per placement, drawn as points.
pub const MAX_SERIES: usize = 12;

/// Data-plane CPU, data-plane memory and p99 against the offered rate, read back from the
/// sweep's CSV: a line per placement and combination of the other varied inputs (in
/// first-seen order), or, past [`MAX_SERIES`] lines, a cloud of points per placement.
/// Memory grows with the points drawn, not with the rest of the rows.
pub fn charts_from_csv(spec: &SweepSpec, csv_path: &Path, o: ChartOptions) -> Result<Vec<(&'static str, Chart)>, AppError> {
    let metrics: [(&str, &str, &str, &str, Scale); 3] = [
        ("cpu-vs-rate", "Data-plane CPU", "data-plane CPU (millicores)", "dp_cpu_millicores", Scale::Linear),
        ("mem-vs-rate", "Data-plane memory", "data-plane memory (MiB)", "dp_mem_mib", Scale::Linear),
        ("p99-vs-rate", "End-to-end latency p99", "latency p99 (ms)", "latency_p99_ms", o.latency_scale),
    ];
    let mut reader = csv::Reader::from_path(csv_path).map_err(|e| AppError::Output(format!("{}: {e}", csv_path.display())))?;
    let header = reader.headers().map_err(|e| AppError::Output(format!("{}: {e}", csv_path.display())))?.clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let missing = |name: &str| AppError::Output(format!("{}: no column `{name}`", csv_path.display()));
    let placement_col = col("placement").ok_or_else(|| missing("placement"))?;
    let x_col = col("offered_rps").ok_or_else(|| missing("offered_rps"))?;
    let y_cols: Vec<usize> = metrics.iter().map(|m| col(m.3).ok_or_else(|| missing(m.3))).collect::<Result<_, _>>()?;
    // The label of a row's inputs other than the rate: its case name and every varied axis.
    let mut label_cols: Vec<(Option<String>, usize)> = Vec::new();
    if let Some(c) = col("case_name") {
        label_cols.push((None, c));
    }
    for a in spec.axes.iter().filter(|a| a.path != "rate" && a.values.len() > 1) {
        if let Some(c) = col(&records::axis_column(&a.path)) {
            label_cols.push((Some(a.path.clone()), c));
        }
    }
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut points: Vec<[Vec<(f64, f64)>; 3]> = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| AppError::Output(format!("{}: {e}", csv_path.display())))?;
        let cell = |c: usize| row.get(c).unwrap_or("");
        let others: Vec<String> = label_cols
            .iter()
            .map(|(name, c)| name.as_ref().map(|n| format!("{n}={}", cell(*c))).unwrap_or_else(|| cell(*c).to_string()))
            .collect();
        let key = (others.join(", "), cell(placement_col).to_string());
        let i = *index.entry(key.clone()).or_insert_with(|| {
            keys.push(key);
            points.push(Default::default());
            keys.len() - 1
        });
        let Ok(x) = cell(x_col).parse::<f64>() else { continue };
        for (m, &c) in y_cols.iter().enumerate() {
            // An empty cell (no request succeeded) is not a point.
            if let Ok(y) = cell(c).parse::<f64>() {
                points[i][m].push((x, y));
            }
        }
    }
    let summarise = keys.len() > MAX_SERIES;
    Ok(metrics
        .iter()
        .enumerate()
        .map(|(m, &(stem, title, y_label, _, y_scale))| {
            let series: Vec<Series> = if summarise {
                let mut by_placement: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
                for (k, (_, placement)) in keys.iter().enumerate() {
                    let slot = match by_placement.iter().position(|(p, _)| p == placement) {
                        Some(s) => s,
                        None => {
                            by_placement.push((placement.clone(), Vec::new()));
                            by_placement.len() - 1
                        }
                    };
                    by_placement[slot].1.extend_from_slice(&points[k][m]);
                }
                let per = keys.len() / by_placement.len().max(1);
                by_placement
                    .into_iter()
                    .enumerate()
                    .map(|(i, (p, pts))| Series {
                        name: format!("{p} ({per} settings of the other inputs)"),
                        points: pts,
                        mark: Mark::Points,
                        color: placement_style(&p, i),
                    })
                    .collect()
            } else {
                // One series per placement: each keeps its own style; several: one style per series.
                let one_each = keys.iter().all(|(o, _)| o.is_empty());
                keys.iter()
                    .enumerate()
                    .map(|(i, (others, placement))| {
                        let mut pts = points[i][m].clone();
                        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                        Series {
                            name: if others.is_empty() { placement.clone() } else { format!("{placement}, {others}") },
                            points: pts,
                            mark: Mark::LineAndPoints,
                            color: if one_each { placement_style(placement, i) } else { i },
                        }
                    })
                    .collect()
            };
            (
                stem,
                Chart {
                    title: format!("{title} vs request rate ({})", spec.name),
                    x_label: "request rate (rps)".into(),
                    y_label: y_label.into(),
                    series,
                    y_scale,
                    ..Chart::default()
                },
            )
        })
        .collect())
}

/// The first rows of a sweep CSV as a terminal table.
pub struct Preview {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Rows in the whole CSV.
    pub total: usize,
}

/// The first `max` rows of a sweep CSV for the terminal (case, name, axes, placement, CPU,
/// memory, p99, errors), and the number of rows in all.
pub fn preview(spec: &SweepSpec, csv_path: &Path, max: usize) -> Result<Preview, AppError> {
    let err = |e: csv::Error| AppError::Output(format!("{}: {e}", csv_path.display()));
    let mut reader = csv::Reader::from_path(csv_path).map_err(err)?;
    let header = reader.headers().map_err(err)?.clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let mut names = vec!["case".to_string()];
    let mut cols = vec![col("case_index")];
    if !spec.cases.is_empty() {
        names.push("name".into());
        cols.push(col("case_name"));
    }
    for a in &spec.axes {
        let c = records::axis_column(&a.path);
        cols.push(col(&c));
        names.push(c);
    }
    names.push("placement".into());
    cols.push(col("placement"));
    let numbers = [
        ("DP CPU mC", "dp_cpu_millicores", 1, 1.0),
        ("DP mem MiB", "dp_mem_mib", 1, 1.0),
        ("p99 ms", "latency_p99_ms", 3, 1.0),
        ("errors %", "error_rate", 3, 100.0),
        ("done rps", "achieved_rps", 1, 1.0),
    ];
    let mut rows = Vec::new();
    let mut total = 0;
    for r in reader.records() {
        let r = r.map_err(err)?;
        total += 1;
        if rows.len() >= max {
            continue;
        }
        let mut cells: Vec<String> = cols.iter().map(|c| c.and_then(|c| r.get(c)).unwrap_or("").to_string()).collect();
        for (_, column, decimals, scale) in numbers {
            let x = col(column).and_then(|c| r.get(c)).and_then(|v| v.parse::<f64>().ok()).map(|v| v * scale);
            cells.push(num(x, decimals));
        }
        rows.push(cells);
    }
    names.extend(numbers.iter().map(|n| n.0.to_string()));
    Ok(Preview { header: names, rows, total })
}
