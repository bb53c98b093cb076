//! The timings record: one line per fact, appended by every redo of the build
//! (the protocol and its invariants are in `mod.rs`).
//!
//! A line is `T\tPID\tKIND` then `\tFIELD` per field, then `\n`: `T` the
//! `CLOCK_MONOTONIC` time in nanoseconds (one clock for every process of the
//! machine), `PID` the redo process that saw the fact. Fields are bytes with
//! `\`, tab and newline escaped (`\\`, `\t`, `\n`). Kinds and their fields:
//!
//! | kind     | fields                                   | from                      |
//! |----------|------------------------------------------|---------------------------|
//! | `proc`   | level, parent target (or empty), slots   | a redo starts recording   |
//! | `slot`   | target, ns ready without a slot, token 0/1 | `Event::Slot`           |
//! | `free`   | target                                   | `Event::SlotFreed`        |
//! | `start`  | target, the .do's pid                    | `Event::Started`          |
//! | `end`    | target, ns the job ran (or `-`), default .do (or empty), `ok`/`fail` | `Event::Finished` |
//! | `wait`   | target, the other process's pid (or empty) | `Event::Waiting`        |
//! | `waited` | target                                   | `Event::Waited`           |
//! | `tokens` | tokens in the served pipe                | the top level's sampler   |

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ferredo::report::{Event, Reporter};

/// Now on the monotonic clock, in nanoseconds.
pub fn now_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// This process's writer of record lines.
pub struct Recorder {
    file: File,
    pid: u32,
}

impl Recorder {
    /// The top level's: a new, empty record (an old one is replaced).
    pub fn create(path: &Path) -> std::io::Result<Recorder> {
        let r = Self::with(path, true)?;
        r.file.set_len(0)?;
        Ok(r)
    }

    /// A nested redo's: the record its top level created.
    pub fn open(path: &Path) -> std::io::Result<Recorder> {
        Self::with(path, false)
    }

    fn with(path: &Path, create: bool) -> std::io::Result<Recorder> {
        let file = OpenOptions::new()
            .append(true)
            .create(create)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        Ok(Recorder {
            file,
            pid: std::process::id(),
        })
    }

    /// Append one line in one `write(2)` (O_APPEND: lines of concurrent
    /// processes never interleave). A failed write loses the line, never the build.
    fn put(&self, kind: &str, fields: &[&[u8]]) {
        let mut line = format!("{}\t{}\t{kind}", now_ns(), self.pid).into_bytes();
        for f in fields {
            line.push(b'\t');
            escape(f, &mut line);
        }
        line.push(b'\n');
        let _ = (&self.file).write_all(&line);
    }

    pub fn process(&self, level: u32, parent: Option<&Path>, slots: Option<u32>) {
        let parent = parent.map(|p| p.as_os_str().as_bytes()).unwrap_or(b"");
        let slots = slots.map(|n| n.to_string()).unwrap_or_default();
        self.put(
            "proc",
            &[level.to_string().as_bytes(), parent, slots.as_bytes()],
        );
    }

    pub fn tokens(&self, in_pipe: u64) {
        self.put("tokens", &[in_pipe.to_string().as_bytes()]);
    }

    pub fn event(&self, ev: &Event<'_>) {
        let b = |p: &Path| p.as_os_str().as_bytes().to_vec();
        match ev {
            Event::Slot {
                target,
                waited,
                token,
            } => {
                let w = waited.as_nanos().to_string();
                let t: &[u8] = if *token { b"1" } else { b"0" };
                self.put("slot", &[&b(target), w.as_bytes(), t]);
            }
            Event::SlotFreed { target } => self.put("free", &[&b(target)]),
            Event::Started { target, pid } => {
                self.put("start", &[&b(target), pid.to_string().as_bytes()]);
            }
            Event::Finished {
                target,
                default_do,
                elapsed,
                error,
            } => {
                let ran = elapsed.map_or("-".into(), |e| e.as_nanos().to_string());
                let d = default_do.map(b).unwrap_or_default();
                let st: &[u8] = if error.is_some() { b"fail" } else { b"ok" };
                self.put("end", &[&b(target), ran.as_bytes(), &d, st]);
            }
            Event::Waiting { target, pid } => {
                let p = pid
                    .filter(|p| *p > 0)
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                self.put("wait", &[&b(target), p.as_bytes()]);
            }
            Event::Waited { target } => self.put("waited", &[&b(target)]),
            _ => {}
        }
    }
}

/// The CLI's reporter with recording: every event goes to `inner`, and to
/// the record first when there is one (one branch per event when off).
pub struct Tee<'a> {
    pub inner: &'a dyn Reporter,
    pub rec: Option<&'a Recorder>,
}

impl Reporter for Tee<'_> {
    fn emit(&self, ev: Event<'_>) {
        if let Some(r) = self.rec {
            r.event(&ev);
        }
        self.inner.emit(ev);
    }
}

fn escape(f: &[u8], out: &mut Vec<u8>) {
    for &c in f {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(c),
        }
    }
}

fn unescape(f: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(f.len());
    let mut it = f.iter();
    while let Some(&c) = it.next() {
        if c != b'\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some(b't') => out.push(b'\t'),
            Some(b'n') => out.push(b'\n'),
            Some(&o) => out.push(o),
            None => {}
        }
    }
    out
}

/// One parsed line.
pub struct Line {
    pub t: u64,
    pub pid: u32,
    pub kind: String,
    pub fields: Vec<Vec<u8>>,
}

impl Line {
    pub fn field(&self, i: usize) -> &[u8] {
        self.fields.get(i).map(Vec::as_slice).unwrap_or(b"")
    }

    pub fn num(&self, i: usize) -> Option<u64> {
        std::str::from_utf8(self.field(i)).ok()?.parse().ok()
    }
}

/// Every well-formed line of a record, sorted by time (stable: one
/// process's lines keep their order). A line torn by a killed process is
/// skipped.
pub fn parse(bytes: &[u8]) -> Vec<Line> {
    let mut out: Vec<Line> = bytes
        .split(|&c| c == b'\n')
        .filter_map(|l| {
            let mut parts = l.split(|&c| c == b'\t');
            let num = |p: Option<&[u8]>| std::str::from_utf8(p?).ok()?.parse::<u64>().ok();
            let t = num(parts.next())?;
            let pid = u32::try_from(num(parts.next())?).ok()?;
            let kind = String::from_utf8(parts.next()?.to_vec()).ok()?;
            Some(Line {
                t,
                pid,
                kind,
                fields: parts.map(unescape).collect(),
            })
        })
        .collect();
    out.sort_by_key(|l| l.t);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_torn_lines_are_skipped() {
        let mut line = b"12\t34\tstart\t".to_vec();
        escape(b"a\tb\\c\nd", &mut line);
        line.extend_from_slice(b"\t99\n5\t6\n1\t2\tproc\t0\t\t4\n");
        let l = parse(&line);
        assert_eq!(l.len(), 2);
        assert_eq!((l[0].t, l[0].kind.as_str()), (1, "proc"));
        assert_eq!(l[1].field(0), b"a\tb\\c\nd");
        assert_eq!(l[1].num(1), Some(99));
    }
}
