//! The sweep file: a base topology, fixed settings, and the axes (or named cases) to vary.
//! Two layers as for topologies: serde structs mirroring the TOML with spans, and the
//! validated [`SweepSpec`]. Every problem is reported at once as `path:line:col: message`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::input_error::{from_toml, ErrorSink, InputError, InputErrors};
use crate::placement::Layout;

type S<T> = Spanned<T>;

const SUPPORTED_VERSION: u32 = 1;
/// A sweep with more cases than this is refused (a limit on everything, never a hang).
pub const MAX_CASES: usize = 1_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    version: S<u32>,
    name: S<String>,
    #[serde(default)]
    description: Option<String>,
    /// Base topology, relative to the sweep file's folder.
    topology: S<String>,
    #[serde(default)]
    seed: Option<S<i64>>,
    #[serde(default)]
    placements: Option<S<Vec<S<String>>>>,
    /// Settings applied to every case, by dotted path.
    #[serde(default)]
    set: Option<S<toml::Table>>,
    #[serde(default, rename = "axis")]
    axes: Vec<AxisInput>,
    #[serde(default, rename = "case")]
    cases: Vec<CaseInput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AxisInput {
    path: S<String>,
    #[serde(default)]
    values: Option<S<Vec<S<toml::Value>>>>,
    #[serde(default)]
    range: Option<S<RangeInput>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeInput {
    from: f64,
    to: f64,
    #[serde(default)]
    step: Option<f64>,
    #[serde(default)]
    factor: Option<f64>,
    #[serde(default)]
    unit: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseInput {
    name: S<String>,
    set: S<toml::Table>,
}

/// A value given to a path, with the byte span it was written at (for error messages).
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub path: String,
    pub value: toml::Value,
    pub span: std::ops::Range<usize>,
}

/// One axis of the grid: a path and the values it takes, in the order written.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub path: String,
    pub values: Vec<toml::Value>,
    /// Span of each value (of the `range` for all of them when expanded from one).
    pub spans: Vec<std::ops::Range<usize>>,
}

/// A named case: a set of settings.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedCase {
    pub name: String,
    pub settings: Vec<Setting>,
}

/// A validated sweep file.
#[derive(Clone, Debug)]
pub struct SweepSpec {
    pub name: String,
    pub description: String,
    pub source: PathBuf,
    pub text: String,
    /// The base topology, resolved against the sweep file's folder.
    pub topology: PathBuf,
    pub seed: u64,
    /// Rows of each case, in this order (`as-written` runs a case's mixed mesh as written).
    pub placements: Vec<Layout>,
    /// The file lists no placements: the four, and `as-written` first when a case is a mixed mesh.
    pub placements_by_default: bool,
    /// Settings of every case, applied before the case's own.
    pub fixed: Vec<Setting>,
    pub axes: Vec<Axis>,
    /// Named cases; when present the grid is cases × axes.
    pub cases: Vec<NamedCase>,
}

impl SweepSpec {
    /// Number of cases in the grid.
    pub fn case_count(&self) -> usize {
        let named = if self.cases.is_empty() { 1 } else { self.cases.len() };
        self.axes.iter().fold(named, |n, a| n.saturating_mul(a.values.len()))
    }
}

/// Read and validate a sweep file.
pub fn load(path: &Path) -> Result<SweepSpec, InputErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputErrors(vec![InputError { path: path.to_path_buf(), line: 0, col: 0, message: format!("cannot read sweep file: {e}") }])
    })?;
    parse(path, &text)
}

/// Parse sweep text read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<SweepSpec, InputErrors> {
    let file: SweepFile = toml::from_str(text).map_err(|e| InputErrors(vec![from_toml(path, text, &e)]))?;
    let mut sink = ErrorSink::new(path, text);
    let spec = build(path, text, &file, &mut sink);
    sink.finish()?;
    Ok(spec)
}

fn settings(t: &S<toml::Table>) -> Vec<Setting> {
    // Keys of an inline table carry no span of their own; the table's span places them.
    t.get_ref().iter().map(|(k, v)| Setting { path: k.clone(), value: v.clone(), span: t.span() }).collect()
}

