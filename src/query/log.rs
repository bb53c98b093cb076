//! `redo-log`: show the stderr a target's last build kept (`redo -k`).
//!
//! Plain: `.redo/T.log` as it is, each line `@<TAI64N> <text>` (pipe through
//! `tai64nlocal` for local times).
//!
//! `-c` first prints the invocation from `.redo/T.log-rec`: its `Cmd`, each
//! `Arg`, `Cwd`, `Started`, `Finished`, `Duration` (nanoseconds) and, for a
//! failed run, `ExitCode` fields, as recfile lines in that order, then an
//! empty line.
//!
//! `-r` also shows, recursively, the logs of the dependencies the target's
//! `.log-rec` lists (`Ifchange` fields) that were built in the same build run
//! (same `Build` UUID), each inserted where it started — before the first
//! line of the dependant logged after it — in order of their `Started`
//! labels. A dependency's block is framed by marker lines at the dependant's
//! depth, and its own lines are indented two spaces per depth after the
//! label, so the whole output still goes through `tai64nlocal`:
//!
//! ```text
//! @4000000065a0000000000001 all: start
//! @4000000065a0000000000002 redo sub/a
//! @4000000065a0000000000003   a: working
//! @4000000065a0000000000004 done sub/a (0.010s)
//! @4000000065a0000000000005 redo b
//! @4000000065a0000000000006 err b (code: 1)
//! @4000000065a0000000000007 all: end
//! ```
//!
//! The markers carry the dependency's `Started` / `Finished` labels; `done`
//! shows `Duration` in seconds, `err` the `ExitCode`. A dependency built in
//! the same run by several dependants is shown once, under the first.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{Here, Problems, QueryError};
use crate::state::rec::{self, Fields};
use crate::target::Target;

/// What to show besides the log itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub invocation: bool,
    pub recursive: bool,
}

/// The parsed `.log-rec` of target `t`: None when absent, Err when unreadable.
pub fn log_rec(t: &Target) -> Option<Result<Fields, QueryError>> {
    let p = t.log_rec_path();
    let b = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            return Some(Err(QueryError::Io {
                file: p.display().to_string(),
                source: e,
            }))
        }
    };
    Some(
        rec::parse(&String::from_utf8_lossy(&b))
            .map_err(QueryError::Rec)
            .map(|mut v| {
                if v.is_empty() {
                    Fields::new()
                } else {
                    v.swap_remove(0)
                }
            }),
    )
}

fn rec_line(out: &mut Vec<u8>, k: &str, v: &str) {
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(v.replace('\n', "\n+ ").as_bytes());
    out.push(b'\n');
}

/// The label (`@` + 24 hex digits) a log line starts with, if any, and the
/// rest after the separating space.
fn split_label(line: &[u8]) -> (Option<&[u8]>, &[u8]) {
    if line.len() >= 25 && line[0] == b'@' && line[1..25].iter().all(|c| c.is_ascii_hexdigit()) {
        let rest = &line[25..];
        (Some(&line[..25]), rest.strip_prefix(b" ").unwrap_or(rest))
    } else {
        (None, line)
    }
}

