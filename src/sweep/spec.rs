//! The sweep file: a base topology, fixed settings, and the axes (or named cases) to vary.
//! Two layers as for topologies: serde structs mirroring the TOML with spans, and the
//! validated [`SweepSpec`]. Every problem is reported at once as `path:line:col: message`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::input_error::{ErrorSink, InputError, InputErrors};
use crate::limits;
use crate::placement::Layout;
use crate::toml_doc::{self, expect, Fields, Node, Spanned};

const SUPPORTED_VERSION: i64 = 1;
/// A sweep with more cases than this is refused (a limit on everything, never a hang).
pub const MAX_CASES: usize = limits::MAX_CASES;
/// Axes of one grid.
pub const MAX_AXES: usize = 100;

/// `range = { from, to, step | factor, unit }` of an axis.
#[derive(Clone, Debug, PartialEq)]
struct RangeInput {
    from: f64,
    to: f64,
    step: Option<f64>,
    factor: Option<f64>,
    unit: Option<String>,
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
    let text = crate::input_file::read_text(path, "sweep")?;
    parse(path, &text)
}

/// Parse sweep text read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<SweepSpec, InputErrors> {
    let doc = toml_doc::parse(path, text)?;
    let mut sink = ErrorSink::new(path, text);
    let spec = build(path, text, &mut Fields::root(&doc), &mut sink);
    sink.finish()?;
    Ok(spec)
}

/// The settings of a `[set]` or `set = { … }` table: each value placed at its own span.
fn settings(sink: &mut ErrorSink, t: Option<Fields>) -> Vec<Setting> {
    let Some(mut t) = t else { return Vec::new() };
    let path = t.path().to_string();
    t.rest()
        .into_iter()
        .filter_map(|e| match e.node.non_finite() {
            Some(bad) => {
                sink.at(
                    bad.span.clone(),
                    format!("{path}.\"{}\": {} is not a number meshsim can use: {}", e.key, bad.to_toml(), expect::NUMBER),
                );
                None
            }
            None => Some(Setting { path: e.key.clone(), value: e.node.to_toml(), span: e.node.span.clone() }),
        })
        .collect()
}

type AxisValues = (Vec<toml::Value>, Vec<std::ops::Range<usize>>);

/// The values of an axis, a list of numbers or strings (`Ok(None)` when the axis has no
/// `values`; `Err` when a problem with them is reported).
fn axis_values(sink: &mut ErrorSink, a: &mut Fields, path: &str) -> Result<Option<AxisValues>, ()> {
    let Some(e) = a.entry("values") else { return Ok(None) };
    let field = a.key_path("values");
    let toml_doc::Value::Array(items) = &e.node.value else {
        let found = e.node.value.describe();
        sink.at(e.node.span.clone(), format!("{field}: write a list of values, like [60, 120] or [\"5ms\", \"10ms\"] (found {found})"));
        return Err(());
    };
    if items.len() > MAX_CASES {
        sink.at(e.node.span.clone(), format!("{field}: {} values of `{path}`: more than the limit of {MAX_CASES} cases", items.len()));
        return Err(());
    }
    let mut ok = true;
    for (i, n) in items.iter().enumerate() {
        if let Some(bad) = n.non_finite() {
            sink.at(bad.span.clone(), format!("{field}[{i}]: {} is not a number meshsim can use: {}", bad.to_toml(), expect::NUMBER));
            ok = false;
        }
    }
    if !ok {
        return Err(());
    }
    Ok(Some((items.iter().map(Node::to_toml).collect(), items.iter().map(|n| n.span.clone()).collect())))
}

fn range_input(sink: &mut ErrorSink, r: &mut Fields) -> Option<RangeInput> {
    let from = r.req_number(sink, "from");
    let to = r.req_number(sink, "to");
    let step = r.number(sink, "step");
    let factor = r.number(sink, "factor");
    let unit = r.text(sink, "unit", "write a unit in quotes, like \"ms\"");
    Some(RangeInput {
        from: *from?.get_ref(),
        to: *to?.get_ref(),
        step: step.map(Spanned::into_inner),
        factor: factor.map(Spanned::into_inner),
        unit: unit.map(Spanned::into_inner),
    })
}