fn build(path: &Path, text: &str, f: &SweepFile, sink: &mut ErrorSink) -> SweepSpec {
    if *f.version.get_ref() != SUPPORTED_VERSION {
        sink.at(
            f.version.span(),
            format!("version: {} is not supported: this meshsim reads sweep files of version {SUPPORTED_VERSION}", f.version.get_ref()),
        );
    }
    let name = f.name.get_ref().clone();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
        sink.at(f.name.span(), "name: use letters, digits, `-`, `_` or `.` only (it names the output folder)");
    }
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let topology = base_dir.join(f.topology.get_ref());
    if !topology.is_file() {
        sink.at(
            f.topology.span(),
            format!("topology: file `{}` not found (paths are relative to the sweep file's folder)", topology.display()),
        );
    }
    let seed = match &f.seed {
        None => 1,
        Some(s) if *s.get_ref() >= 0 => *s.get_ref() as u64,
        Some(s) => {
            sink.at(s.span(), "seed: must be zero or more");
            1
        }
    };

    let mut placements = Vec::new();
    let mut placement_axis = None;
    let mut axes = Vec::new();
    for a in &f.axes {
        let p = a.path.get_ref().trim().to_string();
        if p.is_empty() || p.split('.').any(str::is_empty) {
            sink.at(a.path.span(), format!("axis.path: `{p}` is not a dotted path such as `service.face.replicas`"));
            continue;
        }
        if axes.iter().any(|x: &Axis| x.path == p) || (p == "placement" && placement_axis.is_some()) {
            sink.at(a.path.span(), format!("axis.path: `{p}` is varied twice: merge the two axes into one"));
            continue;
        }
        let (values, spans) = match (&a.values, &a.range) {
            (Some(v), None) => {
                (v.get_ref().iter().map(|x| x.get_ref().clone()).collect(), v.get_ref().iter().map(|x| x.span()).collect::<Vec<_>>())
            }
            (None, Some(r)) => match expand_range(r.get_ref()) {
                Ok(values) => {
                    let spans = vec![r.span(); values.len()];
                    (values, spans)
                }
                Err(e) => {
                    sink.at(r.span(), format!("axis.range of `{p}`: {e}"));
                    continue;
                }
            },
            _ => {
                sink.at(
                    a.path.span(),
                    format!("axis `{p}`: give either `values = [...]` or `range = {{ from, to, step }}`, not both or neither"),
                );
                continue;
            }
        };
        if values.is_empty() {
            sink.at(a.path.span(), format!("axis `{p}`: has no values: give at least one"));
            continue;
        }
        if p == "placement" {
            let mut list = Vec::new();
            for (v, sp) in values.iter().zip(&spans) {
                match v.as_str().map(str::parse::<Layout>) {
                    Some(Ok(pl)) => list.push(pl),
                    _ => sink.at(
                        sp.clone(),
                        format!("axis `placement`: `{v}` is not a placement: expected none, sidecar, per-node, ambient or as-written"),
                    ),
                }
            }
            placement_axis = Some((list, a.path.span()));
            continue;
        }
        axes.push(Axis { path: p, values, spans });
    }
    let placements_by_default = f.placements.is_none() && placement_axis.is_none();
    match (&f.placements, placement_axis) {
        (Some(_), Some((_, sp))) => sink.at(sp, "axis `placement`: the file also sets `placements`: keep one of the two"),
        (Some(list), None) => {
            for s in list.get_ref() {
                match s.get_ref().parse::<Layout>() {
                    Ok(p) => placements.push(p),
                    Err(e) => sink.at(s.span(), format!("placements: {e}")),
                }
            }
            if list.get_ref().is_empty() {
                sink.at(list.span(), "placements: give at least one placement");
            }
        }
        (None, Some((list, _))) => placements = list,
        (None, None) => placements = Layout::UNIFORM.to_vec(),
    }
    let mut seen = Vec::new();
    for p in &placements {
        if seen.contains(p) {
            sink.at(0..0, format!("placements: `{p}` is listed twice: each placement is a row of every case"));
        }
        seen.push(*p);
    }

    let mut cases: Vec<NamedCase> = Vec::new();
    for c in &f.cases {
        if cases.iter().any(|x| x.name == *c.name.get_ref()) {
            sink.at(c.name.span(), format!("case.name: case `{}` is defined twice", c.name.get_ref()));
        }
        if c.name.get_ref().is_empty() {
            sink.at(c.name.span(), "case.name: must not be empty");
        }
        let s = settings(&c.set);
        for x in &s {
            if x.path == "placement" {
                sink.at(
                    x.span.clone(),
                    "case.set: `placement` cannot be set per case: list the placements in `placements` (every case runs each)",
                );
            }
            if axes.iter().any(|a| a.path == x.path) {
                sink.at(x.span.clone(), format!("case.set: `{}` is also an axis: vary it in one place", x.path));
            }
        }
        cases.push(NamedCase { name: c.name.get_ref().clone(), settings: s });
    }

    let fixed = f.set.as_ref().map(settings).unwrap_or_default();
    for x in &fixed {
        if x.path == "placement" {
            sink.at(x.span.clone(), "set: `placement` is chosen with `placements = [...]`");
        }
    }

    let spec = SweepSpec {
        name,
        description: f.description.clone().unwrap_or_default(),
        source: path.to_path_buf(),
        text: text.to_string(),
        topology,
        seed,
        placements,
        placements_by_default,
        fixed,
        axes,
        cases,
    };
    if spec.case_count() > MAX_CASES {
        sink.at(
            0..0,
            format!("the grid has {} cases, more than the limit of {MAX_CASES}: use fewer values or split the sweep", spec.case_count()),
        );
    }
    spec
}

