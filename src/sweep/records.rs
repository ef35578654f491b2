//! The sweep's tidy CSV: a row per case × placement, every input axis and every metric of
//! `summary.csv` as columns; and `merge`, which joins shard files into the bytes the
//! unsharded run writes.

use std::path::{Path, PathBuf};

use super::grid::Case;
use super::spec::{value_cell, SweepSpec};
use crate::metrics::PlacementSummary;
use crate::report::csv_out::{summary_cells, SUMMARY_HEADER};

/// A case and the summary row of each of its placements, in the sweep's placement order.
#[derive(Clone, Debug)]
pub struct CaseResult {
    pub case: Case,
    pub rows: Vec<PlacementSummary>,
}

/// Column name of an axis: its path, with the unit appended for `rate`.
pub fn axis_column(path: &str) -> String {
    if path == "rate" {
        "rate_rps".into()
    } else {
        path.to_string()
    }
}

/// The header: case columns, axis columns, then [`SUMMARY_HEADER`].
pub fn header(spec: &SweepSpec) -> Vec<String> {
    let mut h = vec!["case_index".to_string(), "case_seed".to_string()];
    if !spec.cases.is_empty() {
        h.push("case_name".into());
    }
    h.extend(spec.axes.iter().map(|a| axis_column(&a.path)));
    h.extend(SUMMARY_HEADER.iter().map(|s| s.to_string()));
    h
}

/// The rows of some cases, in case order then placement order.
pub fn rows(spec: &SweepSpec, results: &[CaseResult]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for r in results {
        for s in &r.rows {
            let mut row = vec![r.case.index.to_string(), r.case.seed.to_string()];
            if !spec.cases.is_empty() {
                row.push(r.case.name.clone().unwrap_or_default());
            }
            row.extend(r.case.axis_values.iter().map(value_cell));
            row.extend(summary_cells(s));
            out.push(row);
        }
    }
    out
}

/// CSV bytes of a header and rows.
pub fn to_csv(header: &[String], rows: &[Vec<String>]) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(|e| e.to_string())?;
    for r in rows {
        w.write_record(r).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// File name of a shard's CSV.
pub fn shard_file_name(index: usize, count: usize) -> String {
    format!("sweep-shard-{index}-of-{count}.csv")
}

fn parse_shard_name(path: &Path) -> Option<(usize, usize)> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("sweep-shard-")?.strip_suffix(".csv")?;
    let (i, n) = rest.split_once("-of-")?;
    Some((i.parse().ok()?, n.parse().ok()?))
}

/// Join shard CSVs: same header required; rows ordered by case index (a case's rows stay in
/// the order its shard wrote them, the placement order). Refuses a case found in two files,
/// and, for files named `sweep-shard-I-of-N.csv`, a missing shard.
pub fn merge(inputs: &[(PathBuf, Vec<u8>)]) -> Result<Vec<u8>, String> {
    if inputs.is_empty() {
        return Err("no input files: name the shard CSVs to merge".into());
    }
    let mut header: Option<(PathBuf, Vec<String>)> = None;
    let mut rows: Vec<(usize, usize, Vec<String>)> = Vec::new();
    let mut owner: std::collections::BTreeMap<usize, usize> = Default::default();
    for (file, (path, bytes)) in inputs.iter().enumerate() {
        let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes.as_slice());
        let mut records = r.records();
        let h: Vec<String> = match records.next() {
            Some(Ok(h)) => h.iter().map(str::to_string).collect(),
            Some(Err(e)) => return Err(format!("{}: {e}", path.display())),
            None => return Err(format!("{}: empty file: not a sweep CSV", path.display())),
        };
        if h.first().map(String::as_str) != Some("case_index") {
            return Err(format!("{}: not a sweep CSV (its first column is not `case_index`)", path.display()));
        }
        match &header {
            None => header = Some((path.clone(), h)),
            Some((first, h0)) if *h0 != h => {
                return Err(format!(
                    "{}: its header differs from {}'s: shards of one sweep share a header",
                    path.display(),
                    first.display()
                ))
            }
            _ => {}
        }
        for (line, rec) in records.enumerate() {
            let rec = rec.map_err(|e| format!("{}: {e}", path.display()))?;
            let idx: usize = rec
                .get(0)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("{}:{}: `case_index` is not a number", path.display(), line + 2))?;
            match owner.get(&idx) {
                Some(&f) if f != file => {
                    return Err(format!("case {idx} is in both {} and {}: merge each shard once", inputs[f].0.display(), path.display()))
                }
                _ => {
                    owner.insert(idx, file);
                }
            }
            rows.push((idx, rows.len(), rec.iter().map(str::to_string).collect()));
        }
    }
    let named: Vec<(usize, usize)> = inputs.iter().filter_map(|(p, _)| parse_shard_name(p)).collect();
    if named.len() == inputs.len() {
        let count = named[0].1;
        if named.iter().any(|&(_, n)| n != count) {
            return Err("the shard files come from different shard counts".into());
        }
        let missing: Vec<String> = (0..count).filter(|i| !named.iter().any(|&(k, _)| k == *i)).map(|i| shard_file_name(i, count)).collect();
        if !missing.is_empty() {
            return Err(format!("missing shard(s): {}: merge every shard of the sweep", missing.join(", ")));
        }
    }
    rows.sort_by_key(|&(idx, pos, _)| (idx, pos));
    let (_, header) = header.unwrap_or_default();
    let body: Vec<Vec<String>> = rows.into_iter().map(|(_, _, r)| r).collect();
    to_csv(&header, &body)
}