fn lines(b: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = b.split(|&c| c == b'\n').collect();
    if v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

fn duration_secs(ns: &str) -> Option<String> {
    let ns: u128 = ns.trim().parse().ok()?;
    Some(format!(
        "{}.{:03}s",
        ns / 1_000_000_000,
        (ns % 1_000_000_000) / 1_000_000
    ))
}

/// Render the log of `t` (absolute). Err: no log to show (message names the
/// target as shown and says how to keep one).
pub fn render(
    t: &Target,
    here: &Here,
    opts: Options,
    problems: &mut Problems,
) -> Result<Vec<u8>, QueryError> {
    let shown = here.show(t);
    let log = std::fs::read(t.log_path());
    let rec = log_rec(t);
    let log = match (log, &rec) {
        (Ok(b), _) => b,
        (Err(e), Some(Ok(_))) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        (Err(e), _) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(QueryError::NoLog(shown.display().to_string()))
        }
        (Err(e), _) => {
            return Err(QueryError::Io {
                file: here.show(&t.log_path()).display().to_string(),
                source: e,
            })
        }
    };
    let rec_file = here.show(&t.log_rec_path());
    let rec = match rec {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            problems.push(match e {
                QueryError::Rec(r) => format!("{}: {r}", rec_file.display()),
                // Names its file already.
                other => other.to_string(),
            });
            None
        }
        None => {
            if opts.invocation || opts.recursive {
                problems.push(format!(
                    "{}: missing, cannot show the invocation or dependencies",
                    rec_file.display()
                ));
            }
            None
        }
    };
    let mut out = Vec::with_capacity(log.len());
    if opts.invocation {
        if let Some(r) = &rec {
            for k in [
                "Cmd", "Arg", "Cwd", "Started", "Finished", "Duration", "ExitCode",
            ] {
                for v in rec::get_all(r, k) {
                    rec_line(&mut out, k, v);
                }
            }
            out.push(b'\n');
        }
    }
    match (&rec, opts.recursive) {
        (Some(r), true) => {
            let mut seen = HashSet::new();
            seen.insert(t.to_path_buf());
            let build = rec::get(r, "Build").unwrap_or("").to_string();
            let mut w = Writer {
                out: &mut out,
                here,
                build: &build,
                seen,
                problems,
            };
            w.body(t, r, &log, 0);
        }
        _ => out.extend_from_slice(&log),
    }
    Ok(out)
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    here: &'a Here,
    build: &'a str,
    seen: HashSet<PathBuf>,
    problems: &'a mut Problems,
}

struct Child {
    started: String,
    target: Target,
    rec: Fields,
}

