//! Charts drawn by casedesk: no script, no library. Every label and value is page text (so
//! it wraps, keeps the page's font size on a phone and is read by screen readers); only the
//! bars themselves are drawn, as shapes that stretch to the width they are given.

use maud::{Markup, html};

/// Horizontal bars, one per group. A group without a value reads "no data" and draws no
/// bar, so it is never mistaken for a zero; `words` writes a value with its unit.
pub fn bars(title: &str, data: &[(String, Option<f64>)], words: impl Fn(f64) -> String) -> Markup {
    let max = data
        .iter()
        .filter_map(|d| d.1)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    html! {
        figure.bars {
            figcaption { (title) }
            @if data.iter().all(|d| d.1.is_none()) {
                p.muted { "No data in this period." }
            } @else {
                ul.bar-list {
                    @for (label, v) in data {
                        li {
                            span.bar-label { (label) }
                            svg.bar aria-hidden="true" focusable="false" viewBox="0 0 100 10" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg" {
                                @if let Some(v) = v {
                                    // A value above zero always shows, however small next to the largest.
                                    rect x="0" y="0" height="10" width=(format!("{:.2}", (v / max * 100.0).max(if *v > 0.0 { 0.8 } else { 0.0 }))) {}
                                }
                            }
                            @match v {
                                Some(v) => { span.bar-value { (words(*v)) } }
                                None => { span.bar-value.none { "no data" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Columns over time (one per day or week), labelled at the first, middle and last; a
/// period without a value leaves a gap that its title calls "no data".
pub fn columns(
    title: &str,
    summary: &str,
    data: &[(String, Option<f64>)],
    words: impl Fn(f64) -> String,
) -> Markup {
    let n = data.len().max(1);
    let max = data
        .iter()
        .filter_map(|d| d.1)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let width = n * 10;
    let marks = [0, data.len() / 2, data.len().saturating_sub(1)];
    html! {
        figure.columns {
            figcaption { (title) }
            p.chart-summary { (summary) }
            div.col-plot {
                span.col-max { "Highest: " (words(max)) }
                svg.cols-svg role="img" aria-label=(format!("{title}: {summary}")) viewBox=(format!("0 0 {width} 100")) preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg" {
                    @for (i, (label, v)) in data.iter().enumerate() {
                        @if let Some(v) = v.filter(|v| *v > 0.0) {
                            @let h = (v / max * 96.0).max(1.5);
                            rect x=(i * 10 + 1) y=(format!("{:.2}", 100.0 - h)) width="8" height=(format!("{h:.2}")) {
                                title { (label) ": " (words(v)) }
                            }
                        } @else if let Some(v) = v {
                            // A zero is data: a low mark of its own colour, not the gap of no data.
                            rect.zero x=(i * 10 + 1) y="97" width="8" height="3" {
                                title { (label) ": " (words(*v)) }
                            }
                        } @else {
                            rect.none x=(i * 10 + 1) y="99" width="8" height="1" {
                                title { (label) ": no data" }
                            }
                        }
                    }
                }
                div.col-axis aria-hidden="true" {
                    @for (i, (label, _)) in data.iter().enumerate() {
                        @if marks.contains(&i) { span { (label) } }
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
    fn bars_scale_to_the_largest_value_and_say_no_data() {
        let html = bars(
            "Attainment",
            &[
                ("premium".into(), Some(100.0)),
                ("standard".into(), Some(50.0)),
                ("marketplace-and-licensing".into(), None),
            ],
            |v| format!("{v:.0} %"),
        )
        .into_string();
        assert!(html.contains(r#"width="100.00""#), "{html}");
        assert!(html.contains(r#"width="50.00""#));
        assert!(
            html.contains("marketplace-and-licensing"),
            "labels are text"
        );
        assert!(html.contains("no data"));
        assert_eq!(html.matches("<rect").count(), 2, "no bar for no data");
    }

    #[test]
    fn a_tiny_value_still_shows_and_nothing_at_all_says_so() {
        let html = bars(
            "x",
            &[("a".into(), Some(1000.0)), ("b".into(), Some(0.1))],
            |v| v.to_string(),
        )
        .into_string();
        assert!(html.contains(r#"width="0.80""#), "{html}");
        let empty = bars("x", &[("a".into(), None)], |v| v.to_string()).into_string();
        assert!(empty.contains("No data in this period"));
    }

    #[test]
    fn columns_leave_a_gap_for_no_data() {
        let html = columns(
            "Volume",
            "4 cases",
            &[
                ("2026-11-01".into(), Some(3.0)),
                ("2026-11-02".into(), None),
                ("2026-11-03".into(), Some(1.0)),
            ],
            |v| format!("{v:.0}"),
        )
        .into_string();
        assert!(html.contains("2026-11-02: no data"));
        assert!(html.contains("Highest: 3"));
    }
}
