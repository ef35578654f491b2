//! Line and scatter charts as PNG and SVG, drawn with plotters and the bundled DejaVu Sans
//! font (no fontconfig, no system fonts). Charts are fed by exported records, never by the
//! engine.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

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
}

/// One named series of (x, y) points.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
    /// Index into the palette; series that belong together (points and their fitted curve) share one.
    pub color: usize,
}

/// A chart: title, axis labels with units, and its series.
#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// Twelve distinguishable colours (Tableau 10 plus two), so charts with many series, such as
/// a blast timeline with ten scenarios, never give two series the same colour.
const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(174, 199, 232),
];

/// Write `stem.png` and `stem.svg` (stem is a path without extension).
pub fn write_chart(stem: &Path, chart: &Chart) -> Result<(), String> {
    register_font();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    {
        let root = BitMapBackend::new(&png, (960, 600)).into_drawing_area();
        draw(root, chart).map_err(|e| format!("{}: {e}", png.display()))?;
    }
    {
        let root = SVGBackend::new(&svg, (960, 600)).into_drawing_area();
        draw(root, chart).map_err(|e| format!("{}: {e}", svg.display()))?;
    }
    Ok(())
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, plotters::coord::Shift>, chart: &Chart) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64, f64::NEG_INFINITY);
    for s in &chart.series {
        for &(x, y) in &s.points {
            if x.is_finite() && y.is_finite() {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    if !x0.is_finite() {
        (x0, x1, y1) = (0.0, 1.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let y1 = y1 + (y1 - y0) * 0.05;
    let mut ctx = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 24))
        .margin(16)
        .margin_right(40)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    ctx.configure_mesh().x_desc(&chart.x_label).y_desc(&chart.y_label).label_style(("sans-serif", 14)).draw().map_err(err)?;
    for s in &chart.series {
        let color = PALETTE[s.color % PALETTE.len()];
        let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        let mut labelled = false;
        if matches!(s.mark, Mark::Line | Mark::LineAndPoints) {
            ctx.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            labelled = true;
        }
        if matches!(s.mark, Mark::Points | Mark::LineAndPoints) {
            let anno = ctx.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.mix(0.6).filled()))).map_err(err)?;
            if !labelled {
                anno.label(s.name.clone()).legend(move |(x, y)| Circle::new((x + 9, y), 3, color.filled()));
            }
        }
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(emptiest_corner(chart, (x0, x1), (y0, y1)))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// The corner of the plot with the fewest points, for the legend.
fn emptiest_corner(chart: &Chart, (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> SeriesLabelPosition {
    let mut counts = [0usize; 4]; // upper-left, upper-right, lower-left, lower-right
    for s in &chart.series {
        for &(x, y) in &s.points {
            if !(x.is_finite() && y.is_finite()) {
                continue;
            }
            let right = (x - x0) / (x1 - x0) > 0.5;
            let lower = (y - y0) / (y1 - y0) < 0.5;
            counts[usize::from(lower) * 2 + usize::from(right)] += 1;
        }
    }
    // Ties go to the first in this order, upper-left being the usual place.
    match (0..4).min_by_key(|&i| counts[i]).unwrap_or(0) {
        0 => SeriesLabelPosition::UpperLeft,
        1 => SeriesLabelPosition::UpperRight,
        2 => SeriesLabelPosition::LowerLeft,
        _ => SeriesLabelPosition::LowerRight,
    }
}