impl Writer<'_> {
    fn indent(&mut self, label: Option<&[u8]>, depth: usize, text: &[u8]) {
        if let Some(l) = label {
            self.out.extend_from_slice(l);
            self.out.push(b' ');
        }
        for _ in 0..depth {
            self.out.extend_from_slice(b"  ");
        }
        self.out.extend_from_slice(text);
        self.out.push(b'\n');
    }

    /// The dependencies of `t` built in this run, by start label.
    fn children(&mut self, t: &Target, r: &Fields) -> Vec<Child> {
        let (dir, base) = (t.dir(), t.base());
        let mut v = Vec::new();
        for dep in rec::get_all(r, "Ifchange") {
            if dep.as_bytes() == base.as_bytes() {
                continue;
            }
            let abs = Target::join(dir, Path::new(dep));
            if self.seen.contains(abs.path()) {
                continue;
            }
            let Some(Ok(cr)) = log_rec(&abs) else {
                continue;
            };
            if rec::get(&cr, "Build") != Some(self.build) {
                continue;
            }
            self.seen.insert(abs.to_path_buf());
            v.push(Child {
                started: rec::get(&cr, "Started").unwrap_or("").to_string(),
                target: abs,
                rec: cr,
            });
        }
        v.sort_by(|a, b| a.started.cmp(&b.started));
        v
    }

    /// The log lines of a target at `depth`, with its children's blocks
    /// merged in by start time.
    fn body(&mut self, t: &Target, r: &Fields, log: &[u8], depth: usize) {
        let children = self.children(t, r);
        let mut next = children.into_iter().peekable();
        for line in lines(log) {
            let (label, text) = split_label(line);
            if let Some(l) = label {
                while next.peek().is_some_and(|c| c.started.as_bytes() < l) {
                    let c = next.next().expect("peeked");
                    self.block(c, depth);
                }
            }
            self.indent(label, depth, text);
        }
        for c in next {
            self.block(c, depth);
        }
    }

    fn block(&mut self, c: Child, depth: usize) {
        let name = self.here.show(&c.target);
        let name = name.as_os_str().as_bytes();
        let label = |k: &str| {
            rec::get(&c.rec, k)
                .filter(|l| l.len() == 25)
                .map(|l| l.as_bytes().to_vec())
        };
        let mut m = b"redo ".to_vec();
        m.extend_from_slice(name);
        self.indent(label("Started").as_deref(), depth, &m);
        let log = match std::fs::read(c.target.log_path()) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                self.problems.push(format!(
                    "{}: {e}",
                    self.here.show(&c.target.log_path()).display()
                ));
                Vec::new()
            }
        };
        self.body(&c.target, &c.rec, &log, depth + 1);
        let mut m = Vec::new();
        match rec::get(&c.rec, "ExitCode") {
            Some(code) => {
                m.extend_from_slice(b"err ");
                m.extend_from_slice(name);
                m.extend_from_slice(format!(" (code: {})", code.trim()).as_bytes());
            }
            None => {
                m.extend_from_slice(b"done ");
                m.extend_from_slice(name);
                if let Some(d) = rec::get(&c.rec, "Duration").and_then(duration_secs) {
                    m.extend_from_slice(format!(" ({d})").as_bytes());
                }
            }
        }
        self.indent(label("Finished").as_deref(), depth, &m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Tree;

    fn l(n: u32) -> String {
        format!("@40000000650000000000{n:04x}")
    }

    fn logrec(
        t: &Tree,
        target: &str,
        build: &str,
        start: u32,
        end: u32,
        code: Option<i32>,
        deps: &[&str],
    ) {
        let mut s = format!(
            "Build: {build}\nPPID: 1\nCwd: /x\nPID: 2\nStarted: {}\nFinished: {}\nDuration: 12345678\nCmd: /bin/sh\nArg: -e\nArg: {target}.do\n",
            l(start),
            l(end)
        );
        if let Some(c) = code {
            s.push_str(&format!("ExitCode: {c}\n"));
        }
        for d in deps {
            s.push_str(&format!("Ifchange: {d}\n"));
        }
        let p = t.p(target);
        t.write(
            &crate::paths::rel(&t.root(), &Target::new(p).log_rec_path())
                .display()
                .to_string(),
            &s,
        );
    }

    fn log(t: &Tree, target: &str, lines: &[(u32, &str)]) {
        let s: String = lines
            .iter()
            .map(|(n, x)| format!("{} {x}\n", l(*n)))
            .collect();
        let p = t.p(target);
        t.write(
            &crate::paths::rel(&t.root(), &Target::new(p).log_path())
                .display()
                .to_string(),
            &s,
        );
    }

    #[test]
    fn plain_invocation_and_recursive() {
        let t = Tree::new();
        logrec(
            &t,
            "all",
            "B",
            1,
            20,
            None,
            &["all.do", "sub/a", "b", "old", "all"],
        );
        log(&t, "all", &[(2, "all: start"), (19, "all: end")]);
        logrec(&t, "sub/a", "B", 3, 6, None, &["a.do", "c"]);
        log(&t, "sub/a", &[(5, "a: working")]);
        logrec(&t, "sub/c", "B", 4, 4, None, &[]);
        logrec(&t, "b", "B", 10, 12, Some(1), &["sub/c"]);
        log(&t, "b", &[(11, "b: oops")]);
        logrec(&t, "old", "OTHER", 7, 8, None, &[]);
        log(&t, "old", &[(7, "old")]);
        let mut pr = Problems::default();
        let plain = render(&t.t("all"), &t.here(), Options::default(), &mut pr).unwrap();
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            format!("{} all: start\n{} all: end\n", l(2), l(19))
        );
        let c = render(
            &t.t("all"),
            &t.here(),
            Options {
                invocation: true,
                recursive: false,
            },
            &mut pr,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(c).unwrap(),
            format!(
                "Cmd: /bin/sh\nArg: -e\nArg: all.do\nCwd: /x\nStarted: {}\nFinished: {}\nDuration: 12345678\n\n{} all: start\n{} all: end\n",
                l(1),
                l(20),
                l(2),
                l(19)
            )
        );
        let r = render(
            &t.t("all"),
            &crate::query::Here::absolute(t.p("sub")),
            Options {
                invocation: false,
                recursive: true,
            },
            &mut pr,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(r).unwrap(),
            [
                format!("{} all: start", l(2)),
                format!("{} redo a", l(3)),
                format!("{}   redo c", l(4)),
                format!("{}   done c (0.012s)", l(4)),
                format!("{}   a: working", l(5)),
                format!("{} done a (0.012s)", l(6)),
                format!("{} redo ../b", l(10)),
                format!("{}   b: oops", l(11)),
                format!("{} err ../b (code: 1)", l(12)),
                format!("{} all: end", l(19)),
                String::new()
            ]
            .join("\n")
        );
        assert!(pr.is_empty(), "{pr:?}");
        let e = render(&t.t("none"), &t.here(), Options::default(), &mut pr)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no log kept for none") && e.contains("redo -k none"),
            "{e}"
        );
    }
}
