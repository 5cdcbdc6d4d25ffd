//! Charts drawn by casedesk as inline SVG: no script, no library, readable by screen readers
//! through a title, a description and the table printed beside each chart.

use maud::{Markup, html};

const WIDTH: f64 = 640.0;
const LABEL: f64 = 150.0;
const BAR: f64 = 22.0;
const GAP: f64 = 8.0;
const FILL: &str = "#0a4fb3";

fn number(v: f64) -> String {
    if (v - v.round()).abs() < 0.05 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Horizontal bars, one per `(label, value)`; `unit` follows each value.
pub fn bars(id: &str, title: &str, data: &[(String, f64)], unit: &str) -> Markup {
    let max = data.iter().map(|d| d.1).fold(0.0_f64, f64::max).max(1e-9);
    let height = (data.len() as f64) * (BAR + GAP) + GAP;
    let span = WIDTH - LABEL - 70.0;
    html! {
        figure {
            figcaption { (title) }
            svg.chart role="img" aria-labelledby=(format!("{id}-t {id}-d")) viewBox=(format!("0 0 {WIDTH} {height}")) width=(WIDTH) height=(height) xmlns="http://www.w3.org/2000/svg" {
                title id=(format!("{id}-t")) { (title) }
                desc id=(format!("{id}-d")) { (data.iter().map(|(l, v)| format!("{l}: {}{unit}", number(*v))).collect::<Vec<_>>().join("; ")) }
                @for (i, (label, v)) in data.iter().enumerate() {
                    @let y = GAP + i as f64 * (BAR + GAP);
                    @let w = (v / max * span).max(if *v > 0.0 { 2.0 } else { 0.0 });
                    text x=(LABEL - 6.0) y=(y + BAR * 0.7) text-anchor="end" { (label) }
                    rect x=(LABEL) y=(y) width=(format!("{w:.1}")) height=(BAR) fill=(FILL) {}
                    text x=(LABEL + w + 6.0) y=(y + BAR * 0.7) { (number(*v)) (unit) }
                }
            }
        }
    }
}

/// Columns over time (case volume), labelled at the first, middle and last column.
pub fn columns(id: &str, title: &str, data: &[(String, u64)]) -> Markup {
    let height = 180.0;
    let base = height - 24.0;
    let n = data.len().max(1) as f64;
    let step = (WIDTH - 40.0) / n;
    let max = data.iter().map(|d| d.1).max().unwrap_or(0).max(1) as f64;
    let total: u64 = data.iter().map(|d| d.1).sum();
    let marks = [0, data.len() / 2, data.len().saturating_sub(1)];
    let last = data.len().saturating_sub(1);
    html! {
        figure {
            figcaption { (title) }
            svg.chart role="img" aria-labelledby=(format!("{id}-t {id}-d")) viewBox=(format!("0 0 {WIDTH} {height}")) width=(WIDTH) height=(height) xmlns="http://www.w3.org/2000/svg" {
                title id=(format!("{id}-t")) { (title) }
                desc id=(format!("{id}-d")) { (format!("{total} cases over {} periods; the busiest had {}.", data.len(), max as u64)) }
                line x1="30" y1=(base) x2=(WIDTH) y2=(base) stroke="#4a5563" {}
                text x="0" y="12" { (max as u64) }
                @for (i, (label, v)) in data.iter().enumerate() {
                    @let h = (*v as f64) / max * (base - 20.0);
                    @let x = 34.0 + i as f64 * step;
                    rect x=(format!("{x:.1}")) y=(format!("{:.1}", base - h)) width=(format!("{:.1}", (step - 1.0).max(1.0))) height=(format!("{h:.1}")) fill=(FILL) {
                        title { (label) ": " (v) }
                    }
                    @if marks.contains(&i) {
                        // The last label ends at its column, so it stays inside the chart.
                        text x=(format!("{:.1}", if i == last && i > 0 { x + step } else { x })) y=(height - 6.0)
                            text-anchor=(if i == last && i > 0 { "end" } else { "start" }) { (label) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value_and_name_every_value() {
        let svg = bars(
            "x",
            "Attainment",
            &[("premium".into(), 100.0), ("standard".into(), 50.0)],
            " %",
        )
        .into_string();
        assert!(svg.contains(r#"<rect x="150" y="8" width="420.0""#));
        assert!(svg.contains(r#"width="210.0""#));
        assert!(svg.contains("premium: 100 %; standard: 50 %"));
    }

    #[test]
    fn columns_show_the_total() {
        let svg = columns(
            "v",
            "Volume",
            &[("2026-11-01".into(), 3), ("2026-11-02".into(), 1)],
        )
        .into_string();
        assert!(svg.contains("4 cases over 2 periods"));
    }
}
