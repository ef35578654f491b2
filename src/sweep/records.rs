//! The sweep's tidy CSV: a row per case × placement, every input axis and every metric of
//! `summary.csv` as columns; a shard's sidecar record (which sweep it belongs to, and what it
//! holds); and `merge`, which checks shard files against their records and joins them into
//! the bytes the unsharded run writes, without holding more than a row of each at once.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::grid::{case_seed, Case};
use super::spec::{value_cell, SweepSpec};
use crate::metrics::PlacementSummary;
use crate::placement::Layout;
use crate::report::csv_out::{summary_cells, summary_header};

/// Column name of an axis: its path, with the unit appended for `rate`.
pub fn axis_column(path: &str) -> String {
    if path == "rate" {
        "rate_rps".into()
    } else {
        path.to_string()
    }
}

/// Whether the sweep's rows carry the namespace-placements column: one of its placements
/// runs a case as written.
pub fn has_namespaces(spec: &SweepSpec) -> bool {
    spec.placements.contains(&Layout::AsWritten)
}

/// The header: case columns, axis columns, the columns of `summary.csv`, then, when the base
/// topology has `[[churn]]`, those of `churn.csv` prefixed `churn_`.
pub fn header(spec: &SweepSpec, churn: bool) -> Vec<String> {
    let mut h = vec!["case_index".to_string(), "case_seed".to_string()];
    if !spec.cases.is_empty() {
        h.push("case_name".into());
    }
    h.extend(spec.axes.iter().map(|a| axis_column(&a.path)));
    h.extend(summary_header(has_namespaces(spec)).iter().map(|s| s.to_string()));
    if churn {
        h.extend(crate::report::churn_out::CHURN_HEADER[1..].iter().map(|c| format!("churn_{c}")));
    }
    h
}

/// The rows of one case, in placement order; a number that is not finite is refused.
pub fn case_rows(spec: &SweepSpec, churn: bool, case: &Case, rows: &[PlacementSummary]) -> Result<Vec<Vec<String>>, String> {
    let namespaces = has_namespaces(spec);
    rows.iter()
        .map(|s| {
            let mut row = vec![case.index.to_string(), case.seed.to_string()];
            if !spec.cases.is_empty() {
                row.push(case.name.clone().unwrap_or_default());
            }
            row.extend(case.axis_values.iter().map(value_cell));
            row.extend(summary_cells(s, namespaces).map_err(|e| format!("case {}, {}: {e}", case.index, s.placement))?);
            if churn {
                row.extend(
                    crate::report::churn_out::churn_cells(s.churn.as_ref())
                        .map_err(|e| format!("case {}, {}: {e}", case.index, s.placement))?,
                );
            }
            Ok(row)
        })
        .collect()
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

/// The sidecar record of a shard CSV: the same path with `.json` for `.csv`.
pub fn record_path(csv: &Path) -> PathBuf {
    csv.with_extension("json")
}

/// What a shard wrote, kept beside its CSV so `merge` can tell shards of one sweep from a
/// mixture, and a whole file from a damaged one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub meshsim_version: String,
    pub sweep: String,
    /// The sweep file, as run.
    pub spec: String,
    /// SHA-256 of everything the results depend on: sweep file, base topology, model files, seed.
    pub inputs_sha256: String,
    pub seed: u64,
    pub shard_index: usize,
    pub shard_count: usize,
    pub total_cases: usize,
    pub placements: Vec<String>,
    /// Rows after the header.
    pub rows: u64,
    pub csv_bytes: u64,
    pub csv_sha256: String,
}

/// A problem with one shard file, at a line when there is one (0: the whole file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeError {
    pub path: PathBuf,
    pub line: u64,
    pub message: String,
}

impl MergeError {
    fn at(path: &Path, line: u64, message: impl Into<String>) -> MergeError {
        MergeError { path: path.to_path_buf(), line, message: message.into() }
    }
}

/// SHA-256 and length of a file, read in pieces.
pub fn file_digest(path: &Path) -> std::io::Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((h.finalize().iter().map(|b| format!("{b:02x}")).collect(), n))
}

