//! `redo --timings` (issue 15): the timeline of a whole build, across nested redos.
//! A build of a known shape (a fan-in of sleeping jobs under -j2, a chain, a `.do` that
//! runs make with its own jobs) gives a trace with one complete event per job, the right
//! nesting, waits for slots and the chain as the critical path; the page is well-formed
//! XML, self-contained, and headless Chromium draws it without console errors. Structure
//! and order are asserted, never durations (beyond "a sleep's bar is not shorter than
//! the sleep").

use std::collections::HashMap;
use std::time::Instant;

use serde_json::Value;

use crate::core_common::*;
use crate::sandbox::*;

/// all -> fan (s1..s4, 0.2 s each), chain (c3 -> c2 -> c1, 0.8 s each), mk (make with
/// two 0.2 s recipes joining redo's jobserver). Under -j2 the chain holds one slot the
/// whole build, so the fan's sleeps and make's recipes share the other: 1.2 s beside
/// the chain's 2.4 s (a margin that survives a loaded machine's process starts).
fn shaped() -> Sandbox {
    let mut sb = new_sb()
        .file("all.do", "redo-ifchange fan chain mk\n")
        .file("fan.do", "redo-ifchange s1 s2 s3 s4\n")
        .file("chain.do", "redo-ifchange c3\n")
        .file("c3.do", "redo-ifchange c2\nsleep 0.8\n")
        .file("c2.do", "redo-ifchange c1\nsleep 0.8\n")
        .file("c1.do", "sleep 0.8\n")
        .file("mk.do", "\"$MAKE\" -s -f sub.mk >&2\n")
        .file("sub.mk", "all: a b\na b:\n\tsleep 0.2\n")
        .env("MAKE", tool_make43());
    for i in 1..=4 {
        sb = sb.file(format!("s{i}.do"), "sleep 0.2\n");
    }
    sb
}

