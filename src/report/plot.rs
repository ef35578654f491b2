//! Line, point and bar charts as PNG and SVG files or SVG text (for `report.html`), drawn
//! with plotters and the bundled DejaVu Sans font (no fontconfig, no system fonts). Charts
//! are fed by exported records, never by the engine.
//!
//! Every series gets a colour, a dash pattern and a marker from one style table, so lines
//! that overlap stay distinguishable; placements have fixed styles ([`placement_style`]), the
//! same in every chart of a run. A logarithmic y axis is drawn by plotting log10 of the
//! values on a linear axis with ticks at 1-2-5 steps labelled in the original unit.

use std::path::Path;
use std::str::FromStr;
use std::sync::Once;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Size of every chart, pixels (the SVG scales to the page in `report.html`).
pub const CHART_SIZE: (u32, u32) = (960, 600);

/// Make the bundled font the one plotters uses for `sans-serif`.
pub fn register_font() {
    REGISTER.call_once(|| {
        // The bytes are a valid TrueType font checked in with the source; failure is a build defect.
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).ok();
    });
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Line,
    Points,
    LineAndPoints,
    /// A bar from zero to each point's y, centred on its x (one unit of x is one slot).
    Bars,
}

/// One named series of (x, y) points.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
    /// Index into the style table (colour, dash, marker); series that belong together
    /// (points and their fitted curve) share one. Placements use [`placement_style`].
    pub color: usize,
}

/// Scale of the y axis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scale {
    #[default]
    Linear,
    /// Logarithmic: values spanning decades (a saturated placement at seconds beside others
    /// at milliseconds) all stay readable. Values at or below zero are left out.
    Log,
}

impl FromStr for Scale {
    type Err = String;
    fn from_str(s: &str) -> Result<Scale, String> {
        match s {
            "log" => Ok(Scale::Log),
            "linear" => Ok(Scale::Linear),
            _ => Err(format!("`{s}`: use log or linear")),
        }
    }
}

/// How a run's charts are drawn (from the command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChartOptions {
    /// Scale of latency axes: logarithmic unless asked otherwise.
    pub latency_scale: Scale,
}

impl Default for ChartOptions {
    fn default() -> Self {
        ChartOptions { latency_scale: Scale::Log }
    }
}

/// A horizontal reference line, such as a latency target.
#[derive(Clone, Debug, PartialEq)]
pub struct RefLine {
    pub y: f64,
    pub label: String,
}

/// A shaded span of x, such as the window of a failure.
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    pub x0: f64,
    pub x1: f64,
    pub label: String,
}

/// A chart: title, axis labels with units, and its series.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub y_scale: Scale,
    /// Horizontal lines drawn across the plot (dashed, in the legend).
    pub ref_lines: Vec<RefLine>,
    /// Shaded spans of x, drawn under the series.
    pub bands: Vec<Band>,
    /// Ticks of the x axis with their labels; empty: numeric ticks.
    pub x_ticks: Vec<(f64, String)>,
}

/// Dash pattern of a line: (dash, gap) in pixels; `None` is solid.
type Dash = Option<(u32, u32)>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    Circle,
    Triangle,
    Square,
    Diamond,
    Cross,
}

const SOLID: Dash = None;
const DASH: Dash = Some((10, 5));
const DOT: Dash = Some((3, 4));
const LONG_DASH: Dash = Some((20, 6));

/// Twelve styles: Tableau 10 colours plus two, each with a dash pattern and a marker chosen so
/// that neighbours in the table (and the five placement styles) differ in all three.
const STYLES: [(RGBColor, Dash, Marker); 12] = [
    (RGBColor(31, 119, 180), SOLID, Marker::Circle),
    (RGBColor(255, 127, 14), DASH, Marker::Triangle),
    (RGBColor(44, 160, 44), DOT, Marker::Square),
    (RGBColor(214, 39, 40), LONG_DASH, Marker::Diamond),
    (RGBColor(148, 103, 189), DASH, Marker::Cross),
    (RGBColor(140, 86, 75), LONG_DASH, Marker::Circle),
    (RGBColor(227, 119, 194), DOT, Marker::Triangle),
    (RGBColor(100, 100, 100), SOLID, Marker::Cross),
    (RGBColor(188, 189, 34), DASH, Marker::Diamond),
    (RGBColor(23, 190, 207), DOT, Marker::Circle),
    (RGBColor(0, 0, 0), LONG_DASH, Marker::Square),
    (RGBColor(174, 199, 232), SOLID, Marker::Triangle),
];

