//! Small charts as SVG rendered on the server (no script): bars for pushes
//! per minute, lines for latency quantiles. Values are numbers the server
//! computed, so nothing here needs escaping but the labels, which are ours.

use std::fmt::Write as _;

const W: f64 = 600.0;
const H: f64 = 140.0;
/// Room for the axis labels.
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 18.0;
const TOP: f64 = 8.0;

/// A "nice" upper bound for an axis (1, 2, 5 × 10^n).
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let exp = v.log10().floor();
    let base = 10f64.powf(exp);
    let m = v / base;
    let step = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    step * base
}

fn frame(out: &mut String, max: f64, unit: &str, points: usize) {
    let plot_h = H - BOTTOM - TOP;
    for i in 0..=2 {
        let y = TOP + plot_h * f64::from(i) / 2.0;
        let v = max * (1.0 - f64::from(i) / 2.0);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{W}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{x:.1}" y="{ty:.1}" font-size="10" text-anchor="end" fill="#6b7280">{v}{unit}</text>"##,
            x = LEFT - 4.0,
            ty = y + 3.5,
            v = trim_num(v),
        );
    }
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="{y}" font-size="10" fill="#6b7280">−{points} min</text><text x="{W}" y="{y}" font-size="10" text-anchor="end" fill="#6b7280">now</text>"##,
        y = H - 4.0
    );
}

fn trim_num(v: f64) -> String {
    if v >= 10.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn open(title: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{title}" class="chart">"#
    )
}

/// A bar per value (oldest first).
pub fn bars(title: &str, values: &[u64], color: &str) -> String {
    let max = nice_max(values.iter().copied().max().unwrap_or(0) as f64);
    let mut out = open(title);
    frame(&mut out, max, "", values.len());
    let plot_h = H - BOTTOM - TOP;
    let slot = (W - LEFT) / values.len().max(1) as f64;
    for (i, v) in values.iter().enumerate() {
        if *v == 0 {
            continue;
        }
        let h = plot_h * (*v as f64) / max;
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{color}"><title>{v}</title></rect>"#,
            x = LEFT + slot * i as f64 + 1.0,
            y = TOP + plot_h - h,
            w = (slot - 2.0).max(1.0),
        );
    }
    out.push_str("</svg>");
    out
}

/// One line per series (oldest first; `None` is a gap), in milliseconds.
pub fn lines(title: &str, series: &[(&str, &str, Vec<Option<f64>>)]) -> String {
    let max = nice_max(
        series
            .iter()
            .flat_map(|(_, _, v)| v.iter().flatten().copied())
            .fold(0.0, f64::max),
    );
    let points = series.first().map_or(0, |s| s.2.len());
    let mut out = open(title);
    frame(&mut out, max, " ms", points);
    let plot_h = H - BOTTOM - TOP;
    let slot = (W - LEFT) / points.max(1) as f64;
    for (name, color, values) in series {
        let mut path = String::new();
        let mut pen_down = false;
        for (i, v) in values.iter().enumerate() {
            let Some(v) = v else {
                pen_down = false;
                continue;
            };
            let x = LEFT + slot * (i as f64 + 0.5);
            let y = TOP + plot_h - plot_h * v / max;
            let _ = write!(path, "{}{x:.1},{y:.1} ", if pen_down { "L" } else { "M" });
            pen_down = true;
            let _ = write!(
                out,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="1.8" fill="{color}"><title>{name} {v:.1} ms</title></circle>"#
            );
        }
        let _ = write!(
            out,
            r#"<path d="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>"#
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up_and_charts_are_svg() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(130.0), 200.0);
        let b = bars("pushes", &[0, 3, 10], "#2563eb");
        assert!(b.starts_with("<svg") && b.ends_with("</svg>"));
        assert_eq!(b.matches("<rect").count(), 2);
        let l = lines(
            "latency",
            &[("p50", "#16a34a", vec![None, Some(1.5), Some(2.0)])],
        );
        assert!(l.contains("M") && l.contains("L"), "{l}");
    }
}