fn trace(sb: &Sandbox, rel: &str) -> Value {
    serde_json::from_str(&sb.read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The job events by target.
fn jobs(t: &Value) -> HashMap<String, Vec<Value>> {
    let mut by: HashMap<String, Vec<Value>> = HashMap::new();
    for e in t["traceEvents"].as_array().expect("traceEvents") {
        if e["cat"] == "job" {
            assert_eq!(e["ph"], "X", "{e}");
            by.entry(e["name"].as_str().unwrap().to_string())
                .or_default()
                .push(e.clone());
        }
    }
    by
}

fn end_us(e: &Value) -> f64 {
    e["ts"].as_f64().unwrap() + e["dur"].as_f64().unwrap()
}

#[test]
fn timings_json_has_one_event_per_job_nesting_slot_waits_and_the_chain_as_critical_path() {
    let sb = shaped();
    let out = sb.run(&["redo", "-j2", "--timings=tl", "all"]);
    out.success().no_jobserver_warnings();
    let last = out.stderr().lines().last().unwrap_or_default().to_string();
    assert_eq!(last, "redo: timings: tl.html (trace: tl.json)", "{out:?}");
    assert!(!sb.exists("tl.record"), "the record is removed at the end");
    let t = trace(&sb, "tl.json");
    let by = jobs(&t);
    let mut names: Vec<&str> = by.keys().map(String::as_str).collect();
    names.sort();
    let want = [
        "all", "c1", "c2", "c3", "chain", "fan", "mk", "s1", "s2", "s3", "s4",
    ];
    assert_eq!(names, want, "make's recipes are not redo's jobs");
    let one = |n: &str| -> &Value {
        assert_eq!(by[n].len(), 1, "one complete event for {n}: {:?}", by[n]);
        &by[n][0]
    };
    // Nesting: each job's parent and level, and a job run on its parent's slot on
    // the parent's track, inside the parent's event.
    for (n, parent, level) in [
        ("all", Value::Null, 0),
        ("fan", "all".into(), 1),
        ("chain", "all".into(), 1),
        ("mk", "all".into(), 1),
        ("s1", "fan".into(), 2),
        ("s4", "fan".into(), 2),
        ("c3", "chain".into(), 2),
        ("c2", "c3".into(), 3),
        ("c1", "c2".into(), 4),
    ] {
        let e = one(n);
        assert_eq!(e["args"]["parent"], parent, "{n}: {e}");
        assert_eq!(e["args"]["level"], level, "{n}: {e}");
        assert_eq!(e["args"]["outcome"], "built", "{n}: {e}");
        assert_eq!(e["args"]["do"], format!("{n}.do"), "{n}: {e}");
        if let Some(p) = parent.as_str() {
            let p = one(p);
            assert!(
                e["ts"].as_f64() >= p["ts"].as_f64() && end_us(e) <= end_us(p),
                "{n} inside its parent: {e} {p}"
            );
            if e["args"]["token"] == false {
                assert_eq!(e["tid"], p["tid"], "{n} runs on its parent's slot: {e} {p}");
            }
        }
    }
    // Order along the chain; a sleep's bar is at least the sleep.
    assert!(end_us(one("c1")) <= end_us(one("c2")) && end_us(one("c2")) <= end_us(one("c3")));
    assert!(one("c1")["dur"].as_f64().unwrap() >= 0.8e6, "{}", one("c1"));
    // Four sleeps ready at once, at most two slots: at least two waited for one.
    let waited = (1..=4)
        .filter(|i| {
            one(&format!("s{i}"))["args"]["slot_wait_ms"]
                .as_f64()
                .unwrap()
                > 0.0
        })
        .count();
    assert!(waited >= 2, "{by:?}");
    let events = t["traceEvents"].as_array().unwrap();
    assert!(events
        .iter()
        .any(|e| e["cat"] == "slot-wait" && e["ph"] == "b"));
    // One track per slot: -j2 means two.
    let tracks = events.iter().filter(|e| e["name"] == "thread_name").count();
    assert_eq!(tracks, 2, "{t}");
    // The curves: never more than the limit, and the served pipe was sampled.
    let counters: Vec<&Value> = events.iter().filter(|e| e["ph"] == "C").collect();
    assert!(counters
        .iter()
        .any(|c| c["args"]["whole tree (pipe)"].is_number()));
    for c in &counters {
        assert!(c["args"]["redo jobs"].as_i64().unwrap() <= 2, "{c}");
        assert!(
            c["args"]["whole tree (pipe)"].as_i64().unwrap_or(0) <= 2,
            "{c}"
        );
    }
    assert_eq!(t["otherData"]["slots"], 2);
    let critical: Vec<&str> = t["otherData"]["critical_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(critical, ["all", "chain", "c3", "c2", "c1"]);
    // The page's critical path table names the chain in order.
    let html = sb.read("tl.html");
    let table = &html[html.find("id=\"critical\"").expect("critical table")..];
    let at = |n: &str| {
        table
            .find(&format!("<td>{n}</td>"))
            .unwrap_or_else(|| panic!("{n}"))
    };
    assert!(
        at("all") < at("chain")
            && at("chain") < at("c3")
            && at("c3") < at("c2")
            && at("c2") < at("c1")
    );
}

#[test]
fn timings_count_the_tokens_make_holds_inside_a_do() {
    let sb = new_sb()
        .file("mk.do", "\"$MAKE\" -s -f sub.mk >&2\n")
        .file("sub.mk", "all: a b c\na b c:\n\tsleep 0.4\n")
        .env("MAKE", tool_make43());
    sb.run(&["redo", "-j3", "--timings=tl", "mk"])
        .success()
        .no_jobserver_warnings();
    let t = trace(&sb, "tl.json");
    assert_eq!(jobs(&t).len(), 1, "make's recipes are not redo's jobs: {t}");
    let counters: Vec<&Value> = t["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "C")
        .collect();
    let max = |k: &str| counters.iter().filter_map(|c| c["args"][k].as_i64()).max();
    // One .do holds one slot; make runs its three recipes at once on the tree's three.
    assert_eq!(max("redo jobs"), Some(1), "{counters:?}");
    assert_eq!(max("whole tree (pipe)"), Some(3), "{counters:?}");
}

#[test]
fn timings_default_path_env_var_failures_and_waits_for_other_processes() {
    let sb = new_sb()
        .file("all.do", "redo-ifchange x y\n")
        // Two redos of one .do want x at once: one builds it, the other waits.
        .file("x.do", "sleep 0.2\n")
        .file("y.do", "redo-ifchange x &\nredo-ifchange x\nwait\n")
        .file("bad.do", "exit 3\n");
    let out = sb.run(&["redo", "-j3", "--timings", "all"]);
    out.success();
    let last = out.stderr().lines().last().unwrap_or_default().to_string();
    let html = last
        .strip_prefix("redo: timings: .redo/timings-")
        .and_then(|r| r.split_once(".html (trace: .redo/timings-"))
        .map(|(stamp, _)| stamp.to_string())
        .unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(html.len(), "20261206-011952".len(), "{last}");
    let t = trace(&sb, &format!(".redo/timings-{html}.json"));
    let by = jobs(&t);
    let outcomes: Vec<&str> = by["x"]
        .iter()
        .map(|e| e["args"]["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"built") && outcomes.contains(&"waited"),
        "{outcomes:?}"
    );
    assert_eq!(
        by["x"]
            .iter()
            .filter(|e| e["args"]["outcome"] == "built")
            .count(),
        1
    );
    // REDO_TIMINGS=PATH, and a failure is recorded (the timeline is written anyway).
    let out = sb.cmd(&["redo", "bad"]).env("REDO_TIMINGS", "t/f").run();
    out.failure();
    let t = trace(&sb, "t/f.json");
    assert_eq!(jobs(&t)["bad"][0]["args"]["outcome"], "failed");
    assert!(sb.read("t/f.html").contains("1 failed"));
}

#[test]
fn timings_off_writes_nothing_and_an_outer_record_gets_no_lines() {
    let sb = new_sb()
        .file("all.do", "redo-ifchange a\n")
        .file("a.do", "redo --timings=nested b\necho a\n")
        .file("b.do", "echo b\n")
        .file("outer.record", "");
    // A top level that does not record must not let its tree append to a record
    // inherited from an outer build.
    let out = sb
        .cmd(&["redo", "all"])
        .env("REDO_FERREDO_TIMINGS_RECORD", sb.abs("outer.record"))
        .run();
    out.success();
    assert!(!out.stderr().contains("timings"), "{out:?}");
    assert_eq!(sb.read("outer.record"), "");
    // A nested `redo --timings` renders nothing: only the top level does.
    assert!(!sb.exists("nested.html") && !sb.exists("nested.record"));
    let leftovers: Vec<_> = std::fs::read_dir(sb.path(".redo"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("timings-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn timings_html_is_well_formed_xml_and_self_contained() {
    let xmllint = require_tool("xmllint");
    let sb = shaped();
    sb.run(&["redo", "-j2", "--timings=tl", "all"]).success();
    let x = xmllint.to_str().unwrap();
    sb.run(&[x, "--noout", "tl.html"]).success().stderr_is("");
    // libxml2's HTML parser is HTML 4: it knows no SVG element names and says so;
    // anything else it reports is an error in the page.
    let html4 = sb.run(&[x, "--html", "--noout", "tl.html"]);
    html4.success();
    let stderr = html4.stderr();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("parser error") && !l.contains("invalid"))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    for l in stderr.lines().filter(|l| l.contains("parser error")) {
        let tag = l.split("Tag ").nth(1).and_then(|r| r.split(' ').next());
        assert!(
            matches!(
                tag,
                Some("svg" | "g" | "rect" | "line" | "polyline" | "text" | "title")
            ),
            "{l}"
        );
    }
    let html = sb.read("tl.html");
    assert_eq!(html.matches("<svg ").count(), 2, "the curve and the rows");
    for needle in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(needle), "not self-contained: {needle}");
    }
    // Hovering a bar shows its details.
    assert!(html.contains("<title>c1\n.do: c1.do\nbuilt: "), "{html}");
    assert!(
        html.contains("make, cargo or ninja"),
        "the legend says what a bar is"
    );
}

/// Headless Chromium screenshots a page; (pngstat's line, the browser's console lines).
fn screenshot(sb: &Sandbox, page: &str) -> (String, Vec<String>) {
    let chromium = require_tool("chromium");
    let url = format!("file://{}", sb.abs(page));
    let shot = sb.abs(format!("{page}.png"));
    let profile = sb.abs("chromium-profile");
    let out = sb
        .cmd(&[
            chromium.to_str().unwrap(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={profile}"),
            "--window-size=1300,900",
            &format!("--screenshot={shot}"),
            &url,
        ])
        .env("HOME", sb.abs("."))
        .run();
    out.success();
    let console = out
        .stderr()
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    let stat = sb.run(&["pngstat", &shot]);
    stat.success();
    (stat.stdout().trim().to_string(), console)
}

fn inked(stat: &str) -> usize {
    stat.split_once("inked=")
        .and_then(|(_, r)| r.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{stat}"))
}

#[test]
fn timings_page_renders_in_headless_chromium_without_console_errors() {
    let sb = shaped();
    sb.run(&["redo", "-j2", "--timings=tl", "all"]).success();
    // The harness sees a console error and a blank page when there is one.
    sb.write(
        "control.html",
        "<html><body><script>console.error('control')</script></body></html>",
    );
    let started = Instant::now();
    let (stat, console) = screenshot(&sb, "control.html");
    assert_eq!(inked(&stat), 0, "{stat}");
    assert!(console.iter().any(|l| l.contains("control")), "{console:?}");
    let (stat, console) = screenshot(&sb, "tl.html");
    assert!(console.is_empty(), "console: {console:?}");
    // Bars, curves, text: thousands of pixels in several colours.
    assert!(inked(&stat) > 20_000, "{stat}");
    let colours: usize = stat.rsplit_once("colours=").unwrap().1.parse().unwrap();
    assert!(colours >= 5, "{stat}");
    eprintln!(
        "two headless chromium screenshots took {:?}",
        started.elapsed()
    );
}