/// The style index of a placement, the same in every chart: sidecar blue, per-node orange,
/// ambient green, none grey, a mixed mesh (`as-written`) purple; other names by position.
pub fn placement_style(name: &str, position: usize) -> usize {
    match name {
        "sidecar" => 0,
        "per-node" => 1,
        "ambient" => 2,
        "none" => 7,
        "as-written" | "mixed" => 4,
        _ => [3, 5, 6, 8, 9, 10, 11][position % 7],
    }
}

/// The colour of a style index as CSS `#rrggbb`, for legends drawn outside charts.
pub fn css_color(style: usize) -> String {
    let RGBColor(r, g, b) = STYLES[style % STYLES.len()].0;
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Write `stem.png` and `stem.svg` (stem is a path without extension).
pub fn write_chart(stem: &Path, chart: &Chart) -> Result<(), String> {
    register_font();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    {
        let root = BitMapBackend::new(&png, CHART_SIZE).into_drawing_area();
        draw(root, chart).map_err(|e| format!("{}: {e}", png.display()))?;
    }
    {
        let root = SVGBackend::new(&svg, CHART_SIZE).into_drawing_area();
        draw(root, chart).map_err(|e| format!("{}: {e}", svg.display()))?;
    }
    Ok(())
}

/// Size of a chart inlined in a page: smaller than the files', so that its text stays legible
/// where two charts share the page's width.
pub const PAGE_CHART_SIZE: (u32, u32) = (800, 500);

/// The chart as SVG text, to inline in a page.
pub fn svg_string(chart: &Chart) -> Result<String, String> {
    register_font();
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, PAGE_CHART_SIZE).into_drawing_area();
        draw(root, chart)?;
    }
    Ok(buf)
}

/// A tick label: integers without decimals, other values with as few as they need.
pub fn tick_label(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    if (v - v.round()).abs() < 1e-9 * v.abs().max(1.0) {
        return format!("{:.0}", v.round() + 0.0);
    }
    let mut s = format!("{v:.6}");
    while s.ends_with('0') {
        s.pop();
    }
    s
}

/// Ticks at 1-2-5 steps covering [lo, hi] on a linear axis.
fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let raw = span / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| span / s <= 8.0).unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 50 {
        // Snap to the step so labels do not read 0.30000000000000004.
        out.push((t / step).round() * step);
        t += step;
    }
    out
}

/// Ticks of a log axis in original units: 1-2-5 per decade, or every integer multiple when
/// the range spans less than a decade and 1-2-5 would leave fewer than three ticks.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let within = |mults: &[f64]| -> Vec<f64> {
        let mut out = Vec::new();
        let mut decade = 10f64.powf(lo.log10().floor());
        while decade <= hi && out.len() < 60 {
            for m in mults {
                let v = m * decade;
                if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                    out.push(v);
                }
            }
            decade *= 10.0;
        }
        out
    };
    let ticks = within(&[1.0, 2.0, 5.0]);
    if ticks.len() >= 3 {
        return ticks;
    }
    let ticks = within(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    if ticks.len() >= 3 {
        return ticks;
    }
    // Less than a factor of two: linear steps, still placed on the log axis.
    linear_ticks(lo, hi).into_iter().filter(|&v| v > 0.0).collect()
}

/// Where the y values land on the drawn axis (log10 for a log scale; `None`: not drawable).
fn to_axis(scale: Scale, y: f64) -> Option<f64> {
    match scale {
        Scale::Linear if y.is_finite() => Some(y),
        Scale::Log if y.is_finite() && y > 0.0 => Some(y.log10()),
        _ => None,
    }
}

/// A linear f64 axis with ticks where we put them (plotters' own key points on an f64 axis
/// carry no default label formatting, which the mesh needs).
struct TickedAxis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold grid lines and labels at the ticks; no light lines between them.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