/// One shard being read: its file, record, and CSV rows.
struct ShardReader {
    path: PathBuf,
    record: ShardRecord,
    rows: csv::StringRecordsIntoIter<std::fs::File>,
    /// Line of the last row read (the header is line 1).
    line: u64,
}

impl ShardReader {
    fn next_row(&mut self) -> Result<Option<csv::StringRecord>, MergeError> {
        match self.rows.next() {
            None => Ok(None),
            Some(Ok(r)) => {
                self.line = r.position().map(|p| p.line()).unwrap_or(self.line + 1);
                Ok(Some(r))
            }
            Some(Err(e)) => {
                let line = e.position().map(|p| p.line()).unwrap_or(self.line + 1);
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                        format!("the row has {len} fields where the header has {expected_len}: the file is cut short or edited")
                    }
                    _ => e.to_string(),
                };
                Err(MergeError::at(&self.path, line, message))
            }
        }
    }
}

fn open_shard(path: &Path) -> Result<(ShardRecord, Vec<String>, ShardReader), MergeError> {
    let rec_path = record_path(path);
    let text = std::fs::read_to_string(&rec_path).map_err(|e| {
        MergeError::at(
            path,
            0,
            format!(
                "cannot read its record {} ({e}): every shard written by `meshsim sweep --shard` has one; run the shard again",
                rec_path.display()
            ),
        )
    })?;
    let record: ShardRecord =
        serde_json::from_str(&text).map_err(|e| MergeError::at(&rec_path, e.line() as u64, format!("not a shard record: {e}")))?;
    let file = std::fs::File::open(path).map_err(|e| MergeError::at(path, 0, format!("cannot read: {e}")))?;
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(file);
    let header: Vec<String> = match reader.records().next() {
        Some(Ok(h)) => h.iter().map(str::to_string).collect(),
        Some(Err(e)) => return Err(MergeError::at(path, 1, e.to_string())),
        None => return Err(MergeError::at(path, 1, "the file is empty: not a sweep CSV")),
    };
    if header.first().map(String::as_str) != Some("case_index") {
        return Err(MergeError::at(path, 1, "not a sweep CSV (its first column is not `case_index`)"));
    }
    let rows = reader.into_records();
    let r = ShardReader { path: path.to_path_buf(), record: record.clone(), rows, line: 1 };
    Ok((record, header, r))
}