/// Expand `range = { from, to, step }` (arithmetic) or `{ from, to, factor }` (geometric),
/// both ends included. Integer bounds and step give integers; `unit` makes strings like `"5ms"`.
fn expand_range(r: &RangeInput) -> Result<Vec<toml::Value>, String> {
    if !(r.from.is_finite() && r.to.is_finite()) || r.to < r.from {
        return Err(format!("`to` ({}) must be a number no less than `from` ({})", r.to, r.from));
    }
    let mut xs = Vec::new();
    match (r.step, r.factor) {
        (Some(step), None) => {
            if !(step > 0.0 && step.is_finite()) {
                return Err(format!("step {step} must be more than zero"));
            }
            let n = ((r.to - r.from) / step + 1e-9).floor() as usize + 1;
            if n > MAX_CASES {
                return Err(format!("{n} values: more than the limit of {MAX_CASES}"));
            }
            xs.extend((0..n).map(|i| r.from + i as f64 * step));
        }
        (None, Some(factor)) => {
            if !(factor > 1.0 && factor.is_finite()) || r.from <= 0.0 {
                return Err(format!("factor {factor} must be more than 1, and `from` more than zero"));
            }
            let mut x = r.from;
            while x <= r.to * (1.0 + 1e-9) {
                xs.push(x);
                x *= factor;
            }
        }
        _ => return Err("give exactly one of `step` or `factor`".into()),
    }
    let integral = xs.iter().all(|x| x.fract() == 0.0 && x.abs() < 1e15);
    Ok(xs
        .into_iter()
        .map(|x| match (&r.unit, integral) {
            (Some(u), true) => toml::Value::String(format!("{}{u}", x as i64)),
            (Some(u), false) => toml::Value::String(format!("{}{u}", round_decimals(x))),
            (None, true) => toml::Value::Integer(x as i64),
            (None, false) => toml::Value::Float(round_decimals(x)),
        })
        .collect())
}

/// Drop the noise of repeated float steps (0.1 + 0.2 = 0.30000000000000004).
fn round_decimals(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

/// A value as a CSV cell: strings bare, numbers as written.
pub fn value_cell(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// An input error at a span of the sweep file.
pub fn error_at(spec: &SweepSpec, span: std::ops::Range<usize>, message: String) -> InputError {
    let (line, col) = if span == (0..0) { (0, 0) } else { crate::input_error::line_col(&spec.text, span.start) };
    InputError { path: spec.source.clone(), line, col, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(from: f64, to: f64, step: Option<f64>, factor: Option<f64>) -> Vec<toml::Value> {
        expand_range(&RangeInput { from, to, step, factor, unit: None }).unwrap()
    }

    #[test]
    fn ranges_include_both_ends() {
        use toml::Value::{Float, Integer};
        assert_eq!(range(1.0, 5.0, Some(2.0), None), vec![Integer(1), Integer(3), Integer(5)]);
        assert_eq!(range(0.1, 0.3, Some(0.1), None), vec![Float(0.1), Float(0.2), Float(0.3)]);
        assert_eq!(range(60.0, 480.0, None, Some(2.0)), vec![Integer(60), Integer(120), Integer(240), Integer(480)]);
        let with_unit = expand_range(&RangeInput { from: 5.0, to: 15.0, step: Some(5.0), factor: None, unit: Some("ms".into()) }).unwrap();
        assert_eq!(value_cell(&with_unit[2]), "15ms");
    }

    #[test]
    fn bad_ranges_are_refused() {
        let bad = |from, to, step, factor| expand_range(&RangeInput { from, to, step, factor, unit: None }).is_err();
        assert!(bad(5.0, 1.0, Some(1.0), None));
        assert!(bad(1.0, 5.0, Some(0.0), None));
        assert!(bad(1.0, 5.0, None, Some(1.0)));
        assert!(bad(1.0, 5.0, Some(1.0), Some(2.0)));
        assert!(bad(1.0, 5.0, None, None));
    }
}