type Ctx<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, TickedAxis>>;

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, plotters::coord::Shift>, chart: &Chart) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let scale = chart.y_scale;
    let bars = chart.series.iter().any(|s| s.mark == Mark::Bars);
    // Ranges in original units over every drawable point and reference line.
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for s in &chart.series {
        for &(x, y) in &s.points {
            if x.is_finite() && to_axis(scale, y).is_some() {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    for l in &chart.ref_lines {
        if to_axis(scale, l.y).is_some() {
            y0 = y0.min(l.y);
            y1 = y1.max(l.y);
        }
    }
    for b in &chart.bands {
        x0 = x0.min(b.x0);
        x1 = x1.max(b.x1);
    }
    for (x, _) in &chart.x_ticks {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
    }
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if !y0.is_finite() {
        (y0, y1) = (if scale == Scale::Log { 1.0 } else { 0.0 }, 10.0);
    }
    if bars {
        // A slot of one unit around each bar.
        x0 -= 0.5;
        x1 += 0.5;
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let (lo, hi) = match scale {
        Scale::Linear => {
            let lo = y0.min(0.0);
            let hi = if y1 <= lo { lo + 1.0 } else { y1 + (y1 - lo) * 0.05 };
            (lo, hi)
        }
        Scale::Log => {
            // A little room under the lowest and over the highest value, in ratio.
            let (lo, hi) = (y0 / 1.15, y1 * 1.15);
            if hi / lo < 2.0 {
                let mid = (lo * hi).sqrt();
                (mid / 1.5, mid * 1.5)
            } else {
                (lo, hi)
            }
        }
    };
    let ticks = match scale {
        Scale::Linear => linear_ticks(lo, hi),
        Scale::Log => log_ticks(lo, hi),
    };
    let axis_ticks: Vec<f64> = ticks.iter().filter_map(|&v| to_axis(scale, v)).collect();
    let (a_lo, a_hi) = (to_axis(scale, lo).unwrap_or(0.0), to_axis(scale, hi).unwrap_or(1.0));
    let mut ctx: Ctx<DB> = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 24))
        .margin(16)
        .margin_right(40)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, TickedAxis { inner: (a_lo..a_hi).into(), ticks: axis_ticks })
        .map_err(err)?;
    let y_fmt = |v: &f64| match scale {
        Scale::Linear => tick_label(*v),
        Scale::Log => tick_label(round_sig(10f64.powf(*v))),
    };
    let x_ticks = chart.x_ticks.clone();
    let x_fmt = move |v: &f64| match x_ticks.iter().find(|(x, _)| (x - v).abs() < 1e-9) {
        Some((_, l)) => l.clone(),
        None if !x_ticks.is_empty() => String::new(),
        None => tick_label(*v),
    };
    let y_desc = if scale == Scale::Log { format!("{} (log scale)", chart.y_label) } else { chart.y_label.clone() };
    let mut mesh = ctx.configure_mesh();
    mesh.x_desc(&chart.x_label)
        .y_desc(y_desc)
        .label_style(("sans-serif", 14))
        .y_label_formatter(&y_fmt)
        .x_label_formatter(&x_fmt)
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215));
    if !chart.x_ticks.is_empty() {
        mesh.x_labels(chart.x_ticks.len().max(2) * 4 + 1).disable_x_mesh();
    }
    mesh.draw().map_err(err)?;
    draw_bands(&mut ctx, chart, (a_lo, a_hi)).map_err(err)?;
    for s in &chart.series {
        let (color, dash, marker) = STYLES[s.color % STYLES.len()];
        let pts: Vec<(f64, f64)> =
            s.points.iter().filter(|(x, _)| x.is_finite()).filter_map(|&(x, y)| to_axis(scale, y).map(|y| (x, y))).collect();
        let stroke = color.stroke_width(2);
        if s.mark == Mark::Bars {
            // Bars of several series at one x share its slot side by side, in series order.
            let base = a_lo.max(to_axis(scale, 0.0).unwrap_or(a_lo));
            let rects: Vec<Rectangle<(f64, f64)>> = pts
                .iter()
                .map(|&(x, y)| {
                    let (index, count) = bar_slot(chart, s, x);
                    let w = 0.7 / count as f64;
                    let left = x - 0.35 + w * index as f64;
                    Rectangle::new([(left + w * 0.05, base), (left + w * 0.95, y)], color.filled())
                })
                .collect();
            ctx.draw_series(rects)
                .map_err(err)?
                .label(s.name.clone())
                .legend(move |(x, y)| Rectangle::new([(x + 7, y - 6), (x + 23, y + 6)], color.filled()));
            continue;
        }
        let line = matches!(s.mark, Mark::Line | Mark::LineAndPoints);
        let points = matches!(s.mark, Mark::Points | Mark::LineAndPoints);
        if line {
            match dash {
                None => {
                    ctx.draw_series(LineSeries::new(pts.clone(), stroke)).map_err(err)?;
                }
                Some((d, g)) => {
                    ctx.draw_series(DashedLineSeries::new(pts.clone(), d, g, stroke)).map_err(err)?;
                }
            }
        }
        // Markers: on every point of a short series; on a dozen, staggered by style, of a
        // long one, so overlapping lines still show whose they are.
        let stride = if points || pts.len() <= 16 { 1 } else { pts.len().div_ceil(12) };
        let phase = if stride > 1 { (s.color * stride / 5) % stride } else { 0 };
        let size = if points && !line { 4 } else { 5 };
        let fill = !line;
        ctx.draw_series(pts.iter().skip(phase).step_by(stride).map(|&p| Glyph { at: p, marker, size, color, filled: fill, line: None }))
            .map_err(err)?
            .label(s.name.clone())
            .legend(move |at| Glyph { at, marker, size: 5, color, filled: !line, line: line.then_some(dash) });
    }
    for l in &chart.ref_lines {
        let Some(y) = to_axis(scale, l.y) else { continue };
        let red = RGBColor(200, 0, 0);
        ctx.draw_series(DashedLineSeries::new(vec![(x0, y), (x1, y)], 12, 6, red.stroke_width(2)))
            .map_err(err)?
            .label(l.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], red.stroke_width(2)));
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .legend_area_size(40)
        .position(emptiest_corner(chart, (x0, x1), (a_lo, a_hi)))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Where a bar of `s` at `x` goes among the bars drawn at that x: (its index, how many).
