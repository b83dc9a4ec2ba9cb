//! Plot geometry for the SVG charts: numbers computed here, drawn by the templates (which escape
//! every label). Pure.

use serde::Serialize;

/// Canvas and plot area, in SVG user units.
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 48.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 48.0;
/// At most this many labelled x ticks (the rest would overlap).
const MAX_X_LABELS: usize = 10;
/// Series colours are CSS classes `s0` .. `s7`.
const PALETTE: usize = 8;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tick {
    pub pos: f64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dot {
    pub x: f64,
    pub y: f64,
    /// Tooltip text (escaped by the template).
    pub title: String,
    /// Extra CSS class (e.g. the outcome of a bisection run).
    pub class: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub name: String,
    /// CSS class giving its colour.
    pub class: String,
    /// Polyline point lists ("x,y x,y ..."); a missing value breaks the line.
    pub segments: Vec<String>,
    pub dots: Vec<Dot>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plot {
    pub width: f64,
    pub height: f64,
    /// The plot area.
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub x_label: String,
    pub y_label: String,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    pub lines: Vec<Line>,
}

/// One series of a line plot: a value (or none) per x position.
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
    /// Per point: tooltip and extra class (empty: none).
    pub notes: Vec<(String, String)>,
}

/// How the y axis is scaled and labelled.
pub enum YAxis {
    /// Seconds, from 0 to a round number above the largest value.
    Seconds,
    /// A probability, 0 to 1, labelled in percent.
    Probability,
}

/// A round step for about `n` intervals up to `max` (1, 2 or 5 times a power of ten).
pub fn nice_step(max: f64, n: usize) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let raw = max / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let f = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * mag
}

/// Seconds for an axis label: "90 s", "0.5 s".
pub fn seconds_label(s: f64) -> String {
    format!("{} s", trim(s))
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Round to 0.1 user units: enough precision, and stable text for tests.
fn r(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A line plot over `x_labels.len()` evenly spaced positions.
pub fn line_plot(x_label: &str, x_labels: &[String], y_axis: YAxis, series: &[Series]) -> Plot {
    let n = x_labels.len();
    let (x0, x1) = (LEFT, WIDTH - RIGHT);
    let (y0, y1) = (TOP, HEIGHT - BOTTOM);
    let x_at = |i: usize| {
        if n <= 1 {
            (x0 + x1) / 2.0
        } else {
            x0 + (x1 - x0) * i as f64 / (n - 1) as f64
        }
    };
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let (top, step, label): (f64, f64, fn(f64) -> String) = match y_axis {
        YAxis::Probability => (1.0, 0.25, |v| format!("{}%", trim(v * 100.0))),
        YAxis::Seconds => {
            let step = nice_step(max, 5);
            ((max / step).ceil().max(1.0) * step, step, seconds_label)
        }
    };
    let y_at = |v: f64| y1 - (y1 - y0) * (v.clamp(0.0, top) / top);
    let mut y_ticks = Vec::new();
    let mut v = 0.0;
    while v <= top + step / 1000.0 {
        y_ticks.push(Tick {
            pos: r(y_at(v)),
            label: label(v),
        });
        v += step;
    }
    let every = n.div_ceil(MAX_X_LABELS).max(1);
    let x_ticks = x_labels
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0 || *i + 1 == n)
        .map(|(i, l)| Tick {
            pos: r(x_at(i)),
            label: l.clone(),
        })
        .collect();
    let lines = series
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let mut segments = Vec::new();
            let mut cur: Vec<String> = Vec::new();
            let mut dots = Vec::new();
            for (i, v) in s.values.iter().enumerate() {
                match v.filter(|v| v.is_finite()) {
                    Some(v) => {
                        let (x, y) = (r(x_at(i)), r(y_at(v)));
                        cur.push(format!("{x},{y}"));
                        let (title, class) = s.notes.get(i).cloned().unwrap_or_default();
                        dots.push(Dot { x, y, title, class });
                    }
                    None => {
                        if !cur.is_empty() {
                            segments.push(std::mem::take(&mut cur).join(" "));
                        }
                    }
                }
            }
            if !cur.is_empty() {
                segments.push(cur.join(" "));
            }
            Line {
                name: s.name.clone(),
                class: format!("s{}", k % PALETTE),
                segments,
                dots,
            }
        })
        .collect();
    Plot {
        width: WIDTH,
        height: HEIGHT,
        left: x0,
        right: x1,
        top: y0,
        bottom: y1,
        x_label: x_label.into(),
        y_label: match y_axis {
            YAxis::Seconds => "seconds".into(),
            YAxis::Probability => "confidence".into(),
        },
        x_ticks,
        y_ticks,
        lines,
    }
}

/// One mark of the verdict strip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mark {
    pub x: f64,
    /// `v-pass`, `v-fail`, ... (CSS).
    pub class: String,
    pub title: String,
    /// Link relative to the site root, if the run's page exists.
    pub href: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Strip {
    pub width: f64,
    pub height: f64,
    pub mark_width: f64,
    pub marks: Vec<Mark>,
}