fn build(path: &Path, text: &str, f: &mut Fields, sink: &mut ErrorSink) -> SweepSpec {
    f.req_version(sink, SUPPORTED_VERSION, Some("sweep"));
    let name = match f.req_text(sink, "name", expect::NAME) {
        Some(n) => {
            if let Err(e) = limits::check_output_name(n.get_ref()) {
                sink.at(n.span(), format!("name: {e}"));
            }
            n.into_inner()
        }
        None => String::new(),
    };
    let description = f.text(sink, "description", expect::TEXT).map(Spanned::into_inner).unwrap_or_default();
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let topology = match f.req_text(sink, "topology", expect::FILE) {
        Some(t) => {
            let p = base_dir.join(t.get_ref());
            if !p.is_file() {
                sink.at(t.span(), format!("topology: file `{}` not found (paths are relative to the sweep file's folder)", p.display()));
            }
            p
        }
        None => PathBuf::new(),
    };
    let seed = match f.int(sink, "seed") {
        None => 1,
        Some(s) if *s.get_ref() >= 0 => *s.get_ref() as u64,
        Some(s) => {
            sink.at(s.span(), "seed: must be zero or more");
            1
        }
    };
    let placement_list =
        f.entry("placements").is_some().then(|| f.texts(sink, "placements", "write a placement: none, sidecar, per-node or ambient"));
    let placements_span = f.entry("placements").map(|e| e.node.span.clone()).unwrap_or(0..0);
    let fixed_table = f.table(sink, "set");
    let fixed = settings(sink, fixed_table);
    let axis_fields = f.tables(sink, "axis");
    let case_fields = f.tables(sink, "case");
    if axis_fields.len() > MAX_AXES {
        sink.at(0..0, format!("{} axes: at most {MAX_AXES} are supported", axis_fields.len()));
    }

    let mut placements = Vec::new();
    let mut placement_axis = None;
    let mut axes = Vec::new();
    let mut axis_paths: HashSet<String> = HashSet::new();
    for mut a in axis_fields {
        let Some(path_field) = a.req_text(sink, "path", "write a dotted path in quotes, like \"service.face.replicas\"") else {
            a.finish(sink, &["path", "values", "range"]);
            continue;
        };
        let p = path_field.get_ref().trim().to_string();
        let Ok(values) = axis_values(sink, &mut a, &p) else {
            a.finish(sink, &["path", "values", "range"]);
            continue;
        };
        let range = a.table(sink, "range").map(|mut r| {
            let x = range_input(sink, &mut r);
            r.finish(sink, &["from", "to", "step", "factor", "unit"]);
            (x, r.span())
        });
        let axis_path = a.path().to_string();
        let values_path = a.key_path("values");
        a.finish(sink, &["path", "values", "range"]);
        if p.is_empty() || p.split('.').any(str::is_empty) {
            sink.at(path_field.span(), format!("{}: `{p}` is not a dotted path such as `service.face.replicas`", path_field.path()));
            continue;
        }
        if !axis_paths.insert(p.clone()) {
            sink.at(path_field.span(), format!("{}: `{p}` is varied twice: merge the two axes into one", path_field.path()));
            continue;
        }
        let (values, spans) = match (values, range) {
            (Some(v), None) => v,
            (None, Some((Some(r), span))) => match expand_range(&r) {
                Ok(values) => {
                    let spans = vec![span; values.len()];
                    (values, spans)
                }
                Err(e) => {
                    sink.at(span, format!("{}: range of `{p}`: {e}", axis_path));
                    continue;
                }
            },
            (None, Some((None, _))) => continue,
            _ => {
                sink.at(
                    path_field.span(),
                    format!("{}: give either `values = [...]` or `range = {{ from, to, step }}` for `{p}`, not both or neither", axis_path),
                );
                continue;
            }
        };
        if values.is_empty() {
            sink.at(path_field.span(), format!("{}: axis `{p}` has no values: give at least one", axis_path));
            continue;
        }
        if p == "placement" {
            let mut list = Vec::new();
            for (v, sp) in values.iter().zip(&spans) {
                match v.as_str().map(str::parse::<Layout>) {
                    Some(Ok(pl)) => list.push(pl),
                    _ => sink.at(
                        sp.clone(),
                        format!("{}: `{v}` is not a placement: write one of none, sidecar, per-node, ambient or as-written", values_path),
                    ),
                }
            }
            placement_axis = Some((list, path_field.span()));
            continue;
        }
        axes.push(Axis { path: p, values, spans });
    }
    let placements_by_default = placement_list.is_none() && placement_axis.is_none();
    match (placement_list, placement_axis) {
        (Some(_), Some((_, sp))) => sink.at(sp, "axis `placement`: the file also sets `placements`: keep one of the two"),
        (Some(list), None) => {
            for s in &list {
                match s.get_ref().parse::<Layout>() {
                    Ok(p) => placements.push(p),
                    Err(e) => sink.at(s.span(), format!("{}: {e}", s.path())),
                }
            }
            if list.is_empty() {
                sink.at(placements_span.clone(), "placements: give at least one placement");
            }
        }
        (None, Some((list, _))) => placements = list,
        (None, None) => placements = Layout::UNIFORM.to_vec(),
    }
    let mut seen = HashSet::new();
    for p in &placements {
        if !seen.insert(*p) {
            sink.at(placements_span.clone(), format!("placements: `{p}` is listed twice: each placement is a row of every case"));
        }
    }

    let mut cases: Vec<NamedCase> = Vec::new();
    let mut case_names: HashSet<String> = HashSet::new();
    for mut c in case_fields {
        let name = c.req_text(sink, "name", expect::NAME);
        let set = c.req_table(sink, "set");
        let s = settings(sink, set);
        c.finish(sink, &["name", "set"]);
        let Some(name) = name else { continue };
        if let Err(e) = limits::check_entity_name(name.get_ref()) {
            sink.at(name.span(), format!("{}: {e}", name.path()));
        }
        if !case_names.insert(name.get_ref().clone()) {
            sink.at(name.span(), format!("{}: case `{}` is defined twice", name.path(), name.get_ref()));
        }
        for x in &s {
            if x.path == "placement" {
                sink.at(
                    x.span.clone(),
                    "case.set: `placement` cannot be set per case: list the placements in `placements` (every case runs each)",
                );
            }
            if axis_paths.contains(&x.path) {
                sink.at(x.span.clone(), format!("case.set: `{}` is also an axis: vary it in one place", x.path));
            }
        }
        cases.push(NamedCase { name: name.into_inner(), settings: s });
    }

    for x in &fixed {
        if x.path == "placement" {
            sink.at(x.span.clone(), "set: `placement` is chosen with `placements = [...]`");
        }
    }
    f.finish(sink, &["version", "name", "description", "topology", "seed", "placements", "set", "axis", "case"]);

    let spec = SweepSpec {
        name,
        description,
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
            // Count before building: a tiny step must be refused, not allocated.
            let n = ((r.to - r.from) / step + 1e-9).floor() + 1.0;
            if n.is_nan() || n > MAX_CASES as f64 {
                return Err(format!("{n:.0} values: more than the limit of {MAX_CASES} cases"));
            }
            xs.extend((0..n as usize).map(|i| r.from + i as f64 * step));
        }
        (None, Some(factor)) => {
            if !(factor > 1.0 && factor.is_finite()) || r.from <= 0.0 {
                return Err(format!("factor {factor} must be more than 1, and `from` more than zero"));
            }
            // Count before building (a factor of 1.000001 from 1 to 1e300 is 7e8 values).
            let n = ((r.to * (1.0 + 1e-9) / r.from).ln() / factor.ln()).floor() + 1.0;
            if n.is_nan() || n > MAX_CASES as f64 {
                return Err(format!("{n:.0} values: more than the limit of {MAX_CASES} cases"));
            }
            let mut x = r.from;
            // One more than the count allows for rounding in the repeated product.
            while x <= r.to * (1.0 + 1e-9) && xs.len() <= n as usize {
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

    #[test]
    fn another_version_of_the_sweep_format_is_refused_at_its_line() {
        let err = parse(Path::new("s.toml"), "version = 2\nname = \"s\"\n").unwrap_err().to_string();
        assert!(err.contains("s.toml:1:11: version: 2 is not supported: this meshsim reads sweep files of version 1"), "{err}");
    }
}
