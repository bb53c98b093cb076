//! The timeline in the Chrome trace event format (the JSON object form),
//! which Perfetto and chrome://tracing load: one thread per slot row
//! (`slot 1`...), then rows for waits on other processes; each job a
//! complete (`X`) event, a job run on its parent's slot nested inside the
//! parent's; each wait for a slot an async (`b`/`e`) event of category
//! `slot-wait`; the curves as counter (`C`) events. The redo process of a
//! job, its level and its parent are in its `args`.

use std::fmt::Write;

use super::model::{Model, Outcome};

/// `s` as a JSON string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn us(t: f64) -> String {
    format!("{:.1}", t * 1e6)
}

pub fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Built => "built",
        Outcome::Failed => "failed",
        Outcome::Waited => "waited",
    }
}

/// The whole file; `show` names a path as the user sees it.
pub fn render(m: &Model, show: &dyn Fn(&std::path::Path) -> String) -> String {
    let mut ev: Vec<String> = Vec::with_capacity(m.jobs.len() * 3 + m.samples.len() + 8);
    let slots = m.slots.map_or("unlimited".into(), |n| format!("-j{n}"));
    ev.push(format!(
        r#"{{"name":"process_name","ph":"M","pid":1,"tid":0,"args":{{"name":{}}}}}"#,
        string(&format!(
            "redo build ({slots}), top level pid {}",
            m.top_pid
        ))
    ));
    for lane in 0..m.lanes + m.wait_lanes {
        let name = if lane < m.lanes {
            format!("slot {}", lane + 1)
        } else {
            format!("waits for other processes {}", lane - m.lanes + 1)
        };
        ev.push(format!(
            r#"{{"name":"thread_name","ph":"M","pid":1,"tid":{},"args":{{"name":{}}}}}"#,
            lane + 1,
            string(&name)
        ));
        ev.push(format!(
            r#"{{"name":"thread_sort_index","ph":"M","pid":1,"tid":{},"args":{{"sort_index":{}}}}}"#,
            lane + 1,
            lane
        ));
    }
    for (i, j) in m.jobs.iter().enumerate() {
        let target = show(&j.target);
        let parent = j
            .parent
            .map_or("null".into(), |p| string(&show(&m.jobs[p].target)));
        ev.push(format!(
            concat!(
                r#"{{"name":{},"cat":"job","ph":"X","ts":{},"dur":{},"pid":1,"tid":{},"#,
                r#""args":{{"target":{},"do":{},"outcome":"{}","redo_pid":{},"do_pid":{},"#,
                r#""level":{},"parent":{},"slot_wait_ms":{:.3},"token":{}}}}}"#
            ),
            string(&target),
            us(j.start),
            us(j.bar_end() - j.start),
            j.lane + 1,
            string(&target),
            string(&show(&j.do_file)),
            outcome_name(j.outcome),
            j.redo_pid,
            j.do_pid.map_or("null".into(), |p| p.to_string()),
            j.level,
            parent,
            j.slot_wait() * 1e3,
            j.token
        ));
        if j.slot_wait() > 0.0005 {
            for (ph, t) in [("b", j.ready), ("e", j.slot)] {
                ev.push(format!(
                    r#"{{"name":{},"cat":"slot-wait","ph":"{ph}","id":{i},"ts":{},"pid":1,"tid":{}}}"#,
                    string(&format!("waits for a slot: {target}")),
                    us(t),
                    j.lane + 1
                ));
            }
        }
    }
    for s in &m.samples {
        let pipe = s
            .pipe
            .map_or(String::new(), |p| format!(r#","whole tree (pipe)":{p}"#));
        ev.push(format!(
            r#"{{"name":"slots","ph":"C","pid":1,"ts":{},"args":{{"redo jobs":{},"waiting for a slot":{}{pipe}}}}}"#,
            us(s.t),
            s.running,
            s.waiting
        ));
    }
    let critical: Vec<String> = m
        .critical
        .iter()
        .map(|&c| string(&show(&m.jobs[c].target)))
        .collect();
    format!(
        "{{\"displayTimeUnit\":\"ms\",\"otherData\":{{\"tool\":\"ferredo redo --timings\",\"slots\":{},\"critical_path\":[{}]}},\n\"traceEvents\":[\n{}\n]}}\n",
        m.slots.map_or("null".into(), |n| n.to_string()),
        critical.join(","),
        ev.join(",\n")
    )
}
