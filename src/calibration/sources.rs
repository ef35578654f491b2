//! Published proxy cost figures with their sources (`calibration/sources.csv`): the tables of
//! sections A–H of the shared `calibration-sources.md`, one row per table row, values kept
//! exactly as printed (text, since many cells hold several numbers or a range).
//!
//! A cell reading `same` (or starting with it) refers to the row above in the same section,
//! as in the printed tables.

use std::fs;
use std::path::Path;

use super::CalibrationError;

/// One published figure: a row of `sources.csv`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct PublishedFigure {
    /// Section letter of the source document (A–H).
    pub section: String,
    pub component: String,
    pub metric: String,
    /// As printed, e.g. `0.5 / 50` or `2,739 → 1,283`.
    pub value: String,
    pub unit: String,
    pub conditions: String,
    pub source: String,
}

/// Columns of `sources.csv`, in order.
pub const SOURCES_COLUMNS: [&str; 7] = ["section", "component", "metric", "value", "unit", "conditions", "source"];

/// Read a `sources.csv` file.
pub fn read_published_figures(path: &Path) -> Result<Vec<PublishedFigure>, CalibrationError> {
    let file = fs::File::open(path).map_err(|e| CalibrationError::io(path, e))?;
    let mut reader = csv::Reader::from_reader(file);
    let headers = reader.headers().map_err(|e| CalibrationError::csv(path, e))?.clone();
    if headers.iter().ne(SOURCES_COLUMNS) {
        return Err(CalibrationError::parse(path, 1, format!("header must be `{}`", SOURCES_COLUMNS.join(","))));
    }
    let mut figures = Vec::new();
    for record in reader.deserialize() {
        figures.push(record.map_err(|e| CalibrationError::csv(path, e))?);
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    /// Table rows per section (A–H) of the markdown: `|` lines that are neither the header
    /// nor the `|---|` separator.
    fn table_rows_per_section(markdown: &str) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        let mut section: Option<String> = None;
        for line in markdown.lines() {
            if let Some(heading) = line.strip_prefix("## ") {
                section = heading
                    .split_once(". ")
                    .map(|(letter, _)| letter.to_string())
                    .filter(|l| l.len() == 1 && ("A"..="H").contains(&l.as_str()));
                continue;
            }
            let Some(section) = &section else { continue };
            let trimmed = line.trim();
            if !trimmed.starts_with('|') {
                continue;
            }
            let is_separator = trimmed.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '));
            let is_header = trimmed.starts_with("| component |");
            if !is_separator && !is_header {
                *counts.entry(section.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    #[test]
    fn sources_csv_has_one_row_per_table_row_of_the_markdown() {
        let csv_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("calibration/sources.csv");
        let figures = read_published_figures(&csv_path).unwrap();
        let Some(md_path) = crate::calibration::shared_path("calibration-sources.md") else { return };
        let markdown = fs::read_to_string(&md_path).unwrap();
        let expected = table_rows_per_section(&markdown);
        let mut found: BTreeMap<String, usize> = BTreeMap::new();
        for figure in &figures {
            *found.entry(figure.section.clone()).or_insert(0) += 1;
        }
        assert_eq!(found, expected);
        assert_eq!(figures.len(), expected.values().sum::<usize>());
        assert_eq!(expected.len(), 8, "sections A–H");
    }

    #[test]
    fn sources_csv_rows_are_complete() {
        let csv_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("calibration/sources.csv");
        let figures = read_published_figures(&csv_path).unwrap();
        assert!(!figures.is_empty());
        for f in &figures {
            assert!(("A"..="H").contains(&f.section.as_str()), "{f:?}");
            assert!(!f.component.is_empty() && !f.value.is_empty() && !f.source.is_empty(), "{f:?}");
        }
    }
}