/// Check shard CSVs and join them into `out` in case order: they must come from one sweep
/// (same inputs hash, seed, shard count, cases and placements, per their records), be every
/// shard once, hold every case of their shard once with every placement in order, and be
/// byte for byte what their records say was written. Returns the rows written.
pub fn merge(inputs: &[PathBuf], out: &mut impl Write) -> Result<u64, MergeError> {
    let Some(first) = inputs.first() else {
        return Err(MergeError::at(Path::new("merge"), 0, "no input files: name the shard CSVs to merge"));
    };
    let mut shards: Vec<Option<ShardReader>> = Vec::new();
    let mut header0: Option<Vec<String>> = None;
    let mut record0: Option<ShardRecord> = None;
    for path in inputs {
        let (record, header, reader) = open_shard(path)?;
        if let Some(r0) = &record0 {
            let differs = [
                (r0.inputs_sha256 != record.inputs_sha256, "inputs (sweep file, topology or model files)"),
                (r0.seed != record.seed, "seed"),
                (r0.shard_count != record.shard_count, "shard count"),
                (r0.total_cases != record.total_cases, "number of cases"),
                (r0.placements != record.placements, "placements"),
            ];
            if let Some((_, what)) = differs.iter().find(|(d, _)| *d) {
                return Err(MergeError::at(
                    path,
                    0,
                    format!(
                        "comes from another sweep than {}: the {what} differ (sweep `{}` seed {} vs `{}` seed {}): merge shards of one run",
                        first.display(),
                        record.sweep,
                        record.seed,
                        r0.sweep,
                        r0.seed
                    ),
                ));
            }
        }
        if let Some(h0) = &header0 {
            if *h0 != header {
                return Err(MergeError::at(
                    path,
                    1,
                    format!("its header differs from {}'s: shards of one sweep share a header", first.display()),
                ));
            }
        }
        let count = record.shard_count.max(1);
        if shards.is_empty() {
            shards.resize_with(count, || None);
        }
        if record.shard_index >= count {
            return Err(MergeError::at(&record_path(path), 0, format!("shard {} of {count} does not exist", record.shard_index)));
        }
        if let Some(other) = &shards[record.shard_index] {
            return Err(MergeError::at(
                path,
                0,
                format!("is shard {} of {count}, and so is {}: merge each shard once", record.shard_index, other.path.display()),
            ));
        }
        header0.get_or_insert(header);
        record0.get_or_insert(record.clone());
        shards[record.shard_index] = Some(reader);
    }
    let (Some(header), Some(rec)) = (header0, record0) else {
        return Err(MergeError::at(first, 0, "no input files"));
    };
    let missing: Vec<String> =
        shards.iter().enumerate().filter(|(_, s)| s.is_none()).map(|(i, _)| shard_file_name(i, rec.shard_count)).collect();
    if !missing.is_empty() {
        return Err(MergeError::at(first, 0, format!("missing shard(s): {}: merge every shard of the sweep", missing.join(", "))));
    }
    let mut shards: Vec<ShardReader> = shards.into_iter().flatten().collect();
    let placement_col = header.iter().position(|h| h == "placement").unwrap_or(0);
    let mut w = csv::Writer::from_writer(out);
    let werr = |e: csv::Error| MergeError::at(Path::new("merge"), 0, format!("cannot write the merged file: {e}"));
    w.write_record(&header).map_err(werr)?;
    let mut rows = 0u64;
    for k in 0..rec.total_cases {
        let s = &mut shards[k % rec.shard_count];
        for p in &rec.placements {
            let Some(row) = s.next_row()? else {
                return Err(MergeError::at(
                    &s.path,
                    s.line,
                    format!(
                        "the file ends here, but case {k} ({p}) belongs to this shard: the shard is cut short (its record lists {} rows)",
                        s.record.rows
                    ),
                ));
            };
            let idx: Option<usize> = row.get(0).and_then(|c| c.parse().ok());
            let (line, path) = (s.line, s.path.clone());
            match idx {
                None => return Err(MergeError::at(&path, line, "`case_index` is not a number")),
                Some(i) if i < k || (i == k && row.get(placement_col) != Some(p.as_str())) => {
                    return Err(MergeError::at(
                        &path,
                        line,
                        format!(
                            "case {i} ({}) is here again or out of place: a duplicated row (expected case {k}, {p})",
                            row.get(placement_col).unwrap_or("")
                        ),
                    ))
                }
                Some(i) if i > k => {
                    return Err(MergeError::at(&path, line, format!("case {k} ({p}) is missing: the next row is of case {i}")))
                }
                Some(_) => {}
            }
            if row.get(1).and_then(|c| c.parse::<u64>().ok()) != Some(case_seed(rec.seed, k)) {
                return Err(MergeError::at(
                    &path,
                    line,
                    format!("case {k}'s seed is not the one sweep seed {} gives: a row of another sweep", rec.seed),
                ));
            }
            w.write_record(&row).map_err(werr)?;
            rows += 1;
        }
    }
    for s in &mut shards {
        if let Some(row) = s.next_row()? {
            return Err(MergeError::at(
                &s.path,
                s.line,
                format!("a row after the shard's last case (case {}): a duplicated row?", row.get(0).unwrap_or("")),
            ));
        }
        let (sha, bytes) = file_digest(&s.path).map_err(|e| MergeError::at(&s.path, 0, format!("cannot read: {e}")))?;
        if sha != s.record.csv_sha256 || bytes != s.record.csv_bytes {
            return Err(MergeError::at(
                &s.path,
                0,
                format!(
                    "its bytes differ from what the shard wrote ({bytes} bytes; the record lists {}): edited after it was written",
                    s.record.csv_bytes
                ),
            ));
        }
    }
    w.flush().map_err(|e| MergeError::at(Path::new("merge"), 0, format!("cannot write the merged file: {e}")))?;
    Ok(rows)
}