fn bar_slot(chart: &Chart, s: &Series, x: f64) -> (usize, usize) {
    let at_x: Vec<&Series> =
        chart.series.iter().filter(|o| o.mark == Mark::Bars && o.points.iter().any(|p| (p.0 - x).abs() < 1e-9)).collect();
    let index = at_x.iter().position(|o| std::ptr::eq(*o, s)).unwrap_or(0);
    (index, at_x.len().max(1))
}

/// Shade each band over the whole height, with its label at the top.
fn draw_bands<DB: DrawingBackend>(
    ctx: &mut Ctx<DB>,
    chart: &Chart,
    (lo, hi): (f64, f64),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let shade = RGBColor(255, 205, 160);
    for b in &chart.bands {
        ctx.draw_series(std::iter::once(Rectangle::new([(b.x0, lo), (b.x1, hi)], shade.mix(0.45).filled())))?;
        let top = hi - (hi - lo) * 0.02;
        ctx.draw_series(std::iter::once(Text::new(
            b.label.clone(),
            (b.x0, top),
            ("sans-serif", 13).into_font().color(&RGBColor(150, 70, 0)),
        )))?;
    }
    Ok(())
}

/// A value rounded to 6 significant digits (log ticks come back from 10^x a little off).
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let mag = 10f64.powf(v.abs().log10().floor() - 5.0);
    (v / mag).round() * mag
}

/// A marker, and in a legend a short stretch of the series' line pattern through it: one
/// element plotters draws on any backend at one anchor point.
struct Glyph<C> {
    at: C,
    marker: Marker,
    size: i32,
    color: RGBColor,
    filled: bool,
    /// Draw a line sample 30 px wide with this dash pattern (legend only).
    line: Option<Dash>,
}

impl<'a, C> plotters::element::PointCollection<'a, C> for &'a Glyph<C> {
    type Point = &'a C;
    type IntoIter = std::iter::Once<&'a C>;
    fn point_iter(self) -> std::iter::Once<&'a C> {
        std::iter::once(&self.at)
    }
}

