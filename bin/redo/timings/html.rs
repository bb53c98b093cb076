//! The timeline as one self-contained page: inline CSS and SVG, no script,
//! no network. Well-formed XML throughout (an XML parser reads every
//! `<svg>`), so any browser renders it and a test can parse it.
//!
//! Top to bottom: a summary; the curve of slots held by redo's jobs, jobs
//! waiting for a slot and (for a served jobserver) the whole tree's slots
//! against the `-j` limit; the rows of slots, each job a bar coloured by
//! outcome with its wait for a slot drawn before it, hovering shows the
//! details (`<title>`); the legend; the slowest targets and the critical path.

use std::fmt::Write;
use std::path::Path;

use super::json::outcome_name;
use super::model::{self, Model, Outcome};

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 20.0;
const ROW: f64 = 22.0;
const CURVE_H: f64 = 130.0;

/// `s` with XML's special characters escaped.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

struct Scale {
    total: f64,
}

impl Scale {
    fn x(&self, t: f64) -> f64 {
        LEFT + (t / self.total).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }
    /// A round step giving about ten ticks.
    fn step(&self) -> f64 {
        let raw = self.total / 10.0;
        let p = 10f64.powf(raw.log10().floor());
        [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * p)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * p)
    }
}

const STYLE: &str = "body{font:13px sans-serif;margin:16px;color:#222}\
h1{font-size:18px}h2{font-size:15px;margin-top:22px}\
table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
.legend span{display:inline-block;width:14px;height:10px;margin:0 4px 0 12px;vertical-align:middle}\
svg text{font:11px sans-serif}svg .lbl{fill:#fff;pointer-events:none}\
svg .axis{fill:#555}svg rect.crit{stroke:#000;stroke-width:1.5}";

const BUILT: &str = "#3f8f50";
const FAILED: &str = "#c0392b";
const WAITED: &str = "#4a6fb5";
const SLOT_WAIT: &str = "#e67e22";
const PIPE: &str = "#8e44ad";

pub fn render(m: &Model, show: &dyn Fn(&Path) -> String) -> String {
    let sc = Scale {
        total: m.total.max(0.001),
    };
    let mut h = String::with_capacity(4096 + m.jobs.len() * 600);
    h.push_str("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\"><head><meta charset=\"utf-8\"/>");
    let _ = write!(
        h,
        "<title>redo timings</title><style>{STYLE}</style></head><body>"
    );
    summary(&mut h, m, show);
    curve(&mut h, m, &sc);
    timeline(&mut h, m, &sc, show);
    legend(&mut h);
    tables(&mut h, m, show);
    h.push_str("</body></html>\n");
    h
}

fn summary(h: &mut String, m: &Model, show: &dyn Fn(&Path) -> String) {
    let n = |o| m.jobs.iter().filter(|j| j.outcome == o).count();
    let slots = m
        .slots
        .map_or("unlimited slots".into(), |n| format!("-j{n}"));
    let top = m
        .critical
        .first()
        .map_or(String::new(), |&c| show(&m.jobs[c].target));
    let _ = write!(
        h,
        "<h1>redo timings: {}</h1><p>{:.3} s, {slots}; {} job(s) built, {} failed, {} waited for another process; {} slot row(s) used.</p>",
        esc(&top),
        m.total,
        n(Outcome::Built),
        n(Outcome::Failed),
        n(Outcome::Waited),
        m.lanes
    );
}

fn axis(h: &mut String, sc: &Scale, y: f64, height: f64) {
    let step = sc.step();
    let mut t = 0.0;
    while t <= sc.total + 1e-9 {
        let x = sc.x(t);
        let _ = write!(
            h,
            "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/><text class=\"axis\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}s</text>",
            y + height,
            y - 3.0,
            trim(t)
        );
        t += step;
    }
}

fn trim(t: f64) -> String {
    let s = format!("{t:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One curve's value in a sample (None: not known then).
type Series = dyn Fn(&model::Sample) -> Option<i32>;

/// A step curve of one series: `None` values are left out.
fn steps(
    m: &Model,
    sc: &Scale,
    y: &dyn Fn(f64) -> f64,
    v: &dyn Fn(&model::Sample) -> Option<i32>,
) -> String {
    let mut pts = String::new();
    let mut last: Option<f64> = None;
    for s in &m.samples {
        let Some(val) = v(s) else { continue };
        let x = sc.x(s.t);
        if let Some(ly) = last {
            let _ = write!(pts, "{x:.1},{ly:.1} ");
        }
        let ny = y(f64::from(val));
        let _ = write!(pts, "{x:.1},{ny:.1} ");
        last = Some(ny);
    }
    if let Some(ly) = last {
        let _ = write!(pts, "{:.1},{ly:.1}", sc.x(m.total));
    }
    pts
}

fn curve(h: &mut String, m: &Model, sc: &Scale) {
    let top = 18.0;
    let max = m
        .samples
        .iter()
        .map(|s| s.running.max(s.waiting).max(s.pipe.unwrap_or(0)))
        .max()
        .unwrap_or(0)
        .max(m.slots.unwrap_or(0) as i32)
        .max(1);
    let y = |v: f64| top + CURVE_H - v / f64::from(max) * (CURVE_H - 8.0);
    let _ = write!(
        h,
        "<h2>Slots over time</h2><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{:.0}\" role=\"img\"><title>slots held and jobs waiting over time</title>",
        top + CURVE_H + 6.0
    );
    axis(h, sc, top, CURVE_H);
    for v in 0..=max {
        let _ = write!(
            h,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
            LEFT - 6.0,
            y(f64::from(v)) + 4.0
        );
    }
    if let Some(n) = m.slots {
        let ly = y(f64::from(n));
        let _ = write!(h, "<line x1=\"{LEFT}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"#c0392b\" stroke-dasharray=\"6,4\"><title>-j{n}: the limit</title></line>", WIDTH - RIGHT);
    }
    let series: [(&str, &str, &Series); 3] = [
        (
            PIPE,
            "slots the whole tree holds (tokens out of the pipe + the top level's own)",
            &|s| s.pipe,
        ),
        (BUILT, "slots held by redo's jobs", &|s| Some(s.running)),
        (SLOT_WAIT, "jobs waiting for a slot", &|s| Some(s.waiting)),
    ];
    for (colour, what, v) in series {
        let pts = steps(m, sc, &y, v);
        if !pts.is_empty() {
            let width = if colour == PIPE { 5 } else { 2 };
            let _ = write!(h, "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\" points=\"{pts}\"><title>{}</title></polyline>", esc(what));
        }
    }
    h.push_str("</svg>");
}

/// Where each row starts: a row is as tall as its deepest nesting (a job
/// run on its parent's slot is drawn below the parent, flame-chart style).
fn row_tops(m: &Model, top: f64) -> Vec<f64> {
    let rows = (m.lanes + m.wait_lanes).max(1);
    let mut depth = vec![0usize; rows];
    for j in &m.jobs {
        if let Some(d) = depth.get_mut(j.lane) {
            *d = (*d).max(j.depth);
        }
    }
    let mut y = top;
    let mut tops = Vec::with_capacity(rows + 1);
    for d in depth {
        tops.push(y);
        y += (d + 1) as f64 * ROW + 4.0;
    }
    tops.push(y);
    tops
}

fn timeline(h: &mut String, m: &Model, sc: &Scale, show: &dyn Fn(&Path) -> String) {
    let top = 18.0;
    let tops = row_tops(m, top);
    let height = tops[tops.len() - 1] - top;
    let _ = write!(
        h,
        "<h2>Jobs, one row per slot</h2><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{:.0}\" role=\"img\"><title>the jobs of the build</title>",
        top + height + 4.0
    );
    axis(h, sc, top, height);
    for (r, w) in tops.windows(2).enumerate() {
        let name = if r < m.lanes {
            format!("slot {}", r + 1)
        } else {
            "waits (no slot)".to_string()
        };
        let _ = write!(h, "<text class=\"axis\" x=\"4\" y=\"{:.1}\">{name}</text><line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>", w[0] + 15.0, w[1] - 2.0, WIDTH - RIGHT, w[1] - 2.0);
    }
    for i in 0..m.jobs.len() {
        let j = &m.jobs[i];
        bar(h, m, sc, i, tops[j.lane] + j.depth as f64 * ROW, show);
    }
    h.push_str("</svg>");
}

/// Job `i`'s bar, its wait for a slot before it, at height `y`.
fn bar(h: &mut String, m: &Model, sc: &Scale, i: usize, y: f64, show: &dyn Fn(&Path) -> String) {
    let j = &m.jobs[i];
    let bh = ROW - 5.0;
    if j.slot_wait() > 0.0005 {
        let (x0, x1) = (sc.x(j.ready), sc.x(j.slot));
        let _ = write!(h, "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"3\" fill=\"{SLOT_WAIT}\"><title>{} waited {:.3} s for a jobserver slot</title></rect>", y + ROW - 4.0, (x1 - x0).max(1.0), esc(&show(&j.target)), j.slot_wait());
    }
    let y = y + 1.0;
    let (x0, x1) = (sc.x(j.start), sc.x(j.bar_end()));
    let w = (x1 - x0).max(1.0);
    let colour = match j.outcome {
        Outcome::Built => BUILT,
        Outcome::Failed => FAILED,
        Outcome::Waited => WAITED,
    };
    let crit = if m.critical.contains(&i) {
        " class=\"crit\""
    } else {
        ""
    };
    let target = show(&j.target);
    let do_file = show(&j.do_file);
    let parent = j
        .parent
        .map_or("none (top level)".into(), |p| show(&m.jobs[p].target));
    let title = format!(
        "{target}\n.do: {do_file}\n{}: {:.3} s (from {:.3} s to {:.3} s; slot given back at {:.3} s)\nwaited for a slot: {:.3} s ({})\nredo pid {} at level {}, .do pid {}\nbuilt for: {parent}",
        outcome_name(j.outcome),
        j.dur(),
        j.start,
        j.end,
        j.bar_end(),
        j.slot_wait(),
        if j.token { "a jobserver token" } else { "its redo's own slot" },
        j.redo_pid,
        j.level,
        j.do_pid.map_or("-".into(), |p| p.to_string()),
    );
    let _ = write!(h, "<g><title>{}</title><rect{crit} x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bh:.1}\" rx=\"2\" fill=\"{colour}\"/>", esc(&title));
    if sc.x(j.end) - x1 >= 1.0 {
        // The commit, after the slot was given back.
        let _ = write!(h, "<rect x=\"{x1:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"2\" fill=\"{colour}\" opacity=\"0.6\"/>", y + bh - 2.0, sc.x(j.end) - x1);
    }
    let label = format!("{target} ({do_file})");
    let fit = ((w - 6.0) / 6.2).floor().max(0.0) as usize;
    if fit >= 3 && bh >= 10.0 {
        let text: String = if label.chars().count() > fit {
            label
                .chars()
                .take(fit.saturating_sub(1))
                .chain(['…'])
                .collect()
        } else {
            label
        };
        let _ = write!(
            h,
            "<text class=\"lbl\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x0 + 3.0,
            y + bh - 4.0,
            esc(&text)
        );
    }
    h.push_str("</g>");
}

fn legend(h: &mut String) {
    let _ = write!(
        h,
        "<p class=\"legend\"><span style=\"background:{BUILT}\"></span>built<span style=\"background:{FAILED}\"></span>failed\
<span style=\"background:{WAITED}\"></span>waited for another process building the target (holds no slot)\
<span style=\"background:{SLOT_WAIT}\"></span>waiting for a jobserver slot (before the job's bar)\
<span style=\"background:{PIPE}\"></span>slots the whole tree holds</p>\
<p>A job run on the slot of the <code>.do</code> that started its redo is drawn below that job, in its row; a framed bar is on the critical path. \
Jobs that make, cargo or ninja run inside a <code>.do</code> are not redo's jobs: the <code>.do</code> that ran them is one bar, \
and the extra jobserver tokens they held show only in the purple curve (tokens out of the pipe the top level serves, sampled).</p>"
    );
}

fn tables(h: &mut String, m: &Model, show: &dyn Fn(&Path) -> String) {
    let kids = model::children(&m.jobs);
    let mut slow: Vec<usize> = (0..m.jobs.len())
        .filter(|&i| m.jobs[i].outcome != Outcome::Waited)
        .collect();
    slow.sort_by(|&a, &b| m.jobs[b].dur().total_cmp(&m.jobs[a].dur()));
    slow.truncate(15);
    let row = |h: &mut String, i: usize| {
        let j = &m.jobs[i];
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td>{}</td></tr>",
            esc(&show(&j.target)),
            esc(&show(&j.do_file)),
            j.dur(),
            model::own_time(&m.jobs, &kids[i], i),
            j.slot_wait(),
            j.end,
            outcome_name(j.outcome)
        );
    };
    let head = "<tr><th>target</th><th>.do</th><th>ran (s)</th><th>own (s)</th><th>slot wait (s)</th><th>ended at (s)</th><th>outcome</th></tr>";
    let _ = write!(h, "<h2>Slowest targets</h2><table id=\"slowest\">{head}");
    for i in slow {
        row(h, i);
    }
    let _ = write!(h, "</table><h2>Critical path</h2><p>From the top-level job that ended last, each step the dependency that ended last: the chain that set the build's length.</p><table id=\"critical\">{head}");
    for &i in &m.critical {
        row(h, i);
    }
    h.push_str("</table>");
}