pub const MARK_WIDTH: f64 = 10.0;
const MARK_GAP: f64 = 3.0;

/// The verdict strip: one mark per run, oldest on the left. `runs`: (class, title, href).
pub fn strip(runs: Vec<(String, String, Option<String>)>) -> Strip {
    let marks: Vec<Mark> = runs
        .into_iter()
        .enumerate()
        .map(|(i, (class, title, href))| Mark {
            x: i as f64 * (MARK_WIDTH + MARK_GAP),
            class,
            title,
            href,
        })
        .collect();
    Strip {
        width: (marks.len() as f64 * (MARK_WIDTH + MARK_GAP)).max(MARK_WIDTH),
        height: 28.0,
        mark_width: MARK_WIDTH,
        marks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, values: &[Option<f64>]) -> Series {
        Series {
            name: name.into(),
            values: values.to_vec(),
            notes: vec![],
        }
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(100.0, 5), 20.0);
        assert_eq!(nice_step(7.0, 5), 2.0);
        assert_eq!(nice_step(0.0, 5), 1.0);
        assert_eq!(nice_step(f64::NAN, 5), 1.0);
        assert_eq!(nice_step(1234.0, 5), 500.0);
        assert_eq!(seconds_label(1500.0), "1500 s");
        assert_eq!(seconds_label(0.25), "0.25 s");
    }

    #[test]
    fn values_map_into_the_plot_area() {
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let p = line_plot(
            "run",
            &labels,
            YAxis::Seconds,
            &[series("build", &[Some(0.0), Some(50.0), Some(100.0)])],
        );
        // 0..100 in steps of 20: the top tick is 100 s at the top of the area.
        assert_eq!(p.y_ticks.first().unwrap().pos, p.bottom);
        assert_eq!(p.y_ticks.last().unwrap().pos, p.top);
        assert_eq!(p.y_ticks.last().unwrap().label, "100 s");
        assert_eq!(p.y_ticks.len(), 6);
        assert_eq!(
            p.lines[0].segments,
            vec![format!(
                "{},{} {},{} {},{}",
                80.0, 272.0, 466.0, 144.0, 852.0, 16.0
            )]
        );
        assert_eq!(
            p.x_ticks
                .iter()
                .map(|t| t.label.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn gaps_break_lines_and_bad_numbers_never_reach_the_svg() {
        let labels: Vec<String> = (0..4).map(|i| i.to_string()).collect();
        let p = line_plot(
            "run",
            &labels,
            YAxis::Seconds,
            &[series(
                "x",
                &[Some(1.0), None, Some(f64::NAN), Some(f64::INFINITY)],
            )],
        );
        assert_eq!(p.lines[0].segments.len(), 1);
        assert_eq!(p.lines[0].dots.len(), 1);
        let json = serde_json::to_string(&p).unwrap();
        assert!(
            !json.contains("NaN") && !json.contains("inf") && !json.contains("null"),
            "{json}"
        );
        // All zeros: still a sane axis.
        let p = line_plot(
            "run",
            &labels[..1],
            YAxis::Seconds,
            &[series("x", &[Some(0.0)])],
        );
        assert_eq!(p.y_ticks.last().unwrap().label, "1 s");
        assert_eq!(p.lines[0].dots[0].x, (p.left + p.right) / 2.0);
    }

    #[test]
    fn probabilities_are_percent() {
        let labels: Vec<String> = (1..=2).map(|i| i.to_string()).collect();
        let p = line_plot(
            "run",
            &labels,
            YAxis::Probability,
            &[series("c", &[Some(0.5), Some(1.0)])],
        );
        let l: Vec<&str> = p.y_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(l, ["0%", "25%", "50%", "75%", "100%"]);
        assert_eq!(p.lines[0].dots[1].y, p.top);
        assert_eq!(p.lines[0].dots[0].y, (p.top + p.bottom) / 2.0);
    }

    #[test]
    fn many_x_labels_are_thinned() {
        let labels: Vec<String> = (0..95).map(|i| i.to_string()).collect();
        let p = line_plot("run", &labels, YAxis::Seconds, &[]);
        assert!(p.x_ticks.len() <= MAX_X_LABELS + 1, "{}", p.x_ticks.len());
        assert_eq!(p.x_ticks.last().unwrap().label, "94");
    }

    #[test]
    fn strip_marks_are_laid_out_left_to_right() {
        let s = strip(vec![
            ("v-pass".into(), "a".into(), None),
            ("v-fail".into(), "b".into(), Some("runs/b.html".into())),
        ]);
        assert_eq!(s.marks[1].x, MARK_WIDTH + MARK_GAP);
        assert_eq!(s.width, 2.0 * (MARK_WIDTH + MARK_GAP));
    }
}