impl<C, DB: DrawingBackend> plotters::element::Drawable<DB> for Glyph<C> {
    fn draw<I: Iterator<Item = (i32, i32)>>(
        &self,
        mut points: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> Result<(), plotters_backend::DrawingErrorKind<DB::ErrorType>> {
        let Some((x, y)) = points.next() else { return Ok(()) };
        let stroke = self.color.stroke_width(2);
        let (cx, cy) = match self.line {
            None => (x, y),
            Some(dash) => {
                let (d, g) = dash.unwrap_or((30, 0));
                let mut a = 0;
                while a < 30 {
                    let b = (a + d as i32).min(30);
                    backend.draw_line((x + a, y), (x + b, y), &stroke)?;
                    a = b + g as i32;
                }
                (x + 15, y)
            }
        };
        let style = if self.filled { self.color.filled() } else { stroke };
        let s = self.size;
        let poly = |pts: &[(i32, i32)]| pts.iter().map(|&(px, py)| (cx + px, cy + py)).collect::<Vec<_>>();
        let shape: Vec<(i32, i32)> = match self.marker {
            Marker::Circle => return backend.draw_circle((cx, cy), s as u32, &style, self.filled),
            Marker::Cross => {
                backend.draw_line((cx - s, cy - s), (cx + s, cy + s), &stroke)?;
                return backend.draw_line((cx - s, cy + s), (cx + s, cy - s), &stroke);
            }
            Marker::Triangle => poly(&[(0, -s), (s, s * 3 / 4), (-s, s * 3 / 4)]),
            Marker::Square => {
                let h = s * 4 / 5;
                poly(&[(-h, -h), (h, -h), (h, h), (-h, h)])
            }
            Marker::Diamond => poly(&[(0, -s), (s, 0), (0, s), (-s, 0)]),
        };
        if self.filled {
            backend.fill_polygon(shape, &style)
        } else {
            let mut closed = shape.clone();
            closed.push(shape[0]);
            backend.draw_path(closed, &style)
        }
    }
}

/// The corner of the plot with the fewest points, for the legend (`lo`, `hi` on the drawn axis).
fn emptiest_corner(chart: &Chart, (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> SeriesLabelPosition {
    let mut counts = [0usize; 4]; // upper-left, upper-right, lower-left, lower-right
    for s in &chart.series {
        for &(x, y) in &s.points {
            let Some(y) = to_axis(chart.y_scale, y) else { continue };
            if !x.is_finite() {
                continue;
            }
            let right = (x - x0) / (x1 - x0) > 0.5;
            let lower = (y - y0) / (y1 - y0) < 0.5;
            // A bar fills its slot from the bottom: it takes the lower corner too.
            if s.mark == Mark::Bars {
                counts[2 + usize::from(right)] += 1;
            }
            counts[usize::from(lower) * 2 + usize::from(right)] += 1;
        }
    }
    // Ties go to the first in this order, upper-right being clear of the y axis labels.
    let order = [1usize, 0, 3, 2];
    match order.into_iter().min_by_key(|&i| counts[i]).unwrap_or(1) {
        0 => SeriesLabelPosition::UpperLeft,
        1 => SeriesLabelPosition::UpperRight,
        2 => SeriesLabelPosition::LowerLeft,
        _ => SeriesLabelPosition::LowerRight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_of_integers_have_no_decimals() {
        assert_eq!(tick_label(16000.0), "16000");
        assert_eq!(tick_label(-0.0), "0");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(2.5), "2.5");
    }

    #[test]
    fn linear_ticks_step_by_one_two_five() {
        assert_eq!(linear_ticks(0.0, 100.0), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        // Snapped to the step: 0.6, not 0.6000000000000001.
        assert_eq!(linear_ticks(0.0, 0.9).iter().map(|v| tick_label(*v)).collect::<Vec<_>>(), ["0", "0.2", "0.4", "0.6", "0.8"]);
    }

    #[test]
    fn log_ticks_cover_decades_and_narrow_ranges() {
        assert_eq!(log_ticks(5.0, 5000.0), vec![5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0]);
        // 6 to 21 ms: 1-2-5 gives only 10 and 20, so every integer multiple.
        assert_eq!(log_ticks(6.0, 21.0), vec![6.0, 7.0, 8.0, 9.0, 10.0, 20.0]);
    }

    #[test]
    fn placements_keep_their_style_whatever_their_position() {
        assert_eq!(placement_style("ambient", 0), placement_style("ambient", 3));
        let styles: Vec<usize> = ["none", "sidecar", "per-node", "ambient", "as-written"].iter().map(|p| placement_style(p, 0)).collect();
        for (i, a) in styles.iter().enumerate() {
            for b in &styles[i + 1..] {
                let (sa, sb) = (STYLES[*a], STYLES[*b]);
                assert!(sa.0 != sb.0 && (sa.1 != sb.1 || sa.2 != sb.2), "placements {a} and {b} look alike");
            }
        }
    }

    #[test]
    fn a_log_chart_draws_a_saturated_series_beside_fast_ones() {
        let chart = Chart {
            title: "p99".into(),
            x_label: "rate (rps)".into(),
            y_label: "latency p99 (ms)".into(),
            series: vec![
                Series { name: "sidecar".into(), points: vec![(1.0, 30.0), (2.0, 31.0)], mark: Mark::LineAndPoints, color: 0 },
                Series { name: "ambient".into(), points: vec![(1.0, 41.0), (2.0, 4400.0)], mark: Mark::LineAndPoints, color: 2 },
            ],
            y_scale: Scale::Log,
            ref_lines: vec![RefLine { y: 50.0, label: "SLO p99 50 ms".into() }],
            ..Chart::default()
        };
        let svg = svg_string(&chart).unwrap();
        let texts: Vec<&str> = svg.split("</text>").filter_map(|t| t.rsplit_once('>')).map(|(_, x)| x.trim()).collect();
        for label in ["50", "100", "1000", "5000", "SLO p99 50 ms", "latency p99 (ms) (log scale)"] {
            assert!(texts.contains(&label), "{label} missing from {texts:?}");
        }
        assert!(!texts.iter().any(|t| t.ends_with(".0")), "a tick label ends in .0: {texts:?}");
    }
}
